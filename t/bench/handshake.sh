#!/bin/bash
# handshake.sh [COUNT]: handshake throughput and CPU cost of mandosd with its
# default priority and with the reference's, each against the in-process
# one-core limit of the same priority, and of the reference Python server.
#
# Run as root from a build directory (or BUILD=/path/to/build).  mandosd is
# pinned to CPU 0 (taskset: its whole process tree, workers included) and
# mandos-storm to CPU 1, so the server has one core.  In each of REPEAT (3)
# rounds, interleaved so that the machine's load hits both alike:
#   default:    mandosd (MANDOSD_ARGS added), 1,000 clients, concurrency
#               200, COUNT handshakes (default 20,000), the first WARMUP
#               (1,000) left out of rate and latency;
#   reference:  the same with --priority set to the reference's string
#               (two key shares, the client picks secp256r1);
#   in-process: mandos-storm --inproc INPROC (3,000) on CPU 0 with the
#               mandosd side at each priority: both TLS ends in one
#               process, the server end alone is the one-core limit;
#               measured twice, with CPU 1 idle and with CPU 1 busy (as
#               the storm keeps it while mandosd runs; see ip_run).
# Medians of the rounds are printed, then the ratios: default/reference
# (target >= 1.10), mandosd/in-process limit at the same priority (target
# >= 0.90), and mandos-storm's own CPU per handshake against the in-process
# peer (booting client) side.
# Server CPU per handshake = CPU time of mandosd's process tree (every
# process under it, with what it reaped) across the storm / successful
# connections (warm-up included).  The table's checkers run once a day, so
# none runs during a storm.
#   reference server: /usr/sbin/mandos, concurrency 200, once per REF_RUNS
#               entry CLIENTS:COUNT (default "1000:40 10:200": the same
#               table, and a tiny one where it is at its fastest).  Its CPU
#               is that of its whole process group (see group_ticks).
#               Skipped without root, /usr/sbin/mandos or dbus-daemon, or
#               with REF=0.  At concurrency 200 its listen backlog of 5
#               overflows and some connections are reset: those show as
#               failures (reason tls: "Error in the pull function") and are
#               left out.
# Environment: BUILD, PORT (20721), REF_PORT (20741) (first ports tried),
# WARMUP, REPEAT, INPROC, REF_RUNS, REF=0|1, NEIGHBOUR=0|1, MANDOSD_ARGS (extra mandosd
# options, e.g. --workers 1), STORM_ARGS (extra mandos-storm options),
# KEEP=1 (keep the temp dir).
set -uo pipefail

die() { echo "handshake.sh: $*" >&2; exit 2; }
BUILD=$(cd -- "${BUILD:-.}" && pwd) || die "no build dir"
COUNT=${1:-20000}
case $COUNT in ''|*[!0-9]*) die "usage: handshake.sh [COUNT]";; esac
WARMUP=${WARMUP:-1000}
[ "$WARMUP" -lt "$COUNT" ] || WARMUP=$((COUNT / 20))
REPEAT=${REPEAT:-3}
INPROC=${INPROC:-3000}
# The reference's cost per connection grows with its table: about 12 ms
# with a few clients, about a second with 1,000.  CLIENTS:COUNT pairs.
REF_RUNS=${REF_RUNS:-"1000:40 10:200"}
PORT=${PORT:-20721}
REF_PORT=${REF_PORT:-20741}
CLIENTS=1000
CONC=200
STORM=$BUILD/clients/mandos-storm
MANDOSD=$BUILD/src/mandosd
[ -x "$STORM" ] || die "no $STORM (set BUILD)"
[ -x "$MANDOSD" ] || die "no $MANDOSD (set BUILD)"
for t in taskset python3 ss ps; do
	command -v $t >/dev/null || die "$t missing"
done

work=$(mktemp -d /tmp/bench-handshake.XXXXXX) || die "mktemp"
spid=""		# the server under test, started by us
npid=""		# ip_run's neighbour on CPU 1, started by us
dpid=""		# the reference's private dbus-daemon
cleanup() {
	stop_server
	[ -n "$npid" ] && kill -TERM "$npid" 2>/dev/null
	[ -n "$dpid" ] && kill -TERM "$dpid" 2>/dev/null
	[ "${KEEP:-0}" = 1 ] && echo "kept $work" >&2 || rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Stop the server we started: TERM, then KILL of its process group (the
# reference forks; we made it a session leader, so the group is ours).
stop_server() {
	[ -n "$spid" ] || return 0
	kill -TERM "$spid" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
	[ "${spgrp:-0}" = 1 ] && kill -KILL -- "-$spid" 2>/dev/null
	kill -KILL "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
	spid=""
}

# Wait until something listens on port $1 (at most $2 seconds).
wait_listen() {
	local deadline=$((SECONDS + $2))
	until ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; do
		kill -0 "$spid" 2>/dev/null || return 1
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}

# CPU ticks of pid: utime + stime (+ cutime + cstime with $2 = all).
ticks() {
	sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk -v all="${2:-}" \
	    '{ t = $12 + $13; if (all != "") t += $14 + $15; print t }'
}

# CPU ticks of a process group: every live member's own time plus what it
# collected from reaped children (cutime/cstime).  The reference forks a
# handler per connection; a handler's time reaches its parent's cutime
# when reaped, so live members plus their reaped children cover it all.
group_ticks() {
	local sum=0 p g t
	for p in /proc/[0-9]*; do
		g=$(sed 's/.*) //' "$p/stat" 2>/dev/null | awk '{ print $3 }')
		[ "$g" = "$1" ] || continue
		t=$(ticks "${p#/proc/}" all) || continue
		sum=$((sum + ${t:-0}))
	done
	echo $sum
}

# CPU ticks of pid $1 and every process under it, with what each reaped
# (so a privilege-separated mandosd's workers count, live or gone).
tree_ticks() {
	local sum=0 p t
	for p in $(ps -e -o pid=,ppid= | awk -v root="$1" '
	    { parent[$1] = $2 }
	    END { for (p in parent) { q = p; while (q != "" && q != 1 && q != root) q = parent[q]
	        if (q == root) print p } }'); do
		t=$(ticks "$p" all) || continue
		sum=$((sum + ${t:-0}))
	done
	echo $sum
}

HZ=$(getconf CLK_TCK)

# The kernel's count of connections dropped at a full accept queue.
overflows() {
	nstat -az TcpExtListenOverflows 2>/dev/null |
	    awk '$1 == "TcpExtListenOverflows" { print $2; found = 1 }
	    END { if (!found) print 0 }'
}

# The first port from $1 on with no listener (other benchmarks may share
# the machine); PORT=... picks the start.
free_port() {
	local p=$1
	while ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; do
		p=$((p + 1))
		[ $p -lt $(($1 + 50)) ] || die "no free port from $1"
	done
	echo $p
}

# Field $2 of the JSON object in file $1.
jget() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

REFPRIO='SECURE128:!CTYPE-X.509:+CTYPE-RAWPK:!RSA:!VERS-ALL:+VERS-TLS1.3:%PROFILE_ULTRA'
# The storm's table, with checkers once a day: none runs during a storm.
"$STORM" --make-table $CLIENTS | python3 -c '
import json, sys
t = json.load(sys.stdin)
t["defaults"] = {"checker": "true", "interval": "P1D", "timeout": "P1D"}
json.dump(t, sys.stdout)' >"$work/clients.json" || die "make-table failed"
echo "load average at start: $(cat /proc/loadavg)" >&2

# One mandosd run: $1 = name (default|reference), $2 = round; files md.$1.$2.*
md_run() {
	local name=$1 r=$2 port c0 c1 w0 w1 src prio=()
	[ "$name" = reference ] && prio=(--priority "$REFPRIO")
	port=$(free_port "$PORT")
	# shellcheck disable=SC2086
	taskset -c 0 "$MANDOSD" --foreground --no-zeroconf --control '' \
	    --statedir "$work" --clients "$work/clients.json" \
	    --address ::1 --port "$port" "${prio[@]}" ${MANDOSD_ARGS:-} \
	    2>"$work/md.$name.$r.log" &
	spid=$!
	spgrp=0
	wait_listen "$port" 10 || { cat "$work/md.$name.$r.log" >&2; die "mandosd did not start"; }
	sleep 0.5	# let a privilege-separated tree come up
	c0=$(tree_ticks "$spid")
	w0=$(date +%s%N)
	# shellcheck disable=SC2086
	taskset -c 1 "$STORM" --connect "[::1]:$port" --clients $CLIENTS \
	    --concurrency $CONC --count "$COUNT" --warmup "$WARMUP" --json \
	    --timeout 60 ${STORM_ARGS:-} >"$work/md.$name.$r.json"
	src=$?
	c1=$(tree_ticks "$spid")
	w1=$(date +%s%N)
	stop_server
	python3 - "$work/md.$name.$r.json" "$c0" "$c1" "$HZ" "$src" "$w0" "$w1" \
	    >"$work/md.$name.$r.row" <<'PY' || die "bad storm output"
import json, sys
s = json.load(open(sys.argv[1]))
cpu = (int(sys.argv[3]) - int(sys.argv[2])) * 1e6 / int(sys.argv[4])
n = max(s["completed"] - s["failed"], 1)
busy = cpu / ((int(sys.argv[7]) - int(sys.argv[6])) / 1e3)
print(s["rate"], cpu / n, s["p50_ms"], s["p99_ms"], s["failed"], sys.argv[5], busy,
      s.get("storm_cpu_us", 0))
PY
	read -r rate cpu p50 p99 failed src busy scpu <"$work/md.$name.$r.row"
	printf '  %-9s round %d: %.0f handshakes/s, %.0f us server CPU/handshake, p50 %.1f ms, p99 %.1f ms, failed %s (exit %s), server busy %.0f%%, storm %.0f us CPU/connection\n' \
	    "$name" "$r" "$rate" "$cpu" "$p50" "$p99" "$failed" "$src" \
	    "$(awk -v b="$busy" 'BEGIN { print b * 100 }')" "$scpu" >&2
}

# One in-process run on mandosd's core: $1 = name, $2 = round, $3 = file
# suffix, $4 = what the line says of CPU 1.
ip_once() {
	local name=$1 r=$2 sprio=()
	[ "$name" = reference ] && sprio=(--server-priority "$REFPRIO")
	taskset -c 0 "$STORM" --inproc "$INPROC" --clients $CLIENTS --json \
	    "${sprio[@]}" >"$work/ip.$name.$r$3.json" || die "inproc failed"
	python3 -c 'import json, sys; i = json.load(open(sys.argv[1]))
print("  %-9s round %s: in-process server end %.0f us (%.0f/s on one core), client end %.0f us, %s" % (sys.argv[2], sys.argv[3], i["server_cpu_us"], i["server_limit_rate"], i["client_cpu_us"], sys.argv[4]))' \
	    "$work/ip.$name.$r$3.json" "$name" "$r" "$4" >&2
}
# The limit twice: with CPU 1 idle, and with CPU 1 busy (another
# in-process loop there), as the storm keeps it while mandosd runs.  This
# VM's two CPUs share the host's resources: a busy neighbour made CPU 0's
# in-process handshake 2-15% dearer, median 5% (six pairs, 2026-12-02).
# The storm keeps CPU 1 about 80% busy, the loop 100%: the truth of
# mandosd's fraction lies between the two ratios.  NEIGHBOUR=0: idle only.
ip_run() {
	ip_once "$1" "$2" "" "CPU 1 idle"
	[ "${NEIGHBOUR:-1}" = 1 ] || return 0
	taskset -c 1 "$STORM" --inproc 100000000 --clients $CLIENTS --json \
	    >/dev/null 2>&1 &
	npid=$!
	sleep 0.2
	ip_once "$1" "$2" .busy "CPU 1 busy"
	kill -TERM "$npid" 2>/dev/null
	wait "$npid" 2>/dev/null
	npid=""
}

# --- mandosd and the in-process limit, interleaved --------------------------
echo "mandosd: $COUNT handshakes ($WARMUP warm-up), $CLIENTS clients, concurrency $CONC, $REPEAT rounds${MANDOSD_ARGS:+, mandosd $MANDOSD_ARGS}" >&2
for r in $(seq "$REPEAT"); do
	for name in default reference; do
		md_run "$name" "$r"
		ip_run "$name" "$r"
	done
done

# --- the reference --------------------------------------------------------
ref=0
if [ "${REF:-1}" = 1 ] && [ "$(id -u)" = 0 ] && [ -x /usr/sbin/mandos ] &&
    command -v dbus-daemon >/dev/null; then
	ref=1
else
	echo "reference server: skipped (REF=0, or no root, /usr/sbin/mandos or dbus-daemon)" >&2
fi
# One reference run: a table of $1 clients, $2 handshakes; files ref.$1.*.
ref_run() {
	local n=$1 count=$2 c0 c1 src
	echo "reference: $n clients, $count handshakes, concurrency $CONC" >&2
	rm -rf -- "$work/conf" "$work/state"
	mkdir -p "$work/conf" "$work/state"
	# Checkers once a day, clients valid for a day: no checker forks
	# during the run are billed to the server.
	"$STORM" --make-table "$n" --format conf |
	    sed 's/^checker = true$/checker = true\ninterval = 1d\ntimeout = 1d/' \
	    >"$work/conf/clients.conf"
	printf '[DEFAULT]\n' >"$work/conf/mandos.conf"
	chown "$suser:$(id -gn "$suser")" "$work/state"
	chmod 0700 "$work/state"
	port=$(free_port "$REF_PORT")
	DBUS_SYSTEM_BUS_ADDRESS=$(head -n1 "$work/dbus.addr") taskset -c 0 \
	    /usr/bin/python3 -bI -c "$wrapper" --no-zeroconf --no-dbus \
	    --no-restore --foreground --address ::1 --port "$port" \
	    --configdir "$work/conf" --statedir "$work/state" </dev/null \
	    >"$work/ref.$n.log" 2>&1 &
	spid=$!
	spgrp=1
	wait_listen "$port" 60 || { tail "$work/ref.$n.log" >&2; die "reference did not start"; }
	sleep 2		# let it settle after loading the table
	c0=$(group_ticks "$spid")
	o0=$(overflows)
	w0=$(date +%s%N)
	# Backlog 5, and about a second of CPU per connection with 1,000
	# clients: SYN back-off and queueing make latencies long.
	taskset -c 1 "$STORM" --connect "[::1]:$port" --clients "$n" \
	    --concurrency $CONC --count "$count" --json --timeout 300 \
	    >"$work/ref.$n.json"
	src=$?
	w1=$(date +%s%N)
	o1=$(overflows)
	sleep 1		# let the last handlers be reaped into cutime
	c1=$(group_ticks "$spid")
	stop_server
	echo "$c0 $c1 $src $w0 $w1 $((o1 - o0))" >"$work/ref.$n.ticks"
	echo "$n" >>"$work/ref.list"
}

if [ $ref = 1 ]; then
	suser=nobody
	for u in _mandos mandos; do getent passwd "$u" >/dev/null && { suser=$u; break; }; done
	chmod 0755 "$work"
	# mandos connects to the system bus even with --no-dbus: a private one.
	cat >"$work/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$work/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
EOF
	dbus-daemon --config-file="$work/bus.conf" --fork --print-pid=3 \
	    --print-address=4 3>"$work/dbus.pid" 4>"$work/dbus.addr" </dev/null ||
	    die "dbus-daemon failed"
	dpid=$(cat "$work/dbus.pid")
	# As the lab's real-server.sh: setsid() so the whole tree is one group,
	# and no tracebacks for the missing /dev/log.
	wrapper='import os, sys, runpy, logging
os.setsid()
if not os.path.exists("/dev/log"):
    logging.raiseExceptions = False
sys.argv = ["/usr/sbin/mandos"] + sys.argv[1:]
runpy.run_path("/usr/sbin/mandos", run_name="__main__")'
	for spec in $REF_RUNS; do
		ref_run "${spec%%:*}" "${spec#*:}"
	done
fi

# --- the table --------------------------------------------------------------
python3 - "$work" "$REPEAT" "$HZ" "$ref" "${NEIGHBOUR:-1}" <<'PY'
import json, os, statistics, sys
work, repeat, hz, ref = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
busy1 = sys.argv[5] == "1"
med = statistics.median
R = range(1, repeat + 1)
def mdrows(name):
    m = [open(os.path.join(work, "md.%s.%d.row" % (name, r))).read().split() for r in R]
    col = lambda k: med(float(x[k]) for x in m)
    return dict(rate=col(0), cpu=col(1), p50=col(2), p99=col(3), busy=col(6),
                storm=col(7), failed=sum(int(x[4]) for x in m))
def iprows(name, suffix=""):
    i = [json.load(open(os.path.join(work, "ip.%s.%d%s.json" % (name, r, suffix)))) for r in R]
    col = lambda k: med(x[k] for x in i)
    return dict(rate=col("rate"), cpu=col("cpu_us"), srv=col("server_cpu_us"),
                lim=col("server_limit_rate"), cli=col("client_cpu_us"),
                p50=col("p50_ms"), p99=col("p99_ms"))
md = {n: mdrows(n) for n in ("default", "reference")}
ip = {n: iprows(n) for n in ("default", "reference")}
ipb = {n: iprows(n, ".busy") for n in ("default", "reference")} if busy1 else {}
rows = []
for n in ("default", "reference"):
    rows.append(("in-process server end, %s" % n, ip[n]["lim"], ip[n]["srv"], None, None,
                 None, "(one-core limit, CPU 1 idle)"))
    if busy1:
        rows.append(("  the same, CPU 1 busy", ipb[n]["lim"], ipb[n]["srv"], None, None,
                     None, "(one-core limit, CPU 1 busy)"))
    rows.append(("mandosd, %s" % n, md[n]["rate"], md[n]["cpu"], md[n]["p50"], md[n]["p99"],
                 md[n]["busy"], "failed %d" % md[n]["failed"]))
refs = []
if ref:
    for n in open(os.path.join(work, "ref.list")).read().split():
        s = json.load(open(os.path.join(work, "ref.%s.json" % n)))
        c0, c1, src, w0, w1, ovf = open(os.path.join(work, "ref.%s.ticks" % n)).read().split()
        cpu_total = (int(c1) - int(c0)) * 1e6 / hz
        cpu = cpu_total / max(s["completed"] - s["failed"], 1)
        busy = cpu_total / ((int(w1) - int(w0)) / 1e3)
        refs.append((n, s["rate"], cpu))
        rows.append(("reference server, %s clients" % n, s["rate"], cpu, s["p50_ms"],
                     s["p99_ms"], busy, "failed %d of %d, %s accept-queue overflows"
                     % (s["failed"], s["completed"], ovf)))
# "1 core/s": 1e6 / CPU us, what a whole core would give; "busy": the
# server's CPU time over the wall time of the storm (other load on a shared
# machine lowers it, and the measured rate with it).
print("medians of %d interleaved rounds" % repeat)
print("%-32s %12s %10s %10s %9s %9s %5s" % ("", "handshakes/s", "CPU us/hs",
      "1 core/s", "p50 ms", "p99 ms", "busy"))
for name, rate, cpu, p50, p99, busy, note in rows:
    f = lambda v: "%9.2f" % v if v is not None else "%9s" % "-"
    b = "%4.0f%%" % (busy * 100) if busy is not None else "%5s" % "-"
    print("%-32s %12.0f %10.0f %10.0f %s %s %s  %s" % (name, rate, cpu,
          1e6 / cpu, f(p50), f(p99), b, note))
d, r = md["default"], md["reference"]
# Rates need an idle machine; handshakes per CPU second (1e6 / CPU us) hold
# when other load takes the server's core away.
print("default / reference priority: rate %.2f (target >= 1.10), per CPU second %.2f"
      % (d["rate"] / r["rate"], r["cpu"] / d["cpu"]))
for n in ("default", "reference"):
    print("mandosd / in-process limit, %s priority: rate %.2f (target >= 0.90), per CPU second %.2f"
          % (n, md[n]["rate"] / ip[n]["lim"], ip[n]["srv"] / md[n]["cpu"]))
    if busy1:
        print("  against the limit with CPU 1 busy: rate %.2f, per CPU second %.2f"
              % (md[n]["rate"] / ipb[n]["lim"], ipb[n]["srv"] / md[n]["cpu"]))
# Paired: each round's ratio from runs seconds apart, then their median.
# This machine's speed drifts by up to 1.7x within a minute (a shared VM),
# which moves a median of rates more than it moves a ratio of neighbours.
def pairs(num, den):
    return med(num(r) / den(r) for r in R)
mdrow = lambda n, r: open(os.path.join(work, "md.%s.%d.row" % (n, r))).read().split()
iprow = lambda n, r, sfx="": json.load(open(os.path.join(work, "ip.%s.%d%s.json" % (n, r, sfx))))
print("paired (median of the %d rounds' own ratios): default / reference rate %.2f,"
      " per CPU second %.2f" % (repeat,
      pairs(lambda r: float(mdrow("default", r)[0]), lambda r: float(mdrow("reference", r)[0])),
      pairs(lambda r: float(mdrow("reference", r)[1]), lambda r: float(mdrow("default", r)[1]))))
for n in ("default", "reference"):
    print("paired: mandosd / in-process limit, %s priority: rate %.2f, per CPU second %.2f"
          % (n, pairs(lambda r: float(mdrow(n, r)[0]), lambda r: iprow(n, r)["server_limit_rate"]),
             pairs(lambda r: iprow(n, r)["server_cpu_us"], lambda r: float(mdrow(n, r)[1]))))
    if busy1:
        print("  against the limit with CPU 1 busy: rate %.2f, per CPU second %.2f"
              % (pairs(lambda r: float(mdrow(n, r)[0]),
                       lambda r: iprow(n, r, ".busy")["server_limit_rate"]),
                 pairs(lambda r: iprow(n, r, ".busy")["server_cpu_us"],
                       lambda r: float(mdrow(n, r)[1]))))
if min(d["busy"], r["busy"]) < 0.8:
    # Measured 2026-12-02 at load 2-5: the same build's per-CPU-second
    # ratio came out 0.79, 0.82 and 1.14 in three runs.
    print("note: the server core was only %.0f%% busy: other load on the machine; the rate"
          " ratios mean little, and the CPU per handshake moves with that load too (caches,"
          " a shared core): t/bench/profile.sh gives the fraction of the limit from where"
          " the CPU goes" % (min(d["busy"], r["busy"]) * 100))
for n in ("default", "reference"):
    print("mandos-storm's CPU per handshake, %s: %.0f us against %.0f us for the in-process"
          " peer side: %.2fx" % (n, md[n]["storm"], ip[n]["cli"], md[n]["storm"] / ip[n]["cli"]))
print("load average: %s" % open("/proc/loadavg").read().strip())
for n, rate, cpu in refs:
    print("mandosd (default) / reference server (%s clients): rate %.0fx, CPU per handshake 1/%.0f"
          % (n, d["rate"] / max(rate, 1e-9), cpu / d["cpu"]))
sys.exit(1 if d["failed"] or r["failed"] else 0)
PY
