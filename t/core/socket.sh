#!/bin/bash
# Inherited listening sockets: --socket FD, and systemd's LISTEN_FDS (through
# systemd-socket-activate, which passes the socket as systemd does).
. "${top_srcdir:-.}/t/core/lib.sh" || exit 99
need_cmd python3
client good 1 "inherited" | table "$T/clients.json"

# --socket FD: python binds, listens, and execs mandosd with the socket as fd 5.
: >"$T/mandosd.log"
python3 - "$MANDOSD" "$T/clients.json" "$T/port" $PRIVATE >>"$T/mandosd.log" 2>&1 <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.bind(("::1", 0))
s.listen(16)
open(sys.argv[3], "w").write(str(s.getsockname()[1]))
os.dup2(s.fileno(), 5)
os.set_inheritable(5, True)
os.execv(sys.argv[1], [sys.argv[1], "--foreground", "--clients", sys.argv[2],
    "--socket", "5"] + sys.argv[4:])
PY
MPID=$!
wait_log "listening on \[::1\]:"
PORT=$(cat "$T/port")
probe --idx 1
[ "$RC" -eq 0 ] && [ "$(cat "$T/out")" = "inherited" ] || fail "--socket: exit $RC"
ok "--socket FD serves an inherited socket"
stop_mandosd

"$MANDOSD" --foreground $PRIVATE --clients "$T/clients.json" --socket 0 </dev/null >"$T/o" 2>&1 \
    && fail "--socket on a non-socket accepted"
grep -q "not a listening socket" "$T/o" || fail "--socket error: $(cat "$T/o")"
ok "--socket on a non-socket refused: $(cat "$T/o")"

if command -v systemd-socket-activate >/dev/null 2>&1; then
	PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0)); print(s.getsockname()[1])')
	: >"$T/mandosd.log"
	systemd-socket-activate -l "[::1]:$PORT" "$MANDOSD" --foreground $PRIVATE \
	    --clients "$T/clients.json" >>"$T/mandosd.log" 2>&1 &
	MPID=$!
	# Until it listens (a fixed 0.5 s was too short once, under CI's load).
	for _ in $(seq 100); do
		ss -Hltn "sport = :$PORT" 2>/dev/null | grep -q . && break
		sleep 0.1
	done
	probe --idx 1	# the first connection starts mandosd
	[ "$RC" -eq 0 ] && [ "$(cat "$T/out")" = "inherited" ] || fail "LISTEN_FDS: exit $RC: $(cat "$T/err")"
	wait_log "listening on \[::1\]:$PORT"
	ok "LISTEN_FDS socket activation"
	stop_mandosd
else
	skip "systemd-socket-activate not installed (package systemd)"
fi
echo "PASS"
