#!/bin/bash
# Start-up configuration: --check-config, a bad table stops start-up with a
# message naming file, place and client; --configdir; bad options.
. "${top_srcdir:-.}/t/core/lib.sh" || exit 99

mkdir "$T/conf"
printf 'the secret' >"$T/conf/secret.bin"
cat >"$T/conf/clients.json" <<EOT
{
  "defaults": { "timeout": "5m 30s", "interval": "PT2M", "checker": "true" },
  "clients": {
    "filed": { "key_id": "$(keyid 1 | sed 's/\(....\)/\1 /g' | tr A-F a-f)", "secfile": "secret.bin" }
  }
}
EOT
out=$("$MANDOSD" --configdir "$T/conf" --check-config 2>&1) || fail "check-config on a good dir: $out"
echo "$out" | grep -q "1 clients, configuration OK" || fail "check-config said: $out"
ok "--check-config accepts a good directory"

start_mandosd --configdir "$T/conf"
probe --idx 1
[ "$RC" -eq 0 ] && [ "$(cat "$T/out")" = "the secret" ] || fail "secfile client (key ID in lower case with spaces): exit $RC"
ok "--configdir, secfile relative to it, key ID case/space-insensitive"
stop_mandosd

bad() {	# bad NAME EXPECTED-MESSAGE-REGEX < json
	cat >"$T/bad.json"
	out=$("$MANDOSD" --clients "$T/bad.json" --check-config 2>&1) && fail "$1: accepted"
	echo "$out" | grep -q -- "$2" || fail "$1: message '$out' does not match '$2'"
	out=$("$MANDOSD" --foreground --clients "$T/bad.json" --address ::1 --port 0 2>&1) && fail "$1: server started"
	echo "$out" | grep -q -- "$2" || fail "$1: start-up message '$out'"
	ok "$1: $out"
}
printf '{"clients": {\n "a": {"key_id": "%s",\n "secret": "eA=="\n}' "$(keyid 1)" | bad "syntax" "bad.json:[0-9]*:[0-9]*: "
printf '{"clients": {"a": {"key_id": "%s", "secret": "eA==", "timout": "5m"}}}' "$(keyid 1)" | bad "typo" 'client "a": unknown setting "timout"'
printf '{"clients": {"a": {"key_id": "12AB", "secret": "eA=="}}}' | bad "short key" 'client "a": key_id: fewer than 64'
printf '{"clients": {"a": {"key_id": "%s", "secret": "eA==", "timeout": "5 minutes"}}}' "$(keyid 1)" | bad "duration" 'client "a": timeout: "5 minutes"'
printf '{"clients": {"a": {"key_id": "%s"}}}' "$(keyid 1)" | bad "no secret" 'client "a": needs exactly one of secret and secfile'
printf '{"clients": {"a": {"key_id": "%s", "secret": "eA=="}, "b": {"key_id": "%s", "secret": "eA=="}}}' "$(keyid 1)" "$(keyid 1)" | bad "same key" 'clients "a" and "b" have the same key_id'
printf '{"clients": {"a": {"key_id": "%s", "secret": "eA=="}}}' E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855 | bad "empty key" 'empty key'

out=$("$MANDOSD" --clients "$T/missing.json" --check-config 2>&1) && fail "missing file accepted"
echo "$out" | grep -q "missing.json" || fail "missing file: '$out'"
ok "missing file named: $out"

"$MANDOSD" --bogus >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown option should exit 2"
"$MANDOSD" --help | grep -q -- "--handshake-timeout" || fail "--help lacks options"
"$MANDOSD" --version-timeout 5parsecs --check-config >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad duration option should exit 2"
ok "option errors exit 2; --help lists options"
echo "PASS"
