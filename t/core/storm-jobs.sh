#!/bin/bash
# mandos-storm --jobs 2: two processes share one storm and report once.
# Every blob is checked byte for byte by the jobs; the combined counts
# must equal what mandosd served, every client of the table must have been
# served (the jobs split the clients, they do not repeat them), and the
# failures of both jobs must add up too.
. "${top_srcdir:-.}/t/core/lib.sh" || exit 99

STORM=$top_builddir/clients/mandos-storm
[ -x "$STORM" ] || fail "mandos-storm not built"
need_cmd python3
"$STORM" --make-table 300 --seed jobs-test >"$T/clients.json" || fail "make-table"
VALGRIND=	# thousands of handshakes: too slow under valgrind
start_mandosd --clients "$T/clients.json" --no-zeroconf

# As many connections as clients: the two jobs together take each once.
"$STORM" --connect "[::1]:$PORT" --clients 300 --seed jobs-test --jobs 2 \
    --concurrency 20 --count 300 --timeout 60 --json --quiet \
    >"$T/once.json" || fail "storm --jobs 2 reported failures: $(cat "$T/once.json")"
grep -q '"ok": *300,' "$T/once.json" || fail "not 300 ok: $(cat "$T/once.json")"
sleep 0.2
served=$(sed -n 's/.*result=secret_sent client=\(storm-[0-9]*\) .*/\1/p' "$T/mandosd.log" | sort -u | wc -l)
[ "$served" -eq 300 ] || fail "$served of 300 clients served: the jobs did not split the clients"
ok "--jobs 2, 300 connections: each of the 300 clients served once"

# An odd count and concurrency: the remainders must not be lost.
"$STORM" --connect "[::1]:$PORT" --clients 300 --seed jobs-test --jobs 2 \
    --concurrency 21 --count 901 --warmup 101 --timeout 60 --json --quiet \
    >"$T/storm.json" || fail "storm --jobs 2 reported failures: $(cat "$T/storm.json")"
python3 - "$T/storm.json" <<'PY' || fail "bad combined result: $(cat "$T/storm.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["jobs"] == 2, s["jobs"]
assert s["completed"] == 901, s["completed"]
assert s["failed"] == 0, s["failed"]
# Warm-up left out of the stats, summed over both jobs.
assert s["ok"] == 901 - 101, s["ok"]
assert 0 < s["p50_ms"] <= s["p90_ms"] <= s["p99_ms"] <= s["max_ms"], s
assert s["rate"] > 0 and s["storm_cpu_us"] > 0, s
PY
ok "--jobs 2: 901 handshakes, every blob verified, one result"

# The bad key half: a seed mandosd does not know.  Each job fails its share.
"$STORM" --connect "[::1]:$PORT" --clients 10 --seed unknown --jobs 2 \
    --concurrency 4 --count 7 --timeout 60 --json --quiet >"$T/bad.json"
rc=$?
[ $rc -ne 0 ] || fail "storm --jobs 2 exited 0 with failures"
python3 - "$T/bad.json" <<'PY' || fail "failures do not add up: $(cat "$T/bad.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["completed"] == 7 and s["failed"] == 7, s
assert s["failures"]["mismatch"] == 7, s["failures"]
PY
ok "--jobs 2: the failures of both jobs add up (7 of 7, exit $rc)"

stop_mandosd
grep -q "secret_sent=1201 " "$T/mandosd.log" \
    || fail "server did not count 1201 secrets sent: $(grep counters "$T/mandosd.log")"
grep -q "not_found=7 " "$T/mandosd.log" \
    || fail "server did not count 7 unknown keys: $(grep counters "$T/mandosd.log")"
ok "mandosd counted what the storms did: 1201 secrets sent, 7 unknown keys"
echo "PASS"
