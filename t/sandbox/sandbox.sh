#!/bin/bash
# The network worker's sandbox (src/worker/sandbox.c), as root: a worker
# (t/sandbox/sbworker) sandboxed as _mandos (or nobody) in an empty chroot
# shows in /proc no capabilities, no root ids, no groups, no_new_privs,
# seccomp filter mode, no core dumps and its descriptor share; it still
# completes real GnuTLS handshakes with raw public keys over loopback; and
# each forbidden call (open, exec, socket, fork, ptrace, executable memory,
# another ABI, ...) kills it with SIGSYS. Valgrind runs it with seccomp = 0.
. "${top_srcdir:-.}/t/core/lib.sh" || exit 99
need_root

SBW=$top_builddir/t/sandbox/sbworker
[ -x "$SBW" ] || fail "sbworker not built"
USR=nobody
getent passwd _mandos >/dev/null && USR=_mandos
UID_=$(id -u "$USR")
GID_=$(id -g "$USR")
ROOT=$T/empty
mkdir -m 0755 "$ROOT"
SIGSYS_RC=$((128 + $(kill -l SYS)))
# ASan builds: LeakSanitizer's exit-time check needs /proc and a thread
# that suspends the others, both gone in the sandbox (it would end in
# SIGSYS); leaks are valgrind's job here, with seccomp = 0.
SBW_RUN=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$SBW")

# start_worker NAME ARGS...: run sbworker in the background until it says
# "ready PORT"; sets WPID and WPORT.
start_worker() {
	local name=$1
	shift
	: >"$T/$name.out"
	"${SBW_RUN[@]}" "$@" >"$T/$name.out" 2>"$T/$name.err" &
	WPID=$!
	for _ in $(seq 100); do
		WPORT=$(sed -n 's/^ready //p' "$T/$name.out")
		[ -n "$WPORT" ] && return 0
		kill -0 "$WPID" 2>/dev/null ||
		    fail "sbworker $name exited at start: $(cat "$T/$name.err")"
		sleep 0.1
	done
	fail "sbworker $name did not get ready"
}

# field NAME: a field of the worker's /proc/PID/status, tabs squeezed.
field() {
	sed -n "s/^$1:[[:space:]]*//p" "/proc/$WPID/status" | tr -s '\t ' ' ' | sed 's/ $//'
}

# expect_field NAME VALUE
expect_field() {
	local v
	v=$(field "$1")
	[ "$v" = "$2" ] || fail "$1 is '$v', expected '$2'"
}

# 1. The sandboxed worker, inspected from outside while it waits.
start_worker main --user "$USR" --chroot "$ROOT" --nofile 64 --serve 2 \
    --then open --title 2
expect_field Uid "$UID_ $UID_ $UID_ $UID_"
expect_field Gid "$GID_ $GID_ $GID_ $GID_"
[ "$UID_" != 0 ] && [ "$GID_" != 0 ] || fail "$USR is root"
expect_field Groups ""
for c in CapInh CapPrm CapEff CapBnd CapAmb; do
	expect_field $c 0000000000000000
done
expect_field NoNewPrivs 1
expect_field Seccomp 2
ok "$USR ($UID_:$GID_), no groups, CapEff/CapPrm/CapBnd/CapAmb 0, NoNewPrivs 1, Seccomp 2"
grep -Eq '^Max core file size +0 +0 ' "/proc/$WPID/limits" || fail "RLIMIT_CORE: $(grep core "/proc/$WPID/limits")"
grep -Eq '^Max open files +64 +64 ' "/proc/$WPID/limits" || fail "RLIMIT_NOFILE: $(grep 'open files' "/proc/$WPID/limits")"
# Not dumpable: the kernel then gives the process's /proc files to root.
[ "$(stat -c %u "/proc/$WPID/status")" = 0 ] || fail "worker is dumpable"
[ "$(readlink "/proc/$WPID/root")" = "$ROOT" ] || fail "root is $(readlink "/proc/$WPID/root")"
[ "$(readlink "/proc/$WPID/cwd")" = "$ROOT" ] || fail "cwd is $(readlink "/proc/$WPID/cwd")"
ok "RLIMIT_CORE 0, not dumpable, RLIMIT_NOFILE 64, chroot $ROOT"
title=$(tr '\0' '\n' <"/proc/$WPID/cmdline" | head -n1)
[ "$title" = "sbworker: worker 2" ] || fail "cmdline title '$title'"
[ "$(cat "/proc/$WPID/comm")" = sbworker-w2 ] || fail "comm '$(cat "/proc/$WPID/comm")'"
ok "ps shows '$title', comm sbworker-w2"

# Real handshakes through the filter: the client's split version line,
# the raw public key, the blob, close_notify.
for i in 1 2; do
	split=
	[ $i = 1 ] && split=--split
	"$TCLIENT" --connect "127.0.0.1:$WPORT" --idx $i $split >"$T/out" 2>"$T/err"
	rc=$?
	[ $rc = 0 ] || fail "handshake $i: tclient status $rc: $(cat "$T/err"; cat "$T/main.err")"
	[ "$(cat "$T/out")" = "sandboxed secret for $(keyid $i)" ] ||
	    fail "handshake $i: got '$(cat "$T/out")'"
done
ok "2 real TLS 1.3 handshakes (raw public keys) completed in the sandbox"
wait "$WPID"
rc=$?
[ $rc = "$SIGSYS_RC" ] || fail "open after serving: status $rc, not SIGSYS ($SIGSYS_RC): $(cat "$T/main.err")"
ok "then open() killed it with SIGSYS"

# 2. Each forbidden call kills with SIGSYS, right after the sandbox.
for call in open open-raw execve socket socketpair fork ptrace connect \
    mmap-exec mprotect-exec kill-other setuid x32 i386; do
	"${SBW_RUN[@]}" --user "$USR" --chroot "$ROOT" --serve 0 --then $call \
	    >"$T/f.out" 2>"$T/f.err"
	rc=$?
	grep -q '^ready ' "$T/f.out" || fail "$call: worker did not get ready: $(cat "$T/f.err")"
	[ $rc = "$SIGSYS_RC" ] || fail "$call: status $rc, not SIGSYS: $(cat "$T/f.err")"
done
ok "SIGSYS for open openat execve socket socketpair fork ptrace connect PROT_EXEC mmap/mprotect kill(1) setuid, and getpid through the x32 and i386 ABIs"

# abort() is allowed (tgkill on itself): a worker's assertion ends in
# SIGABRT, not in a misleading SIGSYS, and leaves no core.
"${SBW_RUN[@]}" --user "$USR" --chroot "$ROOT" --serve 0 --then abort \
    >"$T/f.out" 2>"$T/f.err"
rc=$?
[ $rc = $((128 + $(kill -l ABRT))) ] || fail "abort: status $rc, not SIGABRT: $(cat "$T/f.err")"
[ -z "$(ls -A "$ROOT")" ] || fail "something was written in the chroot: $(ls -A "$ROOT")"
ok "abort() ends in SIGABRT, the chroot stays empty"

# The check can fail: without the filter the same call returns.
"${SBW_RUN[@]}" --user "$USR" --chroot "$ROOT" --serve 0 --then open --no-seccomp \
    >"$T/f.out" 2>"$T/f.err"
rc=$?
[ $rc = 3 ] && grep -q 'survived open' "$T/f.err" || fail "without seccomp: status $rc: $(cat "$T/f.err")"
ok "control: with seccomp = 0, open() returns (status 3)"

# Without a chroot (a successor of an authority that is no longer root),
# Landlock alone still keeps every file shut: open() fails with EACCES.
# (This kernel has Landlock: ABI 7 here; a kernel without it fails this.)
{
	"${SBW_RUN[@]}" --user "$USR" --serve 0 --then open --landlock-only \
	    >"$T/f.out" 2>"$T/f.err"
	rc=$?
	[ $rc = 3 ] && grep -q "survived open: -1 errno=$(python3 -c 'import errno; print(errno.EACCES)')" "$T/f.err" ||
	    fail "Landlock without chroot: status $rc: $(cat "$T/f.err")"
	ok "Landlock without a chroot: open() is refused (EACCES)"
}

# 3. Bad set-ups are clear errors before anything is served.
"${SBW_RUN[@]}" --user "$USR" --chroot "$T" --serve 0 >"$T/f.out" 2>"$T/f.err"
rc=$?
[ $rc = 2 ] && grep -q "chroot $T: not empty" "$T/f.err" || fail "non-empty chroot: status $rc: $(cat "$T/f.err")"
"${SBW_RUN[@]}" --user root --serve 0 >"$T/f.out" 2>"$T/f.err"
rc=$?
[ $rc = 2 ] && grep -q 'refusing' "$T/f.err" || fail "user root: status $rc: $(cat "$T/f.err")"
"${SBW_RUN[@]}" --user no-such-user-$$ --serve 0 >"$T/f.out" 2>"$T/f.err"
rc=$?
[ $rc = 2 ] && grep -q 'no such user' "$T/f.err" || fail "unknown user: status $rc: $(cat "$T/f.err")"
ok "non-empty chroot, root and unknown users refused"
# A share below the descriptors already open: the user and the directory
# are looked up before the limit (they open files), so this still works.
"${SBW_RUN[@]}" --user "$USR" --chroot "$ROOT" --nofile 4 --serve 0 >"$T/f.out" 2>"$T/f.err"
rc=$?
[ $rc = 0 ] || fail "--nofile 4: status $rc: $(cat "$T/f.err")"
ok "RLIMIT_NOFILE below the open descriptors: set after the look-ups"

# 4. Valgrind: everything but the filter (valgrind's own JIT maps code and
# reads files; its syscalls would be killed).
if [ -n "$VALGRIND" ]; then
	$VALGRIND "$SBW" --user "$USR" --chroot "$ROOT" --no-seccomp --serve 1 \
	    >"$T/vg.out" 2>"$T/vg.err" &
	WPID=$!
	for _ in $(seq 300); do
		WPORT=$(sed -n 's/^ready //p' "$T/vg.out")
		[ -n "$WPORT" ] && break
		sleep 0.1
	done
	[ -n "$WPORT" ] || fail "sbworker under valgrind: $(cat "$T/vg.err" "$T/valgrind.log")"
	"$TCLIENT" --connect "127.0.0.1:$WPORT" --idx 3 --timeout 30 >"$T/out" 2>"$T/err" ||
	    fail "handshake under valgrind: $(cat "$T/err")"
	wait "$WPID"
	rc=$?
	[ $rc = 0 ] || fail "valgrind: status $rc: $(cat "$T/valgrind.log" "$T/vg.err")"
	ok "under valgrind (seccomp = 0): a handshake, no errors, no leaks"
	# With the filter asked for, valgrind (no seccomp(2) emulation) must
	# make the worker stop with a clear error, not run unfiltered.
	valgrind -q --vgdb=no "$SBW" --serve 0 >"$T/vg.out" 2>"$T/vg.err"
	rc=$?
	[ $rc = 2 ] && grep -q 'seccomp_init failed' "$T/vg.err" ||
	    fail "valgrind with seccomp: status $rc: $(cat "$T/vg.err")"
	ok "under valgrind with seccomp = 1: refused with a clear error"
fi
echo "PASS"
