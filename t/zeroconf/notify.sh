#!/bin/bash
# notify.sh: readiness over a fake NOTIFY_SOCKET that the test listens on.
# With NOTIFY_SOCKET set mandosd stays in the foreground (same PID) and
# sends READY=1 once serving, RELOADING=1 then READY=1 around a SIGHUP
# reload and STOPPING=1 at exit, the last one after dropping root (the
# socket was connected while privileged).  Path and abstract sockets.
. "${top_srcdir:-.}/t/zeroconf/lib.sh"

[ "$(id -u)" = 0 ] || zc_skip "needs root"
command -v python3 >/dev/null 2>&1 || zc_skip "no python3"
ZC_DIR=$(mktemp -d /tmp/mzc.XXXXXX) || zc_fail "mktemp"
trap zc_cleanup EXIT
trap 'exit 1' INT TERM
echo '{"clients": {}}' >"$ZC_DIR/clients.json"

# listen ADDR OUT: print every datagram to OUT, one per line ("\n" -> "|").
listen() {
	zc_bg "$ZC_DIR/listen.log" python3 -u -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
a = sys.argv[1]
s.bind("\0" + a[1:] if a[0] == "@" else a)
open(sys.argv[2] + ".ready", "w").close()
with open(sys.argv[2], "a") as f:
    while True:
        f.write(s.recv(4096).decode().replace("\n", "|") + "\n")
        f.flush()
' "$1" "$2"
	for _ in $(seq 100); do [ -e "$2.ready" ] && return 0; sleep 0.05; done
	zc_fail "listener did not start"
}

# wait_msg OUT PATTERN: until a datagram matching PATTERN arrived.
wait_msg() {
	for _ in $(seq 100); do
		grep -Eq "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	zc_fail "no '$2' in: $(tr '\n' ' ' <"$1" 2>/dev/null)"
}

run() {
	local addr=$1 out=$ZC_DIR/notify-$2 port pid
	port=$(zc_port "$2")
	listen "$addr" "$out"
	NOTIFY_SOCKET=$addr "$top_builddir/src/mandosd" --no-zeroconf \
	    --address 127.0.0.1 --port "$port" --clients "$ZC_DIR/clients.json" \
	    --pidfile '' $(zc_private "$port") </dev/null \
	    >"$ZC_DIR/mandosd-$2.log" 2>&1 &
	pid=$!
	ZC_PIDS="$ZC_PIDS $pid"
	wait_msg "$out" '^READY=1'
	zc_alive "$pid" || zc_fail "mandosd forked away under systemd"
	if getent passwd _mandos >/dev/null; then
		grep -Eq "^Uid:[[:space:]]+$(id -u _mandos)[[:space:]]" \
		    /proc/"$pid"/status || zc_fail "root kept under systemd"
	fi
	kill -HUP "$pid"
	wait_msg "$out" '^RELOADING=1\|MONOTONIC_USEC=[0-9]+$'
	for _ in $(seq 100); do
		[ "$(grep -c '^READY=1' "$out")" -ge 2 ] && break
		sleep 0.05
	done
	# READY=1 again only after RELOADING=1.
	awk '/^RELOADING=1/ { r = NR } /^READY=1/ { y = NR } END { exit !(r && y > r) }' \
	    "$out" || zc_fail "READY=1 not after RELOADING=1: $(cat "$out")"
	kill -TERM "$pid"
	wait_msg "$out" '^STOPPING=1$'
	wait "$pid" || zc_fail "exit status $?"
	ZC_PIDS=$(echo " $ZC_PIDS " | sed "s/ $pid / /")
	echo "$addr: $(tr '\n' ' ' <"$out")"
}

run "$ZC_DIR/notify.sock" 5
run "@mzc-notify-$$" 6

# Detached (no NOTIFY_SOCKET): a failure after the fork still reaches the
# caller's exit status, and a good start returns only once serving.
long=$(printf 'x%.0s' $(seq 80))	# longer than a DNS label
port=$(zc_port 7)
"$top_builddir/src/mandosd" --servicename "$long" --address 127.0.0.1 \
    --port "$port" --clients "$ZC_DIR/clients.json" --pidfile '' \
    $(zc_private 7) </dev/null >"$ZC_DIR/bad.log" 2>&1 &&
	zc_fail "detached start with a bad service name exited 0"
grep -q "invalid service name" "$ZC_DIR/bad.log" ||
	zc_fail "start-up error not on the terminal"
# The pid file's directory is the user's, as /run/mandos is.
install -d -m 0755 -o "$(id -u _mandos 2>/dev/null || echo nobody)" "$ZC_DIR/run"
"$top_builddir/src/mandosd" --no-zeroconf --address 127.0.0.1 \
    --port "$port" --clients "$ZC_DIR/clients.json" \
    --pidfile "$ZC_DIR/run/d.pid" $(zc_private 7) </dev/null \
    >"$ZC_DIR/good.log" 2>&1 || zc_fail "detached start failed"
pid=$(cat "$ZC_DIR/run/d.pid")
ZC_PIDS="$ZC_PIDS $pid"
[ "$(cat /proc/"$pid"/comm)" = mandosd ] || zc_fail "pid file is not mandosd"
[ "$(ps -o sid= -p "$pid" | tr -d ' ')" = "$pid" ] || zc_fail "no new session"
exec 3<>/dev/tcp/127.0.0.1/"$port" || zc_fail "detached server not listening"
exec 3<&-
zc_kill "$pid"
[ -e "$ZC_DIR/run/d.pid" ] && zc_fail "pid file left behind"
echo "detached: failure reported, success only once listening"
zc_pass
