#!/bin/bash
# A compromised worker cannot crash, stall or confuse the authority: for each
# kind of bad frame, a fake worker 0 (t/worker/evil-worker, exec'd by the
# authority through its test hook MANDOSD_TEST_WORKER0) sends it; the
# authority ends that worker (logged, counted), stays up, and worker 1 still
# serves a real client. Not under valgrind: a fake worker in its crash loop
# when the test stops the server is sometimes not stopped by SIGTERM under
# valgrind's signal emulation (it is then killed, and the exit is not clean).
. "${top_srcdir:-.}/t/core/lib.sh" || exit 99
EVIL=$top_builddir/t/worker/evil-worker
[ -x "$EVIL" ] || fail "evil-worker not built"
VALGRIND=

client good 1 "good secret" | table "$T/clients.json"

metric() { "$top_builddir/clients/mandosctl" --socket "$T/mandosd.sock" --metrics | awk -v m="$1" '$1 == m {print $2}'; }

for mode in garbage version oversize truncated unparked secret twice flood backwards answer; do
	MANDOSD_TEST_WORKER0=$EVIL EVIL_MODE=$mode start_mandosd --clients "$T/clients.json" \
	    --workers 2 --max-connections 20
	wait_log "worker 0 (pid [0-9]*): .*; ending it"
	reason=$(sed -n 's/.*worker 0 (pid [0-9]*): \(.*\); ending it/\1/p' "$T/mandosd.log" | head -n1)
	kill -0 "$MPID" || fail "$mode: the authority died"
	probe --idx 1
	[ "$RC" -eq 0 ] && [ "$(cat "$T/out")" = "good secret" ] || fail "$mode: not served after a bad worker (exit $RC: $(cat "$T/err"))"
	n=$(metric mandos_worker_protocol_errors_total)
	[ "${n:-0}" -ge 1 ] || fail "$mode: not counted (mandos_worker_protocol_errors_total=$n)"
	ok "$mode: worker ended ($reason), authority serves on"
	stop_mandosd
done
echo "PASS"
