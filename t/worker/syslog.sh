#!/bin/bash
# A detached authority logs to syslog; a worker may not (syslog's socket +
# connect are outside its seccomp allow-list), so the worker's stderr is a
# pipe to the authority, which relays each line. syslog here is a socat on
# a private /dev/log, in a mount namespace of our own (tmpfs over /dev with
# null, zero, random and urandom). A worker's line (its eviction summary)
# must arrive from the authority's pid as "worker 0: ...", and the worker
# must still be the one that started. Before the relay the line came from
# the worker's own syslog connection, and would have failed this test.
if [ -z "${MANDOSD_TEST_MNTNS:-}" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
	command -v unshare >/dev/null || { echo "SKIP: no unshare"; exit 77; }
	MANDOSD_TEST_MNTNS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
. "${top_srcdir:-.}/t/worker/lib.sh" || exit 99
need_cmd socat
VALGRIND=	# detached: no valgrind wrapper for a daemon that forks

mount -t tmpfs -o mode=0755 mandosd-test-dev /dev || fail "tmpfs on /dev"
mknod -m 666 /dev/null c 1 3 && mknod -m 666 /dev/zero c 1 5 &&
    mknod -m 666 /dev/random c 1 8 && mknod -m 666 /dev/urandom c 1 9 ||
    fail "device nodes"
socat -u UNIX-RECV:/dev/log,mode=666 OPEN:"$T/syslog",creat,append &
SOCAT=$!
for _ in $(seq 50); do [ -S /dev/log ] && break; sleep 0.1; done
[ -S /dev/log ] || fail "no /dev/log"
trap 'kill "$SOCAT" 2>/dev/null; cleanup' EXIT

"$STORM" --make-table 3 --seed syslog >"$T/clients.json" || fail "make-table"
"$MANDOSD" --address 127.0.0.1 --port 0 $PRIVATE --clients "$T/clients.json" \
    --workers 1 --max-connections 2 --refusal-log-interval 1s \
    --pidfile "$T/mandosd.pid" 2>"$T/mandosd.log" || fail "mandosd did not start"
MPID=$(cat "$T/mandosd.pid")
PORT=$(sed -n 's/.*listening on \[.*\]:\([0-9]*\),.*/\1/p' "$T/mandosd.log")
[ -n "$MPID" ] && [ -n "$PORT" ] || fail "no pid or port"
w0=$(worker_pid 0)
[ -n "$w0" ] || fail "no worker 0"
# A silent holder at the cap from one source; another source's clients
# take its slots: the worker evicts, and says so once per interval.
"$STORM" --connect "127.0.0.1:$PORT" --bind 127.0.0.3 --hold 6 \
    --hold-stage connect --duration 3 --quiet >/dev/null 2>&1 &
HOLD=$!
sleep 1
"$STORM" --connect "127.0.0.1:$PORT" --bind 127.0.0.2 --seed syslog \
    --clients 3 --count 3 --concurrency 1 --timeout 5 --quiet >"$T/honest" 2>&1 ||
    fail "honest clients: $(cat "$T/honest")"
for _ in $(seq 50); do
	tr '\0' '\n' <"$T/syslog" | grep -q "worker 0: evicted" && break
	sleep 0.1
done
tr '\0' '\n' <"$T/syslog" | sed 's/<[0-9]*>/\n&/g' >"$T/syslog.txt"
grep -q "mandosd\[$MPID\]: worker 0: evicted [0-9]* connections" "$T/syslog.txt" ||
    fail "no relayed worker line from the authority (pid $MPID): $(tail -n 5 "$T/syslog.txt")"
grep "worker 0: evicted" "$T/syslog.txt" | head -n 1
[ "$(worker_pid 0)" = "$w0" ] || fail "worker 0 was replaced"
grep -q "mandosd\[$w0\]" "$T/syslog.txt" && fail "worker $w0 wrote to syslog itself"
ok "a detached authority relays its worker's lines to syslog; the worker lives on"
wait "$HOLD"
kill -TERM "$MPID"
for _ in $(seq 100); do kill -0 "$MPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$MPID" 2>/dev/null && fail "mandosd did not stop"
MPID=
echo "PASS"
