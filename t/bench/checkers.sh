#!/bin/bash
# checkers.sh [COUNT]: the cost of 10,000 checkers to handshakes.
#
# Run from a build directory (or BUILD=/path/to/build), as root or not.
# mandosd serves N (10,000) clients from mandos-storm's table, twice:
#   idle:     checker "true", interval PT1H (checkers almost never run)
#   checkers: checker "true", interval PT10S (1,000 checker runs per second
#             wanted, at most --max-checkers running at once)
# In each, after SETTLE (12) seconds, mandos-storm makes COUNT (20,000)
# handshakes over all N clients at concurrency 100 while a sampler reads
# mandosctl --stats and /proc every 0.2 s: the most checkers running and
# queued, zombie children (state Z, parent mandosd) and checker runs per
# second. Zombies count only when still there 0.2 s later (every child is
# a zombie for the moment between its exit and the loop reaping it). Each mode runs REPEAT (3) times, alternating; medians are printed
# with the drop of the handshake rate, and mandosd's own CPU time per
# connection (less sensitive to other load on the machine than the rate). PIN=1 pins mandosd (and so its
# checkers) to CPU 0 and mandos-storm to CPU 1.
# Environment: BUILD, PORT (20311), N, COUNT, SETTLE, REPEAT, MAXCHK (64),
# PIN (0), KEEP=1 (keep the temp dir).
set -uo pipefail

die() { echo "checkers.sh: $*" >&2; exit 2; }
BUILD=$(cd -- "${BUILD:-.}" && pwd) || die "no build dir"
COUNT=${1:-20000}
N=${N:-10000}
SETTLE=${SETTLE:-12}
REPEAT=${REPEAT:-3}
MAXCHK=${MAXCHK:-64}
PORT=${PORT:-20311}
PIN=${PIN:-0}
STORM=$BUILD/clients/mandos-storm
MANDOSD=$BUILD/src/mandosd
CTL=$BUILD/clients/mandosctl
for f in "$STORM" "$MANDOSD" "$CTL"; do [ -x "$f" ] || die "no $f (set BUILD)"; done
command -v python3 >/dev/null || die "needs python3"

T=$(mktemp -d /tmp/bench-checkers.XXXXXX) || die "mktemp"
chmod 0755 "$T"
MPID=
cleanup() {
	[ -n "$MPID" ] && kill -TERM "$MPID" 2>/dev/null && wait "$MPID" 2>/dev/null
	[ "${KEEP:-0}" = 1 ] || rm -rf -- "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
USER_ARGS=()
if [ "$(id -u)" -eq 0 ]; then
	u=$(getent passwd _mandos >/dev/null && echo _mandos || echo nobody)
	USER_ARGS=(--user "$u")
	mkdir -p "$T/state" && chown "$u" "$T/state"
fi
pin_srv=() pin_cli=()
[ "$PIN" = 1 ] && { pin_srv=(taskset -c 0); pin_cli=(taskset -c 1); }

"$STORM" --make-table "$N" --seed bench-checkers >"$T/storm.json" || die "make-table"
for mode in idle checkers; do
	iv=PT1H; [ $mode = checkers ] && iv=PT10S
	python3 - "$T/storm.json" "$iv" >"$T/$mode.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
t["defaults"] = {"checker": "true", "interval": sys.argv[2], "timeout": "PT1H"}
json.dump(t, open("/dev/stdout", "w"))
PY
done

# run MODE: one measurement; prints "rate maxrun maxqueue zombies runs/s".
run() {
	local mode=$1 log=$T/mandosd.$1.log
	"${pin_srv[@]}" "$MANDOSD" --foreground --no-zeroconf --address ::1 \
	    --port "$PORT" --clients "$T/$mode.json" --control "$T/sock" \
	    --statedir "$T/state" --max-checkers "$MAXCHK" "${USER_ARGS[@]}" \
	    </dev/null >"$log" 2>&1 &
	MPID=$!
	for _ in $(seq 100); do grep -q "listening on" "$log" && break; sleep 0.1; done
	grep -q "listening on" "$log" || die "mandosd did not start: $(tail -3 "$log")"
	sleep "$SETTLE"
	python3 - "$CTL" "$T/sock" "$MPID" >"$T/sample" <<'PY' &
import subprocess, sys, time, os, glob
ctl, sock, pid = sys.argv[1], sys.argv[2], sys.argv[3]
def stats():
    out = subprocess.run([ctl, "--socket", sock, "--stats"], capture_output=True, text=True).stdout
    return dict(l.split() for l in out.splitlines())
def zombies():
    z = set()
    for f in glob.glob("/proc/[0-9]*/stat"):
        try:
            s = open(f).read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if s[1] == pid and s[0] == "Z":
            z.add(f)
    return z
# A child that has exited is a zombie until the loop reaps it, a moment
# later; one still a zombie a sample (0.2 s) later was left behind.
prev = set()
t0 = time.time(); s0 = stats()
mr = mq = mz = 0
while not os.path.exists(sys.argv[2] + ".stop"):
    s = stats()
    mr = max(mr, int(s["checkers_running"])); mq = max(mq, int(s["checkers_queued"]))
    z = zombies()
    mz = max(mz, len(z & prev))
    prev = z
    time.sleep(0.2)
s = stats(); dt = time.time() - t0
runs = sum(int(s[k]) - int(s0[k]) for k in ("checker_success", "checker_failure", "checker_killed", "checker_error"))
print(mr, mq, mz, round(runs / dt))
PY
	local spid=$! t0 t1
	t0=$(awk '{print $14 + $15}' /proc/"$MPID"/stat)
	"${pin_cli[@]}" "$STORM" --connect "[::1]:$PORT" --seed bench-checkers \
	    --clients "$N" --count "$COUNT" --concurrency 100 --warmup 1000 --json \
	    >"$T/storm.$mode.out" 2>/dev/null || die "storm failed: $(cat "$T/storm.$mode.out")"
	t1=$(awk '{print $14 + $15}' /proc/"$MPID"/stat)
	touch "$T/sock.stop"
	wait "$spid"
	rm -f "$T/sock.stop"
	local z
	z=$(awk -v p="$MPID" '$4 == p && $3 == "Z"' /proc/[0-9]*/stat 2>/dev/null | wc -l)
	kill -TERM "$MPID"; wait "$MPID"; MPID=
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(round(d.get("rate", d.get("handshakes_per_second", 0))), end=" ")' "$T/storm.$mode.out"
	# mandosd's own CPU (not its children's) per connection made, in us.
	echo "$(cat "$T/sample") $z $(( (t1 - t0) * 1000000 / $(getconf CLK_TCK) / COUNT ))"
}

echo "N=$N COUNT=$COUNT max-checkers=$MAXCHK PIN=$PIN"
echo "mode      handshakes/s max-running max-queued stale-zombies checker-runs/s zombies-at-end cpu-us/conn"
for i in $(seq "$REPEAT"); do
	for mode in idle checkers; do
		r=$(run $mode)
		echo "$mode $r" | awk '{printf "%-9s %12s %11s %10s %13s %14s %14s %11s\n", $1, $2, $3, $4, $5, $6, $7, $8}'
		echo "$r" >>"$T/$mode.results"
	done
done
python3 - "$T/idle.results" "$T/checkers.results" "$MAXCHK" <<'PY'
import statistics, sys
idle = [list(map(float, l.split())) for l in open(sys.argv[1])]
chk = [list(map(float, l.split())) for l in open(sys.argv[2])]
cap = int(sys.argv[3])
ri = statistics.median(r[0] for r in idle)
rc = statistics.median(r[0] for r in chk)
drop = 100 * (ri - rc) / ri
print("median handshakes/s: idle %.0f, with checkers %.0f: drop %.1f%%" % (ri, rc, drop))
ci = statistics.median(r[6] for r in idle)
cc = statistics.median(r[6] for r in chk)
print("median mandosd CPU per connection (its own, not the checkers'): idle %.0f us, with checkers %.0f us (+%.1f%%)" % (ci, cc, 100 * (cc - ci) / ci))
print("checker runs/s (median) %.0f; most running %d (cap %d); most queued %d; zombies seen %d" % (
    statistics.median(r[4] for r in chk), max(r[1] for r in chk), cap,
    max(r[2] for r in chk), max(max(r[3], r[5]) for r in chk)))
ok = drop < 10 and max(r[1] for r in chk) <= cap and max(max(r[3], r[5]) for r in chk) == 0
print("RESULT:", "PASS" if ok else "FAIL", "(drop < 10%, cap kept, no zombie)")
PY
