#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Defect 6: the state saver (a forked child) inherited every connection
# socket, so a refused peer saw no FIN until the child exited. The saver is
# made slow with the test hook MANDOSD_TEST_SAVE_DELAY_MS; a peer accepted
# before the fork and refused during the save must see EOF at once. Since
# the workers hold the Mandos sockets, the authority's own descriptors (the
# control socket, the workers' channels) are what the count below catches.
. "${top_srcdir:-$(dirname "$0")/../..}/t/harden/lib.sh"
SEED=saverfd
make_table 2 "$SEED"
MANDOSD_TEST_SAVE_DELAY_MS=6000 start
python3 - "$PORT" "$MPID" "$CTL" "$SOCK" <<'PY' || fail "refused peer during a save"
import os, socket, subprocess, sys, time
port, mpid, ctl, sock = sys.argv[1:]
def children():
    kids = set()
    for t in os.listdir(f"/proc/{mpid}/task"):
        kids |= set(open(f"/proc/{mpid}/task/{t}/children").read().split())
    return kids
before = children()                 # the checker spawner
s = socket.create_connection(("::1", int(port)), timeout=10)
time.sleep(0.3)                     # accepted, before the saver forks
subprocess.run([ctl, "--socket", sock, "-d", "storm-0"], check=True)
t0 = time.time()
while not children() - before:
    if time.time() - t0 > 10:
        sys.exit("no saver child within 10 s")
    time.sleep(0.05)
kid = (children() - before).pop()
MAX_FDS = 4                         # stdio and at most one more
# The child closes what it inherited just after fork(); on a loaded machine
# (ASan, a neighbour) that takes a moment. Before the fix it never did.
t0 = time.time()
while True:
    fds = os.listdir(f"/proc/{kid}/fd")
    if len(fds) <= MAX_FDS or time.time() - t0 > 3:
        break
    time.sleep(0.02)
print(f"saver {kid} holds {len(fds)} descriptors after {time.time() - t0:.3f} s")
s.sendall(b"9\r\n")                 # a bad version line: refused, closed
t1 = time.time()
d = s.recv(100)
dt = time.time() - t1
alive = os.path.exists(f"/proc/{kid}")
print(f"EOF after {dt:.3f} s (data {d!r}), saver still running: {alive}")
if d != b"" or dt > 1.0:
    sys.exit(f"refused peer waited {dt:.1f} s for EOF")
if len(fds) > MAX_FDS:
    sys.exit(f"the saver holds {len(fds)} descriptors: {fds}")
PY
ok "a peer refused during a slow save sees EOF at once"
stop
