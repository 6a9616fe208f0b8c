#!/bin/bash
# approve.sh: approvals across servers (fleet-approve.c). Two mandosd share
# a real 3-member etcd cluster; the real Debian mandos-client waits for
# approval on server B and gets its secret when the operator runs
# mandosctl -A on server A (the delay is printed); the decision lives
# under PREFIX/approvals/NAME with a lease of approval_duration and is
# gone after it, so a new connection waits again; a -D on A refuses the
# machine waiting on B; with the store down, -A fails at once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-fleetapp.sh"

# The real Debian client and keygen: t/client/lib.sh's tc_refkeys and
# tc_refclient, in this test's temp dir (no tc_init: lib.sh cleans up).
REF_CLIENT=${REF_CLIENT:-$(ls /usr/lib/*/mandos/plugins.d/mandos-client 2>/dev/null | head -n1)}
. "$top_srcdir/t/client/lib.sh"
TC_TMP=$T KD=$T/keys
[ "$(id -u)" -eq 0 ] || skip "the real mandos-client needs root"
[ -x "$REF_CLIENT" ] || skip "the real mandos-client is not installed (apt-get install mandos-client)"
[ -x "$REF_KEYGEN" ] || skip "mandos-keygen not installed"
command -v gpg >/dev/null 2>&1 || skip "gpg not installed"

chmod 0755 "$T"
SECRET="fleet approval $(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')" tc_refkeys "$T" fa ||
    fail "mandos-keygen failed (its log above)"
kid=$(cat "$T/key_id")
b64=$(cat "$T/secret.b64")
[ ${#kid} -eq 64 ] && [ -n "$b64" ] || fail "cannot read mandos-keygen's output"
# Waits up to a minute, denied by default; a decision holds 3 s.
cat >"$T/clients.json" <<EOF
{"defaults": {"approval_delay": "PT60S", "approved_by_default": false,
  "approval_duration": "PT3S", "checker": "true", "interval": "PT1H",
  "timeout": "PT1H"},
 "clients": {"fa": {"key_id": "$kid", "secret": "$b64", "host": "localhost"}}}
EOF

# real PORT SECONDS: the real client against server PORT on ::1, its
# output in $T/out; it gives up at its first retry (a refusal).
real() { tc_refclient "[::1]:$1" "$2"; }

etcd_cluster_start
"$CTL" --store "$STORE" --push "$T/clients.json" >/dev/null || fail "push"
srv_start a
srv_start b
srv_wait_log a "2 live servers" 20 || fail "a never saw b"
srv_wait_log b "2 live servers" 20 || fail "b never saw a"

# 1. Waiting on B, approved on A.
real "${SRV_PORT[b]}" 60 &
rp=$!
EXTRA_PIDS+=("$rp")
wait_for 20 srv_pending b fa || fail "fa never waited for approval on b"
t0=$(now_ms)
ctl a -A fa || fail "mandosctl -A on a"
wait "$rp" || fail "the real client waiting on b got nothing after -A on a"
t1=$(now_ms)
cmp -s "$T/out" "$T/secret.txt" || fail "the client printed something else than its secret"
echo "  approval on a -> secret from b: $((t1 - t0)) ms (mandosctl, etcd, watch, client)"
[ $((t1 - t0)) -lt 5000 ] || fail "approval took $((t1 - t0)) ms"
grep -q "fleet: client fa approved on server a" "$T/sb/log" || fail "b did not log the fleet approval"
ok "a machine waiting on b got its secret after mandosctl -A on a"
# 2. The decision is a key under a lease of approval_duration (3 s).
v=$(ectl get /mandos-test/approvals/fa --print-value-only)
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["approved"] is True and d["server"]=="a" and d["duration_ms"]==3000, d' "$v" ||
    fail "approval key: $v"
lease=$(ectl get /mandos-test/approvals/fa -w json | python3 -c 'import json,sys; print("%x" % json.load(sys.stdin)["kvs"][0]["lease"])')
ttl=$(ectl lease timetolive "$lease" | sed -n 's/.*granted with TTL(\([0-9]*\)s).*/\1/p')
[ "$ttl" = 3 ] || fail "the approval's lease TTL is '$ttl', not 3 s"
# As a local approval: it also covers a new request within approval_duration.
t0b=$(now_ms)
real "${SRV_PORT[b]}" 10 || fail "a new request on b within approval_duration waited"
cmp -s "$T/out" "$T/secret.txt" || fail "second request: not the secret"
echo "  a new request on b $(( t0b - t0 )) ms after -A: served in $(( $(now_ms) - t0b )) ms"
ok "the approval also covers a new request within approval_duration"

wait_for 10 sh -c '[ -z "$(etcdctl --endpoints '"$ETCD_URLS"' get /mandos-test/approvals/fa --keys-only)" ]' ||
    fail "the approval key outlived its lease"
t2=$(now_ms)
echo "  approval key gone $((t2 - t0)) ms after -A (lease TTL 3 s)"
ok "the decision is stored with a lease of approval_duration and expires with it"

# 3. After approval_duration a new connection on b waits again; -D on a
# refuses it there.
sleep 0.5
real "${SRV_PORT[b]}" 60 &
rp=$!
EXTRA_PIDS+=("$rp")
wait_for 20 srv_pending b fa || fail "after approval_duration, fa did not wait again on b"
ok "after approval_duration a new connection waits again"
t0=$(now_ms)
ctl a -D fa || fail "mandosctl -D on a"
# The real client retries after a refusal: the refusal logged on b is
# what the denial did.
wait_for 10 grep -q "result=denied client=fa" "$T/sb/log" || fail "b did not refuse fa as denied"
t1=$(now_ms)
wait "$rp"	# real stops the client at its retry after the refusal
[ ! -s "$T/out" ] || fail "denied on a: the client on b printed a secret"
[ $((t1 - t0)) -lt 5000 ] || fail "denial took $((t1 - t0)) ms to refuse the client"
echo "  denial on a -> refusal on b: <= $((t1 - t0)) ms (polled every 100 ms)"
ok "mandosctl -D on a refuses the machine waiting on b"

# 4. The store down: a fleet decision fails at once with a clear error.
wait_for 10 sh -c '[ -z "$(etcdctl --endpoints '"$ETCD_URLS"' get /mandos-test/approvals/fa --keys-only)" ]' ||
    fail "the denial key outlived its lease"
for i in 0 1 2; do etcd_kill_member "$i"; done
srv_wait_log a "cannot renew this server's registration" 20 || fail "a never noticed the store was gone"
t0=$(now_ms)
if ctl a -A fa >"$T/down.out" 2>&1; then fail "-A with the store down succeeded"; fi
t1=$(now_ms)
grep -q "unreachable" "$T/down.out" || fail "unclear error with the store down: $(cat "$T/down.out")"
[ $((t1 - t0)) -lt 1000 ] || fail "-A with the store down took $((t1 - t0)) ms"
echo "  -A with the store down: failed in $((t1 - t0)) ms: $(cat "$T/down.out")"
ctl a -v >/dev/null || fail "a stopped answering with the store down"
ok "with the store down a fleet approval fails at once, clearly"
srv_stop a
srv_stop b
echo PASS
