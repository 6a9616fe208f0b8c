#!/bin/bash
# t/bench/fleet.sh: what mandosd --store costs (issue 10); not in make check.
#   BUILD=build t/bench/fleet.sh
# 1. Propagation: CHANGES (100) disables/enables written through server A's
#    control socket, each timed until server B's control socket shows it
#    (polled about every millisecond): p50/p99/max.
# 2. A storm against three servers sharing one store: three mandosd with
#    --store on the 3-member cluster, and three with the same table from a
#    file; mandos-storm spread over the three (one storm per server, each
#    COUNT/3 handshakes of its own third of CLIENTS keys, CONC/3 in
#    flight, at once), the fleet's rate the sum of the three. Store and
#    file runs interleaved REPEAT times in ABBA order: medians, ratio, the
#    median of each run's own store/file ratio, the servers' CPU
#    per handshake, the etcd members' CPU per handshake in either mode,
#    and the etcd requests per handshake from the three servers'
#    mandos_store_requests_total.
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
srv_start 2
# The same table from a file, on three more servers.
"$CTL" --store "$STORE" --pull >"$T/file.json" || fail "pull"
FPID=(); FPORT=()
for i in 0 1 2; do
	mkdir -p "$T/f$i"
	"$MANDOSD" --foreground --address 127.0.0.1 --port 0 --no-ipv6 --statedir "$T/f$i/state" \
	    --control "$T/f$i/sock" --no-zeroconf --workers 1 --clients "$T/file.json" >"$T/f$i/log" 2>&1 &
	FPID[$i]=$!
	EXTRA_PIDS+=("$!")
	for _ in $(seq 100); do
		FPORT[$i]=$(sed -n 's/.*listening on .*:\([0-9]*\), .*/\1/p' "$T/f$i/log" | tail -n1)
		[ -n "${FPORT[$i]}" ] && break; sleep 0.1
	done
	[ -n "${FPORT[$i]}" ] || fail "file-mode server $i did not start"
done
PER=$((CLIENTS / 3))
# Each storm leaves its first WARM out: a tenth of its share, at most 100.
WARM=$((COUNT / 30)); [ "$WARM" -le 100 ] || WARM=100
[ $((COUNT / 3)) -gt "$WARM" ] && [ "$PER" -gt 0 ] ||
    fail "COUNT ($COUNT) and CLIENTS ($CLIENTS) must be at least 3"
# storm3 PORT PORT PORT: one storm per server at once, each its own third of
# the clients; prints the sum of the three rates (FAIL if one failed).
storm3() {
	local k pids=() ports=("$@")
	for k in 0 1 2; do
		"$STORM" --connect "127.0.0.1:${ports[$k]}" --clients "$PER" \
		    --first-client $((k * PER)) --seed b1 --count $((COUNT / 3)) \
		    --concurrency $(( (CONC + 2) / 3 )) --warmup "$WARM" -q --json \
		    >"$T/storm$k.json" 2>"$T/storm$k.err" &
		pids+=("$!")
	done
	wait "${pids[@]}"
	python3 - "$T"/storm[012].json <<'PY'
import json, sys
try:
    d = [json.load(open(f)) for f in sys.argv[1:]]
except ValueError:	# a storm that did not run: its stderr says why
    for f in sys.argv[1:]:
        sys.stderr.write(open(f[:-4] + "err").read())
    d = [{"failed": 1}]
print("FAIL" if any(x["failed"] for x in d) else "%.0f" % sum(x["rate"] for x in d))
PY
}
# ticks3 PID PID PID: CPU ticks of three servers (authorities and workers).
ticks3() { echo $(( $(all_ticks "$1") + $(all_ticks "$2") + $(all_ticks "$3") )); }
# req3, sent3: etcd requests, secrets sent, summed over the store servers.
req3() { echo $(( $(metric 0 mandos_store_requests_total) + $(metric 1 mandos_store_requests_total) + $(metric 2 mandos_store_requests_total) )); }
sent3() { local i n=0; for i in 0 1 2; do n=$((n + $(ctl "$i" --stats | awk '$1 == "connections_secret_sent" { print $2 }'))); done; echo "$n"; }
echo "== storm against 3 servers sharing one store: $COUNT handshakes, $CLIENTS clients, $CONC in flight, spread over the 3; $REPEAT interleaved runs each (load: $(uptime | sed 's/.*load average/load average/'))"
req0=$(req3)
hs0=$(sent3)
ms=0
rs=(); rf=(); cs=(); cf=()
# etcd's members share the cores: their CPU per handshake in either mode.
etcd_ticks() { echo $(( $(ticks "${ETCD_PIDS[0]}") + $(ticks "${ETCD_PIDS[1]}") + $(ticks "${ETCD_PIDS[2]}") )); }
es=0; ef=0
# cpu_us TICKS0 TICKS1: server CPU per handshake of the run.
cpu_us() { echo $(( ($2 - $1) * 1000000 / HZ / COUNT )); }
run_store() {
	local k e t0
	k=$(ticks3 "${SRV_PID[0]}" "${SRV_PID[1]}" "${SRV_PID[2]}")
	e=$(etcd_ticks)
	t0=$(now_ms)
	rs+=("$(storm3 "${SRV_PORT[0]}" "${SRV_PORT[1]}" "${SRV_PORT[2]}")")
	ms=$((ms + $(now_ms) - t0))
	cs+=("$(cpu_us "$k" "$(ticks3 "${SRV_PID[0]}" "${SRV_PID[1]}" "${SRV_PID[2]}")")")
	es=$((es + $(etcd_ticks) - e))
}
run_file() {
	local k e
	k=$(ticks3 "${FPID[0]}" "${FPID[1]}" "${FPID[2]}")
	e=$(etcd_ticks)
	rf+=("$(storm3 "${FPORT[0]}" "${FPORT[1]}" "${FPORT[2]}")")
	cf+=("$(cpu_us "$k" "$(ticks3 "${FPID[0]}" "${FPID[1]}" "${FPID[2]}")")")
	ef=$((ef + $(etcd_ticks) - e))
}
for r in $(seq "$REPEAT"); do
	# ABBA order: a steady drift of the machine's speed hits both alike.
	if [ $((r % 2)) = 1 ]; then run_store; run_file; else run_file; run_store; fi
	echo "  run $r: store ${rs[-1]}/s ${cs[-1]} us CPU/handshake, file ${rf[-1]}/s ${cf[-1]} us"
done
# Requests counted over the whole loop (the file storms too: the store
# servers' probes and flushes go on meanwhile), handshakes of the store's.
req1=$(req3)
hs1=$(sent3)
python3 - "${rs[*]}" "${rf[*]}" "$((req1 - req0))" "$((hs1 - hs0))" "$ms" "${cs[*]}" "${cf[*]}" <<'PY'
import statistics, sys
if "FAIL" in sys.argv[1] + sys.argv[2]: sys.exit("a storm had failed handshakes")
s = [float(x) for x in sys.argv[1].split()]; f = [float(x) for x in sys.argv[2].split()]
req, hs, ms = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
cs = [float(x) for x in sys.argv[6].split()]; cf = [float(x) for x in sys.argv[7].split()]
ms_, mf = statistics.median(s), statistics.median(f)
print("storm_rate (3 servers) median: store %.0f/s, file %.0f/s, ratio %.3f" % (ms_, mf, ms_ / mf))
# Paired: each run's store against the file storm next to it; this shared
# VM's speed drifts by up to 1.7x within a minute.
print("paired (median of %d runs' own ratios): rate store/file %.3f, CPU file/store %.3f"
      % (len(s), statistics.median(a / b for a, b in zip(s, f)),
         statistics.median(b / a for a, b in zip(cs, cf))))
print("server CPU per handshake median: store %.0f us, file %.0f us, ratio file/store %.3f"
      % (statistics.median(cs), statistics.median(cf), statistics.median(cf) / statistics.median(cs)))
print("etcd requests of the 3 store servers: %d for %d handshakes = %.4f per handshake "
      "(while %.1f s of store storms ran, and the file storms between: probes ~1/s per server, "
      "state txns of up to 64 clients, one client at most once a second)" % (req, hs, req / max(hs, 1), ms / 1000))
PY
echo "etcd members' CPU per handshake: $(( es * 1000000 / HZ / (COUNT * REPEAT) )) us during the store storms, $(( ef * 1000000 / HZ / (COUNT * REPEAT) )) us during the file storms"
for i in 0 1 2; do srv_stop "$i"; done
