#!/bin/bash
# syscalls.sh [COUNT]: system calls per handshake of mandosd, by call.
#
# Run from a build directory (or BUILD=/path/to/build).  mandosd runs under
# `strace -c -f` while mandos-storm makes COUNT (default 2,000) handshakes
# against it (100 clients, concurrency 20, every blob checked); the table is
# strace's count of each call divided by the successful handshakes.  Start-up
# and shutdown are included (at 2,000 handshakes under 0.1 a handshake);
# the table's checkers run once a day, so none runs during the storm.
# Environment: BUILD, PORT (first port tried, 20781), MANDOSD_ARGS (extra
# mandosd options), PRIORITY (mandosd --priority), KEEP=1 (keep the temp
# dir with strace's own table).  t/core/syscalls.sh bounds the result.
# As root (and NETNS unset or 1) it runs in a network namespace of its
# own, where the kernel's TcpOutSegs counts only its segments: the line
# "tcp_segments" is the TCP segments per handshake, both directions.
set -uo pipefail
if [ "${NETNS:-1}" = 1 ] && [ -z "${SYSCALLS_IN_NETNS:-}" ] && [ "$(id -u)" = 0 ] &&
    command -v ip >/dev/null && command -v nstat >/dev/null &&
    unshare -n true 2>/dev/null; then
	SYSCALLS_IN_NETNS=1 exec unshare -n bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
fi

die() { echo "syscalls.sh: $*" >&2; exit 2; }
BUILD=$(cd -- "${BUILD:-.}" && pwd) || die "no build dir"
COUNT=${1:-2000}
case $COUNT in ''|*[!0-9]*) die "usage: syscalls.sh [COUNT]";; esac
PORT=${PORT:-20781}
STORM=$BUILD/clients/mandos-storm
MANDOSD=$BUILD/src/mandosd
[ -x "$STORM" ] || die "no $STORM (set BUILD)"
[ -x "$MANDOSD" ] || die "no $MANDOSD (set BUILD)"
command -v strace >/dev/null || die "strace missing"

work=$(mktemp -d /tmp/bench-syscalls.XXXXXX) || die "mktemp"
spid=""
cleanup() {
	if [ -n "$spid" ]; then
		kill -TERM "$spid" 2>/dev/null
		wait "$spid" 2>/dev/null
	fi
	[ "${KEEP:-0}" = 1 ] && echo "kept $work" >&2 || rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

p=$PORT
while ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; do
	p=$((p + 1))
	[ $p -lt $((PORT + 50)) ] || die "no free port from $PORT"
done
# Checkers once a day: none runs during the storm to add its calls.
"$STORM" --make-table 100 | python3 -c '
import json, sys
t = json.load(sys.stdin)
t["defaults"] = {"checker": "true", "interval": "P1D", "timeout": "P1D"}
json.dump(t, sys.stdout)' >"$work/clients.json" || die "make-table failed"
prio=()
[ -n "${PRIORITY:-}" ] && prio=(--priority "$PRIORITY")
# strace is the process we start; TERM to it detaches and ends mandosd too.
strace -c -f -o "$work/strace.txt" "$MANDOSD" --foreground --no-zeroconf \
    --control '' --statedir "$work" --clients "$work/clients.json" \
    --address ::1 --port "$p" "${prio[@]}" ${MANDOSD_ARGS:-} \
    2>"$work/mandosd.log" &
spid=$!
for _ in $(seq 100); do
	grep -q 'listening on' "$work/mandosd.log" && break
	kill -0 "$spid" 2>/dev/null || break
	sleep 0.1
done
grep -q 'listening on' "$work/mandosd.log" || { cat "$work/mandosd.log" >&2; die "mandosd did not start"; }
"$STORM" --connect "[::1]:$p" --clients 100 --concurrency 20 --count "$COUNT" \
    --timeout 60 --json >"$work/storm.json" || die "storm failed: $(cat "$work/storm.json")"
# mandosd stops on TERM; strace writes its table when its tracee exits.
mpid=$(pgrep -P "$spid" | head -n1)
[ -n "$mpid" ] && kill -TERM "$mpid"
wait "$spid" 2>/dev/null
spid=""
ok=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["completed"] - s["failed"])' "$work/storm.json")
[ "$ok" -gt 0 ] || die "no successful handshakes"
echo "mandosd, $ok handshakes${PRIORITY:+, priority $PRIORITY}: system calls per handshake"
awk -v n="$ok" '
	$1 ~ /^-/ { next }
	# % time, seconds, usecs/call, calls, [errors], syscall
	$NF == "total" { total = $4; next }
	NF >= 5 && $4 ~ /^[0-9]+$/ { calls[$NF] = $4 }
	END {
		for (c in calls) if (calls[c] / n >= 0.05) printf "%-16s %6.2f\n", c, calls[c] / n | "sort -k2 -rn"
		close("sort -k2 -rn")
		printf "%-16s %6.2f\n", "total", total / n
	}' "$work/strace.txt"
if [ -n "${SYSCALLS_IN_NETNS:-}" ]; then
	nstat -asz TcpOutSegs 2>/dev/null | awk -v n="$ok" \
	    '$1 == "TcpOutSegs" { printf "%-16s %6.2f\n", "tcp_segments", $2 / n }'
fi
