#!/bin/bash
# kill -9 of a worker during a storm: at most its in-flight connections are
# lost, its successor serves within a second (measured with the other worker
# stopped, so that only the successor can answer), the death is logged and
# counted, and the next storm has no failure at all.
. "${top_srcdir:-.}/t/worker/lib.sh" || exit 99
VALGRIND=	# storms under valgrind take too long
CONC=40
"$STORM" --make-table 200 --seed restart >"$T/clients.json" || fail "make-table"
start_mandosd --clients "$T/clients.json" --workers 2
w0=$(worker_pid 0) w1=$(worker_pid 1)
[ -n "$w0" ] && [ -n "$w1" ] || fail "workers not found: '$w0' '$w1'"

"$STORM" --connect "[::1]:$PORT" --clients 200 --seed restart --concurrency $CONC \
    --duration 6 --timeout 20 --json --quiet >"$T/storm1.json" 2>&1 &
sp=$!
sleep 2
t0=$(now_ms)
kill -9 "$w0"
kill -STOP "$w1"	# from now on only worker 0's successor can serve
until probe --idx 7 --seed restart --timeout 5 && [ "$RC" -eq 0 ]; do
	[ $(( $(now_ms) - t0 )) -lt 10000 ] || { kill -CONT "$w1"; fail "no successor served within 10 s"; }
done
t1=$(now_ms)
kill -CONT "$w1"
n0=$(worker_pid 0)
echo "  successor of worker 0 (pid $w0 -> $n0) served after $((t1 - t0)) ms"
[ -n "$n0" ] && [ "$n0" != "$w0" ] || fail "no new worker 0"
[ $((t1 - t0)) -lt 1000 ] || fail "the successor served after $((t1 - t0)) ms, not within a second"
ok "a killed worker is replaced and its successor serves within a second ($((t1 - t0)) ms)"

wait "$sp"
cat "$T/storm1.json"
failed=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["failed"])' "$T/storm1.json") \
    || fail "storm output: $(cat "$T/storm1.json")"
[ "$failed" -le "$CONC" ] || fail "$failed failures: more than the $CONC connections in flight"
ok "the storm across the kill lost $failed connections (at most the $CONC in flight)"

grep -q "worker 0 (pid $w0) killed by signal 9" "$T/mandosd.log" || fail "death not logged"
[ "$(metric mandos_worker_deaths_total)" = 1 ] || fail "death not counted: $(metric mandos_worker_deaths_total)"
[ "$(metric mandos_workers)" = 2 ] || fail "mandos_workers $(metric mandos_workers)"
ok "the death is logged and counted"

"$STORM" --connect "[::1]:$PORT" --clients 200 --seed restart --concurrency $CONC \
    --count 2000 --timeout 20 --json --quiet >"$T/storm2.json" || fail "second storm: $(cat "$T/storm2.json")"
grep -q '"failed": *0' "$T/storm2.json" || fail "second storm failed: $(cat "$T/storm2.json")"
ok "the next storm: 2000 handshakes, no failure"
stop_mandosd
echo "PASS"
