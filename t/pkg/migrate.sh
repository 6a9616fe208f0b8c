#!/bin/bash
# migrate.sh: a server moved from the reference keeps its settings. mandosd
# is started with only the reference's mandos.conf (its stock file, edited
# as an operator would: address, use_ipv6, port, priority, servicename,
# statedir) and a table imported by "mandosctl --import" from the
# reference's clients.conf; the real mandos-client gets its secret there,
# Zeroconf (a real avahi-daemon in a private namespace) announces the name
# and port of the file, the state lands in the file's statedir, and the
# priority of the file is the one in force. The command line wins over the
# file; bad lines are clear errors naming file, line and key.
. "${top_srcdir:-.}/t/zeroconf/lib.sh"

REAL=$(ls /usr/lib/*/mandos/plugins.d/mandos-client 2>/dev/null | head -n1)
[ -n "$REAL" ] || zc_skip "the real mandos-client is not installed"
[ -f /etc/mandos/mandos.conf ] && [ -f /etc/mandos/clients.conf ] ||
	zc_skip "the reference's mandos package is not installed"
command -v mandos-keygen >/dev/null || zc_skip "no mandos-keygen"
MANDOSD=$top_builddir/src/mandosd
CTL=$top_builddir/clients/mandosctl
zc_setup
D=$ZC_DIR
MPID=

# run_bg ARGS...: mandosd in the namespace, its log in $D/mandosd.log.
run_bg() {
	: >"$D/mandosd.log"
	zc_bg "$D/mandosd.log" ip netns exec "$ZC_NS" "$MANDOSD" --foreground \
	    --control "$D/ctl.sock" "$@"
	MPID=$ZC_LAST
}
wait_log() {
	for _ in $(seq $((${2:-20} * 10))); do
		grep -q -- "$1" "$D/mandosd.log" && return 0
		zc_alive "$MPID" || zc_fail "mandosd exited: $(tail -n 5 "$D/mandosd.log")"
		sleep 0.1
	done
	zc_fail "no log line matching '$1'"
}
# real TARGET SECONDS: the real client in the namespace; RC and $D/real.out.
real() {
	ip netns exec "$ZC_NS" timeout "$2" "$REAL" --connect="$1" \
	    --interface=none --network-hook-dir="$D/hooks" \
	    --pubkey="$D/keys/pubkey.txt" --seckey="$D/keys/seckey.txt" \
	    --tls-pubkey="$D/keys/tls-pubkey.pem" \
	    --tls-privkey="$D/keys/tls-privkey.pem" --retry=1 \
	    </dev/null >"$D/real.out" 2>"$D/real.err"
	RC=$?
}

# --- The reference's files, as on a server that ran the reference.
install -d -m 0700 "$D/keys"
install -d -m 0755 "$D/hooks" "$D/etc"
TMPDIR=$D mandos-keygen --dir "$D/keys" --name migrated --force \
    --length 2048 --sublength 2048 </dev/null >"$D/keygen.log" 2>&1 ||
	zc_fail "mandos-keygen failed"
printf 'migrated secret %s\n' "$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')" >"$D/secret.txt"
cp /etc/mandos/clients.conf "$D/etc/clients.conf"
TMPDIR=$D mandos-keygen --dir "$D/keys" --name migrated \
    --passfile "$D/secret.txt" --no-ssh </dev/null >>"$D/etc/clients.conf" \
    2>"$D/keygen.log" || zc_fail "mandos-keygen --passfile failed"
sed -i 's/^host = .*/host = localhost\nchecker = true/' "$D/etc/clients.conf"
"$CTL" --import "$D/etc/clients.conf" >"$D/etc/clients.json" ||
	zc_fail "mandosctl --import failed"

PORT=$(zc_port 7)
GOOD='SECURE128:!CTYPE-X.509:+CTYPE-RAWPK:!RSA:!VERS-ALL:+VERS-TLS1.3:%PROFILE_ULTRA:-GROUP-ALL:+GROUP-X25519'
BAD='SECURE128:!CTYPE-X.509:+CTYPE-RAWPK:!RSA:!VERS-ALL:+VERS-TLS1.2'
# conf PRIORITY RESTORE: the stock mandos.conf with an operator's edits.
conf() {
	sed -e "s|^;address =.*|address = 127.0.0.1|" \
	    -e "s|^;use_ipv6 = .*|use_ipv6 = False|" \
	    -e "s|^;port = .*|port = $PORT|" \
	    -e "s|^;priority = .*|priority = $1|" \
	    -e "s|^;servicename = .*|servicename = Migrated server|" \
	    -e "s|^;statedir = .*|statedir = $D/state|" \
	    -e "s|^;restore = .*|restore = $2|" \
	    -e "s|^;use_dbus = .*|use_dbus = False|" \
	    /etc/mandos/mandos.conf >"$D/etc/mandos.conf"
	for k in address use_ipv6 port priority servicename statedir restore; do
		grep -q "^$k = " "$D/etc/mandos.conf" ||
			zc_fail "the stock mandos.conf has no ;$k line to edit"
	done
}
chmod 0755 "$D" "$D/etc"	# mandosd drops to _mandos
zc_bus_start
zc_avahi_start

# --- 1. Only the reference's files: --configdir, as the reference's own.
conf "$GOOD" True
run_bg --configdir "$D/etc"
wait_log "listening on \[127.0.0.1\]:$PORT,"
grep -q "use_dbus: warning: ignored" "$D/mandosd.log" ||
	zc_fail "use_dbus = False was not warned about"
grep -q "state: no $D/state/clients.state yet" "$D/mandosd.log" ||
	zc_fail "the statedir of the file is not the one used"
echo "ok: listening on [127.0.0.1]:$PORT only (address, use_ipv6 = False, port)"
zc_wait_resolved "Migrated server" "$PORT" ||
	zc_fail "\"Migrated server\" not announced on port $PORT: $ZC_SEEN"
echo "ok: Zeroconf announces \"Migrated server\" on $PORT (servicename)"
real "127.0.0.1:$PORT" 60
[ "$RC" -eq 0 ] || zc_fail "real client: exit $RC: $(grep -v GnuTLS "$D/real.err" | tail -n 5)"
cmp -s "$D/real.out" "$D/secret.txt" || zc_fail "real client printed something else"
echo "ok: the real mandos-client got its secret"
real "[::1]:$PORT" 5
[ "$RC" -ne 0 ] || zc_fail "the server answered on ::1 with use_ipv6 = False"
for _ in $(seq 50); do
	grep -q '"migrated"' "$D/state/clients.state" 2>/dev/null && break
	sleep 0.1
done
grep -q '"migrated"' "$D/state/clients.state" 2>/dev/null ||
	zc_fail "no state saved in the statedir of the file"
echo "ok: state saved in $D/state (statedir)"
zc_kill "$MPID"

# --- 2. restore = True (the file) restores; the priority of the file is in
# force: one the client cannot meet fails, and --priority on the command
# line wins and works; --port on the command line beats the file's.
conf "$BAD" True
run_bg --configdir "$D/etc"
wait_log "listening on \[127.0.0.1\]:$PORT,"
grep -q "state: restored 1 of 1 clients from $D/state/clients.state" "$D/mandosd.log" ||
	zc_fail "restore = True did not restore"
real "127.0.0.1:$PORT" 10
[ "$RC" -ne 0 ] && [ ! -s "$D/real.out" ] ||
	zc_fail "the client got a secret with a TLS 1.2-only priority in the file"
wait_log "result=tls_error"
echo "ok: the file's priority is in force (TLS 1.2 only: the client is refused)"
zc_kill "$MPID"
OTHER=$(zc_port 8)
run_bg --configdir "$D/etc" --priority "$GOOD" --port "$OTHER"
wait_log "listening on \[127.0.0.1\]:$OTHER,"
real "127.0.0.1:$OTHER" 60
[ "$RC" -eq 0 ] && cmp -s "$D/real.out" "$D/secret.txt" ||
	zc_fail "--priority on the command line did not win: exit $RC"
echo "ok: --priority and --port on the command line win over the file"
zc_kill "$MPID"

# --- 3. restore = False: the saved state is not read.
conf "$GOOD" False
run_bg --config "$D/etc/mandos.conf" --clients "$D/etc/clients.json"
wait_log "listening on \[127.0.0.1\]:$PORT,"
sleep 0.5
grep -q "state: restored" "$D/mandosd.log" &&
	zc_fail "restore = False restored the state"
echo "ok: restore = False starts fresh"
zc_kill "$MPID"

# --- 4. Bad lines: exit 1 (a configuration error), one message naming file, line and key.
# bad LINE MESSAGE-REGEX: a [DEFAULT] file whose 3rd line is LINE.
bad() {
	printf '[DEFAULT]\n# a comment\n%s\n' "$1" >"$D/bad.conf"
	"$MANDOSD" --config "$D/bad.conf" --clients "$D/etc/clients.json" \
	    --check-config >"$D/bad.out" 2>&1
	rc=$?
	[ "$rc" -eq 1 ] || zc_fail "\"$1\": exit $rc, not 1: $(cat "$D/bad.out")"
	grep -qE "^mandosd: $D/bad.conf:3: $2" "$D/bad.out" ||
		zc_fail "\"$1\": unclear error: $(cat "$D/bad.out")"
}
bad 'port = 80a' 'port: "80a" is not a port number'
bad 'port = 65536' 'port: "65536" is not a port number'
bad 'use_ipv6 = maybe' 'use_ipv6: "maybe" is not a boolean'
bad 'restore =' 'restore: "" is not a boolean'
bad 'address = example.org' 'address: "example.org" is not an IPv6 or IPv4 address'
bad 'priority = SECURE128:+NONSENSE' 'priority: bad GnuTLS priority string at "\+NONSENSE"'
bad 'statedir = var/lib' 'statedir: "var/lib" is not an absolute path'
bad 'socket = -1' 'socket: "-1" is not a file descriptor number'
bad 'port' 'syntax error'
bad "servicename = $(printf 'x%.0s' $(seq 64))" 'servicename: longer than 63 bytes'
bad "priority = NORMAL:$(printf 'x%.0s' $(seq 200))" 'line: longer than'
printf '[DEFAULT]\nport = 1\n\nPort = 2\n' >"$D/bad.conf"
"$MANDOSD" --config "$D/bad.conf" --clients "$D/etc/clients.json" -n 2>&1 |
	grep -q "bad.conf:4: Port: set twice in \[DEFAULT\]" || zc_fail "a key set twice passed"
printf '[DEFAULT]\npriority = NORMAL\n  :+VERS-TLS1.3\n' >"$D/bad.conf"
"$MANDOSD" --config "$D/bad.conf" --clients "$D/etc/clients.json" -n 2>&1 |
	grep -q "bad.conf:3: priority: continuation lines" || zc_fail "a continuation line passed"
printf 'port = 1\n' >"$D/bad.conf"
"$MANDOSD" --config "$D/bad.conf" --clients "$D/etc/clients.json" -n 2>&1 |
	grep -q "bad.conf:1: port: outside a section" || zc_fail "a key outside [DEFAULT] passed"
printf '[mandosd]\nhandshake-timeout = 5 fortnights\n' >"$D/bad.conf"
"$MANDOSD" --config "$D/bad.conf" --clients "$D/etc/clients.json" -n 2>&1 |
	grep -q 'bad.conf:2: handshake-timeout: "5 fortnights"' || zc_fail "a bad [mandosd] duration passed"
printf '[mandosd]\nno-such-option = 1\n' >"$D/bad.conf"
"$MANDOSD" --config "$D/bad.conf" --clients "$D/etc/clients.json" -n 2>&1 |
	grep -q 'bad.conf:2: no-such-option: unknown setting in \[mandosd\]' || zc_fail "an unknown [mandosd] key passed"
"$MANDOSD" --config "$D/missing.conf" --clients "$D/etc/clients.json" -n >"$D/bad.out" 2>&1 &&
	zc_fail "a missing --config file was accepted"
grep -q "missing.conf: No such file" "$D/bad.out" || zc_fail "missing --config: $(cat "$D/bad.out")"
"$MANDOSD" --configdir "$D/nowhere" --clients "$D/etc/clients.json" -n >/dev/null 2>&1 ||
	zc_fail "a missing default mandos.conf is not fine"
# The stock file: every line a comment, no warning.
"$MANDOSD" --config /etc/mandos/mandos.conf --clients "$D/etc/clients.json" -n \
    >"$D/bad.out" 2>&1 || zc_fail "the stock mandos.conf: $(cat "$D/bad.out")"
grep -q warning "$D/bad.out" && zc_fail "the stock mandos.conf warns: $(cat "$D/bad.out")"
grep -q '^/etc/mandos/mandos.conf: server settings OK$' "$D/bad.out" ||
	zc_fail "--check-config does not say it read the file: $(cat "$D/bad.out")"
# [mandosd]: our own options in the same file, the command line still wins.
printf '[DEFAULT]\nport = %s\n[mandosd]\nmax-connections = 7\nno-zeroconf = yes\naddress = 127.0.0.1\n' \
    "$PORT" >"$D/own.conf"
run_bg --config "$D/own.conf" --clients "$D/etc/clients.json" --statedir "$D/state"
wait_log "listening on \[127.0.0.1\]:$PORT, 1 clients, [0-9]* workers, at most 7 connections"
zc_kill "$MPID"
echo "ok: bad lines are clear errors; [mandosd] holds our own options"
zc_pass
