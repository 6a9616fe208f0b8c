# t/fleet/lib-servers.sh: mandosd servers sharing the cluster of lib.sh
# (sourced after it, bash); every fleet test that runs a server uses it.
# Server ID (a number, or a name such as "a") runs on $SRV_ADDR with its own
# state dir, control socket and log under $T/sID; its --store-id is
# serverID for a number, ID itself for a name; MANDOSD_TEST_SERVER=ID is in
# its environment (a checker can say where it ran). Cleanup is lib.sh's:
# every server's pid is in EXTRA_PIDS.
# Set before srv_start, for every server of the test:
#   SRV_ADDR     listening address (127.0.0.1; an IPv6 one drops --no-ipv6)
#   SRV_WORKERS  --workers (1; empty: mandosd's default, one per CPU)
#   SRV_USER     when root, --user (empty: stay root); owns the state dir
#   SRV_ARGS     more options (an array), before srv_start's own ARGS
#   SRV_START_S  seconds to wait for the listening line (30)
TCLIENT=$top_builddir/t/tclient
[ -x "$MANDOSD" ] || skip "no $MANDOSD"
# The propagation bound (1 s), times t/sanitize.sh's factor under ASan.
PROP_MS=$((1000 * ${MANDOSD_TIME_FACTOR:-1}))
# By ID, so a name works as well as a number.
declare -gA SRV_PID SRV_PORT
SRV_ADDR=127.0.0.1
SRV_WORKERS=1
SRV_USER=
SRV_ARGS=()
SRV_START_S=30

# srv_start ID ARGS...: start server ID with --store $STORE and ARGS; sets
# SRV_PID[ID] and SRV_PORT[ID]. A restart starts a fresh log (the earlier
# run's goes to log.old).
srv_start() {
	local i=$1 d=$T/s$1 id=$1 opt=() _; shift
	[[ $i == *[!0-9]* ]] || id=server$i
	[[ $SRV_ADDR == *:* ]] || opt+=(--no-ipv6)
	[ -n "$SRV_WORKERS" ] && opt+=(--workers "$SRV_WORKERS")
	mkdir -p "$d/state"
	if [ -n "$SRV_USER" ] && [ "$(id -u)" -eq 0 ]; then
		opt+=(--user "$SRV_USER")
		chown "$SRV_USER" "$d/state"
	fi
	[ -f "$d/log" ] && cat "$d/log" >>"$d/log.old"
	: >"$d/log"
	MANDOSD_TEST_SERVER=$i "$MANDOSD" --foreground --address "$SRV_ADDR" \
	    --port 0 --statedir "$d/state" --control "$d/sock" --no-zeroconf \
	    "${opt[@]}" --store "$STORE" --store-id "$id" "${SRV_ARGS[@]}" "$@" \
	    </dev/null >>"$d/log" 2>&1 &
	SRV_PID[$i]=$!
	EXTRA_PIDS+=("$!")
	SRV_PORT[$i]=
	for _ in $(seq $((SRV_START_S * 10))); do
		SRV_PORT[$i]=$(sed -n 's/.*listening on .*:\([0-9]*\), .*/\1/p' "$d/log" | tail -n1)
		[ -n "${SRV_PORT[$i]}" ] && return 0
		kill -0 "${SRV_PID[$i]}" 2>/dev/null || { tail -n 20 "$d/log"; fail "server $i exited at start"; }
		sleep 0.1
	done
	fail "server $i did not start listening"
}

# srv_stop ID: SIGTERM, wait; a non-zero exit fails the test.
srv_stop() {
	local i=$1 rc
	kill -TERM "${SRV_PID[$i]}" 2>/dev/null
	wait "${SRV_PID[$i]}"
	rc=$?
	[ "$rc" = 0 ] || { tail -n 20 "$T/s$i/log"; fail "server $i exited with $rc"; }
	SRV_PID[$i]=
}

# srv_stop_all: srv_stop every server still running, in the order of
# their IDs.
srv_stop_all() {
	local i
	for i in $(printf '%s\n' "${!SRV_PID[@]}" | sort); do
		[ -n "${SRV_PID[$i]}" ] && srv_stop "$i"
	done
	return 0
}

# srv_kill9 ID: a crash (its workers go when their channel closes).
srv_kill9() {
	kill -KILL "${SRV_PID[$1]}"
	wait "${SRV_PID[$1]}" 2>/dev/null
	SRV_PID[$1]=
}

# ctl ID ARGS...: mandosctl against server ID's control socket.
ctl() { local i=$1; shift; "$CTL" --socket "$T/s$i/sock" "$@"; }

# srv_fields ID CLIENT FIELD...: CLIENT's FIELDs on server ID, from the
# control socket's show (mandosctl -j prints mandos-ctl's fields only, not
# SecretsSent), on one line as Python prints them; nothing if not shown.
srv_fields() {
	python3 - "$T/s$1/sock" "${@:2}" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
name = sys.argv[2]
s.sendall(json.dumps({"v": 1, "cmd": "show", "clients": [name]}).encode() + b"\n")
r = json.loads(s.makefile("rb").readline())
if r.get("ok"): print(*(r["result"][name][f] for f in sys.argv[3:]))
PY
}

# srv_wait_log ID REGEX SECONDS: until server ID's log has a line matching.
srv_wait_log() { wait_for "$3" grep -q -- "$2" "$T/s$1/log"; }

# fleet_push N SEED FILE: a table of N storm clients of SEED in FILE
# (make_table), pushed to the store.
fleet_push() {
	make_table "$1" "$2" >"$3"
	"$CTL" --store "$STORE" --push "$3" >/dev/null || fail "push"
}

# fleet_up CLIENTS SERVERS: the set-up most fleet tests share: the cluster,
# a table of CLIENTS storm clients of seed s1 in $T/a.json pushed to it,
# and servers 0 .. SERVERS-1 started on it.
fleet_up() {
	local i
	[ -x "$STORM" ] || skip "no $STORM"
	etcd_cluster_start
	fleet_push "$1" s1 "$T/a.json"
	for ((i = 0; i < $2; i++)); do srv_start "$i"; done
}

# fetch ID IDX SEED: tclient as storm client IDX of SEED against server ID;
# sets RC (0: secret received, 3: refused with close_notify).
fetch() {
	"$TCLIENT" --connect "127.0.0.1:${SRV_PORT[$1]}" --idx "$2" --seed "$3" \
	    --timeout 10 >"$T/fetch.out" 2>"$T/fetch.err"
	RC=$?
}

# enabled ID NAME: prints true/false as server ID sees client NAME.
enabled() {
	ctl "$1" --dump-json "$2" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("true" if d[sys.argv[1]]["Enabled"] else "false")' "$2"
}

# wait_until MS CMD...: run CMD every 20 ms until it succeeds; prints the
# milliseconds it took; fails after MS.
wait_until() {
	local lim=$1 t0; shift
	t0=$(now_ms)
	while ! "$@"; do
		[ $(( $(now_ms) - t0 )) -gt "$lim" ] && return 1
		sleep 0.02
	done
	echo $(( $(now_ms) - t0 ))
}

# wait_for SECONDS CMD...: until CMD succeeds (every 0.1 s).
wait_for() {
	local n=$(( $1 * 10 )) _
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}

# metric ID NAME: the value of an unlabelled metric of server ID.
metric() {
	ctl "$1" --metrics | awk -v n="$2" '$1 == n { print $2 }'
}

# seen_ms T0 ID NAME WANT: poll server ID's control socket (one connection,
# every 2 ms) until client NAME's Enabled is WANT (true/false); prints the
# ms since T0 (from now_ms); fails after 10 s. Cheaper and finer than
# polling with mandosctl, whose start-up would be most of the figure.
seen_ms() {
	python3 - "$1" "$T/s$2/sock" "$3" "$4" <<'PY' || fail "server $2 never showed $3 Enabled=$4"
import json, socket, sys, time
t0, path, name, want = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "true"
s = socket.socket(socket.AF_UNIX); s.connect(path); f = s.makefile("rb")
while True:
    s.sendall(('{"v":1,"cmd":"show","clients":["%s"]}\n' % name).encode())
    r = json.loads(f.readline())
    now = int(time.time() * 1000)
    if r.get("ok") and r["result"][name]["Enabled"] == want:
        print(now - t0); break
    if now - t0 > 10000: sys.exit(1)
    time.sleep(0.002)
PY
}
