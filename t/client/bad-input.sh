#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Bad input: a truncated or corrupted blob, a blob for another key, one that
# decompresses to 20 MiB, 10 MiB from the server,
# no close_notify, a server that stalls after the handshake, missing or bad
# keys, no server. Each: a clear error, no crash, nothing on stdout.
. "${top_srcdir:-$(dirname "$0")/../..}/t/client/lib.sh"
EVIL=$top_builddir/t/client/evil-server
tc_init "$CLIENT" "$KEYGEN" "$EVIL"
tc_ourkeys "$TC_TMP/a" a || tc_fail "keygen a"
tc_ourkeys "$TC_TMP/b" b || tc_fail "keygen b"
KD=$TC_TMP/a/keys
base64 -d <"$TC_TMP/a/secret.b64" >"$TC_TMP/blob"
size=$(stat -c %s "$TC_TMP/blob")
head -c $((size / 2)) "$TC_TMP/blob" >"$TC_TMP/truncated"
cp "$TC_TMP/blob" "$TC_TMP/corrupt"
printf '\377\377\377\377\377\377\377\377' |
    dd of="$TC_TMP/corrupt" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
base64 -d <"$TC_TMP/b/secret.b64" >"$TC_TMP/otherkey"
# A small blob that decompresses to 20 MiB.
mkdir -m 0700 "$TC_TMP/gpg"
gpg --homedir "$TC_TMP/gpg" --batch -q --import "$KD/pubkey.txt" 2>/dev/null
head -c $((20 * 1024 * 1024)) /dev/zero | gpg --homedir "$TC_TMP/gpg" --batch \
    -q --trust-model always --compress-algo zlib -z 9 -e -r a \
    >"$TC_TMP/bomb" 2>/dev/null || tc_fail "cannot make the bomb"
gpgconf --homedir "$TC_TMP/gpg" --kill gpg-agent 2>/dev/null

# evil MODE [FILE]: start an evil server; its port in EPORT.
evil() {
	# The last server's port must be gone before this one starts: the
	# child truncates the file only after the fork, and a wait that saw
	# the old port (or read the file just truncated) failed in CI.
	rm -f "$TC_TMP/evil.port"
	"$EVIL" "$@" >"$TC_TMP/evil.port" 2>"$TC_TMP/evil.log" &
	TC_PIDS+=("$!")
	EPID=$!
	# Bounded by 30 s: an ASan build on a busy 2-core machine is slow.
	for _ in $(seq 300); do
		[ -s "$TC_TMP/evil.port" ] && break
		kill -0 "$EPID" 2>/dev/null || break
		sleep 0.1
	done
	EPORT=$(cat "$TC_TMP/evil.port" 2>/dev/null)
	if [ -z "$EPORT" ]; then
		cat "$TC_TMP/evil.log" >&2
		kill -0 "$EPID" 2>/dev/null && tc_fail "evil server $*: no port in 30 s"
		tc_fail "evil server $*: exited before printing its port"
	fi
}
evil_stop() { { kill "$EPID"; wait "$EPID"; } 2>/dev/null; }
# expect WHAT PATTERN: the last client run failed cleanly with PATTERN.
expect() {
	local rc=$1 what=$2 pat=$3
	[ "$rc" = 1 ] || { cat "$TC_TMP/err" >&2; tc_fail "$what: status $rc, want 1"; }
	[ -s "$TC_TMP/out" ] && tc_fail "$what: printed something on stdout"
	grep -q -- "$pat" "$TC_TMP/err" ||
	    { cat "$TC_TMP/err" >&2; tc_fail "$what: no \"$pat\" message"; }
	tc_log "$what: $(grep -m1 -- "$pat" "$TC_TMP/err")"
}

for m in truncated corrupt otherkey bomb; do
	evil file "$TC_TMP/$m"
	pat="cannot decrypt"
	[ $m = bomb ] && pat="larger than 1048576 bytes"
	GIVE_UP=3 tc_client "[::1]:$EPORT"; expect $? "$m blob" "$pat"
	evil_stop
done
evil big
t0=$SECONDS
GIVE_UP=3 tc_client "[::1]:$EPORT"; expect $? "10 MiB" "more than 1048576 bytes"
evil_stop
evil noclose "$TC_TMP/blob"
GIVE_UP=3 tc_client "[::1]:$EPORT"; expect $? "no close_notify" "without close_notify"
evil_stop
evil stall
GIVE_UP=4 CLIENT_ARGS="--read-timeout=1" tc_client "[::1]:$EPORT"
expect $? "stall after handshake" "reading the secret: timed out"
evil_stop

# Keys: missing, garbage; no server at all.
P=$(tc_port) || tc_fail "no port"
(KD=$TC_TMP/none; GIVE_UP=2 tc_client "[::1]:$P"); expect $? "missing keys" "cannot read TLS public key"
[ "$(wc -l <"$TC_TMP/err")" = 1 ] || tc_fail "missing keys: more than one line"
mkdir -p "$TC_TMP/bad" && cp "$KD"/* "$TC_TMP/bad/"
echo garbage >"$TC_TMP/bad/tls-privkey.pem"
(KD=$TC_TMP/bad; GIVE_UP=2 tc_client "[::1]:$P"); expect $? "garbage TLS key" "cannot load TLS key pair"
cp "$KD/tls-privkey.pem" "$TC_TMP/bad/"; echo garbage >"$TC_TMP/bad/seckey.txt"
(KD=$TC_TMP/bad; GIVE_UP=2 tc_client "[::1]:$P"); expect $? "garbage OpenPGP key" "seckey.txt"
cp "$KD/pubkey.txt" "$TC_TMP/bad/seckey.txt"
(KD=$TC_TMP/bad; GIVE_UP=2 tc_client "[::1]:$P"); expect $? "public key as secret key" "no OpenPGP secret key"
GIVE_UP=2 tc_client "[::1]:$P"; expect $? "no server" "no secret from any server"
grep -q "Connection refused" "$TC_TMP/err" || tc_fail "no server: reason not given"
"$CLIENT" --connect nonsense --pubkey x 2>"$TC_TMP/err" >/dev/null; expect $? "bad --connect" "bad --connect"
exit 0
