#!/bin/bash
# A known client gets exactly its secret, over IPv6 and IPv4, whether the
# version line comes in one write or two; several clients in one table.
. "${top_srcdir:-.}/t/core/lib.sh" || exit 99

secret='s3cr3t blob: bytes are sent as-is'
{
	client alpha 1 "$secret"; echo ,
	client beta 2 "beta secret"
} | table "$T/clients.json"

start_mandosd --clients "$T/clients.json"

probe --idx 1
[ "$RC" -eq 0 ] || fail "alpha: exit $RC: $(cat "$T/err")"
[ "$(cat "$T/out")" = "$secret" ] || fail "alpha got '$(cat "$T/out")'"
ok "alpha got its secret"

probe --idx 2 --split
[ "$RC" -eq 0 ] && [ "$(cat "$T/out")" = "beta secret" ] || fail "beta (split line): exit $RC, got '$(cat "$T/out")'"
ok "beta got its secret with the version line in two writes"

"$TCLIENT" --connect "127.0.0.1:$PORT" --idx 1 >"$T/out4" 2>"$T/err" && fail "IPv4 should not reach a server bound to ::1"
stop_mandosd

# The default is one dual-stack socket on all addresses.
: >"$T/mandosd.log"
$VALGRIND "$MANDOSD" --foreground --port 0 $PRIVATE --clients "$T/clients.json" >>"$T/mandosd.log" 2>&1 &
MPID=$!
wait_log "listening on \[::\]:"
PORT=$(sed -n 's/.*listening on \[::\]:\([0-9]*\),.*/\1/p' "$T/mandosd.log")
"$TCLIENT" --connect "127.0.0.1:$PORT" --idx 1 >"$T/out" 2>"$T/err" || fail "IPv4: $(cat "$T/err")"
[ "$(cat "$T/out")" = "$secret" ] || fail "IPv4 got '$(cat "$T/out")'"
"$TCLIENT" --connect "[::1]:$PORT" --idx 2 >"$T/out" 2>"$T/err" || fail "IPv6: $(cat "$T/err")"
[ "$(cat "$T/out")" = "beta secret" ] || fail "IPv6 got '$(cat "$T/out")'"
ok "dual-stack default serves IPv4 and IPv6"
wait_log "result=secret_sent client=beta"
grep -q 'conn [0-9]* \[::ffff:127.0.0.1\]:[0-9]* result=secret_sent client=alpha key_id=[0-9A-F]\{64\} duration_ms=' "$T/mandosd.log" \
    || fail "no outcome line with address, client, key ID and duration"
ok "one log line per connection outcome"
stop_mandosd
echo "PASS"
