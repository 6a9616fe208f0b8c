#!/bin/bash
# hostile.sh: an honest source's boot storm against hostile sources, with and
# without mandosd's per-source fair shares.
#
#   honest   127.0.0.2: CLIENTS (300) distinct clients boot at once
#            (mandos-storm --concurrency CLIENTS); every one must get its
#            secret; p50/p99 from connect to close.
#   holder   127.0.0.3: HOLD (1100) silent connections, past the whole cap
#            (--max-connections CAP, 1000), held for the run.
#   hammer   127.0.0.4: unknown-key handshakes at full speed
#            (concurrency HAMMER, 600; keys not in the table).
# Scenarios, interleaved REPEAT (3) times, medians printed:
#   alone      the honest source only (fair shares on)
#   fair       under attack, fair shares on (the default)
#   no-fair    under attack, --no-fair-share
#   hammer     the hammer alone against the honest source (no holder), with
#   hammer-nf  and without fair shares: the handshake turns on their own
# Every loop is bounded: the honest storm has a deadline (TIMEOUT, 20 s per
# connection), the attackers a duration, and all are stopped by pid.
# Environment: BUILD (build dir, default .), CLIENTS, CAP, HOLD, HAMMER,
# REPEAT, TIMEOUT, VERSION_TIMEOUT (mandosd's, 10s), SCENARIOS (a subset of
# "alone alonenf fair nofair hfair hnofair"; alonenf: alone, --no-fair-share,
# what the fair shares cost a lone source), KEEP=1.
set -uo pipefail

die() { echo "hostile.sh: $*" >&2; exit 2; }
BUILD=$(cd -- "${BUILD:-.}" && pwd) || die "no build dir"
CLIENTS=${CLIENTS:-300}
CAP=${CAP:-1000}
HOLD=${HOLD:-1100}
HAMMER=${HAMMER:-600}
REPEAT=${REPEAT:-3}
TIMEOUT=${TIMEOUT:-20}
VERSION_TIMEOUT=${VERSION_TIMEOUT:-10s}
STORM=$BUILD/clients/mandos-storm
MANDOSD=$BUILD/src/mandosd
[ -x "$STORM" ] || die "no $STORM (set BUILD)"
[ -x "$MANDOSD" ] || die "no $MANDOSD (set BUILD)"

work=$(mktemp -d /tmp/bench-hostile.XXXXXX) || die "mktemp"
spid="" hpid="" kpid=""
stop() {	# stop what we started, by pid
	local p
	for p in $hpid $kpid $spid; do
		kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	spid="" hpid="" kpid=""
}
cleanup() {
	stop
	[ "${KEEP:-0}" = 1 ] && echo "kept $work" >&2 || rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$STORM" --make-table "$CLIENTS" --seed bench-honest >"$work/clients.json" || die "make-table"
ulimit -n 4096 2>/dev/null

# serve ARGS: start mandosd on 127.0.0.1, any port; sets spid, port.
serve() {
	: >"$work/mandosd.log"
	"$MANDOSD" --foreground --address 127.0.0.1 --port 0 --no-zeroconf \
	    --control '' --statedir '' --clients "$work/clients.json" \
	    --max-connections "$CAP" --version-timeout "$VERSION_TIMEOUT" "$@" \
	    >>"$work/mandosd.log" 2>&1 &
	spid=$!
	for _ in $(seq 100); do
		port=$(sed -n 's/.*listening on \[.*\]:\([0-9]*\),.*/\1/p' "$work/mandosd.log" | head -n1)
		[ -n "$port" ] && return 0
		sleep 0.1
	done
	die "mandosd did not start: $(tail -n3 "$work/mandosd.log")"
}

# attack [hammer]: the holder fills the cap (unless "hammer"), then the hammer starts.
attack() {
	local dur=$((TIMEOUT * 2 + 10))
	[ "${1:-}" = hammer ] || hold "$dur"
	"$STORM" --connect "127.0.0.1:$port" --bind 127.0.0.4 --seed bench-hostile \
	    --clients 1000 --concurrency "$HAMMER" --duration "$dur" --expect none \
	    --timeout 5 --quiet >"$work/hammer.out" 2>&1 &
	kpid=$!
	sleep 1
}

# hold SECS: the holder opens HOLD silent connections and keeps them SECS.
hold() {
	"$STORM" --connect "127.0.0.1:$port" --bind 127.0.0.3 --hold "$HOLD" \
	    --hold-stage connect --duration "$1" --quiet >"$work/hold.out" 2>&1 &
	hpid=$!
	# Filled: the whole cap held, or every holder connection accepted and
	# nearly the whole cap held. Not "active=CAP" alone: with several
	# workers the kernel may leave one worker's room holding part of the
	# excess while another has a few free slots, and waiting for the cap
	# would then run into the version timeout, all the holder's slots
	# expiring during the honest storm.
	for _ in $(seq 100); do
		kill -USR1 "$spid"
		sleep 0.1
		grep counters: "$work/mandosd.log" | tail -n1 |
		    awk -v h="$HOLD" -v c="$CAP" '
		    /counters:/ { for (i = 1; i <= NF; i++) {
			split($i, kv, "="); v[kv[1]] = kv[2] } }
		    END { exit !(v["active"] == c ||
			(v["accepted"] >= h && v["active"] >= c * 0.95)) }' &&
		    break
	done
}

# honest NAME: the honest storm; appends "ok p50 p99" to $work/NAME.
honest() {
	"$STORM" --connect "127.0.0.1:$port" --bind 127.0.0.2 --seed bench-honest \
	    --clients "$CLIENTS" --count "$CLIENTS" --concurrency "$CLIENTS" \
	    --timeout "$TIMEOUT" --json --quiet >"$work/honest.json" 2>&1
	python3 - "$work/honest.json" >>"$work/$1" <<'PY'
import json, sys
try:
    o = json.load(open(sys.argv[1]))
    print(o["ok"], o["p50_ms"], o["p99_ms"])
except Exception:
    print(0, "nan", "nan")
PY
}

refused() {	# refusals and evictions the server counted
	local n
	n=$(grep -c 'counters:' "$work/mandosd.log")
	kill -USR1 "$spid"
	for _ in $(seq 50); do
		[ "$(grep -c 'counters:' "$work/mandosd.log")" -gt "$n" ] && break
		sleep 0.1
	done
	grep 'counters:' "$work/mandosd.log" | tail -n1 |
	    sed -n 's/.*evicted=\([0-9]*\).*refused_source_share=\([0-9]*\).*/evicted \1, refused \2/p'
}

SCENARIOS=${SCENARIOS:-"alone fair nofair hfair hnofair"}
for r in $(seq "$REPEAT"); do
	for s in $SCENARIOS; do
		case $s in
		alone) serve; honest alone;;
		alonenf) serve --no-fair-share; honest alonenf;;
		fair) serve; attack; honest fair
		      echo "  run $r fair: $(tail -n1 "$work/fair" | awk '{ print $1 "/'"$CLIENTS"' secrets, p99 " $3 " ms" }'); $(refused)" >&2;;
		nofair) serve --no-fair-share; attack; honest nofair;;
		hfair) serve; attack hammer; honest hfair;;
		hnofair) serve --no-fair-share; attack hammer; honest hnofair;;
		*) die "unknown scenario $s";;
		esac
		stop
	done
	echo "run $r of $REPEAT done" >&2
done

median() {	# median of column $2 of file $1
	sort -g -k"$2","$2" "$1" | awk -v c="$2" '{ v[NR] = $c } END { print v[int((NR + 1) / 2)] }'
}
workers=$(sed -n 's/.*listening on .*, \([0-9]*\) workers.*/\1/p' "$work/mandosd.log" | head -n1)
echo "honest source (127.0.0.2), $CLIENTS clients at once; cap $CAP; holder $HOLD silent (127.0.0.3), hammer $HAMMER unknown-key (127.0.0.4); ${workers:-?} workers; median of $REPEAT (secrets: the worst run)"
printf "%-31s %8s %10s %10s %10s\n" scenario secrets p50_ms p99_ms p99/alone
for s in $SCENARIOS; do
	case $s in
	alone) name="alone";;
	fair) name="under attack, fair shares";;
	nofair) name="under attack, --no-fair-share";;
	alonenf) name="alone, --no-fair-share";;
	hfair) name="hammer only, fair shares";;
	hnofair) name="hammer only, --no-fair-share";;
	esac
	ratio=-
	[ -s "$work/alone" ] && ratio=$(awk -v a="$(median "$work/alone" 3)" \
	    -v b="$(median "$work/$s" 3)" 'BEGIN { printf "%.1f", (a > 0 ? b / a : 0) }')
	printf "%-31s %8s %10s %10s %10s\n" "$name" \
	    "$(sort -n -k1,1 "$work/$s" | head -n1 | cut -d' ' -f1)/$CLIENTS" \
	    "$(median "$work/$s" 2)" "$(median "$work/$s" 3)" "$ratio"
done
