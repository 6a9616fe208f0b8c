#!/bin/bash
# Only the authority decides, so an operator's approve, deny and disable
# reach a connection parked on any worker. Six clients wait for approval,
# three parked on worker 0 and three on worker 1 (each batch connects while
# the other worker is stopped, so where each is parked is known); then one
# of each batch is approved, one denied, one disabled, with one mandosctl
# command each for both workers.
. "${top_srcdir:-.}/t/worker/lib.sh" || exit 99
"$STORM" --make-table 6 --seed coh >"$T/storm.json" || fail "make-table"
python3 - "$T/storm.json" >"$T/clients.json" <<'PY' || fail "table"
import json, sys
t = json.load(open(sys.argv[1]))
t["defaults"] = {"approval_delay": "PT60S", "approved_by_default": False}
print(json.dumps(t))
PY
start_mandosd --clients "$T/clients.json" --workers 2
w0=$(worker_pid 0) w1=$(worker_pid 1)
[ -n "$w0" ] && [ -n "$w1" ] || fail "workers not found: '$w0' '$w1'"

# wait_pending N: until N connections wait for approval.
wait_pending() {
	for _ in $(seq 200); do
		[ "$(metric mandos_approvals_pending)" = "$1" ] && return 0
		sleep 0.1
	done
	fail "$(metric mandos_approvals_pending) pending, not $1"
}
# established PID: connections to our port held by process PID.
established() { ss -Htnp state established "( sport = :$PORT )" | grep -c "pid=$1,"; }

# park I WORKER_PID EXPECT: client storm-I waits, parked on that worker.
park() {
	"$STORM" --connect "[::1]:$PORT" --seed coh --first-client "$1" --clients 1 \
	    --count 1 --timeout 40 --quiet --expect "$3" >"$T/s$1.out" 2>&1 &
	eval "sp$1=$!"
}
kill -STOP "$w1"
park 0 "$w0" secret; park 1 "$w0" none; park 2 "$w0" none
wait_pending 3
kill -CONT "$w1"; kill -STOP "$w0"
park 3 "$w1" secret; park 4 "$w1" none; park 5 "$w1" none
wait_pending 6
kill -CONT "$w0"
need_cmd ss
[ "$(established "$w0")" -ge 3 ] && [ "$(established "$w1")" -ge 3 ] \
    || fail "not parked 3 and 3: worker 0 has $(established "$w0"), worker 1 $(established "$w1")"
ok "six clients wait for approval, three parked on each worker"

t0=$(now_ms)
"$CTL" --socket "$T/mandosd.sock" -A storm-0 storm-3 || fail "approve"
wait "$sp0" || fail "approved storm-0 (worker 0): $(cat "$T/s0.out")"
wait "$sp3" || fail "approved storm-3 (worker 1): $(cat "$T/s3.out")"
ok "one approve released a client on each worker ($(( $(now_ms) - t0 )) ms)"

t0=$(now_ms)
"$CTL" --socket "$T/mandosd.sock" -d storm-1 storm-4 || fail "disable"
wait "$sp1" || fail "disabled storm-1 (worker 0): $(cat "$T/s1.out")"
wait "$sp4" || fail "disabled storm-4 (worker 1): $(cat "$T/s4.out")"
ok "one disable closed a waiting connection on each worker ($(( $(now_ms) - t0 )) ms)"

t0=$(now_ms)
"$CTL" --socket "$T/mandosd.sock" -D storm-2 storm-5 || fail "deny"
wait "$sp2" || fail "denied storm-2 (worker 0): $(cat "$T/s2.out")"
wait "$sp5" || fail "denied storm-5 (worker 1): $(cat "$T/s5.out")"
ok "one deny refused a waiting client on each worker ($(( $(now_ms) - t0 )) ms)"

for r in "secret_sent client=storm-0 .* worker=0" "secret_sent client=storm-3 .* worker=1" \
    "disabled client=storm-1 .* worker=0" "disabled client=storm-4 .* worker=1" \
    "denied client=storm-2 .* worker=0" "denied client=storm-5 .* worker=1"; do
	wait_log "result=$r"
done
[ "$(metric mandos_approvals_pending)" = 0 ] || fail "still pending: $(metric mandos_approvals_pending)"
ok "each outcome logged from the worker that held it; nothing left pending"
stop_mandosd
echo "PASS"
