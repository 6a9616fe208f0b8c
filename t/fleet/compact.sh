#!/bin/bash
# compact.sh: a server whose watch cannot resume (the history it needs was
# compacted while it was away) reads the whole store again and converges.
# The server is frozen (SIGSTOP), the cluster restarted under it (its
# watch connection dies), changes pushed and the history compacted; when
# it thaws, its watch finds the revision gone.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-servers.sh"
[ -x "$TCLIENT" ] || skip "no $TCLIENT"
fleet_up 2 1
fetch 0 1 s1
[ "$RC" = 0 ] || fail "server 0 does not serve (rc $RC)"
kill -STOP "${SRV_PID[0]}"
for i in 0 1 2; do etcd_kill_member "$i"; done
for i in 0 1 2; do etcd_restart_member "$i"; done
etcd_wait_healthy 0 1 2 || { kill -CONT "${SRV_PID[0]}"; fail "cluster did not come back"; }
make_table 3 s1 >"$T/b.json"
"$CTL" --store "$STORE" --push "$T/b.json" >/dev/null || { kill -CONT "${SRV_PID[0]}"; fail "push"; }
ectl put /mandos-test/zz-other-site x >/dev/null
rev=$(ectl endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')
ectl compact "$rev" >/dev/null || { kill -CONT "${SRV_PID[0]}"; fail "compact"; }
kill -CONT "${SRV_PID[0]}"
ms=$(wait_until 15000 eval 'fetch 0 2 s1; [ "$RC" = 0 ]') || fail "server 0 never served the client pushed while it was away"
grep -q "compacted; reading the whole store again" "$T/s0/log" || fail "no full re-read after compaction"
ok "history compacted while server 0 was away: it read the whole store again and served the new client $ms ms after thawing"
srv_stop 0
ok "server stopped cleanly"
