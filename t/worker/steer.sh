#!/bin/bash
# --steer-by-source: one listening socket per worker in a SO_REUSEPORT
# group, with fair's classic BPF program attached, so every connection of a
# source meets the same worker and that worker's fair shares are exact for
# it. Eight IPv4 sources, four clients each: each source is served by one
# worker only (the log's worker=), and both workers serve. Then the worker
# of one source is killed (-9) and that source connects at once: its
# connection waits in the socket the authority keeps open and is served by
# the successor, on the same socket. (Without the program the kernel hashes
# the whole 4-tuple and a source's connections spread over both workers.)
. "${top_srcdir:-.}/t/worker/lib.sh" || exit 99
VALGRIND=	# a kill -9 and a restart; valgrind runs elsewhere
"$STORM" --make-table 4 --seed steer >"$T/clients.json" || fail "make-table"
start_mandosd --address 127.0.0.1 --clients "$T/clients.json" --workers 2 \
    --steer-by-source
w0=$(worker_pid 0) w1=$(worker_pid 1)
[ -n "$w0" ] && [ -n "$w1" ] || fail "workers not found: '$w0' '$w1'"
for s in 2 3 4 5 6 7 8 9; do
	"$STORM" --connect "127.0.0.1:$PORT" --bind "127.0.0.$s" --seed steer \
	    --clients 4 --count 4 --concurrency 2 --timeout 10 --quiet \
	    >"$T/s$s.out" 2>&1 || fail "source 127.0.0.$s: $(cat "$T/s$s.out")"
done
wait_log 'conn .*\[127\.0\.0\.9\].*result=secret_sent'
sleep 0.5
served() { sed -n 's/.*\[\(127[0-9.]*\)\]:[0-9]* result=secret_sent.* worker=\([0-9]*\).*/\1 \2/p' "$T/mandosd.log"; }
served | sort | uniq -c >"$T/by-source"
cat "$T/by-source"
[ "$(served | wc -l)" -eq 32 ] || fail "$(served | wc -l) secrets logged, not 32"
[ "$(served | sort -u | awk '{print $1}' | uniq -d | wc -l)" -eq 0 ] ||
    fail "a source was served by both workers"
[ "$(served | awk '{print $2}' | sort -u | wc -l)" -eq 2 ] ||
    fail "only one worker served"
ok "each of 8 sources always met the same worker; both workers served"

# The source served by worker 1, and worker 1 killed: its successor serves it.
src=$(served | awk '$2 == 1 {print $1; exit}')
kill -9 "$w1"
"$STORM" --connect "127.0.0.1:$PORT" --bind "$src" --seed steer --clients 1 \
    --count 1 --timeout 20 --quiet >"$T/after.out" 2>&1 ||
    fail "$src after the kill: $(cat "$T/after.out")"
n1=$(worker_pid 1)
[ -n "$n1" ] && [ "$n1" != "$w1" ] || fail "no new worker 1"
[ "$(served | grep -c "^$src ")" -eq 5 ] || fail "$src: not served after the kill"
served | grep "^$src " | awk '{print $2}' | sort -u | grep -qx 1 ||
    fail "$src served by another worker after the kill"
ok "$src, connecting as worker 1 (pid $w1) died, was served by its successor (pid $n1)"
stop_mandosd

# Fair shares across workers: a silent holder from one source (worker 1's)
# can take its worker's two slots of four, never the other worker's; a
# source of the same worker still gets in (by eviction), as does one of the
# other worker. With one shared queue the holder would reach both workers.
: >"$T/mandosd.log"
start_mandosd --address 127.0.0.1 --clients "$T/clients.json" --workers 2 \
    --steer-by-source --max-connections 4 --version-timeout 8s
"$STORM" --connect "127.0.0.1:$PORT" --bind 127.0.0.3 --hold 10 \
    --hold-stage connect --duration 4 --quiet >"$T/hold.out" 2>&1 &
HOLD=$!
for _ in $(seq 15); do kill -USR1 "$MPID"; sleep 0.1; done
for s in 4 2; do
	"$STORM" --connect "127.0.0.1:$PORT" --bind "127.0.0.$s" --seed steer \
	    --clients 4 --count 4 --concurrency 1 --timeout 6 --quiet \
	    >"$T/h$s.out" 2>&1 || fail "127.0.0.$s beside the holder: $(cat "$T/h$s.out")"
done
for _ in $(seq 10); do kill -USR1 "$MPID"; sleep 0.1; done
wait "$HOLD"
most=$(sed -n 's/.*counters: .*active=\([0-9]*\) .*/\1/p' "$T/mandosd.log" | sort -n | tail -n 1)
echo "  at most $most connections open while the holder held"
[ "${most:-0}" -eq 2 ] || fail "the holder's source had ${most:-0} slots, not its worker's 2"
wait_log 'result=evicted'
ok "a holder took only its worker's slots; sources of both workers were served"
stop_mandosd
echo "PASS"
