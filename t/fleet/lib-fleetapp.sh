# t/fleet/lib-fleetapp.sh (approve.sh, checkers.sh): several mandosd on ::1 sharing the store of
# t/fleet/lib.sh (sourced after it). Server NAME has its own port, control
# socket $T/NAME.sock, state dir and log $T/NAME.log; --store-id NAME;
# MANDOSD_TEST_SERVER=NAME in its environment (checkers can say where they
# ran). All read $T/clients.json, which the test also pushes to the store.
declare -A SRV_PID SRV_PORT
MANDOSD=$top_builddir/src/mandosd
[ -x "$MANDOSD" ] || skip "no $MANDOSD"
if [ "$(id -u)" -eq 0 ]; then
	SRV_USER=$(getent passwd _mandos >/dev/null && echo _mandos || echo nobody)
	SRV_USER_ARGS=(--user "$SRV_USER")
else
	SRV_USER=$(id -un)
	SRV_USER_ARGS=()
fi

# wait_for SECONDS CMD...: until CMD succeeds (every 0.1 s).
wait_for() {
	local n=$(( $1 * 10 )) _
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}

# srv_start NAME [ARGS...]
srv_start() {
	local n=$1 _ port
	shift
	mkdir -p "$T/$n.state"
	[ "$(id -u)" -eq 0 ] && chown "$SRV_USER" "$T/$n.state"
	: >"$T/$n.log"
	MANDOSD_TEST_SERVER=$n "$MANDOSD" --foreground --no-zeroconf \
	    --address ::1 --port 0 --clients "$T/clients.json" \
	    --control "$T/$n.sock" --statedir "$T/$n.state" \
	    "${SRV_USER_ARGS[@]}" --store "$STORE" --store-id "$n" "$@" \
	    </dev/null >>"$T/$n.log" 2>&1 &
	SRV_PID[$n]=$!
	EXTRA_PIDS+=("$!")
	for _ in $(seq 100); do
		port=$(sed -n 's/.*listening on \[.*\]:\([0-9]*\),.*/\1/p' "$T/$n.log" | head -n1)
		[ -n "$port" ] && { SRV_PORT[$n]=$port; return 0; }
		kill -0 "${SRV_PID[$n]}" 2>/dev/null || { tail -n 20 "$T/$n.log"; fail "mandosd $n exited at start"; }
		sleep 0.1
	done
	fail "mandosd $n did not start listening"
}

# srv_stop NAME: SIGTERM; a non-zero exit fails the test.
srv_stop() {
	local rc
	kill -TERM "${SRV_PID[$1]}"
	wait "${SRV_PID[$1]}"
	rc=$?
	[ "$rc" -eq 0 ] || { tail -n 20 "$T/$1.log"; fail "mandosd $1 exited with status $rc"; }
}

# srv_kill9 NAME: a crash (its workers go when their channel closes).
srv_kill9() {
	kill -KILL "${SRV_PID[$1]}"
	wait "${SRV_PID[$1]}" 2>/dev/null
}

srv_ctl() { local n=$1; shift; "$CTL" --socket "$T/$n.sock" "$@"; }

# srv_wait_log NAME REGEX SECONDS
srv_wait_log() { wait_for "$3" grep -q -- "$2" "$T/$1.log"; }

# srv_show NAME CLIENT KEY: one attribute of a client, as Python prints it.
srv_show() {
	srv_ctl "$1" -j "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]][sys.argv[2]])' "$2" "$3"
}

srv_pending() { [ "$(srv_show "$1" "$2" ApprovalPending 2>/dev/null)" = True ]; }
