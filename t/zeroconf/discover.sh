#!/bin/bash
# discover.sh: mandosd detached as a daemon in the sandbox namespace; the
# real Debian mandos-client, without --connect, finds it by Zeroconf and
# prints its secret.  The server runs as _mandos (from /proc), keeps
# serving, reloads a root-only 0600 table on SIGHUP (the new secret is
# served), and its pid file is gone after SIGTERM.  ZC_MODE=veth (see
# discover-veth.sh) runs the client in a second namespace across a veth
# pair, over IPv4 and IPv6 link-local.
. "${top_srcdir:-.}/t/zeroconf/lib.sh"

MC=${REF_CLIENT:-/usr/lib/x86_64-linux-gnu/mandos/plugins.d/mandos-client}
KEYGEN=/usr/sbin/mandos-keygen
[ -x "$MC" ] || MC=$(ls /usr/lib/*/mandos/plugins.d/mandos-client 2>/dev/null | head -n1)
[ -x "$MC" ] || zc_skip "no mandos-client (Debian package mandos-client)"
[ -x "$KEYGEN" ] || zc_skip "no mandos-keygen"
getent passwd _mandos >/dev/null || zc_skip "no _mandos user (package mandos)"

zc_setup
K=$ZC_DIR/keys C=$ZC_DIR/conf
install -d -m 0700 "$K" "$C" "$ZC_DIR/hooks"
install -d -m 0755 -o _mandos -g "$(id -gn _mandos)" "$ZC_DIR/run"
install -d -m 1777 "$ZC_DIR/chk"

# keygen SECRET FILE: the client's key set (once) and SECRET encrypted.
keygen() {
	if [ ! -s "$K/tls-pubkey.pem" ]; then
		TMPDIR=$ZC_DIR "$KEYGEN" --dir "$K" --name zc --force \
		    --length 2048 --sublength 2048 </dev/null \
		    >"$ZC_DIR/keygen.log" 2>&1 || zc_fail "mandos-keygen"
	fi
	printf '%s' "$1" >"$ZC_DIR/pass"
	TMPDIR=$ZC_DIR "$KEYGEN" --dir "$K" --name zc --passfile \
	    "$ZC_DIR/pass" --no-ssh </dev/null >"$2" 2>>"$ZC_DIR/keygen.log" ||
	    zc_fail "mandos-keygen --passfile"
}

# table SECTION: a root-only clients.json serving the section's secret.
table() {
	local kid b64
	kid=$(sed -n 's/^key_id = //p' "$1")
	b64=$(sed -n '/^secret =/,/^[^ ]/{/^    /{s/^ *//;p}}' "$1" | tr -d '\n')
	[ -n "$kid" ] && [ -n "$b64" ] || zc_fail "bad keygen output"
	# The checker records its credentials: unprivileged, no capability.
	printf '{"clients": {"zc": {"key_id": "%s", "secret": "%s", "interval": "PT1S", "checker": "grep -e ^Uid: -e ^CapEff: -e ^CapPrm: /proc/self/status >%s/caps"}}}\n' \
	    "$kid" "$b64" "$ZC_DIR/chk" >"$C/clients.json.new"
	chmod 0600 "$C/clients.json.new"
	mv "$C/clients.json.new" "$C/clients.json"
}

# discover EXPECTED: run mandos-client in the namespace until it prints.
discover() {
	local dh="" ns=$ZC_NS ifarg=--interface=lo
	[ -s "$K/dhparams.pem" ] && dh=--dh-params=$K/dhparams.pem
	# Its own mDNS stack joins every interface it sees, lo only if named.
	[ "$ZC_IFACE" = lo ] || { ns=$ZC_PEER; ifarg=; }
	: >"$ZC_DIR/mc.out"
	ip netns exec "$ns" timeout 25 "$MC" $ifarg \
	    --network-hook-dir="$ZC_DIR/hooks" --pubkey="$K/pubkey.txt" \
	    --seckey="$K/seckey.txt" --tls-pubkey="$K/tls-pubkey.pem" \
	    --tls-privkey="$K/tls-privkey.pem" $dh --retry=1 --debug \
	    </dev/null >"$ZC_DIR/mc.out" 2>"$ZC_DIR/mc.err"
	grep -q "Mandos server \"$ZC_SNAME\" found" "$ZC_DIR/mc.err" ||
		zc_fail "mandos-client did not discover $ZC_SNAME"
	[ "$(cat "$ZC_DIR/mc.out")" = "$1" ] ||
		zc_fail "secret: got '$(cat "$ZC_DIR/mc.out")', want '$1'"
}

keygen "zc-secret-one-$$" "$ZC_DIR/one.conf"
keygen "zc-secret-two-$$" "$ZC_DIR/two.conf"
table "$ZC_DIR/one.conf"

zc_bus_start
zc_avahi_start
ZC_SNAME="Mandos-zc-$$"
port=$(zc_port 4)
PIDF=$ZC_DIR/run/mandosd.pid
# Detached: the parent returns once the daemon is ready.
ip netns exec "$ZC_NS" "$top_builddir/src/mandosd" --port "$port" \
    --clients "$C/clients.json" --servicename "$ZC_SNAME" $(zc_private "$port") \
    --pidfile "$PIDF" </dev/null >"$ZC_DIR/start.log" 2>&1 ||
	zc_fail "mandosd did not start: $(cat "$ZC_DIR/start.log")"
[ -s "$PIDF" ] || zc_fail "no pid file"
pid=$(cat "$PIDF")
ZC_PIDS="$ZC_PIDS $pid"
[ "$(cat /proc/"$pid"/comm 2>/dev/null)" = mandosd ] || zc_fail "pid $pid is not mandosd"

# Unprivileged: real, effective, saved and file-system IDs, no groups.
uid=$(id -u _mandos)
awk -v u="$uid" '/^Uid:/ { exit !($2 == u && $3 == u && $4 == u && $5 == u) }' \
    /proc/"$pid"/status || zc_fail "not running as _mandos: $(grep Uid: /proc/"$pid"/status)"
grep -Eq '^Groups:[[:space:]]*$' /proc/"$pid"/status ||
	zc_fail "supplementary groups kept: $(grep Groups: /proc/"$pid"/status)"
# Only CAP_DAC_READ_SEARCH (bit 2) is left.
grep -q '^CapEff:[[:space:]]*0000000000000004$' /proc/"$pid"/status ||
	zc_fail "capabilities: $(grep CapEff: /proc/"$pid"/status)"
echo "running as _mandos (uid $uid), pid file $PIDF"

zc_wait_resolved "$ZC_SNAME" "$port" || zc_fail "not announced: $ZC_SEEN"
discover "zc-secret-one-$$"
echo "mandos-client discovered $ZC_SNAME and printed the secret"

for _ in $(seq 40); do [ -s "$ZC_DIR/chk/caps" ] && break; sleep 0.1; done
grep -Eq "^Uid:[[:space:]]+$uid[[:space:]]" "$ZC_DIR/chk/caps" &&
    grep -q '^CapEff:[[:space:]]*0000000000000000$' "$ZC_DIR/chk/caps" &&
    grep -q '^CapPrm:[[:space:]]*0000000000000000$' "$ZC_DIR/chk/caps" ||
	zc_fail "checker credentials: $(cat "$ZC_DIR/chk/caps" 2>/dev/null)"
echo "checkers run as _mandos without capabilities"

# Reload after the drop: the table is root's and 0600.
table "$ZC_DIR/two.conf"
kill -HUP "$pid"
sleep 0.5
zc_alive "$pid" || zc_fail "died on SIGHUP"
discover "zc-secret-two-$$"
echo "reloaded on SIGHUP, new secret served"

kill -TERM "$pid"
for _ in $(seq 100); do zc_alive "$pid" || break; sleep 0.05; done
zc_alive "$pid" && zc_fail "still running after SIGTERM"
[ -e "$PIDF" ] && zc_fail "pid file left behind"
zc_wait_gone "$ZC_SNAME" || zc_fail "still announced after exit"
echo "pid file removed and service withdrawn on SIGTERM"
zc_pass
