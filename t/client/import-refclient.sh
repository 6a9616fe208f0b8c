#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# A reference clients.conf (two clients made by the reference mandos-keygen)
# converted by the importer serves the reference client from mandosd, and
# the converted table keeps the settings.
. "${top_srcdir:-$(dirname "$0")/../..}/t/client/lib.sh"
tc_init "$IMPORT" "$REF_KEYGEN" "$REF_CLIENT" python3
tc_refkeys "$TC_TMP/a" a || tc_fail "reference keygen a"
tc_refkeys "$TC_TMP/b" b || tc_fail "reference keygen b"
tc_refconf "$TC_TMP/conf" alpha="$TC_TMP/a" beta="$TC_TMP/b"
# Settings in the reference's own notations.
cat >>"$TC_TMP/conf/clients.conf" <<'CONF'
approval_delay = 0s
timeout = 1h 30m
CONF
sed -i 's/^checker = true$/checker = true %%(host)s\ninterval = 3m/' "$TC_TMP/conf/clients.conf"
"$IMPORT" "$TC_TMP/conf/clients.conf" >"$TC_TMP/clients.json" 2>"$TC_TMP/warn" ||
    { cat "$TC_TMP/warn" >&2; tc_fail "import failed"; }
python3 - "$TC_TMP/clients.json" "$(cat "$TC_TMP/a/key_id")" <<'PY' || tc_fail "converted table"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["defaults"] == {"checker": "true %{host}", "interval": "PT3M"}, d["defaults"]
a, b = d["clients"]["alpha"], d["clients"]["beta"]
assert a["key_id"] == sys.argv[2].upper(), a
assert a["host"] == "a" and b["host"] == "b", (a, b)
assert "fingerprint" not in a
assert b["timeout"] == "PT1H30M" and b["approval_delay"] == "PT0S", b
PY
tc_mandosd "$TC_TMP/clients.json"
KD=$TC_TMP/a/keys
tc_refclient "[::1]:$MPORT" || tc_fail "reference client (alpha) got no secret"
tc_check_out "$TC_TMP/a" || tc_fail "alpha: wrong output"
KD=$TC_TMP/b/keys
tc_refclient "[::1]:$MPORT" || tc_fail "reference client (beta) got no secret"
tc_check_out "$TC_TMP/b" || tc_fail "beta: wrong output"
exit 0
