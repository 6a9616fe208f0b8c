#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Fault: the wall clock stepped forwards and backwards (libfaketime with an
# offset read from FAKETIME_TIMESTAMP_FILE; the monotonic clock untouched,
# as with a real step). Connection deadlines run on the monotonic clock and
# do not move; expiries follow the wall clock (doc/mandosd.8): forward, a
# lease that has passed ends within a second or two; backward, it lasts
# until the wall clock gets there again.
. "${top_srcdir:-$(dirname "$0")/../..}/t/harden/lib.sh"
FT=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
[ -e "$FT" ] || skip "libfaketime not installed (package faketime)"
SEED=fclock
make_table 2 "$SEED" '{"checker": "true", "interval": "PT1H", "timeout": "PT1H"}'
echo "+0" >"$T/offset"
REAL=$MANDOSD
MANDOSD=$T/mandosd-ft
cat >"$MANDOSD" <<SH
#!/bin/sh
# libfaketime opens its offset file again each second, in the network
# workers too: they run without their seccomp filter here (the hook says so
# in the log), else the first re-read kills them with SIGSYS.
export MANDOSD_TEST_NO_SECCOMP=1
# The sanitizer build: libfaketime comes before ASan's runtime.
[ -z "${MANDOSD_SAN_RUN:-}" ] || export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
export LD_PRELOAD=$FT FAKETIME_TIMESTAMP_FILE=$T/offset FAKETIME_CACHE_DURATION=1 DONT_FAKE_MONOTONIC=1
exec $REAL "\$@"
SH
chmod +x "$MANDOSD"
start --handshake-timeout 3s
# held: seconds until the server closes a peer that sent only "1\r\n";
# the wall clock is stepped by $1 seconds half a second in.
held() {
	python3 - "$PORT" "$T/offset" "$1" <<'PY'
import socket, sys, time
port, off, step = sys.argv[1:]
s = socket.create_connection(("::1", int(port)))
s.sendall(b"1\r\n")
t0 = time.time()
time.sleep(0.5)
open(off, "w").write(step + "\n")
s.settimeout(30)
while s.recv(4096):
    pass
print(f"{time.time() - t0:.1f}")
PY
}
[ "$(enabled storm-0)" = True ] || fail "storm-0 not enabled at start"
d=$(held +7200)
python3 -c "import sys; sys.exit(not 2.5 <= float('$d') <= 6)" || fail "forward step: handshake deadline after $d s (want 3)"
ok "wall clock +2 h: the 3 s handshake deadline fired after $d s"
is_off() { [ "$(enabled "$1")" = False ]; }
wait_for 5 is_off storm-0 || fail "forward step past expires: storm-0 still enabled"
wait_for 5 is_off storm-1 || fail "forward step past expires: storm-1 still enabled"
grep -q "wall clock stepped by +7[0-9]* ms" "$MLOG" || fail "step not logged"
ok "wall clock +2 h: 1 h leases ended (expires is a wall time)"

# Back to the real time (-2 h): a lease taken at +2 h (ctl -e) ends at +3 h,
# so it lasts; the deadline again does not move.
ctl -e storm-0 || fail "enable storm-0"
d=$(held +0)
python3 -c "import sys; sys.exit(not 2.5 <= float('$d') <= 6)" || fail "backward step: handshake deadline after $d s (want 3)"
ok "wall clock -2 h: the 3 s handshake deadline fired after $d s"
sleep 2
[ "$(enabled storm-0)" = True ] || fail "backward step: storm-0's lease (to +3 h) ended"
storm 0 1 1 >/dev/null || fail "storm-0 not served after the steps"
ok "wall clock -2 h: a lease to +3 h lasts; storm-0 served"
stop
