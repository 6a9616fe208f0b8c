#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# The clients.conf importer: [DEFAULT], multi-line secrets, interpolation,
# both duration notations, booleans, long lines, warnings and clear errors.
. "${top_srcdir:-$(dirname "$0")/../..}/t/client/lib.sh"
[ -x "$IMPORT" ] || tc_skip "no $IMPORT"
command -v python3 >/dev/null || tc_skip "no python3"
TC_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tclient.XXXXXX") || exit 99
trap 'rm -rf -- "$TC_TMP"' EXIT
K1=bc2c5aca160c017e92c7742739727db65ca9f0dcdbbcb3a04e4356e7fddad626
K2=0000000000000000000000000000000000000000000000000000000000000001
LONG=$(printf 'x%.0s' $(seq 300))
cat >"$TC_TMP/c.conf" <<EOF2
# comment
[DEFAULT]
timeout = 5m 30s
interval = PT1M
checker = fping -q -- %%(host)s
ssh_fp = AAAA

[foo]
host = foo.example.org
key_id = $K1
fingerprint = 39A466ADAEAC1C80EC3E7F092E84498C9C1341E5
secret =
    hQEMAzX0mv2NgPj4AQgA7brJ8Do4VweN8ht8bVuTW/xSo2gj22rc+olZXzSSsRI4
    nXdMFVQStJ2UbQoN5v7m+d3VePpq6gyYWcWKkU6/awY6FNb1TfOISfW5hOgclwt7
checker = ssh-keyscan %%(host)s | grep -q %(ssh_fp)s
approved_by_default: no
approval_delay = 30s

[bar baz]
Key_ID = $K2
secfile = /etc/keys/mandos/bar.bin
enabled = off
extended_timeout = 1w 2d
checker = echo $LONG %%(name)s
EOF2
"$IMPORT" "$TC_TMP/c.conf" >"$TC_TMP/c.json" 2>"$TC_TMP/warn" ||
    { cat "$TC_TMP/warn" >&2; tc_fail "import failed"; }
[ "$(grep -c warning "$TC_TMP/warn")" = 1 ] && grep -q ssh_fp "$TC_TMP/warn" ||
    { cat "$TC_TMP/warn" >&2; tc_fail "want exactly one warning, for ssh_fp"; }
python3 - "$TC_TMP/c.json" "$LONG" <<'PY' || tc_fail "converted table"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["defaults"] == {"timeout": "PT5M30S", "interval": "PT1M",
    "checker": "fping -q -- %{host}"}, d["defaults"]
f, b = d["clients"]["foo"], d["clients"]["bar baz"]
assert f == {"key_id": "BC2C5ACA160C017E92C7742739727DB65CA9F0DCDBBCB3A04E4356E7FDDAD626",
    "secret": "hQEMAzX0mv2NgPj4AQgA7brJ8Do4VweN8ht8bVuTW/xSo2gj22rc+olZXzSSsRI4"
              "nXdMFVQStJ2UbQoN5v7m+d3VePpq6gyYWcWKkU6/awY6FNb1TfOISfW5hOgclwt7",
    "host": "foo.example.org", "checker": "ssh-keyscan %{host} | grep -q AAAA",
    "approved_by_default": False, "approval_delay": "PT30S"}, f
assert b == {"key_id": "0" * 63 + "1", "secfile": "/etc/keys/mandos/bar.bin",
    "enabled": False, "extended_timeout": "P9D",
    "checker": "echo " + sys.argv[2] + " %{name}"}, b
PY
# Each bad file: exit 1, one clear line naming file and line, no output.
bad() {
	printf "$2" >"$TC_TMP/bad.conf"
	if "$IMPORT" "$TC_TMP/bad.conf" >"$TC_TMP/out" 2>"$TC_TMP/err"; then
		tc_fail "accepted: $1"
	fi
	[ -s "$TC_TMP/out" ] && tc_fail "output despite error: $1"
	grep -q "bad.conf:[0-9]*: .*$1" "$TC_TMP/err" ||
	    { cat "$TC_TMP/err" >&2; tc_fail "no clear error for: $1"; }
}
bad "appears twice" "[a]\nkey_id = $K1\nsecret = QUJD\n[b]\n[a]\nhost = x\n"
bad "appears twice" "[a]\nkey_id = $K1\nsecret = QUJD\nhost = x\nhost = y\n"
bad "no key_id" "[a]\nsecret = QUJD\n"
bad "neither secret nor secfile" "[a]\nkey_id = $K1\n"
bad "bad key_id" "[a]\nkey_id = 12\nsecret = QUJD\n"
bad "bad duration" "[a]\nkey_id = $K1\nsecret = QUJD\ntimeout = soon\n"
bad "not a boolean" "[a]\nkey_id = $K1\nsecret = QUJD\nenabled = maybe\n"
bad "refers to no setting" "[a]\nkey_id = $K1\nsecret = QUJD\nchecker = %%(nope)s\n"
bad "not base64" "[a]\nkey_id = $K1\nsecret = ab!d\n"
bad "before any" "host = x\n"
bad "syntax error" "[a]\njunk\n"
bad '" ;"' "[a]\nkey_id = $K1\nsecret = QUJD\nchecker = a ; b\n"
"$IMPORT" "$TC_TMP/none.conf" 2>"$TC_TMP/err" && tc_fail "missing file accepted"
grep -q "none.conf: No such file" "$TC_TMP/err" || tc_fail "missing file message"
exit 0
