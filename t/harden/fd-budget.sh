#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Every listener bounded: with ulimit -n 128 and hundreds of idle
# connections to the metrics listener and to the control socket, mandosd
# stays under a few percent of a core, writes a bounded number of log
# lines, and serves an honest mandos-storm meanwhile with zero failures.
. "${top_srcdir:-$(dirname "$0")/../..}/t/harden/lib.sh"
SEED=fdbudget
make_table 20 "$SEED" '{"checker": "true", "interval": "PT1H"}'
REAL=$MANDOSD
MANDOSD=$T/mandosd-128
printf '#!/bin/sh\nulimit -n 128 || exit 1\nexec %s "$@"\n' "$REAL" >"$MANDOSD"
chmod +x "$MANDOSD"
start --metrics-listen 127.0.0.1:0
grep -q "descriptors: 128" "$MLOG" || fail "no descriptor budget logged"
MPORT=$(sed -n 's|.*metrics on http://\(.*\)/metrics.*|\1|p' "$MLOG" | head -n1)
MPORT=${MPORT##*:}
[ -n "$MPORT" ] || fail "no metrics port"
python3 - "$MPORT" "$SOCK" "$T/held" <<'PY' &
import os, resource, socket, sys, time
mport, sock, flag = sys.argv[1:]
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
held = []
for _ in range(300):
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", int(mport)))
        held.append(s)
    except OSError:
        pass
    try:
        u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        u.setblocking(False)
        u.connect_ex(sock)
        held.append(u)
    except OSError:
        pass
open(flag, "w").write(str(len(held)))
time.sleep(40)
PY
HP=$!
EXTRA_PIDS+=("$HP")
wait_for 20 test -s "$T/held" || fail "could not open the idle connections"
sleep 1
l0=$(wc -l <"$MLOG")
c0=$(cpu_ticks "$MPID")
storm 0 20 200 -C 5 -t 20 >"$T/storm.out" 2>&1 || { cat "$T/storm.out"; fail "storm failed during the flood"; }
sleep 3
c1=$(cpu_ticks "$MPID")
l1=$(wc -l <"$MLOG")
# Idle part alone: 3 s with nothing but the held connections.
c2=$(cpu_ticks "$MPID"); sleep 3; c3=$(cpu_ticks "$MPID")
idle=$(( c3 - c2 ))
# Lines other than the storm's own 200 "conn N ... result=" lines.
lines=$(sed -n "$((l0+1)),${l1}p" "$MLOG" | grep -vc "^mandosd: conn [0-9]* .* result=")
echo "held $(cat "$T/held") idle connections; storm: $(tail -n1 "$T/storm.out")"
echo "cpu while idle: $idle ticks in 3 s; log lines during the run: $lines"
[ "$idle" -le 9 ] || fail "mandosd used $idle ticks (of 300) in 3 idle seconds"
[ "$lines" -le 20 ] || { sed -n "$((l0+1)),${l1}p" "$MLOG" | grep -v "^mandosd: conn [0-9]* .* result=" | head; fail "$lines log lines"; }
ctl --stats >/dev/null 2>&1 && echo "control answers meanwhile" || echo "control busy (at its reserve)"
kill "$HP"; wait "$HP" 2>/dev/null
wait_for 15 ctl --stats >/dev/null 2>&1 || fail "control socket never answered again"
curl -sf "http://127.0.0.1:$MPORT/metrics" | grep -q mandos_connections_active ||
    wait_for 15 sh -c "curl -sf http://127.0.0.1:$MPORT/metrics | grep -q mandos_connections_active" ||
    fail "metrics never answered again"
ok "ulimit -n 128, 600 idle connections: $idle ticks idle, $lines log lines, storm ok, both listeners back"
stop

# A full table for real: --max-connections above the Mandos port's share and
# 200 silent peers there, so accept fails with EMFILE. The Mandos port is a
# network worker's (one here, with a table of its own, also 128); the
# authority's control and metrics listeners stop at their caps. Nobody
# spins: the listeners pause, a line a minute at most.
start --metrics-listen 127.0.0.1:0 --max-connections 200 --version-timeout 60s \
    --workers 1
MPORT=$(sed -n 's|.*metrics on http://\(.*\)/metrics.*|\1|p' "$MLOG" | head -n1)
MPORT=${MPORT##*:}
python3 - "$PORT" "$MPORT" "$SOCK" "$T/held2" <<'PY' &
import resource, socket, sys, time
port, mport, sock, flag = sys.argv[1:]
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
held = []
for _ in range(200):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setblocking(False)
    s.connect_ex(("::1", int(port)))
    held.append(s)
time.sleep(1)
for _ in range(20):
    for fam, addr in ((socket.AF_INET, ("127.0.0.1", int(mport))), (socket.AF_UNIX, sock)):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(addr)
        held.append(s)
open(flag, "w").write(str(len(held)))
time.sleep(30)
PY
HP=$!
EXTRA_PIDS+=("$HP")
wait_for 20 test -s "$T/held2" || fail "could not open the connections"
sleep 1
WPID=
for p in $(cat /proc/"$MPID"/task/*/children); do
	[ "$(cat /proc/"$p"/comm 2>/dev/null)" = mandosd-w0 ] && WPID=$p
done
[ -n "$WPID" ] || fail "no network worker"
both() { echo $(( $(cpu_ticks "$MPID") + $(cpu_ticks "$WPID") )); }
l0=$(wc -l <"$MLOG")
c2=$(both); sleep 3; c3=$(both)
l1=$(wc -l <"$MLOG")
idle=$(( c3 - c2 ))
lines=$(sed -n "$((l0+1)),${l1}p" "$MLOG" | grep -vc "^mandosd: conn [0-9]* .* result=")
fds=$(ls /proc/"$WPID"/fd | wc -l)
echo "the worker's descriptors in use: $fds of 128; cpu (authority and worker) $idle ticks in 3 s; $lines log lines"
[ "$fds" -ge 120 ] || fail "the table is not full ($fds): the test does not test EMFILE"
[ "$idle" -le 9 ] || fail "out of descriptors: $idle ticks (of 300) in 3 s"
[ "$lines" -le 5 ] || { sed -n "$((l0+1)),${l1}p" "$MLOG" | head; fail "out of descriptors: $lines log lines in 3 s"; }
kill "$HP"; wait "$HP" 2>/dev/null
storm 0 20 50 -C 5 -t 20 >"$T/storm.out" 2>&1 || { cat "$T/storm.out"; fail "storm after EMFILE"; }
wait_for 15 ctl --stats >/dev/null 2>&1 || fail "control never answered after EMFILE"
ok "EMFILE on the worker's listener, the authority's at their caps: $idle ticks in 3 s, $lines log lines; storm and control fine after"
stop
