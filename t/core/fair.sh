#!/bin/bash
# Fair shares between sources, on a small scale: one source (127.0.0.3)
# holds silent connections past the whole connection cap, another
# (127.0.0.4) runs unknown-key handshakes at full speed; the honest source
# (127.0.0.2) must still get every secret, quickly. Refusals are counted
# and logged as one summary line per interval, never one per connection.
# Without fair shares (--no-fair-share) the honest source is starved: the
# same run must then fail, or this test proves nothing.
. "${top_srcdir:-.}/t/core/lib.sh" || exit 99
STORM=$top_builddir/clients/mandos-storm
[ -x "$STORM" ] || fail "mandos-storm not built"
VALGRIND=	# thousands of refused connections; valgrind runs elsewhere
# One network worker: the shares are a worker's own (src/worker/accept.c),
# and with a second worker's free slots the control run could not starve.
WORKERS="--workers 1"
"$STORM" --make-table 30 --seed fair-honest >"$T/clients.json" || fail "make-table"
CAP=8

# attack: start the silent holder and the unknown-key hammer for SECS.
attack() {
	"$STORM" --connect "127.0.0.1:$PORT" --bind 127.0.0.3 --hold 20 \
	    --hold-stage connect --duration "$1" --quiet >"$T/hold.out" 2>&1 &
	HOLD=$!
	for _ in $(seq 50); do	# until the holder has the cap
		kill -USR1 "$MPID"
		sleep 0.1
		grep -q "counters: .*active=$CAP " "$T/mandosd.log" && break
	done
	grep -q "counters: .*active=$CAP " "$T/mandosd.log" || fail "the holder did not fill the cap"
	"$STORM" --connect "127.0.0.1:$PORT" --bind 127.0.0.4 --seed fair-hostile \
	    --clients 50 --concurrency 20 --duration "$1" --expect none --timeout 5 \
	    --quiet >"$T/hammer.out" 2>&1 &
	HAMMER=$!
	sleep 0.3
}

# honest TIMEOUT: 30 clients from 127.0.0.2, 5 at a time; sets HRC.
honest() {
	"$STORM" --connect "127.0.0.1:$PORT" --bind 127.0.0.2 --seed fair-honest \
	    --clients 30 --count 30 --concurrency 5 --timeout "$1" --json --quiet \
	    >"$T/honest.json" 2>&1
	HRC=$?
}

# 1. With fair shares (the default).
start_mandosd $WORKERS --address 127.0.0.1 --clients "$T/clients.json" \
    --max-connections $CAP --version-timeout 8s --refusal-log-interval 1s
t0=$(date +%s.%N)
attack 6
honest 6	# less than the version timeout: the holder's slots did not just expire
cat "$T/honest.json"
[ "$HRC" -eq 0 ] || fail "honest source did not get every secret (exit $HRC)"
grep -q '"ok": *30' "$T/honest.json" || fail "not 30 secrets"
p99=$(sed -n 's/.*"p99_ms": *\([0-9.]*\).*/\1/p' "$T/honest.json")
ok "honest source got 30 of 30 secrets under attack (p99 $p99 ms)"
wait "$HOLD" "$HAMMER"
sleep 1.2	# the last summary interval ends
t1=$(date +%s.%N)
kill -USR1 "$MPID"
wait_log "counters: .*evicted="
"$top_builddir/clients/mandosctl" --socket "$T/mandosd.sock" --metrics >"$T/metrics.prom" ||
    fail "mandosctl --metrics"
refused=$(sed -n 's/^mandos_connections_refused_total{reason="source_share"} \([0-9]*\)$/\1/p' "$T/metrics.prom")
evicted=$(sed -n 's/^mandos_connections_total{result="evicted"} \([0-9]*\)$/\1/p' "$T/metrics.prom")
echo "  refused $refused at accept, evicted $evicted"
[ "${refused:-0}" -ge 20 ] || fail "only ${refused:-0} refusals counted"
[ "${evicted:-0}" -ge 1 ] || fail "no eviction counted"
lines=$(grep -c 'refused [0-9]* connections reason=source_share over' "$T/mandosd.log")
logged=$(sed -n 's/.*refused \([0-9]*\) connections reason=source_share over.*/\1/p' "$T/mandosd.log" | awk '{ n += $1 } END { print n + 0 }')
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
max=$(awk -v s="$secs" 'BEGIN { print int(s) + 2 }')
echo "  $lines summary lines for $logged refusals in $secs s"
[ "$lines" -ge 1 ] && [ "$lines" -le "$max" ] || fail "$lines refusal summary lines in $secs s (at most $max)"
[ "$logged" = "$refused" ] || fail "summaries say $logged refusals, the counter $refused"
grep -q 'reason=source_share over [0-9.]*s, top source 127.0.0.4/32' "$T/mandosd.log" ||
    fail "the hammering source is not named as the top source"
ok "refusals counted ($refused) and summarised in $lines lines, top source named"
stop_mandosd

# 2. Without: the same attack starves the honest source (the test can fail).
start_mandosd $WORKERS --address 127.0.0.1 --clients "$T/clients.json" \
    --max-connections $CAP --version-timeout 8s --no-fair-share
attack 5
honest 3
wait "$HOLD" "$HAMMER"
[ "$HRC" -ne 0 ] || fail "the honest source was served without fair shares: the attack is too weak to test them"
ok "without fair shares the same attack starves the honest source"
stop_mandosd
echo "PASS"
