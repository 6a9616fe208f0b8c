#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Defect 3: the control socket's chmod/chown followed symlinks. A racer
# swaps a symlink to a victim file in at the socket's path as soon as a
# socket appears there; strace widens the server's windows (each
# chmod/chown/bind/rename waits 0.3 s). The victim's mode and group must not
# change; without a racer the socket gets its mode 0660 and its group.
. "${top_srcdir:-$(dirname "$0")/../..}/t/harden/lib.sh"
need_root
need_cmd strace
SEED=symlink
make_table 1 "$SEED"
GROUP=daemon
getent group "$GROUP" >/dev/null || skip "no group $GROUP"
RUN=$T/run
mkdir -m 0755 "$RUN"
SOCK=$RUN/ctl.sock
VICTIM=$T/victim
echo secret >"$VICTIM"; chmod 0600 "$VICTIM"; chown root:root "$VICTIM"
python3 - "$SOCK" "$VICTIM" "$T/stop" >"$T/racer.log" 2>&1 <<'PY' &
import os, stat, sys, time
path, victim, stop = sys.argv[1:]
evil = os.path.join(os.path.dirname(path), ".evil")
n = 0
t0 = time.time()
while not os.path.exists(stop) and time.time() - t0 < 60:
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            try: os.unlink(evil)
            except FileNotFoundError: pass
            os.symlink(victim, evil)
            os.rename(evil, path)
            n += 1
    except FileNotFoundError:
        pass
print(f"racer: {n} swaps")
PY
RPID=$!
EXTRA_PIDS+=("$RPID")
: >"$MLOG"
strace -qq -f -o /dev/null \
    -e trace=chmod,fchmodat,chown,fchown,fchownat,lchown,bind,rename,renameat,renameat2 \
    -e inject=chmod,fchmodat,chown,fchownat,lchown,bind,rename,renameat,renameat2:delay_enter=300000 \
    "$MANDOSD" --foreground --no-zeroconf --address ::1 --port 0 \
    --clients "$T/clients.json" --control "$SOCK" --control-group "$GROUP" \
    --statedir "$STATEDIR" "${USER_ARGS[@]}" </dev/null >>"$MLOG" 2>&1 &
SPID=$!
EXTRA_PIDS+=("$SPID")
wait_for 20 grep -q "listening on" "$MLOG" || fail "mandosd did not start under strace"
sleep 1
touch "$T/stop"
wait "$RPID"
cat "$T/racer.log"
for k in $(cat /proc/"$SPID"/task/*/children); do kill -TERM "$k"; done
wait "$SPID" 2>/dev/null
m=$(stat -c '%a %G' "$VICTIM")
[ "$m" = "600 root" ] || fail "the victim behind a planted symlink became $m"
ok "symlink planted at the socket path: victim stays 600 root"

# No racer: the socket has its mode and group, and answers.
rm -f "$SOCK"
start --control-group "$GROUP"
m=$(stat -c '%a %G %F' "$SOCK")
[ "$m" = "660 $GROUP socket" ] || fail "socket is $m"
ctl --stats >/dev/null || fail "socket does not answer"
ls -A "$RUN" | grep -v '^ctl.sock$' && fail "leftovers in $RUN"
ok "socket: 660, group $GROUP, answers"
stop
