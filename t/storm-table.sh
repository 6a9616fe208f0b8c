#!/bin/sh
# storm-table.sh: mandos-storm --make-table prints a valid client table whose
# key IDs are those certtool computes from the clients' public keys.
# Exit 0 pass, 1 fail, 77 skip (a tool is missing).
set -u

top_builddir=${top_builddir:-.}
STORM=$top_builddir/clients/mandos-storm
N=20

[ -x "$STORM" ] || { echo "SKIP: no $STORM"; exit 77; }
for tool in python3 certtool; do
	command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: no $tool"; exit 77; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/storm-table.XXXXXX") || exit 1
trap 'rm -rf -- "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$STORM" --make-table $N --seed table-test >"$tmp/table.json" ||
    fail "--make-table exited $?"
python3 -m json.tool "$tmp/table.json" >/dev/null || fail "not valid JSON"

# Names, count, key ID form and uniqueness, secret length.
python3 - "$tmp/table.json" $N >"$tmp/ids" <<'PY' || fail "table contents"
import base64, json, re, sys
t = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
c = t["clients"]
assert len(c) == n, "want %d clients, got %d" % (n, len(c))
ids = []
for i in range(n):
    e = c["storm-%d" % i]
    assert re.fullmatch(r"[0-9A-F]{64}", e["key_id"]), e["key_id"]
    assert len(base64.b64decode(e["secret"], validate=True)) == 64
    ids.append(e["key_id"])
assert len(set(ids)) == n, "duplicate key IDs"
for k in ids:
    print(k)
PY

# Every key ID is certtool's SHA-256 key ID of that client's public key.
i=0
while [ $i -lt $N ]; do
	"$STORM" --seed table-test --print-pubkey $i >"$tmp/pub.pem" ||
	    fail "--print-pubkey $i"
	want=$(sed -n "$((i + 1))p" "$tmp/ids")
	got=$(certtool --key-id --hash=sha256 --infile "$tmp/pub.pem" 2>/dev/null |
	    tail -n 1 | tr 'a-f' 'A-F')
	[ "$got" = "$want" ] || fail "client $i: certtool says $got, table $want"
	i=$((i + 1))
done

# Another seed gives other keys; --secret-size is honoured; conf format.
"$STORM" --make-table 1 --seed other --secret-size 5 >"$tmp/o.json" || fail "seed other"
python3 - "$tmp/o.json" "$(sed -n 1p "$tmp/ids")" <<'PY' || fail "seed/secret-size"
import base64, json, sys
e = json.load(open(sys.argv[1]))["clients"]["storm-0"]
assert e["key_id"] != sys.argv[2]
assert len(base64.b64decode(e["secret"])) == 5
PY
"$STORM" --make-table 3 --seed table-test --format conf >"$tmp/c.conf" || fail "conf"
[ "$(grep -c '^key_id = ' "$tmp/c.conf")" = 3 ] || fail "conf key_id lines"
[ "$(grep '^fingerprint = ' "$tmp/c.conf" | sort -u | wc -l)" = 3 ] ||
    fail "conf fingerprints not unique"
grep -q "^key_id = $(sed -n 1p "$tmp/ids")\$" "$tmp/c.conf" || fail "conf key ID"

# Bad usage is exit 2.
"$STORM" --make-table 0 >/dev/null 2>&1
[ $? -eq 2 ] || fail "--make-table 0 not exit 2"
echo "PASS"
exit 0
