#!/bin/bash
# kill -9 of a worker in every connection state (issue 9's fault list).
# With --workers 2, one round per state: worker 0 holds a connection in
# that state while worker 1 holds a witness (a client waiting for approval);
# worker 0 is killed by pid with SIGKILL. Each round checks:
#  - the death is logged and counted; a successor serves within a second
#    (with worker 1 stopped, only the successor can answer);
#  - the killed connection is closed (the peer sees EOF or RST, no hang);
#  - what worker 0 had parked is forgotten (approvals pending, the client's
#    ApprovalPending in mandosctl -j), worker 1's parked witness is not: it
#    gets its secret once approved;
#  - a retried client gets its secret (after approval, in that state).
# States: accepted before the version line; mid-handshake (the peer read
# the server's ClientHello and answers nothing); parked on the lookup (the
# authority stopped while the worker waits for its answer); waiting for
# approval; sending (a slow reader of a 64 KiB secret). At the end the
# state file is whole and counts only the secrets really sent.
# The test runs in a network namespace of its own, where the kernel's send
# buffers are small (tcp_wmem is per namespace): else the 64 KiB secret fits
# in them at once and the worker is never caught sending.
if [ -z "${KS_NETNS:-}" ]; then
	[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root"; exit 77; }
	command -v unshare >/dev/null || { echo "SKIP: no unshare"; exit 77; }
	KS_NETNS=1 exec unshare --net -- bash "$0" "$@"
fi
ip link set lo up || exit 99
sysctl -qw net.ipv4.tcp_wmem="4096 4096 4096" || exit 99
. "${top_srcdir:-.}/t/worker/lib.sh" || exit 99
VALGRIND=	# stopping and killing processes by pid: not under valgrind
need_cmd ss
BIG=$(head -c 65536 /dev/urandom | base64 -w0)
table "$T/clients.json" <<EOF
$(client plain 0 plain-secret),
$(client appr 1 appr-secret '"approved_by_default": false, "approval_delay": "PT1H"'),
$(client big 2 x), $(for i in 1 2 3 4 5; do
	client "wit$i" $((10 + i)) "witness-$i" '"approved_by_default": false, "approval_delay": "PT1H"'
	[ "$i" = 5 ] || printf ',\n'
done)
EOF
python3 - "$T/clients.json" "$BIG" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
t["clients"]["big"]["secret"] = sys.argv[2]
json.dump(t, open(sys.argv[1], "w"))
PY
start_mandosd --clients "$T/clients.json" --workers 2 --version-timeout 60s \
    --handshake-timeout 60s --send-timeout 60s
CTLS="$CTL --socket $T/mandosd.sock"
deaths=0

# holder PID: the pid of the mandosd process that holds our peer's socket
# (the peer's local port is $2), or nothing.
holder() {
	ss -tnpH state established "( sport = :$PORT and dport = :$1 )" 2>/dev/null |
	    sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n1
}
# peer_port PID: the local port of the TCP connection of process PID to us.
peer_port() {
	ss -tnpH state established "( dport = :$PORT )" 2>/dev/null |
	    awk -v p="pid=$1," 'index($0, p) { n = split($3, a, ":"); print a[n] }' | head -n1
}
# wait_held PID WORKER: until client process PID's connection is held by WORKER.
wait_held() {
	local pp
	for _ in $(seq 100); do
		pp=$(peer_port "$1")
		[ -n "$pp" ] && [ "$(holder "$pp")" = "$2" ] && return 0
		sleep 0.05
	done
	fail "round $round: the connection of client pid $1 is not held by worker pid $2 (port ${pp:-?}, holder $(holder "${pp:-0}"))"
}
pending() { jget "$($CTLS -j "$1")" "r[\"$1\"][\"ApprovalPending\"]"; }
jget() { python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

# round STATE: one kill of worker 0 with a connection in STATE.
round() {
	local state=$1 w0 w1 cp wp n0 t0 t1 rc exp n
	round=$((round + 1))
	w0=$(worker_pid 0) w1=$(worker_pid 1)
	[ -n "$w0" ] && [ -n "$w1" ] || fail "$state: workers not found: '$w0' '$w1'"
	# A worker that dies within 2 s of its start is restarted after a
	# back-off (a crash loop); this is the other case: one kill of a
	# worker that was serving.
	until [ "$(ps -o etimes= -p "$w0" | tr -d ' ')" -ge 3 ]; do sleep 0.2; done
	# The witness, on worker 1: a client waiting for approval.
	kill -STOP "$w0"
	"$TCLIENT" --connect "[::1]:$PORT" --idx $((10 + round)) --timeout 60 \
	    >"$T/wit.out" 2>"$T/wit.err" &
	wp=$!
	wait_held "$wp" "$w1"
	for _ in $(seq 100); do
		[ "$(pending "wit$round")" = True ] && break
		sleep 0.05
	done
	[ "$(pending "wit$round")" = True ] || fail "$state: the witness is not waiting for approval"
	kill -CONT "$w0"
	# The connection in STATE, on worker 0.
	kill -STOP "$w1"
	[ "$state" = lookup ] && kill -STOP "$MPID"	# it answers no lookup now
	case $state in		# exec: $! is tclient's pid
	version)   exec "$TCLIENT" --connect "[::1]:$PORT" --silent --timeout 20 ;;
	handshake) exec "$TCLIENT" --connect "[::1]:$PORT" --no-tls --timeout 20 ;;
	lookup)    exec "$TCLIENT" --connect "[::1]:$PORT" --idx 0 --timeout 20 ;;
	approval)  exec "$TCLIENT" --connect "[::1]:$PORT" --idx 1 --timeout 20 ;;
	send)      exec "$TCLIENT" --connect "[::1]:$PORT" --idx 2 --stall 2 --timeout 20 ;;
	esac >"$T/victim.out" 2>"$T/victim.err" &
	cp=$!
	wait_held "$cp" "$w0"
	case $state in
	handshake)	# the ClientHello has reached the peer
		sleep 0.3 ;;
	lookup)		# the worker has asked: the channel holds its lookup
		sleep 0.5 ;;
	approval)
		for _ in $(seq 100); do
			[ "$(pending appr)" = True ] && break
			sleep 0.05
		done
		[ "$(pending appr)" = True ] || fail "$state: not waiting for approval"
		[ "$(metric mandos_approvals_pending)" = 2 ] ||
		    fail "$state: approvals pending $(metric mandos_approvals_pending), not 2" ;;
	send)		# the server's send queue is full
		sleep 0.5
		ss -tnH state established "( sport = :$PORT and dport = :$(peer_port "$cp") )" |
		    awk '{ exit !($2 > 0) }' || fail "$state: nothing queued: not sending" ;;
	esac
	t0=$(now_ms)
	kill -9 "$w0"
	[ "$state" = lookup ] && kill -CONT "$MPID"
	# The successor serves within a second: only it can (worker 1 stopped).
	until probe --idx 0 --timeout 5 && [ "$RC" -eq 0 ]; do
		[ $(( $(now_ms) - t0 )) -lt 10000 ] || { kill -CONT "$w1"; fail "$state: no successor served within 10 s"; }
	done
	t1=$(now_ms)
	kill -CONT "$w1"
	n0=$(worker_pid 0)
	[ -n "$n0" ] && [ "$n0" != "$w0" ] || fail "$state: no new worker 0"
	# (sanitized code is slower: t/sanitize.sh's factor)
	[ $((t1 - t0)) -lt $((1000 * ${MANDOSD_TIME_FACTOR:-1})) ] ||
	    fail "$state: the successor served after $((t1 - t0)) ms"
	deaths=$((deaths + 1))
	# What it had parked with the authority is forgotten, and said so.
	case $state in
	version|handshake) n=0 ;;
	*) n=1 ;;
	esac
	wait_log "worker 0 (pid $w0) killed by signal 9, $n parked connections lost"
	[ "$(metric mandos_worker_deaths_total)" = "$deaths" ] ||
	    fail "$state: deaths counted $(metric mandos_worker_deaths_total), not $deaths"
	# The killed connection was closed: the peer saw it (no timeout).
	wait "$cp"
	rc=$?
	case $state in
	version|handshake) exp=7 ;;	# closed before TLS (tclient's status)
	lookup) exp=4 ;;	# the peer's handshake ends at the worker's Finished:
	    # killed while it waited for its answer, that may not have left
	*) exp=5 ;;			# closed without close_notify
	esac
	[ "$rc" -eq "$exp" ] || [ "$state/$rc" = lookup/5 ] || fail "$state: the peer of the killed connection: status $rc, not $exp ($(cat "$T/victim.err"))"
	# Nothing of worker 0's is still parked; worker 1's witness is.
	[ "$(pending appr)" = False ] || fail "$state: appr still pending in mandosctl"
	[ "$(metric mandos_approvals_pending)" = 1 ] ||
	    fail "$state: approvals pending $(metric mandos_approvals_pending), not 1 (the witness)"
	kill -0 "$wp" 2>/dev/null || fail "$state: the witness on worker 1 ended: $(cat "$T/wit.err")"
	$CTLS -A "wit$round" >/dev/null || fail "$state: approve the witness"
	wait "$wp" || fail "$state: the witness did not get its secret after approval: $(cat "$T/wit.err")"
	[ "$(cat "$T/wit.out")" = "witness-$round" ] || fail "$state: the witness got '$(cat "$T/wit.out")'"
	# A retried client gets its secret.
	case $state in
	approval)
		"$TCLIENT" --connect "[::1]:$PORT" --idx 1 --timeout 20 >"$T/retry.out" 2>"$T/retry.err" &
		cp=$!
		for _ in $(seq 100); do
			[ "$(pending appr)" = True ] && break
			sleep 0.05
		done
		$CTLS -A appr >/dev/null || fail "$state: approve"
		wait "$cp" || fail "$state: the retried client: $(cat "$T/retry.err")"
		[ "$(cat "$T/retry.out")" = appr-secret ] || fail "$state: retried: '$(cat "$T/retry.out")'" ;;
	send)
		probe --idx 2 --timeout 20
		[ "$RC" -eq 0 ] && [ "$(base64 -w0 <"$T/out")" = "$BIG" ] ||
		    fail "$state: the retried client: status $RC, $(cat "$T/err")" ;;
	*)
		probe --idx 0 --timeout 20
		[ "$RC" -eq 0 ] && [ "$(cat "$T/out")" = plain-secret ] ||
		    fail "$state: the retried client: status $RC, $(cat "$T/err")" ;;
	esac
	[ "$(metric mandos_approvals_pending)" = 0 ] ||
	    fail "$state: approvals pending $(metric mandos_approvals_pending) at the end of the round"
	ok "kill -9 of worker 0 holding a connection at '$state': closed, forgotten, successor in $((t1 - t0)) ms, worker 1's witness served, retry served"
}

round=0
for s in version handshake lookup approval send; do
	round "$s"
done
# The state file is whole and counts only what was really sent: big got
# its secret once (the retry), not for the connection killed mid-send.
stop_mandosd
python3 - "$T/state/clients.state" <<'PY' || fail "state file: $(head -c 600 "$T/state/clients.state")"
import json, sys
s = json.load(open(sys.argv[1]))
c = s["clients"] if "clients" in s else s
def sent(n):
    return c[n].get("secrets_sent")
assert sent("big") == 1, ("big", sent("big"))
assert sent("appr") == 1, ("appr", sent("appr"))
for i in range(1, 6):
    assert sent("wit%d" % i) == 1, ("wit", i, sent("wit%d" % i))
PY
ok "the state file is whole and counts only the secrets sent"
echo "PASS"
