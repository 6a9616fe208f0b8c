#!/bin/bash
# Clients that must get nothing: unknown key, disabled by config, a bad
# version line, garbage, an overlong line, an X.509 certificate. Each is
# closed promptly (TLS ones with close_notify) and the server carries on.
. "${top_srcdir:-.}/t/core/lib.sh" || exit 99

{
	client good 1 "good secret"; echo ,
	client off 2 "never sent" '"enabled": false'
} | table "$T/clients.json"
start_mandosd --clients "$T/clients.json" --version-timeout 3s --handshake-timeout 3s

expect_good() {
	probe --idx 1
	[ "$RC" -eq 0 ] && [ "$(cat "$T/out")" = "good secret" ] || fail "good client after $1: exit $RC"
}

probe --idx 7
[ "$RC" -eq 3 ] || fail "unknown key: expected an empty close_notify (3), got $RC: $(cat "$T/err")"
[ ! -s "$T/out" ] || fail "unknown key received data"
wait_log "result=not_found client=- key_id=$(keyid 7)"
ok "unknown key: close_notify, nothing sent, logged not_found"
expect_good "unknown key"

probe --idx 2
[ "$RC" -eq 3 ] && [ ! -s "$T/out" ] || fail "disabled client: exit $RC, $(wc -c <"$T/out") bytes"
wait_log "result=disabled client=off"
ok "disabled client: close_notify, nothing sent"

for line in $'2\r\n' $'hello\r\n' $'\r\n' $'1.0\r\n' $'10\r\n'; do
	start=$(date +%s%N)
	probe --no-tls --line "$line"
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	[ "$RC" -eq 7 ] || fail "line '$line': expected a close before TLS, got $RC: $(cat "$T/err")"
	grep -q ', 0 bytes' "$T/err" || fail "line '$line': server sent bytes: $(cat "$T/err")"
	[ "$ms" -lt 2000 ] || fail "line '$line': closed only after $ms ms"
done
wait_log "result=protocol_error.*reason=unsupported protocol version"
ok "bad version lines closed before TLS"

for line in $'0\r\n' $'-1\r\n' $'+1 extra\r\n'; do
	probe --line "$line" --idx 1
	[ "$RC" -eq 0 ] || fail "line '$line' should be accepted like the reference does"
done
ok "versions <= 1 accepted as by the reference"

probe --no-tls --line "$(head -c 200 /dev/zero | tr '\0' a)"
[ "$RC" -eq 7 ] || fail "overlong line: got $RC"
wait_log "reason=version line too long"
ok "overlong line closed"

probe --x509 --idx 1
[ "$RC" -ne 0 ] && [ ! -s "$T/out" ] || fail "X.509 peer got a secret"
wait_log "result=tls_error"
ok "X.509 peer gets nothing (exit $RC)"
expect_good "X.509 peer"
stop_mandosd
echo "PASS"
