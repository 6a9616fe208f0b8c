#!/bin/bash
# announce.sh: a real avahi-daemon in a private namespace and bus; the
# service resolves to our address and port, a second one of the same name
# becomes "Mandos #2", and a restarted avahi-daemon (and a restarted bus)
# gets both announcements back without restarting the announcers.
. "${top_srcdir:-.}/t/zeroconf/lib.sh"

zc_setup
zc_bus_start
zc_avahi_start
p1=$(zc_port 1) p2=$(zc_port 2)

zc_announce Mandos "$p1"; a1=$ZC_LAST
zc_wait_resolved Mandos "$p1" || zc_fail "Mandos not resolved: $ZC_SEEN"
echo "resolved: Mandos on 127.0.0.1:$p1"

zc_announce Mandos "$p2"; a2=$ZC_LAST
zc_wait_resolved "Mandos #2" "$p2" || zc_fail "no Mandos #2: $ZC_SEEN"
grep -q 'renamed to "Mandos #2"' "$ZC_DIR/announce-$p2.log" ||
	zc_fail "rename not logged"
echo "resolved: Mandos #2 on 127.0.0.1:$p2"

# --no-zeroconf: never announced; --interface: announced on that one.
p3=$(zc_port 3) p4=$(zc_port 4)
zc_announce Silent "$p3" --no-zeroconf; a3=$ZC_LAST
zc_announce "On lo" "$p4" --interface lo; a4=$ZC_LAST
zc_wait_resolved "On lo" "$p4" || zc_fail "--interface lo: $ZC_SEEN"
grep -q Silent <<<"$(zc_browse)" && zc_fail "--no-zeroconf announced"
zc_alive "$a3" || zc_fail "--no-zeroconf server died"
zc_kill "$a3"; zc_kill "$a4"
echo "--no-zeroconf silent, --interface lo announced"

# Socket activation: the port announced is the inherited socket's.
if command -v systemd-socket-activate >/dev/null 2>&1; then
	p5=$(zc_port 5)
	zc_bg "$ZC_DIR/announce-$p5.log" ip netns exec "$ZC_NS" \
	    systemd-socket-activate -l "$p5" -E DBUS_SYSTEM_BUS_ADDRESS \
	    "$top_builddir/src/mandosd" \
	    --debug --clients "$ZC_DIR/clients.json" $(zc_private "$p5") \
	    --servicename Activated
	a5=$ZC_LAST
	# It starts the server on the first connection, as systemd may.
	for _ in $(seq 50); do
		grep -q "Listening on" "$ZC_DIR/announce-$p5.log" && break
		sleep 0.1
	done
	ip netns exec "$ZC_NS" bash -c "exec 3<>/dev/tcp/127.0.0.1/$p5" ||
		zc_fail "cannot connect to the activation socket"
	zc_wait_resolved Activated "$p5" || zc_fail "LISTEN_FDS port: $ZC_SEEN"
	zc_kill "$a5"
	echo "socket-activated server announced on the inherited port"
fi

# avahi-daemon killed and started again: both come back by themselves.
zc_avahi_stop
zc_avahi_start
zc_wait_resolved Mandos "$p1" || zc_fail "Mandos not back: $ZC_SEEN"
zc_wait_resolved "Mandos #2" "$p2" || zc_fail "Mandos #2 not back: $ZC_SEEN"
zc_alive "$a1" && zc_alive "$a2" || zc_fail "announcer died"
[ "$(grep -c 'avahi-daemon unavailable' "$ZC_DIR/announce-$p1.log")" = 1 ] ||
	zc_fail "daemon loss not logged exactly once"
echo "back after avahi-daemon restart"

# The bus vanishes with the daemon: back-off retries, then publish again.
zc_avahi_stop
zc_bus_stop
sleep 2
zc_bus_start
zc_avahi_start
zc_wait_resolved Mandos "$p1" 25 || zc_fail "Mandos not back after bus: $ZC_SEEN"
zc_alive "$a1" || zc_fail "announcer died"
echo "back after bus restart"

# Withdrawn at exit.
zc_kill "$a1"
zc_wait_gone Mandos || zc_fail "Mandos still announced after exit"
zc_pass
