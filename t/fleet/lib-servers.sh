# t/fleet/lib-servers.sh: mandosd servers sharing the cluster of lib.sh
# (sourced after it, bash). Server $i runs on 127.0.0.1 with its own
# state dir, control socket and log under $T/s$i; cleanup is lib.sh's.
TCLIENT=$top_builddir/t/tclient
# The propagation bound (1 s), times t/sanitize.sh's factor under ASan.
PROP_MS=$((1000 * ${MANDOSD_TIME_FACTOR:-1}))
SRV_PID=()
SRV_PORT=()

# srv_start I ARGS...: start server I with --store $STORE and ARGS.
srv_start() {
	local i=$1 _; shift
	mkdir -p "$T/s$i"
	# A restart starts a fresh log (the earlier run's goes to log.old).
	[ -f "$T/s$i/log" ] && cat "$T/s$i/log" >>"$T/s$i/log.old"
	: >"$T/s$i/log"
	"$MANDOSD" --foreground --address 127.0.0.1 --port 0 --no-ipv6 \
	    --statedir "$T/s$i/state" --control "$T/s$i/sock" --no-zeroconf \
	    --workers 1 --store "$STORE" --store-id "server$i" "$@" \
	    >>"$T/s$i/log" 2>&1 &
	SRV_PID[$i]=$!
	EXTRA_PIDS+=("$!")
	SRV_PORT[$i]=
	for _ in $(seq 300); do
		SRV_PORT[$i]=$(sed -n 's/.*listening on .*:\([0-9]*\), .*/\1/p' "$T/s$i/log" | tail -n1)
		[ -n "${SRV_PORT[$i]}" ] && return 0
		kill -0 "${SRV_PID[$i]}" 2>/dev/null || { tail -n 20 "$T/s$i/log"; fail "server $i exited at start"; }
		sleep 0.1
	done
	fail "server $i did not start listening"
}

# srv_stop I: SIGTERM, wait; a non-zero exit fails the test.
srv_stop() {
	local i=$1 rc
	kill -TERM "${SRV_PID[$i]}" 2>/dev/null
	wait "${SRV_PID[$i]}"
	rc=$?
	[ "$rc" = 0 ] || { tail -n 20 "$T/s$i/log"; fail "server $i exited with $rc"; }
	SRV_PID[$i]=
}

# ctl I ARGS...: mandosctl against server I's control socket.
ctl() { local i=$1; shift; "$CTL" --socket "$T/s$i/sock" "$@"; }

# fetch I IDX SEED: tclient as storm client IDX of SEED against server I;
# sets RC (0: secret received, 3: refused with close_notify).
fetch() {
	"$TCLIENT" --connect "127.0.0.1:${SRV_PORT[$1]}" --idx "$2" --seed "$3" \
	    --timeout 10 >"$T/fetch.out" 2>"$T/fetch.err"
	RC=$?
}

# enabled I NAME: prints true/false as server I sees client NAME.
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

# metric I NAME: the value of an unlabelled metric of server I.
metric() {
	ctl "$1" --metrics | awk -v n="$2" '$1 == n { print $2 }'
}

# seen_ms T0 I NAME WANT: poll server I's control socket (one connection,
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
