#!/bin/bash
# idle: every state of a control peer has a deadline, so a few silent
# peers cannot hold the CTL_MAXPEERS slots and lock the operator out. With
# the bound at 2 s (MANDOSD_TEST_CTL_IDLE_MS, the test hook of mandosd(8)):
# a peer that never sends a request is closed after it; one that sends a
# request every 0.7 s is not; a watch peer that sends nothing more is not,
# and still gets its events; a peer that stops reading its replies is
# closed. Each close is one log line and one count.
. "${top_srcdir:-.}/t/ctl/lib.sh" || exit 99
SEED=idle
make_table 3 "$SEED"
MANDOSD_TEST_CTL_IDLE_MS=2000 start

python3 - "$SOCK" "$CTL" >"$T/idle.out" 2>&1 <<'PY' || fail "$(cat "$T/idle.out")"
import json, socket, subprocess, sys, threading, time
path, ctl = sys.argv[1], sys.argv[2]
BOUND = 2.0
errors = []

def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s

def idle():
    s = conn(); s.settimeout(15)
    t0 = time.time()
    try:
        d = s.recv(4096)
    except socket.timeout:
        errors.append("idle peer still open after 15 s"); return
    el = time.time() - t0
    if d != b"":
        errors.append("idle peer got %r" % d)
    elif not BOUND * 0.75 <= el <= BOUND * 4:
        errors.append("idle peer closed after %.2f s, bound %.1f s" % (el, BOUND))
    else:
        print("idle peer closed after %.2f s" % el)

def active():
    s = conn(); s.settimeout(5); f = s.makefile("rb")
    t0 = time.time(); n = 0
    while time.time() - t0 < 3 * BOUND + 1:
        s.sendall(b'{"v":1,"cmd":"stats"}\n')
        line = f.readline()
        if not line or not json.loads(line).get("ok"):
            errors.append("active peer lost after %.1f s, %d replies" % (time.time() - t0, n)); return
        n += 1
        time.sleep(0.7)
    print("active peer: %d requests over %.1f s, all answered" % (n, time.time() - t0))

def watch():
    s = conn(); s.settimeout(5); f = s.makefile("rb")
    s.sendall(b'{"v":1,"cmd":"watch"}\n')
    if not json.loads(f.readline()).get("ok"):
        errors.append("watch refused"); return
    time.sleep(3 * BOUND + 1)
    subprocess.run([ctl, "--socket", path, "--reload"], check=True,
        stdout=subprocess.DEVNULL)
    end = time.time() + 5
    while time.time() < end:
        line = f.readline()
        if not line:
            errors.append("watch peer closed while it only read"); return
        if json.loads(line).get("event") == "reload_ok":
            print("watch peer still open after %.1f s, got reload_ok" % (3 * BOUND + 1)); return
    errors.append("watch peer got no reload_ok")

def stalled():
    # Far more replies than the socket holds; read none of them.
    s = conn(); s.settimeout(15)
    s.sendall(b'{"v":1,"cmd":"list"}\n' * 4000)
    time.sleep(3 * BOUND + 1)
    got = 0
    try:
        while True:
            d = s.recv(1 << 20)
            if not d:
                break
            got += len(d)
    except socket.timeout:
        errors.append("stalled reader still open after %.1f s" % (3 * BOUND + 16)); return
    except ConnectionResetError:
        pass
    print("stalled reader closed; it had %d bytes of replies to read" % got)

ts = [threading.Thread(target=f) for f in (idle, active, watch, stalled)]
for t in ts: t.start()
for t in ts: t.join()
if errors:
    print("\n".join(errors)); sys.exit(1)
PY
cat "$T/idle.out"
ok "idle peer closed, active and watch peers kept, stalled reader closed"
grep -q 'control peer [0-9]* pid=[0-9]* closed: no request for 2000 ms' "$MLOG" ||
    fail "no log line for the idle peer"
grep -q 'control peer [0-9]* pid=[0-9]* closed: replies unread for 2000 ms' "$MLOG" ||
    fail "no log line for the stalled reader"
[ "$(grep -c 'closed: no request' "$MLOG")" = 1 ] || fail "the idle close was not logged once"
n=$(ctl --metrics | awk '$1 == "mandos_control_timeouts_total" { print $2 }')
[ "$n" = 2 ] || fail "mandos_control_timeouts_total is '$n', want 2"
ok "each close logged once and counted in mandos_control_timeouts_total"
stop
exit 0
