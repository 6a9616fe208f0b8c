#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# The reference mandos-client, with keys from our mandos-keygen, gets its
# secret from mandosd; RSA and Ed25519/Cv25519 OpenPGP keys.
. "${top_srcdir:-$(dirname "$0")/../..}/t/client/lib.sh"
tc_init "$KEYGEN" "$REF_CLIENT"
tc_ourkeys "$TC_TMP/a" a || tc_fail "our keygen"
KEYGEN_ARGS="--type ed25519" tc_ourkeys "$TC_TMP/e" e || tc_fail "our keygen (ed25519)"
tc_json a="$TC_TMP/a" e="$TC_TMP/e" >"$TC_TMP/clients.json"
tc_mandosd "$TC_TMP/clients.json"
KD=$TC_TMP/a/keys
tc_refclient "[::1]:$MPORT" || tc_fail "reference client got no secret"
tc_check_out "$TC_TMP/a" || tc_fail "wrong output"
KD=$TC_TMP/e/keys
tc_refclient "[::1]:$MPORT" || tc_fail "reference client (ed25519) got no secret"
tc_check_out "$TC_TMP/e" || tc_fail "wrong output (ed25519)"
exit 0
