#!/bin/bash
# Limits that hold under attack: out of descriptors (EMFILE) the server
# pauses accepting instead of spinning and recovers when peers go; at the
# connection cap it stops accepting and resumes as connections end.
. "${top_srcdir:-.}/t/core/lib.sh" || exit 99
need_cmd prlimit
STORM=$top_builddir/clients/mandos-storm
[ -x "$STORM" ] || fail "mandos-storm not built"

client good 1 "good secret" | table "$T/clients.json"
VALGRIND=	# valgrind needs descriptors of its own

# The authority and its workers (a worker would be the one to spin).
cpu_ticks() {
	local p t=0
	for p in "$MPID" $(cat /proc/"$MPID"/task/*/children); do
		t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}

# 1. Out of descriptors: 40 in all, 100 idle peers.
: >"$T/mandosd.log"
prlimit --nofile=40:40 "$MANDOSD" --foreground $PRIVATE --address ::1 --port 0 \
    --clients "$T/clients.json" --max-connections 1000 --version-timeout 4s >>"$T/mandosd.log" 2>&1 &
MPID=$!
wait_log "listening on"
PORT=$(sed -n 's/.*listening on \[.*\]:\([0-9]*\),.*/\1/p' "$T/mandosd.log")
"$STORM" --connect "[::1]:$PORT" --hold 100 --hold-stage connect --concurrency 100 \
    --duration 3 --quiet >"$T/hold.out" 2>&1 &
hold=$!
wait_log "accept: pausing 1 s"
t0=$(cpu_ticks)
sleep 2
t1=$(cpu_ticks)
ticks=$((t1 - t0))
echo "  CPU while out of descriptors: $ticks ticks in 2 s"
[ "$ticks" -lt 30 ] || fail "mandosd used $ticks ticks (1/100 s) in 2 s while out of descriptors: spinning"
wait "$hold"
sleep 1.5	# the pause ends and the backlog drains
probe --idx 1 --timeout 10
[ "$RC" -eq 0 ] && [ "$(cat "$T/out")" = "good secret" ] || fail "not served after descriptors came back (exit $RC: $(cat "$T/err"))"
ok "EMFILE pauses accept without spinning, and the server recovers"
stop_mandosd

# 2. The connection cap: 3 at once; the rest wait in the backlog.
# Without fair shares (t/core/fair.sh covers them: they keep looking at the
# backlog at the cap, so "accepted" goes on growing there).
start_mandosd --clients "$T/clients.json" --no-zeroconf --max-connections 3 --version-timeout 1s --no-fair-share
"$STORM" --connect "[::1]:$PORT" --hold 10 --hold-stage connect --concurrency 10 \
    --duration 2 --quiet >"$T/hold.out" 2>&1 &
hold=$!
sleep 0.5
kill -USR1 "$MPID"
wait_log "counters: accepted=3 active=3"
ok "at most 3 connections accepted at once"
wait "$hold"
probe --idx 1 --timeout 15
[ "$RC" -eq 0 ] || fail "not served after the cap cleared (exit $RC)"
ok "accepting resumes below the cap"
stop_mandosd
echo "PASS"
