#!/bin/bash
# Reuseport steering by source (lsn_steer_by_source, for the network
# workers): in a SO_REUSEPORT group of listening sockets with the program
# attached, every connection of one source lands on the same socket, the one
# lsn_steer_index() predicts; sources of one prefix (an IPv6 /64, or an
# IPv4 /24 with --source-prefix4 24) share it; several sockets are used.
# Without the program the kernel hashes the source port too, so a source is
# spread over the group: the same check must fail then (the control case).
. "${top_srcdir:-.}/t/core/lib.sh" || exit 99
STEER=$top_builddir/t/steer-test
[ -x "$STEER" ] || fail "steer-test not built"
need_cmd unshare
need_cmd ip
need_root

v4=""
for i in $(seq 2 13); do v4="$v4 127.0.0.$i"; done
# shellcheck disable=SC2086
"$STEER" 127.0.0.1 2 20 32 64 $v4 || fail "IPv4 sources not steered"
ok "IPv4: each of 12 sources always on one of 2 sockets"
# shellcheck disable=SC2086
STEER_NO_PROG=1 "$STEER" 127.0.0.1 2 20 32 64 $v4 >"$T/noprog.out" 2>&1 &&
    fail "without the program the sources were steered anyway: the check proves nothing"
ok "control: without the program a source is spread ($(tail -n1 "$T/noprog.out"))"
"$STEER" 127.0.0.1 3 10 24 64 127.0.1.2+127.0.1.77 127.0.2.2+127.0.2.200 \
    127.0.3.5+127.0.3.6 127.0.4.1+127.0.4.9 127.0.5.3+127.0.5.4 127.0.6.3+127.0.6.8 ||
    fail "IPv4 /24 sources not steered"
ok "IPv4 /24: addresses of one /24 share a socket of 3"

# IPv6 needs more than ::1: a network namespace of our own, addresses on lo.
cat >"$T/ns.sh" <<NS
set -e
ip link set lo up
for n in 1 2 3 4 5 6 7 8; do
	ip -6 addr add 2001:db8:0:\$n::1/64 dev lo nodad
	ip -6 addr add 2001:db8:0:\$n::2/64 dev lo nodad
done
src=::1
for n in 1 2 3 4 5 6 7 8; do src="\$src 2001:db8:0:\$n::1+2001:db8:0:\$n::2"; done
"$STEER" :: 2 10 32 64 \$src 127.0.0.1 127.0.0.2 127.0.0.3 127.0.0.4
NS
unshare -n bash "$T/ns.sh" || fail "IPv6 sources not steered (netns)"
ok "IPv6 /64: two addresses of each /64 share a socket; dual-stack IPv4 too"
echo "PASS"
