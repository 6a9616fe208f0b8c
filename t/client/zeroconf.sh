#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Zeroconf: in an Avahi sandbox (a network namespace with its own
# avahi-daemon), our mandos-client without --connect finds the server
# mandosd announces and prints the secret; it keeps browsing while it waits
# on a silent server announced before. Uses the sandbox of t/zeroconf;
# ZC_MODE=veth (zeroconf-veth.sh): the client runs in a second namespace
# across a veth pair and reaches the servers over IPv4 or IPv6 link-local.
. "${top_srcdir:-.}/t/zeroconf/lib.sh"
CLIENT=$top_builddir/clients/mandos-client
KEYGEN=$top_builddir/clients/mandos-keygen
MANDOSD=$top_builddir/src/mandosd
for b in "$CLIENT" "$KEYGEN" "$MANDOSD"; do [ -x "$b" ] || zc_skip "no $b"; done
"$CLIENT" --help | grep -q -- --interface || zc_fail "--help"

zc_setup
# Whatever happens, this test ends within two minutes.
( trap 'kill $w 2>/dev/null; exit 0' TERM; sleep 120 & w=$!; wait $w
  kill -TERM $$ ) </dev/null >/dev/null 2>&1 &
ZC_PIDS="$ZC_PIDS $!"
K=$ZC_DIR/keys
install -d -m 0700 "$K" "$ZC_DIR/hooks"
TMPDIR=$ZC_DIR "$KEYGEN" --dir "$K" --name zc --length 2048 --sublength 2048 \
    >"$ZC_DIR/keygen.log" 2>&1 || zc_fail "mandos-keygen"
SECRET="zc-client-secret-$$"
printf '%s' "$SECRET" >"$ZC_DIR/pass"
TMPDIR=$ZC_DIR "$KEYGEN" --dir "$K" --name zc --passfile "$ZC_DIR/pass" \
    >"$ZC_DIR/entry" 2>>"$ZC_DIR/keygen.log" || zc_fail "mandos-keygen --passfile"
{ printf '{"clients": {'; cat "$ZC_DIR/entry"; printf '}}\n'; } >"$ZC_DIR/clients.json"

zc_bus_start
zc_avahi_start
ZC_SNAME="Mandos-client-$$"
port=$(zc_port 4)
# A silent server (accepts, never answers) is announced first.
sport=$(zc_port 5)
[ "$sport" != "$port" ] || zc_fail "no second port"
zc_bg "$ZC_DIR/silent.log" ip netns exec "$ZC_NS" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1]))); s.listen(8); held = []
while True: held.append(s.accept())' "$sport"
zc_bg "$ZC_DIR/publish-silent.log" avahi-publish -s "Silent-$$" _mandos._tcp "$sport"
zc_wait_resolved "Silent-$$" "$sport" || zc_fail "silent server not announced"
# The client starts next and keeps browsing, even while it waits on the
# silent server (--timeout), until mandosd appears.
if [ "$ZC_IFACE" = lo ]; then
	cns=$ZC_NS cargs=(--interface=lo --no-ipv6 --timeout=8)
else
	cns=$ZC_PEER cargs=(--interface=mdns1 --timeout=4)
fi
start=$(date +%s)
ip netns exec "$cns" timeout 30 "$CLIENT" "${cargs[@]}" \
    --network-hook-dir="$ZC_DIR/hooks" --pubkey="$K/pubkey.txt" \
    --seckey="$K/seckey.txt" --tls-pubkey="$K/tls-pubkey.pem" \
    --tls-privkey="$K/tls-privkey.pem" --give-up=25 --debug \
    </dev/null >"$ZC_DIR/out" 2>"$ZC_DIR/client.log" &
cpid=$!
ZC_PIDS="$ZC_PIDS $cpid"
for _ in $(seq 100); do
	grep -q "trying server .*:$sport\$" "$ZC_DIR/client.log" && break
	sleep 0.1
done
grep -q "trying server .*:$sport\$" "$ZC_DIR/client.log" ||
	zc_fail "the client did not try the silent server first"
# shellcheck disable=SC2046
zc_bg "$ZC_DIR/mandosd.log" ip netns exec "$ZC_NS" "$MANDOSD" --foreground \
    --port "$port" --clients "$ZC_DIR/clients.json" --servicename "$ZC_SNAME" \
    $(zc_private "$port")
# mandosd announces itself: no stand-in, or this test could not catch its loss.
zc_wait_resolved "$ZC_SNAME" "$port" 10 || zc_fail "mandosd not announced: $ZC_SEEN"
wait "$cpid"
rc=$?
ZC_PIDS=$(echo " $ZC_PIDS " | sed "s/ $cpid / /")
[ $rc = 0 ] || { cp "$ZC_DIR/client.log" "$ZC_DIR/client-log.log"
	zc_fail "mandos-client: status $rc after $(($(date +%s) - start)) s"; }
[ "$(cat "$ZC_DIR/out")" = "$SECRET" ] ||
	zc_fail "secret: got '$(cat "$ZC_DIR/out")', want '$SECRET'"
grep -q "Zeroconf: found \"$ZC_SNAME\"" "$ZC_DIR/client.log" ||
	zc_fail "not found by Zeroconf"
f=$(grep -n "Zeroconf: found \"$ZC_SNAME\"" "$ZC_DIR/client.log" | head -n1 | cut -d: -f1)
t=$(grep -n ":$sport: TLS handshake: timed out" "$ZC_DIR/client.log" | head -n1 | cut -d: -f1)
[ -n "$t" ] && [ "$f" -lt "$t" ] || { cp "$ZC_DIR/client.log" "$ZC_DIR/client-log.log"
	zc_fail "did not browse while waiting on the silent server"; }
if [ "$ZC_IFACE" != lo ]; then
	grep -q "server \[fe80::[0-9a-f:]*%mdns1\]:$port added" "$ZC_DIR/client.log" ||
	    { cp "$ZC_DIR/client.log" "$ZC_DIR/client-log.log"
	      zc_fail "no IPv6 link-local address with its zone"; }
fi
echo "found $ZC_SNAME by Zeroconf and printed the secret in $(($(date +%s) - start)) s"
zc_pass
