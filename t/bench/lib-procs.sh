# t/bench/lib-procs.sh: shared by workers.sh, scale.sh, profile.sh and
# instructions.sh (sourced).
# CPU of mandosd summed over all its processes, from /proc/PID/stat.

# procs PID: the authority and its living children (workers, spawner).
procs() { echo "$1"; cat /proc/"$1"/task/*/children 2>/dev/null; }
# ticks PID: utime+stime of PID alone, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# all_ticks PID: of the authority and its children.
all_ticks() {
	local p t=0
	for p in $(procs "$1"); do
		t=$((t + $(ticks "$p")))
	done
	echo "$t"
}
HZ=$(getconf CLK_TCK)

die() { echo "$BENCH.sh: $*" >&2; exit 2; }
# bench_init NAME [COUNT]: the settings both benchmarks take from the
# environment (see their headers), the programs, and a temp dir in $work.
bench_init() {
	BENCH=$1
	BUILD=$(cd -- "${BUILD:-.}" && pwd) || die "no build dir"
	COUNT=${2:-20000}
	CLIENTS=${CLIENTS:-1000}
	CONC=${CONC:-200}
	WARMUP=${WARMUP:-1000}
	REPEAT=${REPEAT:-3}
	STORM=$BUILD/clients/mandos-storm
	MANDOSD=$BUILD/src/mandosd
	[ -x "$STORM" ] && [ -x "$MANDOSD" ] || die "no mandosd or mandos-storm in $BUILD"
	work=$(mktemp -d "/tmp/bench-$BENCH.XXXXXX") || die "mktemp"
	spid=""
}

# quiet_table ARGS...: mandos-storm --make-table ARGS on stdout, with
# checkers once a day, so that none runs during a storm.
quiet_table() {
	"$STORM" --make-table "$@" | python3 -c '
import json, sys
t = json.load(sys.stdin)
t["defaults"] = {"checker": "true", "interval": "P1D", "timeout": "P1D"}
json.dump(t, sys.stdout)'
}

# free_port P: the first port from P on with no listener.
free_port() {
	local p=$1
	while ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; do
		p=$((p + 1))
		[ $p -lt $(($1 + 50)) ] || { echo "no free port from $1" >&2; return 1; }
	done
	echo $p
}

# start_server PORT ARGS...: a private mandosd (PIN: a command prefix such
# as "taskset -c 0"); sets spid.
start_server() {
	local port=$1
	shift
	# Emptied here, not by the child's redirection after the fork: the
	# wait below must not see the last server's "listening on".
	: >"$work/mandosd.log"
	${PIN:-} "$MANDOSD" --foreground --clients "$work/clients.json" --address ::1 \
	    --port "$port" --no-zeroconf --control '' --statedir '' "$@" \
	    2>"$work/mandosd.log" &
	spid=$!
	for _ in $(seq 200); do
		grep -q 'listening on' "$work/mandosd.log" && return 0
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.05
	done
	cat "$work/mandosd.log" >&2
	echo "mandosd did not start" >&2
	return 1
}
stop_server() {
	[ -n "${spid:-}" ] || return 0
	kill -TERM "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
	spid=""
}

# run_storm PORT [TASKSET-CPUS]: one storm (with $STORM_ARGS) against PORT; prints
# "rate completed failed total_ticks authority_ticks".
run_storm() {
	local port=$1 cpus=${2:-} a0 t0 a1 t1 pre=
	[ -n "$cpus" ] && pre="taskset -c $cpus"
	a0=$(ticks "$spid") t0=$(all_ticks "$spid")
	$pre "$STORM" --connect "[::1]:$port" --clients "$CLIENTS" --seed bench \
	    --concurrency "$CONC" --count "$COUNT" --warmup "$WARMUP" --timeout 60 \
	    --json --quiet ${STORM_ARGS:-} >"$work/storm.json" 2>&1
	a1=$(ticks "$spid") t1=$(all_ticks "$spid")
	python3 - "$work/storm.json" $((t1 - t0)) $((a1 - a0)) <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(r["rate"], r["completed"], r["failed"], sys.argv[2], sys.argv[3])
PY
}
