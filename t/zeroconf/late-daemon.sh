#!/bin/bash
# late-daemon.sh: the announcer starts before the bus and avahi-daemon
# exist; it publishes once they appear, without a busy loop meanwhile.
. "${top_srcdir:-.}/t/zeroconf/lib.sh"

zc_setup
p=$(zc_port 3)
zc_announce Mandos "$p"; a=$ZC_LAST
sleep 2
zc_alive "$a" || zc_fail "announcer died without a bus"
# Not a busy loop: a spinning one would burn ~2 CPU seconds in 2 s.
ticks=$(awk '{print $14 + $15}' /proc/"$a"/stat)
[ "$ticks" -lt 25 ] || zc_fail "busy while waiting: $ticks ticks"
zc_bus_start
sleep 1
zc_avahi_start
zc_wait_resolved Mandos "$p" 25 || zc_fail "not published late: $ZC_SEEN"
[ "$(grep -c 'avahi-daemon unavailable' "$ZC_DIR/announce-$p.log")" = 1 ] ||
	zc_fail "absence not logged exactly once"
zc_pass
