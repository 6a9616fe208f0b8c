#!/bin/bash
# Interop: the real Debian mandos-client, with keys from the real
# mandos-keygen, gets exactly its secret from mandosd over ::1 and
# 127.0.0.1; unknown and disabled clients get nothing and are closed at
# once. This test must not be skipped in CI (.ci/run checks).
. "${top_srcdir:-.}/t/core/lib.sh" || exit 99

need_root
REAL=$(ls /usr/lib/*/mandos/plugins.d/mandos-client 2>/dev/null | head -n1)
[ -n "$REAL" ] || skip "the real mandos-client is not installed (apt-get install mandos-client)"
need_cmd mandos-keygen
need_cmd gpg

chmod 0755 "$T"
install -d -m 0700 "$T/keys"
install -d -m 0755 "$T/hooks"
TMPDIR=$T mandos-keygen --dir "$T/keys" --name interop --force \
    --length 2048 --sublength 2048 </dev/null >"$T/keygen.log" 2>&1 \
    || { cat "$T/keygen.log"; fail "mandos-keygen failed"; }
# A secret with spaces, a newline and a trailing newline: it must arrive byte for byte.
printf 'interop %s\nsecond line\n' "$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')" >"$T/secret.txt"
TMPDIR=$T mandos-keygen --dir "$T/keys" --name interop --passfile "$T/secret.txt" \
    --no-ssh </dev/null >"$T/section" 2>"$T/keygen.log" \
    || { cat "$T/keygen.log"; fail "mandos-keygen --passfile failed"; }
kid=$(sed -n 's/^key_id = //p' "$T/section")
b64=$(sed -n '/^secret =/,/^[^ ]/{/^    /{s/^ *//;p}}' "$T/section" | tr -d '\n')
[ ${#kid} -eq 64 ] && [ -n "$b64" ] || fail "cannot read mandos-keygen's output"

entry() {	# entry NAME EXTRA
	printf '"%s": {"key_id": "%s", "secret": "%s", "host": "localhost"%s}' "$1" "$kid" "$b64" "${2:+, $2}"
}

# real TARGET SECONDS: run the real client; its stdout in $T/real.out.
real() {
	timeout "$2" "$REAL" --connect="$1" --interface=none \
	    --network-hook-dir="$T/hooks" --pubkey="$T/keys/pubkey.txt" \
	    --seckey="$T/keys/seckey.txt" --tls-pubkey="$T/keys/tls-pubkey.pem" \
	    --tls-privkey="$T/keys/tls-privkey.pem" --retry=1 \
	    </dev/null >"$T/real.out" 2>"$T/real.err"
	RC=$?
}

entry interop | table "$T/clients.json"
# Dual stack on all addresses, as a real deployment runs.
: >"$T/mandosd.log"
# --debug: the log names each handshake's key exchange group.
$VALGRIND "$MANDOSD" --debug --port 0 $PRIVATE --clients "$T/clients.json" >>"$T/mandosd.log" 2>&1 &
MPID=$!
wait_log "listening on \[::\]:" 30
PORT=$(sed -n 's/.*listening on \[::\]:\([0-9]*\),.*/\1/p' "$T/mandosd.log")

real "[::1]:$PORT" 60
[ "$RC" -eq 0 ] || { grep -v GnuTLS "$T/real.err" | tail -n 20; fail "real client over ::1: exit $RC"; }
cmp -s "$T/real.out" "$T/secret.txt" || fail "real client over ::1 printed something else"
ok "real mandos-client got its secret over ::1"

real "127.0.0.1:$PORT" 60
[ "$RC" -eq 0 ] || { grep -v GnuTLS "$T/real.err" | tail -n 20; fail "real client over 127.0.0.1: exit $RC"; }
cmp -s "$T/real.out" "$T/secret.txt" || fail "real client over 127.0.0.1 printed something else"
ok "real mandos-client got its secret over 127.0.0.1"
# The worker reports the outcome after close_notify: it may trail the client.
for _ in $(seq 100); do
	[ "$(grep -c "result=secret_sent client=interop key_id=$(echo "$kid" | tr a-f A-F)" "$T/mandosd.log")" -eq 2 ] && break
	sleep 0.1
done
[ "$(grep -c "result=secret_sent client=interop key_id=$(echo "$kid" | tr a-f A-F)" "$T/mandosd.log")" -eq 2 ] \
    || fail "expected two secret_sent lines with the keygen's key ID"
# The default priority offers one key share, X25519, and the real client takes it.
[ "$(grep -c 'handshake group=X25519 ' "$T/mandosd.log")" -eq 2 ] \
    || fail "the default priority did not negotiate X25519: $(grep 'handshake group=' "$T/mandosd.log")"
ok "default priority: both handshakes used X25519"

# refused WHAT: the real client must get nothing, and mandosd must close at once.
refused() {
	local before after
	before=$(grep -c "result=$1" "$T/mandosd.log")
	real "[::1]:$PORT" 4
	[ ! -s "$T/real.out" ] || fail "$1: the real client printed a secret"
	after=$(grep -c "result=$1" "$T/mandosd.log")
	[ "$after" -gt "$before" ] || fail "$1: no result=$1 outcome logged"
	grep "result=$1" "$T/mandosd.log" | tail -n1 | grep -q 'duration_ms=[0-9]\{1,3\}\.' \
	    || fail "$1: the connection was not closed within a second: $(grep "result=$1" "$T/mandosd.log" | tail -n1)"
	ok "$1: the real client got nothing, closed at once"
}

entry interop '"enabled": false' | table "$T/clients.json"
kill -HUP "$MPID"
wait_log "reloaded"
refused disabled

printf '"other": {"key_id": "%s", "secret": "%s"}' "$(keyid 3)" "$b64" | table "$T/clients.json"
kill -HUP "$MPID"
wait_log "reloaded .*: 1 clients"
sleep 0.2
refused not_found
stop_mandosd

# --priority still overrides: the reference's string offers secp256r1 and
# X25519 shares, and the real client picks secp256r1.
REFPRIO='SECURE128:!CTYPE-X.509:+CTYPE-RAWPK:!RSA:!VERS-ALL:+VERS-TLS1.3:%PROFILE_ULTRA'
entry interop | table "$T/clients.json"
: >"$T/mandosd.log"
$VALGRIND "$MANDOSD" --debug --port 0 $PRIVATE --clients "$T/clients.json" \
    --priority "$REFPRIO" >>"$T/mandosd.log" 2>&1 &
MPID=$!
wait_log "listening on \[::\]:" 30
PORT=$(sed -n 's/.*listening on \[::\]:\([0-9]*\),.*/\1/p' "$T/mandosd.log")
real "[::1]:$PORT" 60
[ "$RC" -eq 0 ] || { grep -v GnuTLS "$T/real.err" | tail -n 20; fail "real client, reference priority: exit $RC"; }
cmp -s "$T/real.out" "$T/secret.txt" || fail "real client, reference priority: printed something else"
grep -q 'handshake group=SECP256R1 ' "$T/mandosd.log" \
    || fail "--priority did not take effect: $(grep 'handshake group=' "$T/mandosd.log")"
ok "--priority with the reference's string: the real client got its secret over secp256r1"
stop_mandosd
echo "PASS"
