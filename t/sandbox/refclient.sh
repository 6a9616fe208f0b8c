#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# The real Debian mandos-client gets its secret from a sandboxed worker
# (t/sandbox/sbworker as _mandos/nobody, empty chroot, seccomp on): the
# allow-list is enough for the reference client's handshake, not only for
# our own test peer.
. "${top_srcdir:-$(dirname "$0")/../..}/t/client/lib.sh"
SBW=$top_builddir/t/sandbox/sbworker
tc_init "$KEYGEN" "$REF_CLIENT" "$SBW"
USR=nobody
getent passwd _mandos >/dev/null && USR=_mandos
tc_ourkeys "$TC_TMP/a" a || tc_fail "our keygen"
base64 -d "$TC_TMP/a/secret.b64" >"$TC_TMP/blob" || tc_fail "secret.b64"
mkdir -m 0755 "$TC_TMP/empty"
# ASan builds: LeakSanitizer's exit-time check needs /proc and a thread
# that suspends the others, both gone in the sandbox (it would end in
# SIGSYS); leaks are valgrind's job here, with seccomp = 0.
SBW_RUN=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$SBW")
: >"$TC_TMP/w.out"
"${SBW_RUN[@]}" --user "$USR" --chroot "$TC_TMP/empty" --blob "$TC_TMP/blob" \
    --serve 1 --then socket >"$TC_TMP/w.out" 2>"$TC_TMP/w.err" &
WPID=$!
TC_PIDS+=("$WPID")
for _ in $(seq 100); do
	WPORT=$(sed -n 's/^ready //p' "$TC_TMP/w.out")
	[ -n "$WPORT" ] && break
	sleep 0.1
done
[ -n "$WPORT" ] || tc_fail "sbworker did not start: $(cat "$TC_TMP/w.err")"
grep -q "^Seccomp:[[:space:]]*2" "/proc/$WPID/status" || tc_fail "no seccomp filter"
KD=$TC_TMP/a/keys
tc_refclient "127.0.0.1:$WPORT" || tc_fail "reference client got no secret: $(cat "$TC_TMP/w.err")"
tc_check_out "$TC_TMP/a" || tc_fail "wrong output"
grep -qix "peer $(cat "$TC_TMP/a/key_id")" "$TC_TMP/w.err" ||
    tc_fail "worker saw another key ID: $(cat "$TC_TMP/w.err")"
wait "$WPID"
rc=$?
[ $rc = $((128 + $(kill -l SYS))) ] || tc_fail "then socket(): status $rc, not SIGSYS"
tc_log "reference mandos-client decrypted its secret from the sandboxed worker; then socket() -> SIGSYS"
exit 0
