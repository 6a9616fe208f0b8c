#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Our mandos-client gets its secret from the reference Python server.
. "${top_srcdir:-$(dirname "$0")/../..}/t/client/lib.sh"
tc_init "$CLIENT" "$REF_SERVER" "$REF_KEYGEN"
tc_refkeys "$TC_TMP/a" a || tc_fail "reference keygen"
tc_refconf "$TC_TMP/conf" a="$TC_TMP/a"
tc_refserver "$TC_TMP/conf"
KD=$TC_TMP/a/keys
tc_client "[::1]:$RPORT" || { cat "$TC_TMP/err" >&2; tc_fail "client status $?"; }
tc_check_out "$TC_TMP/a" || tc_fail "wrong output"
exit 0
