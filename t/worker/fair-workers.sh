#!/bin/bash
# Fair shares hold across workers (issue 9): with 2 workers sharing the
# kernel's accept queue, an honest source (127.0.0.2) booting HONEST clients
# at once gets every secret while a holder (127.0.0.3) keeps HOLD silent
# connections past the whole cap (CAP) and a hammer (127.0.0.4) runs unknown-
# key handshakes (HAMMER at once, twice the honest burst): t/bench/hostile.sh's
# proportions (the honest burst under a third of the cap), a fifth of its
# size. The version timeout is long (60 s), so the honest clients get in by
# the fair shares and not because the holder's peers time out. A burst that
# lands mostly on one worker must not look there like the biggest source:
# the workers share their per-source counts through the authority.
# ROUNDS rounds, each with a fresh server; each bounded (storm --timeout).
. "${top_srcdir:-.}/t/worker/lib.sh" || exit 99
VALGRIND=	# hundreds of connections: not under valgrind
HONEST=${HONEST:-60} CAP=${CAP:-200} HOLD=${HOLD:-230} ROUNDS=${ROUNDS:-4}
HAMMER=${HAMMER:-120}
ip addr show lo 2>/dev/null | grep -q 'inet 127.0.0.1/8' ||
    skip "loopback without 127.0.0.0/8"
ulimit -n 4096 2>/dev/null
"$STORM" --make-table "$HONEST" --seed fair-honest >"$T/clients.json" || fail "make-table"

# serve: mandosd on 127.0.0.1 with 2 workers; sets MPID, PORT.
serve() {
	: >"$T/mandosd.log"
	"$MANDOSD" --foreground --address 127.0.0.1 --port 0 $PRIVATE \
	    --clients "$T/clients.json" --workers 2 --max-connections "$CAP" \
	    --version-timeout 60s "$@" >>"$T/mandosd.log" 2>&1 &
	MPID=$!
	for _ in $(seq 300); do
		PORT=$(sed -n 's/.*listening on \[.*\]:\([0-9]*\),.*/\1/p' "$T/mandosd.log" | head -n1)
		[ -n "$PORT" ] && return 0
		kill -0 "$MPID" 2>/dev/null || fail "mandosd exited at start"
		sleep 0.1
	done
	fail "mandosd did not start"
}

hp= kp=
stop_all() {
	local p
	for p in $hp $kp; do
		kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	hp= kp=
	stop_mandosd
}

for r in $(seq "$ROUNDS"); do
	serve
	"$STORM" --connect "127.0.0.1:$PORT" --bind 127.0.0.3 --hold "$HOLD" \
	    --hold-stage connect --duration 60 --quiet >"$T/hold.out" 2>&1 &
	hp=$!
	for _ in $(seq 100); do
		[ "$(metric mandos_connections_active)" = "$CAP" ] && break
		sleep 0.1
	done
	[ "$(metric mandos_connections_active)" = "$CAP" ] ||
	    fail "round $r: the holder did not fill the cap: $(metric mandos_connections_active)"
	"$STORM" --connect "127.0.0.1:$PORT" --bind 127.0.0.4 --seed fair-hammer \
	    --clients 200 --concurrency "$HAMMER" --duration 60 --expect none \
	    --timeout 5 --quiet >"$T/hammer.out" 2>&1 &
	kp=$!
	sleep 1.5	# the holder's peers are past the grace (1 s), as in hostile.sh
	"$STORM" --connect "127.0.0.1:$PORT" --bind 127.0.0.2 --seed fair-honest \
	    --clients "$HONEST" --count "$HONEST" --concurrency "$HONEST" \
	    --timeout 20 --json --quiet >"$T/honest.json" 2>&1
	got=$(python3 -c 'import json,sys; o=json.load(open(sys.argv[1])); print(o["ok"], o["p99_ms"])' \
	    "$T/honest.json" 2>/dev/null) || got="0 nan"
	refused=$(metric 'mandos_connections_refused_total{reason="source_share"}')
	echo "  round $r: honest ${got% *}/$HONEST, p99 ${got#* } ms; refused (source_share) ${refused:-?}"
	stop_all
	[ "${got% *}" = "$HONEST" ] || grep '127\.0\.0\.2\]' "$T/mandosd.log" |
	    grep -v result=secret_sent | head -n 20
	[ "${got% *}" = "$HONEST" ] ||
	    fail "round $r: the honest source got ${got% *} of $HONEST secrets: $(cat "$T/honest.json")"
done
ok "the honest source got every secret in $ROUNDS rounds, 2 workers, past the cap"
echo "PASS"
