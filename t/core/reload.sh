#!/bin/bash
# SIGHUP: a good new table is swapped in; a bad one is refused and the old
# table stays in force; a connection in flight across a reload is served.
. "${top_srcdir:-.}/t/core/lib.sh" || exit 99

client one 1 "first" | table "$T/clients.json"
start_mandosd --clients "$T/clients.json"

probe --idx 2
[ "$RC" -eq 3 ] || fail "client 2 should be unknown before reload (got $RC)"

# A client mid-connection (it pauses before TLS) while the table changes.
"$TCLIENT" --connect "[::1]:$PORT" --idx 1 --delay 1.5 >"$T/inflight" 2>"$T/inflight.err" &
inflight=$!
sleep 0.5
{ client one 1 "first"; echo ,; client two 2 "second"; } | table "$T/clients.json.new"
mv "$T/clients.json.new" "$T/clients.json"
kill -HUP "$MPID"
wait_log "reloaded .*: 2 clients"
probe --idx 2
[ "$RC" -eq 0 ] && [ "$(cat "$T/out")" = "second" ] || fail "new client after reload: exit $RC"
wait "$inflight" || fail "in-flight connection failed across reload: $(cat "$T/inflight.err")"
[ "$(cat "$T/inflight")" = "first" ] || fail "in-flight connection got '$(cat "$T/inflight")'"
ok "reload with a good file; in-flight connection served"

printf '{"clients": {"two": {"key_id": "nope"' >"$T/clients.json"
kill -HUP "$MPID"
wait_log "reload failed, keeping the 2 clients in force: .*clients.json:"
probe --idx 2
[ "$RC" -eq 0 ] && [ "$(cat "$T/out")" = "second" ] || fail "old table not kept after a bad reload (exit $RC)"
probe --idx 1
[ "$RC" -eq 0 ] && [ "$(cat "$T/out")" = "first" ] || fail "old table lost client one"
ok "bad reload logged, old table kept"
stop_mandosd
echo "PASS"
