#!/bin/bash
# remove.sh: mandosctl -r NAME through a server removes everything of NAME
# from the store in one txn: its entry, its state record, its approval
# decision and its last checker result. Two servers; storm-0 gets a secret
# on A (secrets_sent 1), its checker runs (checks/storm-0), it is denied
# (approvals/storm-0, under a 10-minute lease) and disabled (state/storm-0)
# on A; mandosctl -r storm-0 on A; then no key of storm-0 remains under
# PREFIX, in one revision, B stops listing it within a second, and pushed
# again it is enabled with zero secrets sent, and served, on both.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-servers.sh"
[ -x "$STORM" ] || skip "no $STORM"

etcd_cluster_start
make_table 2 rm >"$T/rm.json"
edit_json "$T/rm.json" '
t["defaults"].update({"checker": "true", "interval": "PT1S",
    "approval_duration": "PT10M"})'
"$CTL" --store "$STORE" --push "$T/rm.json" >/dev/null || fail "push"
srv_start 0
srv_start 1
srv_wait_log 0 "2 live servers" 20 || fail "server 0 never saw server 1"

keys() { ectl get --prefix --keys-only /mandos-test/ | grep 'storm-0$' | sort | tr '\n' ' '; }
state() { ectl get --print-value-only /mandos-test/state/storm-0; }
fetch 0 0 rm
[ "$RC" = 0 ] || fail "storm-0 got no secret (rc $RC): $(cat "$T/fetch.err")"
wait_for 10 sh -c '[ -n "$(etcdctl --endpoints '"$ETCD_URLS"' get /mandos-test/checks/storm-0 --keys-only)" ]' ||
    fail "storm-0's checker result never reached the store"
ctl 0 -D storm-0 || fail "deny storm-0 on server 0"
ctl 0 -d storm-0 || fail "disable storm-0 on server 0"
wait_until 5000 eval 'state | grep -q "\"enabled\":false.*\"secrets_sent\":1"' >/dev/null ||
    fail "state/storm-0 never showed disabled with one secret sent: $(state)"
want="/mandos-test/approvals/storm-0 /mandos-test/checks/storm-0 /mandos-test/clients/storm-0 /mandos-test/state/storm-0 "
[ "$(keys)" = "$want" ] || fail "before the removal the store holds '$(keys)'"
wait_until "$PROP_MS" eval '[ "$(enabled 1 storm-0)" = false ]' >/dev/null ||
    fail "server 1 does not show storm-0 disabled"
ok "storm-0 has an entry, a state record, a decision and a checker result"

rev0=$(ectl get /mandos-test/defaults -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)["header"]["revision"])')
t0=$(now_ms)
ctl 0 -r storm-0 || fail "mandosctl -r storm-0 on server 0"
[ -z "$(keys)" ] || fail "keys of the removed client remain: $(keys)"
ctl 0 --dump-json storm-0 >/dev/null 2>&1 && fail "server 0 still lists storm-0 when -r returned"
ms=$(wait_until "$PROP_MS" eval '! ctl 1 --dump-json storm-0 >/dev/null 2>&1') ||
    fail "server 1 still lists storm-0 $PROP_MS ms after its removal"
echo "  server 1 dropped storm-0 $(( $(now_ms) - t0 )) ms after mandosctl -r started (polled $ms ms after it returned)"
ok "no key of storm-0 remains; server 0 at once and server 1 within a second no longer list it"
# One txn: the four deletions share one revision. (etcdctl, not ectl:
# timeout must end etcdctl itself, not a subshell.)
timeout 2 etcdctl --endpoints "$ETCD_URLS" "${ETCDCTL_TLS[@]}" watch --prefix \
    /mandos-test/ --rev $((rev0 + 1)) -w json >"$T/watch.json" 2>/dev/null
python3 - "$T/watch.json" <<'PY' || fail "the removal was not one txn"
import base64, json, sys
dels = {}
for line in open(sys.argv[1]):
    if not line.startswith("{"): continue
    for ev in json.loads(line).get("Events") or []:
        if ev.get("type") == 1:	# DELETE
            dels[base64.b64decode(ev["kv"]["key"]).decode()] = ev["kv"]["mod_revision"]
want = {"/mandos-test/%s/storm-0" % d for d in ("clients", "state", "approvals", "checks")}
if set(dels) != want or len(set(dels.values())) != 1:
    print("  deletions seen:", dels); sys.exit(1)
print("  the four deletions at revision %d" % list(dels.values())[0])
PY
ok "mandosctl -r removed the entry, state, decision and checker result in one txn"
sleep 1.5	# a record flushed late by either server would show now
[ -z "$(keys)" ] || fail "keys of the removed client came back: $(keys)"

"$CTL" --store "$STORE" --push "$T/rm.json" >"$T/push2.out" || fail "push storm-0 again"
grep -qx "added storm-0" "$T/push2.out" || fail "push of storm-0 again printed: $(cat "$T/push2.out")"
shown() { srv_fields "$1" storm-0 Enabled SecretsSent; }
for i in 0 1; do
	wait_until 5000 eval '[ "$(shown '"$i"')" = "True 0" ]' >/dev/null ||
	    fail "storm-0 pushed again shows Enabled, SecretsSent = $(shown "$i") on server $i, want True 0"
done
for i in 0 1; do
	fetch "$i" 0 rm
	[ "$RC" = 0 ] || fail "storm-0 pushed again got no secret from server $i (rc $RC)"
done
ok "pushed again, storm-0 is enabled with zero secrets sent on both servers, and served"

# The same client removed on both servers at once: one removal wins, the
# other is told the client went meanwhile (by the store, the server or
# mandosctl, whichever saw it first), not that a file gave it.
make_table 8 rm >"$T/race.json"
"$CTL" --store "$STORE" --push "$T/race.json" >/dev/null || fail "push 8 clients"
for i in 0 1; do
	wait_until 5000 eval '[ "$(srv_fields '"$i"' storm-7 Enabled)" = True ]' >/dev/null ||
	    fail "server $i never listed storm-7"
done
won=0
for k in 0 1 2 3 4 5 6 7; do
	ctl 0 -r "storm-$k" >"$T/r0.out" 2>&1 & p0=$!
	ctl 1 -r "storm-$k" >"$T/r1.out" 2>&1 & p1=$!
	wait "$p0"; rc0=$?
	wait "$p1"; rc1=$?
	[ $((rc0 + rc1)) = 1 ] ||
	    fail "storm-$k removed on both at once: exit codes $rc0 and $rc1 ($(cat "$T/r0.out" "$T/r1.out"))"
	lost=$T/r1.out; [ "$rc1" = 0 ] && lost=$T/r0.out
	grep -Eq "storm-$k was removed meanwhile|no such client: storm-$k|Client not found on server: 'storm-$k'|storm-$k is not in the store \(given by a file, or removed meanwhile\)" "$lost" ||
	    fail "the losing removal of storm-$k said: $(cat "$lost")"
	grep -q "removed meanwhile by another" "$lost" && won=$((won + 1))
done
echo "  8 double removals: one won each; $won losers lost the store's race, the others saw the removal first"
[ -z "$(keys)" ] || fail "keys of storm-0 remain after the race: $(keys)"
ok "a client removed on two servers at once: one wins, the other says it was removed meanwhile"

# A server whose table still holds a client the store has just removed
# (its reload held back 4 s by a test hook, where it is ~50 ms) must not
# write that client's state record back: it would outlive the client and
# greet it, pushed again, with the old state.
srv_stop 1
MANDOSD_TEST_COALESCE_MS=4000 srv_start 1
"$CTL" --store "$STORE" --push "$T/rm.json" >/dev/null || fail "push storm-0 a third time"
wait_until 10000 eval '[ "$(srv_fields 1 storm-0 Enabled)" = True ]' >/dev/null ||
    fail "server 1 never listed storm-0 again"
fetch 1 0 rm
[ "$RC" = 0 ] || fail "storm-0 got no secret from server 1 (rc $RC)"
ctl 0 -r storm-0 || fail "mandosctl -r storm-0 on server 0, after a handshake on 1"
[ "$(srv_fields 1 storm-0 Enabled)" = True ] ||
    fail "server 1 dropped storm-0 at once: the hook did not hold its reload"
sleep 2		# server 1 flushes its state each second
[ -z "$(keys)" ] || fail "server 1 wrote back a record of removed storm-0: $(keys)"
wait_until 5000 eval '! ctl 1 --dump-json storm-0 >/dev/null 2>&1' >/dev/null ||
    fail "server 1 still lists storm-0 after its held-back reload"
ok "a server that still holds a removed client writes no state record for it"
srv_stop_all
ok "both servers stopped cleanly"

# A client the server has but the store does not (its --clients fallback,
# the store away): -r is refused with the store's error, nothing removed.
STORE=etcd://127.0.0.1:1/mandos-none
SRV_ARGS=(--clients "$T/rm.json")
srv_start f
ctl f -r storm-1 2>"$T/file.err" && fail "-r of a client given by a file succeeded"
grep -q "storm-1 is not in the store (given by a file, or removed meanwhile)" "$T/file.err" ||
    fail "-r of a client given by a file said: $(cat "$T/file.err")"
ctl f --dump-json storm-1 >/dev/null || fail "server f lost storm-1"
srv_stop f
ok "-r of a client given by a file is refused: not in the store"
