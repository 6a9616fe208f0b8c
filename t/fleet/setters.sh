#!/bin/bash
# setters.sh: concurrent operator writes on two servers to one client
# lose no update. Twenty mandosctl runs at once, split over servers A and
# B, ten attributes (or a disable, a bump) each written through both: every change ends
# up in the store's entry and state, and both servers show all of them.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-servers.sh"
fleet_up 2 2

for round in 1 2; do
	# Round 1 writes one set of values, round 2 another: each attribute
	# has one writer per round, so its final value is known.
	m=$((round * 10))
	pids=()
	for a in 0 1; do	# every write twice, once through each server
		b=$((1 - a))
		ctl $a --timeout "PT$((m + 1))M" storm-0 & pids+=($!)
		ctl $b --interval "PT$((m + 2))M" storm-0 & pids+=($!)
		ctl $a --extended-timeout "PT$((m + 3))M" storm-0 & pids+=($!)
		ctl $b --approval-delay "PT$((m + 4))S" storm-0 & pids+=($!)
		ctl $a --approval-duration "PT$((m + 5))S" storm-0 & pids+=($!)
		ctl $b --host "host$m.example" storm-0 & pids+=($!)
		ctl $a --checker "true $m" storm-0 & pids+=($!)
		ctl $b --deny-by-default storm-0 & pids+=($!)
		ctl $a -d storm-0 & pids+=($!)
		ctl $b -b storm-1 & pids+=($!)
	done
	failed=0
	for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
	[ "$failed" = 0 ] || fail "round $round: $failed of ${#pids[@]} writes failed"
	# What must hold, in the store and on both servers.
	python3 - "$m" "$(ectl get --print-value-only /mandos-test/clients/storm-0)" <<'PY' || fail "round $round: an update is lost in the store entry"
import json, sys
m = int(sys.argv[1]); e = json.loads(sys.argv[2])
want = {"timeout": "PT%d.000S" % ((m + 1) * 60), "interval": "PT%d.000S" % ((m + 2) * 60),
        "extended_timeout": "PT%d.000S" % ((m + 3) * 60), "approval_delay": "PT%d.000S" % (m + 4),
        "approval_duration": "PT%d.000S" % (m + 5), "host": "host%d.example" % m,
        "checker": "true %d" % m, "approved_by_default": False}
bad = {k: (e.get(k), v) for k, v in want.items() if e.get(k) != v}
if bad: print("lost:", bad); sys.exit(1)
PY
	for i in 0 1; do
		wait_until 3000 eval 'ctl '"$i"' --dump-json storm-0 | python3 -c "
import json, sys
c = json.load(sys.stdin)[\"storm-0\"]; m = $m
ok = (c[\"Timeout\"] == (m + 1) * 60000 and c[\"Interval\"] == (m + 2) * 60000 and
      c[\"ExtendedTimeout\"] == (m + 3) * 60000 and c[\"ApprovalDelay\"] == (m + 4) * 1000 and
      c[\"ApprovalDuration\"] == (m + 5) * 1000 and c[\"Host\"] == \"host%d.example\" % m and
      c[\"Checker\"] == \"true %d\" % m and not c[\"ApprovedByDefault\"] and not c[\"Enabled\"])
sys.exit(0 if ok else 1)"' >/dev/null || { ctl "$i" -v storm-0; fail "round $round: server $i does not show every change"; }
	done
	ok "round $round: 20 concurrent writes on two servers, none lost (store and both servers)"
	ctl 1 -e storm-0 || fail "enable"
done
# Bad writes are answered at once with an error, in order, and the peer
# can go on: three requests in one write (a bad duration, an unknown
# attribute, then a read), and one more after their answers.
python3 - "$T/s0/sock" "${MANDOSD_TIME_FACTOR:-1}" <<'PY' || fail "bad store writes over the control socket"
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(5)
f = s.makefile("rb")
t0 = time.monotonic()
s.sendall(b'{"v":1,"cmd":"set","clients":["storm-0"],"attr":"timeout","value":"bogus"}\n'
          b'{"v":1,"cmd":"set","clients":["storm-0"],"attr":"no_such","value":1}\n'
          b'{"v":1,"cmd":"show","clients":["storm-0"]}\n')
r = [json.loads(f.readline()) for _ in range(3)]
dt = time.monotonic() - t0
assert not r[0]["ok"] and "timeout" in r[0]["error"], r[0]
assert not r[1]["ok"] and "unknown attribute" in r[1]["error"], r[1]
assert r[2]["ok"] and "storm-0" in r[2]["result"], r[2]
assert dt < 2 * int(sys.argv[2]), dt
# ... and a request sent after those answers is still read.
s.sendall(b'{"v":1,"cmd":"show","clients":["storm-0"]}\n')
r4 = json.loads(f.readline())
assert r4["ok"], r4
print("  errors: %s | %s (%.0f ms)" % (r[0]["error"], r[1]["error"], dt * 1000))
PY
ok "bad writes get their errors at once, in order, and the connection goes on"
grep -h "too many concurrent" "$T"/s*/log && fail "a write gave up under contention"
srv_stop_all
ok "both servers stopped cleanly"
