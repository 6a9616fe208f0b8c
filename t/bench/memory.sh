#!/bin/bash
# memory.sh [N]: mandosd's memory per connection, idle and mid-protocol.
#
# For each stage, a fresh mandosd (so freed memory of one stage does not
# hide the next's) is measured idle, then with N (default 10,000)
# connections held by mandos-storm --hold at that stage:
#   connect    connected, version line not sent (mandosd waits in VERSION)
#   handshake  version sent, mandosd's ClientHello left unanswered
#              (mandosd holds a TLS session mid-handshake)
# KiB per connection = (VmRSS held - VmRSS idle) / N, VmRSS from
# /proc/PID/status summed over every mandosd process (the authority, its
# network workers and the checker spawner: the connections spread over the
# workers).  Kernel socket buffers are not in RSS and not counted.
# WORKERS (default: mandosd's own default, one per CPU) sets --workers.
# Targets: under 1 KiB (connect) and under 16 KiB (handshake).
# Environment: BUILD (default .), PORT (first port tried, 20761), STAGES ("connect handshake").
# Needs ulimit -n above 2N (root may raise it; the script asks for 30000).
set -uo pipefail

die() { echo "memory.sh: $*" >&2; exit 2; }
BUILD=$(cd -- "${BUILD:-.}" && pwd) || die "no build dir"
N=${1:-10000}
case $N in ''|*[!0-9]*) die "usage: memory.sh [N]";; esac
PORT=${PORT:-20761}
STAGES=${STAGES:-"connect handshake"}
STORM=$BUILD/clients/mandos-storm
MANDOSD=$BUILD/src/mandosd
[ -x "$STORM" ] || die "no $STORM (set BUILD)"
[ -x "$MANDOSD" ] || die "no $MANDOSD (set BUILD)"
ulimit -n 30000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt $((N + 100)) ] || die "ulimit -n $(ulimit -n) too low for $N"

work=$(mktemp -d /tmp/bench-memory.XXXXXX) || die "mktemp"
spid=""		# mandosd, started by us
hpid=""		# mandos-storm --hold, started by us
stop() {	# stop pid $1 (ours): TERM, wait, KILL
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
cleanup() {
	stop "$hpid"
	stop "$spid"
	rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The authority $1 and its children (workers, checker spawner).
procs() { echo "$1"; cat /proc/"$1"/task/*/children 2>/dev/null; }
rss() {
	local p t=0
	for p in $(procs "$1"); do
		t=$((t + $(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status")))
	done
	echo "$t"
}
nfds() {
	local p t=0
	for p in $(procs "$1"); do
		t=$((t + $(ls "/proc/$p/fd" | wc -l)))
	done
	echo "$t"
}

"$STORM" --make-table 10 >"$work/clients.json" || die "make-table failed"

# The first port from $1 on with no listener (other benchmarks may share
# the machine); PORT=... picks the start.
free_port() {
	local p=$1
	while ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; do
		p=$((p + 1))
		[ $p -lt $(($1 + 50)) ] || die "no free port from $1"
	done
	echo $p
}

echo "summed over all mandosd processes (authority + workers + spawner)"
printf '%-10s %8s %10s %10s %10s %12s\n' stage conns "idle KiB" "held KiB" fds "KiB/conn"
status=0
for stage in $STAGES; do
	port=$(free_port "$PORT")
	# The cap is shared out among the workers, and a shared accept queue
	# does not split N evenly: 2N, so no worker reaches its share (at N +
	# 1000, 9,510-9,620 of 10,000 were accepted). And every held
	# connection in its handshake at once, not --handshake-slots' 128.
	"$MANDOSD" --foreground --clients "$work/clients.json" --address ::1 \
	    --port "$port" --max-connections $((2 * N + 1000)) \
	    --handshake-slots $((N + 1000)) \
	    --version-timeout 300s --handshake-timeout 300s \
	    --no-zeroconf --control '' --statedir '' ${WORKERS:+--workers "$WORKERS"} \
	    2>"$work/mandosd.$stage.log" &
	spid=$!
	for _ in $(seq 100); do
		grep -q 'listening on' "$work/mandosd.$stage.log" && break
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.1
	done
	grep -q 'listening on' "$work/mandosd.$stage.log" ||
	    { cat "$work/mandosd.$stage.log" >&2; die "mandosd did not start"; }
	sleep 0.5
	idle=$(rss "$spid")

	"$STORM" --connect "[::1]:$port" --hold "$N" --hold-stage "$stage" \
	    --concurrency 500 --timeout 60 --duration 600 \
	    >"$work/hold.$stage.out" 2>"$work/hold.$stage.err" &
	hpid=$!
	for _ in $(seq 1200); do	# at most 120 s
		grep -qs '^held ' "$work/hold.$stage.out" && break
		kill -0 "$hpid" 2>/dev/null || break
		sleep 0.1
	done
	held=$(awk '/^held / { print $2 }' "$work/hold.$stage.out")
	[ -n "$held" ] || { cat "$work/hold.$stage.err" >&2; die "storm did not hold"; }
	sleep 1		# let mandosd accept and process what is queued
	full=$(rss "$spid")
	fds=$(nfds "$spid")
	[ "$held" -eq "$N" ] || { echo "only $held of $N held" >&2; status=1; }
	[ "$fds" -ge "$N" ] || { echo "mandosd has $fds descriptors, fewer than $N" >&2; status=1; }
	printf '%-10s %8d %10d %10d %10d %12.2f\n' "$stage" "$held" "$idle" \
	    "$full" "$fds" "$(awk -v a="$full" -v b="$idle" -v n="$held" 'BEGIN { print (a - b) / n }')"
	stop "$hpid"; hpid=""
	stop "$spid"; spid=""
done
exit $status
