#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# The reference mandos-client, with keys from our mandos-keygen, gets its
# secret from mandosd.
. "${top_srcdir:-$(dirname "$0")/../..}/t/client/lib.sh"
tc_init "$KEYGEN" "$REF_CLIENT"
tc_ourkeys "$TC_TMP/a" a || tc_fail "our keygen"
tc_json a="$TC_TMP/a" >"$TC_TMP/clients.json"
tc_mandosd "$TC_TMP/clients.json"
KD=$TC_TMP/a/keys
tc_refclient "[::1]:$MPORT" || tc_fail "reference client got no secret"
tc_check_out "$TC_TMP/a" || tc_fail "wrong output"
exit 0
