#!/bin/bash
# Process titles (lib/proctitle.c): /proc/PID/cmdline shows "prog: title"
# and nothing of the old arguments or environment; comm (ps -e) is the
# short form. Also the sandbox's unprivileged path: a worker that is not
# root still gets no_new_privs and the seccomp filter (run as nobody
# through setpriv when we are root; as ourselves otherwise).
. "${top_srcdir:-.}/t/core/lib.sh" || exit 99
SBW=$top_builddir/t/sandbox/sbworker
[ -x "$SBW" ] || fail "sbworker not built"

AS=
if [ "$(id -u)" = 0 ]; then
	need_cmd setpriv
	AS="setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all --"
fi
# A long environment that the title may overwrite: it must stay intact
# for the program (getenv) and not show in cmdline.
export SB_TEST_VARIABLE=keep-me-$$
# ASan builds: LeakSanitizer's exit-time check needs /proc and a thread
# that suspends the others, both gone in the sandbox (it would end in
# SIGSYS); leaks are valgrind's job here, with seccomp = 0.
SBW_RUN=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" "$SBW")
: >"$T/out"
$AS "${SBW_RUN[@]}" --serve 1 --title 12 >"$T/out" 2>"$T/err" &
WPID=$!
for _ in $(seq 100); do
	PORT=$(sed -n 's/^ready //p' "$T/out")
	[ -n "$PORT" ] && break
	kill -0 "$WPID" 2>/dev/null || fail "sbworker exited: $(cat "$T/err")"
	sleep 0.1
done
[ -n "$PORT" ] || fail "sbworker did not get ready"
# setpriv execs sbworker: $WPID is the worker.
[ "$(tr -d '\0' <"/proc/$WPID/cmdline")" = "sbworker: worker 12" ] ||
    fail "cmdline: '$(tr '\0' '|' <"/proc/$WPID/cmdline")'"
[ "$(cat "/proc/$WPID/comm")" = sbworker-w12 ] || fail "comm: '$(cat "/proc/$WPID/comm")'"
ps -o args= -p "$WPID" | grep -qx 'sbworker: worker 12 *' || fail "ps args: $(ps -o args= -p "$WPID")"
ps -o comm= -p "$WPID" | grep -qx sbworker-w12 || fail "ps comm: $(ps -o comm= -p "$WPID")"
ok "cmdline and ps show 'sbworker: worker 12', comm sbworker-w12; getenv intact"
grep -qx "getenv SB_TEST_VARIABLE=keep-me-$$" "$T/err" ||
    fail "getenv after the title: $(cat "$T/err")"
grep -q "^NoNewPrivs:[[:space:]]*1" "/proc/$WPID/status" || fail "unprivileged: no NoNewPrivs"
grep -q "^Seccomp:[[:space:]]*2" "/proc/$WPID/status" || fail "unprivileged: no seccomp filter"
grep -q "^CapEff:[[:space:]]*0000000000000000" "/proc/$WPID/status" || fail "unprivileged: capabilities"
ok "unprivileged ($(awk '/^Uid/{print $2}' "/proc/$WPID/status")): NoNewPrivs 1, Seccomp 2, CapEff 0"
"$TCLIENT" --connect "127.0.0.1:$PORT" --idx 5 >"$T/tc.out" 2>"$T/tc.err" ||
    fail "handshake: $(cat "$T/tc.err" "$T/err")"
wait "$WPID" || fail "sbworker status $?: $(cat "$T/err")"
ok "unprivileged worker served a handshake through the filter"

# A title longer than argv ("./sbworker", 11 bytes) runs on into the old
# environment's bytes; the kernel still shows the title up to its NUL.
: >"$T/out2"
(cd "$top_builddir/t/sandbox" &&
    exec env -i "ASAN_OPTIONS=detect_leaks=0" SB_TEST_VARIABLE=short ./sbworker) \
    >"$T/out2" 2>"$T/err2" &
WPID=$!
for _ in $(seq 100); do
	PORT=$(sed -n 's/^ready //p' "$T/out2")
	[ -n "$PORT" ] && break
	sleep 0.1
done
[ -n "$PORT" ] || fail "sbworker (short argv) did not get ready: $(cat "$T/err2")"
[ "$(tr -d '\0' <"/proc/$WPID/cmdline")" = "sbworker: worker 1" ] ||
    fail "long title: cmdline '$(tr '\0' '|' <"/proc/$WPID/cmdline")'"
grep -qx "getenv SB_TEST_VARIABLE=short" "$T/err2" || fail "getenv: $(cat "$T/err2")"
"$TCLIENT" --connect "127.0.0.1:$PORT" --idx 6 >/dev/null 2>"$T/tc.err" ||
    fail "handshake: $(cat "$T/tc.err" "$T/err2")"
wait "$WPID" || fail "sbworker (short argv) status $?"
ok "a title longer than argv shows whole in cmdline"
echo "PASS"
