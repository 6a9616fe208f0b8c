#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Defect 1: the importer formatted a 65-byte key ID string into a 64-byte
# buffer. Invisible without ASan, so the sanitized importer converts a client.
. "${top_srcdir:-$(dirname "$0")/../..}/t/harden/lib.sh"
[ -x "$IMPORT_SAN" ] || skip "no $IMPORT_SAN"
K1=bc2c5aca160c017e92c7742739727db65ca9f0dcdbbcb3a04e4356e7fddad626
printf '[foo]\nkey_id = %s\nsecret = QUJD\nhost = foo\n' "$K1" >"$T/c.conf"
"$IMPORT_SAN" "$T/c.conf" >"$T/c.json" 2>"$T/err" ||
    { cat "$T/err"; fail "sanitized importer failed"; }
grep -qi "$K1" "$T/c.json" || fail "key_id not converted"
ok "key_id converted, no sanitizer report"
