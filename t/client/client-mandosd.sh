#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Our mandos-client, with keys from the reference mandos-keygen, gets its
# secret from mandosd (the "[v6]:port", "v6:port" and "v4:port" forms of
# --connect).
. "${top_srcdir:-$(dirname "$0")/../..}/t/client/lib.sh"
tc_init "$CLIENT" "$REF_KEYGEN"
tc_refkeys "$TC_TMP/a" a || tc_fail "reference keygen"
tc_json a="$TC_TMP/a" >"$TC_TMP/clients.json"
tc_mandosd "$TC_TMP/clients.json"
KD=$TC_TMP/a/keys
# Network hooks run with MODE=start before and MODE=stop after; their
# output never reaches stdout; backup files are skipped.
mkdir -p "$TC_TMP/hooks"
printf '#!/bin/sh\necho "$MODE $CONNECT" >>"%s"\necho noise\n' "$TC_TMP/hook.log" \
    >"$TC_TMP/hooks/10-record"
printf '#!/bin/sh\necho backup >>"%s"\n' "$TC_TMP/hook.log" >"$TC_TMP/hooks/10-record~"
chmod +x "$TC_TMP/hooks/10-record" "$TC_TMP/hooks/10-record~"
tc_client "[::1]:$MPORT" || { cat "$TC_TMP/err" >&2; tc_fail "client status $?"; }
tc_check_out "$TC_TMP/a" || tc_fail "wrong output"
[ "$(cat "$TC_TMP/hook.log")" = "start [::1]:$MPORT
stop [::1]:$MPORT" ] || tc_fail "hooks: $(cat "$TC_TMP/hook.log")"
rm -f "$TC_TMP/hooks/"*
tc_client "::1:$MPORT" || { cat "$TC_TMP/err" >&2; tc_fail "client (v6:port) status $?"; }
tc_check_out "$TC_TMP/a" || tc_fail "wrong output"
MADDR=127.0.0.1 tc_mandosd "$TC_TMP/clients.json"
tc_client "127.0.0.1:$MPORT" || { cat "$TC_TMP/err" >&2; tc_fail "client (v4:port) status $?"; }
tc_check_out "$TC_TMP/a" || tc_fail "wrong output"
# A server that makes the client wait for approval (2 s, then approved by
# default): the client waits past --timeout, within --read-timeout.
sed 's/"host": "localhost"}/"host": "localhost", "approval_delay": "PT2S"}/' \
    "$TC_TMP/clients.json" >"$TC_TMP/approval.json"
tc_mandosd "$TC_TMP/approval.json"
t0=$SECONDS
CLIENT_ARGS="--timeout=1" tc_client "[::1]:$MPORT" ||
    { cat "$TC_TMP/err" >&2; tc_fail "approval wait: status $?"; }
tc_check_out "$TC_TMP/a" || tc_fail "approval wait: wrong output"
[ $((SECONDS - t0)) -ge 2 ] || tc_fail "approval delay not applied?"
exit 0
