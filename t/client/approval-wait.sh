#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# A server that holds the client for approval longer than the old 60 s read
# deadline (approval_delay 75 s, approved by default): our client keeps its
# TLS session open and gets the secret when the delay ends. Before, it gave
# up after 60 s and reconnected, the server started the full delay again,
# and the machine never unlocked unattended. Costs ~75 s of wall time.
. "${top_srcdir:-$(dirname "$0")/../..}/t/client/lib.sh"
TC_LIMIT=200
tc_init "$CLIENT" "$REF_KEYGEN"
tc_refkeys "$TC_TMP/a" a || tc_fail "reference keygen"
tc_json a="$TC_TMP/a" |
    sed 's/"host": "localhost"}/"host": "localhost", "approval_delay": "PT75S", "approved_by_default": true}/' \
    >"$TC_TMP/clients.json"
tc_mandosd "$TC_TMP/clients.json"
KD=$TC_TMP/a/keys
t0=$SECONDS
# Default options (no --read-timeout); give up well after one delay would
# have ended, so a client that restarts the delay fails.
GIVE_UP=130 TC_TIMEOUT=150 CLIENT_ARGS="--debug ${CLIENT_ARGS:-}" \
    tc_client "[::1]:$MPORT" &
cpid=$!
# While it waits, keepalive is armed on its socket (it finds a dead server).
sleep 15
ss -Htno state established "dport = :$MPORT" >"$TC_TMP/ss" 2>&1
grep -q 'timer:(keepalive' "$TC_TMP/ss" ||
    tc_fail "no keepalive on the waiting client's socket: $(cat "$TC_TMP/ss")"
wait "$cpid" ||
    { tail -n 20 "$TC_TMP/err" >&2; tc_fail "no secret after the approval delay (status $?)"; }
dt=$((SECONDS - t0))
tc_check_out "$TC_TMP/a" || tc_fail "wrong output"
[ "$dt" -ge 74 ] || tc_fail "secret after $dt s: approval delay not applied?"
n=$(grep -c 'trying server' "$TC_TMP/err")
[ "$n" = 1 ] || tc_fail "$n connections: the client started over"
tc_log "secret after $dt s on one connection"
exit 0
