#!/bin/bash
# reuse.sh: mandosd keeps its HTTP connections to etcd alive. 200 operator
# writes through one server open a handful of connections, not one per
# request: seen both from outside (the sockets the server closed, which sit
# in TIME_WAIT on its side) and in mandos_store_connections_total. After
# the member it talks to restarts, which closes every pooled connection,
# writes still succeed at once, with no failed request in the log. And a
# kept-alive connection that etcd closes as a request goes out on it (a
# relay does it every time) costs a new connection, not a failover.
# With REUSE_TLS=1 (t/fleet/reuse-tls.sh) the same over etcds:// with a
# client certificate and an etcd user: a kept-alive connection is one TLS
# handshake for many requests, each still carrying the auth token.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-servers.sh"
[ -x "$STORM" ] || skip "no $STORM"
command -v ss >/dev/null 2>&1 || skip "ss not installed (iproute2)"
SEC=()
[ "${REUSE_TLS:-0}" = 1 ] && fleet_tls_init
etcd_cluster_start
if [ "${REUSE_TLS:-0}" = 1 ]; then
	fleet_auth_enable	# as t/fleet/tls.sh
	SEC=(--store-ca "$TLS/ca.pem" --store-cert "$TLS/client.pem" \
	    --store-key "$TLS/client.key" --store-auth "$T/auth")
	ok "etcds:// with client certificates and etcd user mandos"
	# mandosctl --push writes an entry a request, one after the other:
	# 500 TLS handshakes took 11-12 s here; kept alive, 1.2-1.9 s (2 s
	# under ASan). With Nagle on, a kept-alive TLS connection waited for
	# etcd's delayed ACK between a request's two records: 24 s.
	make_table 500 big >"$T/big.json"
	t0=$(now_ms)
	"$CTL" --store "${STORE%/*}/mandos-test/big" "${SEC[@]}" --push "$T/big.json" >/dev/null ||
	    fail "push of 500 clients"
	ms=$(( $(now_ms) - t0 ))
	[ "$ms" -le 8000 ] || fail "mandosctl --push of 500 clients over TLS took $ms ms"
	ok "mandosctl --push of 500 clients over TLS: $ms ms"
fi

N=200
make_table 2 s1 >"$T/a.json"
"$CTL" --store "$STORE" "${SEC[@]}" --push "$T/a.json" >/dev/null || fail "push"
srv_start 0 "${SEC[@]}"
wait_until 5000 eval 'ctl 0 --dump-json storm-0 >/dev/null 2>&1' >/dev/null ||
    fail "server 0 does not have the table"

# tw: connections to our etcd members' client ports in TIME_WAIT, on
# either side (whichever closed first; over TLS etcd often does, on our
# close_notify). Nothing else talks to those ports during the writes.
tw() {
	local i f=
	for i in 0 1 2; do f+="${f:+ or }dport = :${ETCD_CPORT[$i]} or sport = :${ETCD_CPORT[$i]}"; done
	ss -Htn state time-wait "( $f )" | wc -l
}
# writes FROM TO: operator writes through server 0, each one a CAS to etcd.
writes() {
	local k
	for k in $(seq "$1" "$2"); do
		ctl 0 --timeout "PT$((k + 10))M" storm-0 ||
		    fail "write $k failed: $(tail -n 3 "$T/s0/log")"
	done
}

# Every connection opened is counted, the start-up read's own included:
# the metric is the authority's established connections to the members
# plus that one read's, closed (a probe may open one meanwhile: 5 tries).
est() {
	local i f=
	for i in 0 1 2; do f+="${f:+|}:${ETCD_CPORT[$i]} "; done
	ss -Htnp state established | grep "pid=${SRV_PID[0]}," | grep -cE "$f"
}
for _ in 1 2 3 4 5; do
	m=$(metric 0 mandos_store_connections_total) e=$(est)
	[ "$m" = $((e + 1)) ] && break
	sleep 0.2
done
[ "$m" = $((e + 1)) ] ||
    fail "mandos_store_connections_total is $m at start, for $e open connections and the start-up read"
ok "at start the metric counts $e open connections and the start-up read's"

# Warm up: the watches and the first pooled connections are open after it.
writes 1 10
c0=$(metric 0 mandos_store_connections_total)
r0=$(metric 0 mandos_store_requests_total)
tw0=$(tw)
writes 11 $((N + 10))
tw1=$(tw)
c1=$(metric 0 mandos_store_connections_total)
r1=$(metric 0 mandos_store_requests_total)
closed=$((tw1 - tw0))
[ "$closed" -le 10 ] ||
    fail "$N writes: $closed connections to etcd closed (one per request?)"
[ -n "$c1" ] || fail "no mandos_store_connections_total metric"
[ $((r1 - r0)) -ge "$N" ] || fail "only $((r1 - r0)) store requests for $N writes"
[ $((c1 - c0)) -le 10 ] ||
    fail "$N writes: $((c1 - c0)) connections opened for $((r1 - r0)) requests"
ok "$N writes: $((r1 - r0)) store requests, $((c1 - c0)) connections opened, $closed closed (TIME_WAIT)"

# The server talks to the member that answered last: m0 unless it failed
# over. Restart every member in turn, so the one it uses is among them.
for i in 0 1 2; do
	etcd_stop_member "$i"
	etcd_restart_member "$i"
	etcd_wait_healthy 0 1 2 || fail "member m$i did not rejoin"
	t0=$(now_ms)
	writes $((N + 10 * i + 11)) $((N + 10 * i + 20))
	ok "m$i restarted: 10 writes took $(( $(now_ms) - t0 )) ms"
done
grep -E "store.*(fail|error)" "$T/s0/log" && fail "store errors in the log after the restarts"
# Each restart breaks the watches on that member (four streams: table,
# approvals, checker results, registry), which reconnect on their own
# connections, closes the pooled ones, and while it is down the server
# fails over: a few connections each. Then the pool is whole again.
c2=$(metric 0 mandos_store_connections_total)
ok "after restarting m0, m1, m2: 30 writes succeeded, $((c2 - c1)) connections opened meanwhile"
writes $((N + 41)) $((N + 140))
c3=$(metric 0 mandos_store_connections_total)
[ $((c3 - c2)) -le 5 ] || fail "100 writes after the restarts: $((c3 - c2)) connections opened"
[ "$(ctl 0 --dump-json storm-0 | python3 -c 'import json,sys; print(json.load(sys.stdin)["storm-0"]["Timeout"])')" = \
    $(( (N + 150) * 60000 )) ] || fail "the last write is not in force"
ok "100 more writes: $((c3 - c2)) connections opened"
srv_stop 0
ok "server 0 exited cleanly"
[ "${REUSE_TLS:-0}" = 1 ] && exit 0

# The race a restart only sometimes shows: etcd closing a kept-alive
# connection just as the next request goes out on it. A TCP relay in front
# of m0 does it every time: it forwards a connection's first request and
# its answer, and closes the connection when a second request comes on it.
# Server 1 has the relay as its first endpoint. Each write must succeed on
# a new connection through the relay, not fail over to m1 or m2 (which
# counting that close as m0's failure would do).
python3 - "${ETCD_CPORT[0]}" "$T/relay" <<'PY' &
import asyncio, socket, sys
up, out = int(sys.argv[1]), sys.argv[2]
st = {"conns": 0, "closed_reused": 0, "txns": 0}
def save():
    open(out + ".tmp", "w").write(" ".join("%s=%d" % kv for kv in st.items()) + "\n")
    __import__("os").rename(out + ".tmp", out)
async def pipe(r, w, who, c):
    try:
        while (b := await r.read(65536)):
            if who == "client":
                if c["answered"]:
                    st["closed_reused"] += 1; save(); break
                st["txns"] += b.count(b"POST /v3/kv/txn")
            else:
                c["answered"] = True
            w.write(b); await w.drain()
    except (ConnectionError, OSError):
        pass
    for x in c["w"]:
        x.close()
async def conn(cr, cw):
    st["conns"] += 1; save()
    er, ew = await asyncio.open_connection("127.0.0.1", up)
    c = {"answered": False, "w": (cw, ew)}
    await asyncio.gather(pipe(cr, ew, "client", c), pipe(er, cw, "etcd", c))
async def main():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
    srv = await asyncio.start_server(conn, sock=s)
    open(out + ".port", "w").write("%d\n" % s.getsockname()[1]); save()
    await srv.serve_forever()
asyncio.run(main())
PY
EXTRA_PIDS+=("$!")
wait_until 5000 test -s "$T/relay.port" >/dev/null || fail "the relay did not start"
RELAY="etcd://127.0.0.1:$(cat "$T/relay.port"),127.0.0.1:${ETCD_CPORT[1]},127.0.0.1:${ETCD_CPORT[2]}/mandos-test"
STORE=$RELAY srv_start 1
wait_until 5000 eval 'ctl 1 --dump-json storm-1 >/dev/null 2>&1' >/dev/null ||
    fail "server 1 does not have the table"
relay() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" "$T/relay"; }
x0=$(relay txns)
for k in $(seq 1 20); do
	ctl 1 --interval "PT$((k + 10))M" storm-1 ||
	    fail "write $k through the relay failed: $(tail -n 3 "$T/s1/log")"
done
x1=$(relay txns)
[ $((x1 - x0)) -ge 20 ] ||
    fail "only $((x1 - x0)) of 20 writes went through m0's relay: a closed kept-alive connection counted as m0's failure"
[ "$(relay closed_reused)" -ge 10 ] || fail "the relay closed only $(relay closed_reused) reused connections"
ok "relay closing every reused connection: 20 writes succeeded, $((x1 - x0)) txns through it, $(relay closed_reused) closed requests sent again"
srv_stop 1
