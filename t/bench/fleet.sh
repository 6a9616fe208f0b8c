#!/bin/bash
# t/bench/fleet.sh: what mandosd --store costs (issue 10); not in make check.
#   BUILD=build t/bench/fleet.sh
# 1. Propagation: CHANGES (100) disables/enables written through server A's
#    control socket, each timed until server B's control socket shows it
#    (polled about every millisecond): p50/p99/max.
# 2. A storm (COUNT handshakes, CLIENTS keys, CONC in flight) against a
#    server with --store and against one with the same table from a file,
#    interleaved REPEAT times: medians, ratio, and the etcd requests per
#    handshake from mandos_store_requests_total.
# Uses t/fleet/lib.sh's real 3-member etcd cluster on loopback.
set -u
BUILD=$(cd -- "${BUILD:-.}" && pwd) || exit 2
top_builddir=$BUILD
top_srcdir=$(cd -- "$(dirname "$0")/../.." && pwd)
. "$top_srcdir/t/fleet/lib.sh"
. "$top_srcdir/t/fleet/lib-servers.sh"
. "$top_srcdir/t/bench/lib-procs.sh"	# all_ticks: CPU of mandosd's processes
CHANGES=$(( (${CHANGES:-100} + 1) / 2 * 2 ))
COUNT=${COUNT:-4000}
CLIENTS=${CLIENTS:-100}
CONC=${CONC:-20}
REPEAT=${REPEAT:-7}
etcd_cluster_start
make_table "$CLIENTS" b1 >"$T/a.json"
"$CTL" --store "$STORE" --push "$T/a.json" >/dev/null || fail "push"
srv_start 0
srv_start 1
echo "== propagation: $CHANGES changes written on A, seen on B"
python3 - "$T/s0/sock" "$T/s1/sock" "$CHANGES" <<'PY' || fail "propagation"
import json, socket, sys, time
def conn(p):
    s = socket.socket(socket.AF_UNIX); s.connect(p); return s, s.makefile("rb")
def call(c, req):
    s, f = c
    s.sendall((json.dumps(dict(req, v=1)) + "\n").encode())
    r = json.loads(f.readline())
    if not r.get("ok"): raise SystemExit("error: %s" % r)
    return r["result"]
a, b = conn(sys.argv[1]), conn(sys.argv[2])
ms = []
for i in range(1, int(sys.argv[3]) + 1):   # ends enabled (even count)
    want = i % 2 == 0          # first a disable, then an enable ...
    t0 = time.monotonic()
    call(a, {"cmd": "enable" if want else "disable", "clients": ["storm-0"]})
    while call(b, {"cmd": "show", "clients": ["storm-0"]})["storm-0"]["Enabled"] != want:
        if time.monotonic() - t0 > 10: raise SystemExit("change %d not seen in 10 s" % i)
        time.sleep(0.001)
    ms.append((time.monotonic() - t0) * 1000)
ms.sort()
q = lambda p: ms[min(len(ms) - 1, int(p * len(ms)))]
print("propagation_ms p50=%.1f p99=%.1f max=%.1f n=%d" % (q(0.5), q(0.99), ms[-1], len(ms)))
PY
srv_stop 1
# The same table from a file, on another server.
"$CTL" --store "$STORE" --pull >"$T/file.json" || fail "pull"
mkdir -p "$T/f"
"$MANDOSD" --foreground --address 127.0.0.1 --port 0 --no-ipv6 --statedir "$T/f/state" \
    --control "$T/f/sock" --no-zeroconf --workers 1 --clients "$T/file.json" >"$T/f/log" 2>&1 &
FPID=$!
EXTRA_PIDS+=("$!")
for _ in $(seq 100); do
	FPORT=$(sed -n 's/.*listening on .*:\([0-9]*\), .*/\1/p' "$T/f/log" | tail -n1)
	[ -n "$FPORT" ] && break; sleep 0.1
done
[ -n "$FPORT" ] || fail "file-mode server did not start"
storm1() {
	"$STORM" --connect "127.0.0.1:$1" --clients "$CLIENTS" --seed b1 --count "$COUNT" \
	    --concurrency "$CONC" --warmup 200 -q --json 2>/dev/null |
	    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["rate"] if d["failed"] == 0 else "FAIL")'
}
echo "== storm: $COUNT handshakes, $CLIENTS clients, $CONC in flight, $REPEAT interleaved runs each"
req0=$(metric 0 mandos_store_requests_total)
hs0=$(ctl 0 --stats | awk '$1 == "connections_secret_sent" { print $2 }')
t0=$(now_ms)
rs=(); rf=(); cs=(); cf=()
# cpu_us PID TICKS0: server CPU (authority and workers) per handshake.
cpu_us() { echo $(( ($(all_ticks "$1") - $2) * 1000000 / HZ / COUNT )); }
for r in $(seq "$REPEAT"); do
	k=$(all_ticks "${SRV_PID[0]}")
	rs+=("$(storm1 "${SRV_PORT[0]}")")
	cs+=("$(cpu_us "${SRV_PID[0]}" "$k")")
	k=$(all_ticks "$FPID")
	rf+=("$(storm1 "$FPORT")")
	cf+=("$(cpu_us "$FPID" "$k")")
	echo "  run $r: store ${rs[-1]}/s ${cs[-1]} us CPU/handshake, file ${rf[-1]}/s ${cf[-1]} us"
done
t1=$(now_ms)
req1=$(metric 0 mandos_store_requests_total)
hs1=$(ctl 0 --stats | awk '$1 == "connections_secret_sent" { print $2 }')
python3 - "${rs[*]}" "${rf[*]}" "$((req1 - req0))" "$((hs1 - hs0))" "$((t1 - t0))" "${cs[*]}" "${cf[*]}" <<'PY'
import statistics, sys
s = [float(x) for x in sys.argv[1].split()]; f = [float(x) for x in sys.argv[2].split()]
req, hs, ms = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
cs = [float(x) for x in sys.argv[6].split()]; cf = [float(x) for x in sys.argv[7].split()]
ms_, mf = statistics.median(s), statistics.median(f)
print("storm_rate median: store %.0f/s, file %.0f/s, ratio %.3f" % (ms_, mf, ms_ / mf))
print("server CPU per handshake median: store %.0f us, file %.0f us, ratio file/store %.3f"
      % (statistics.median(cs), statistics.median(cf), statistics.median(cf) / statistics.median(cs)))
print("etcd requests during the store storms: %d for %d handshakes = %.4f per handshake "
      "(over %.1f s: probes ~1/s, batched state writes <= 1 per client per second)" % (req, hs, req / max(hs, 1), ms / 1000))
PY
srv_stop 0
