#!/bin/bash
# refserver.sh OUTDIR PORT: run the reference Python server (Debian's
# /usr/sbin/mandos) in the foreground on [::1]:PORT as a peer for tests.
# It reads OUTDIR/conf/{mandos.conf,clients.conf}, keeps its state in
# OUTDIR/state, and, with DBUS=1, exports its D-Bus API on a private system
# bus whose address it writes to OUTDIR/dbus-address (for mandos-ctl).
# Prints "listening on" once the port is open; TERM/INT stop the server and
# the bus. DEBUG=1 gives the server's --debug output.
#
# Why the wrapper: the server asks for the system bus even with --no-dbus,
# so a private dbus-daemon is always started; without /dev/log every log
# call prints a traceback, so logging.raiseExceptions is turned off; setsid
# puts the server's forked children in one group that can be stopped.
set -u
die() { echo "refserver.sh: $*" >&2; exit 2; }
[ $# -eq 2 ] || die "usage: refserver.sh OUTDIR PORT"
OUT=$(cd -- "$1" && pwd) || die "no directory $1"
PORT=$2
[ -x /usr/sbin/mandos ] || die "/usr/sbin/mandos missing (apt-get install mandos)"
command -v dbus-daemon >/dev/null || die "dbus-daemon missing (apt-get install dbus)"
[ -r "$OUT/conf/clients.conf" ] || die "no $OUT/conf/clients.conf"

user=nobody
for u in _mandos mandos; do getent passwd "$u" >/dev/null && { user=$u; break; }; done
run=$(mktemp -d "${TMPDIR:-/tmp}/refserver.XXXXXX")
chmod 0755 "$run" "$OUT"
install -d -m 0700 -o "$user" "$OUT/state"
spid= bpid=
stop() {
	trap - EXIT INT TERM
	if [ -n "$spid" ]; then
		kill -TERM "$spid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL -- "-$spid" 2>/dev/null	# its forked handlers
	fi
	[ -n "$bpid" ] && kill -TERM "$bpid" 2>/dev/null
	rm -f "$OUT/dbus-address"
	rm -rf "$run"
}
trap stop EXIT
trap 'exit 0' INT TERM

cat >"$run/bus.conf" <<EOT
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path=$run/bus</listen>
<auth>EXTERNAL</auth><policy context="default"><allow user="*"/><allow own="*"/>
<allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/></policy>
</busconfig>
EOT
dbus-daemon --config-file="$run/bus.conf" --nofork </dev/null >/dev/null 2>&1 &
bpid=$!
for _ in $(seq 50); do [ -S "$run/bus" ] && break; sleep 0.1; done
[ -S "$run/bus" ] || die "dbus-daemon did not start"
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$run/bus

args=(--no-zeroconf --no-restore --address ::1 --port "$PORT"
      --configdir "$OUT/conf" --statedir "$OUT/state")
if [ "${DEBUG:-0}" = 1 ]; then args+=(--debug); else args+=(--foreground); fi
[ "${DBUS:-0}" = 1 ] || args+=(--no-dbus)
/usr/bin/python3 -bI -c 'import os, sys, runpy, logging
os.setsid()
if not os.path.exists("/dev/log"):
    logging.raiseExceptions = False
sys.argv = ["/usr/sbin/mandos"] + sys.argv[1:]
runpy.run_path("/usr/sbin/mandos", run_name="__main__")' "${args[@]}" </dev/null >&2 &
spid=$!
for _ in $(seq 300); do
	ss -Hltn "sport = :$PORT" 2>/dev/null | grep -q . && break
	kill -0 "$spid" 2>/dev/null || die "the reference server exited"
	sleep 0.1
done
ss -Hltn "sport = :$PORT" 2>/dev/null | grep -q . || die "not listening after 30 s"
[ "${DBUS:-0}" = 1 ] && echo "$DBUS_SYSTEM_BUS_ADDRESS" >"$OUT/dbus-address"
echo "refserver.sh: reference mandos (pid $spid) listening on [::1]:$PORT" >&2
wait "$spid"
