#!/bin/bash
# watch.sh: the store client's watch (src/authority/store-etcd.c, through
# the hidden mandosctl --watch-store): a put and a delete made by etcdctl
# reach the watch callback within a second; when the member the watch is
# connected to is killed, the watch reconnects to another and resumes from
# the revision it last saw, missing nothing.
. "$(dirname "$0")/lib.sh"
etcd_cluster_start

"$CTL" --store "$STORE" --watch-store >"$T/w.out" 2>"$T/w.err" &
wpid=$!
EXTRA_PIDS+=("$wpid")
for _ in $(seq 50); do grep -q '^watching from revision' "$T/w.out" && break; sleep 0.1; done
grep -q '^watching from revision' "$T/w.out" || fail "watch not created: $(cat "$T/w.err")"

# wait_line PATTERN: ms until the watch printed a line matching it (max 5 s).
wait_line() {
	local t0=$1 pat=$2 _
	for _ in $(seq 250); do
		grep -q -- "$pat" "$T/w.out" && { echo $(($(now_ms) - t0)); return 0; }
		sleep 0.02
	done
	return 1
}
# From the moment etcdctl's put returned (etcdctl itself takes a while to
# start on a loaded machine; that is not the watch's latency).
ectl put /mandos-test/clients/w1 '{"host": "w1.example"}' >/dev/null || fail "etcdctl put"
t0=$(now_ms)
ms=$(wait_line "$t0" '^put /mandos-test/clients/w1 rev=[0-9]* {"host": "w1.example"}$') ||
    fail "put not seen: $(cat "$T/w.out")"
echo "  put seen by the watch callback after $ms ms"
[ "$ms" -lt 1000 ] || fail "put seen after $ms ms (want < 1 s)"
ectl del /mandos-test/clients/w1 >/dev/null || fail "etcdctl del"
t0=$(now_ms)
ms=$(wait_line "$t0" '^delete /mandos-test/clients/w1 ') || fail "delete not seen"
echo "  delete seen after $ms ms"
[ "$ms" -lt 1000 ] || fail "delete seen after $ms ms (want < 1 s)"
ectl put /mandos-other/x y >/dev/null
ok "put and delete reach the watch within a second"

# Freeze the watcher, kill the member it is connected to (the first
# endpoint) and write twice: those events never reach the old stream, so
# the watch sees them only if it resumes from the revision it last saw.
kill -STOP "$wpid"
etcd_kill_member 0
etcd_wait_healthy 1 2 || fail "survivors not healthy"
ectl put /mandos-test/clients/w2 a >/dev/null 2>&1 || ectl put /mandos-test/clients/w2 a >/dev/null || fail "put w2"
ectl put /mandos-test/clients/w3 b >/dev/null 2>&1 || ectl put /mandos-test/clients/w3 b >/dev/null || fail "put w3"
kill -CONT "$wpid"
t0=$(now_ms)
wait_line "$t0" '^put /mandos-test/clients/w3 ' >/dev/null || fail "watch did not resume: $(cat "$T/w.out" "$T/w.err")"
grep -q '^put /mandos-test/clients/w2 ' "$T/w.out" || fail "the watch missed w2 across the reconnect"
grep -q 'mandos-other' "$T/w.out" && fail "the watch saw a key outside its prefix"
grep -q 'ended\|cannot' "$T/w.err" || fail "the broken stream was not reported: $(cat "$T/w.err")"
ok "member killed: the watch reconnected and missed nothing ($(head -n1 "$T/w.err"))"
kill -TERM "$wpid"; wait "$wpid" 2>/dev/null
exit 0
