#!/bin/bash
# A reboot storm: 1,000 distinct clients, 200 at a time, 20,000 handshakes
# through mandos-storm, which checks every blob byte for byte. Zero
# failures allowed. (Throughput is measured by t/bench/, not here.)
. "${top_srcdir:-.}/t/core/lib.sh" || exit 99

STORM=$top_builddir/clients/mandos-storm
[ -x "$STORM" ] || fail "mandos-storm not built"
"$STORM" --make-table 1000 --seed storm-test >"$T/clients.json" || fail "make-table"
VALGRIND=	# 20,000 handshakes under valgrind would take an hour
start_mandosd --clients "$T/clients.json" --no-zeroconf
"$STORM" --connect "[::1]:$PORT" --clients 1000 --seed storm-test \
    --concurrency 200 --count 20000 --timeout 60 --json --quiet >"$T/storm.json" \
    || fail "storm reported failures: $(cat "$T/storm.json")"
cat "$T/storm.json"
grep -q '"ok": *20000' "$T/storm.json" || fail "not 20000 ok"
grep -q '"failed": *0' "$T/storm.json" || fail "failures"
stop_mandosd
grep -q "secret_sent=20000 " "$T/mandosd.log" || fail "server did not count 20000 secrets sent: $(grep counters "$T/mandosd.log")"
ok "20000 handshakes, 1000 keys, concurrency 200, every blob verified"
echo "PASS"
