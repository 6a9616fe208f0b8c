#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# mandos-keygen: the reference's files and formats, key ID, modes, refusal
# to overwrite, JSON and clients.conf output that decrypt to the secret.
. "${top_srcdir:-$(dirname "$0")/../..}/t/client/lib.sh"
tc_init "$KEYGEN" certtool gpg
K=$TC_TMP/k
mkdir -p "$K"
"$KEYGEN" --help | grep -q -- --passfile || tc_fail "--help"
"$KEYGEN" --dir "$K" --name kg --length 2048 --sublength 2048 >"$TC_TMP/id" ||
    tc_fail "key generation"
for f in seckey.txt pubkey.txt tls-privkey.pem tls-pubkey.pem; do
	[ -s "$K/$f" ] || tc_fail "no $f"
	[ "$(stat -c %a "$K/$f")" = 600 ] || tc_fail "$f not mode 0600"
done
grep -q '^-----BEGIN PRIVATE KEY-----$' "$K/tls-privkey.pem" || tc_fail "privkey PEM"
grep -q '^-----BEGIN PUBLIC KEY-----$' "$K/tls-pubkey.pem" || tc_fail "pubkey PEM"
grep -q '^-----BEGIN PGP PRIVATE KEY BLOCK-----$' "$K/seckey.txt" || tc_fail "seckey armor"
grep -q '^-----BEGIN PGP PUBLIC KEY BLOCK-----$' "$K/pubkey.txt" || tc_fail "pubkey armor"
id=$(certtool --key-id --hash=sha256 --infile="$K/tls-pubkey.pem" | tr a-f A-F)
[ "$(cat "$TC_TMP/id")" = "$id" ] || tc_fail "key ID $(cat "$TC_TMP/id") != certtool $id"
cp -p "$K/tls-pubkey.pem" "$TC_TMP/before"
"$KEYGEN" --dir "$K" --name kg 2>"$TC_TMP/err" && tc_fail "overwrote without --force"
grep -q -- --force "$TC_TMP/err" || tc_fail "no hint at --force"
cmp -s "$K/tls-pubkey.pem" "$TC_TMP/before" || tc_fail "key changed without --force"
# A failed generation changes nothing and leaves no temporary files.
"$KEYGEN" --dir "$K" --name kg --type bogus --force >/dev/null 2>&1 &&
    tc_fail "accepted OpenPGP key type bogus"
cmp -s "$K/tls-pubkey.pem" "$TC_TMP/before" || tc_fail "failed run changed the key"
[ "$(ls "$K" | wc -l)" = 4 ] || tc_fail "failed run left files: $(ls "$K")"
# --force keeps the old files as FILE.~1~, as the reference does.
mkdir "$TC_TMP/k2"
"$KEYGEN" --dir "$TC_TMP/k2" --name kg --type ed25519 >/dev/null || tc_fail "ed25519"
cp "$TC_TMP/k2/tls-pubkey.pem" "$TC_TMP/old2"
"$KEYGEN" --dir "$TC_TMP/k2" --name kg --type ed25519 --force >/dev/null || tc_fail "--force"
cmp -s "$TC_TMP/k2/tls-pubkey.pem.~1~" "$TC_TMP/old2" || tc_fail "no backup"
cmp -s "$TC_TMP/k2/tls-pubkey.pem" "$TC_TMP/old2" && tc_fail "--force made no new key"
[ "$(ls "$TC_TMP/k2" | wc -l)" = 8 ] || tc_fail "--force: $(ls "$TC_TMP/k2")"

printf 'top secret\n' >"$TC_TMP/pw"
"$KEYGEN" --dir "$K" --name kg --host kg.example --passfile "$TC_TMP/pw" \
    >"$TC_TMP/entry" || tc_fail "--passfile"
python3 - "$TC_TMP/entry" "$id" <<'PY' || tc_fail "JSON entry"
import json, sys
e = json.loads("{" + open(sys.argv[1]).read() + "}")["kg"]
assert e["key_id"].upper() == sys.argv[2], e
assert e["host"] == "kg.example", e
open(sys.argv[1] + ".bin", "wb").write(__import__("base64").b64decode(e["secret"]))
PY
export GNUPGHOME=$TC_TMP/gpg
mkdir -m 0700 "$GNUPGHOME"
gpg --batch -q --import "$K/seckey.txt" 2>/dev/null
gpg --batch -q --decrypt "$TC_TMP/entry.bin" >"$TC_TMP/plain" 2>/dev/null ||
    tc_fail "JSON secret does not decrypt"
cmp -s "$TC_TMP/plain" "$TC_TMP/pw" || tc_fail "JSON secret is not the file"
"$KEYGEN" --dir "$K" --name kg --conf --passfile "$TC_TMP/pw" >"$TC_TMP/conf" ||
    tc_fail "--conf"
grep -q '^\[kg\]$' "$TC_TMP/conf" && grep -q '^key_id = [0-9a-f]\{64\}$' "$TC_TMP/conf" &&
    grep -q '^fingerprint = [0-9A-F]\{40\}$' "$TC_TMP/conf" || tc_fail "conf section"
sed -n '/^secret =/,/^[^ ]/{/^    /{s/^ *//;p}}' "$TC_TMP/conf" | base64 -d \
    >"$TC_TMP/conf.bin" || tc_fail "conf base64"
gpg --batch -q --decrypt "$TC_TMP/conf.bin" >"$TC_TMP/plain" 2>/dev/null ||
    tc_fail "conf secret does not decrypt"
cmp -s "$TC_TMP/plain" "$TC_TMP/pw" || tc_fail "conf secret is not the file"
# Without a terminal, --password reads the passphrase twice from stdin.
printf 'pw\npx\n' | setsid -w "$KEYGEN" --dir "$K" --password >/dev/null 2>&1 &&
    tc_fail "accepted mismatched passphrases"
printf 'pw\npw\n' | setsid -w "$KEYGEN" --dir "$K" --password >"$TC_TMP/e2" ||
    tc_fail "--password from stdin"
grep -q '"secret": "' "$TC_TMP/e2" || tc_fail "--password entry"
gpgconf --kill gpg-agent 2>/dev/null
# The reference keygen accepts our key set.
if [ -x "$REF_KEYGEN" ]; then
	TMPDIR=$TC_TMP "$REF_KEYGEN" --dir "$K" --passfile "$TC_TMP/pw" --no-ssh \
	    >"$TC_TMP/refconf" 2>&1 </dev/null || { cat "$TC_TMP/refconf" >&2; tc_fail "reference keygen on our keys"; }
	grep -qi "^key_id = $id\$" "$TC_TMP/refconf" || tc_fail "reference keygen key ID"
fi
exit 0
