#!/bin/bash
# batch.sh: a storm's state writes are a few multi-key txns, and two
# servers flushing the same clients at once lose no count. 300 clients
# (more than two txns of 128) storm servers 0 and 1 together; each server
# must spend only a few etcd requests per second (one txn per 128 dirty
# clients and the probe, not one request per client), and the store's
# secrets_sent, summed over the 300 records, must equal every handshake
# of both storms: the servers' txns collide on the same keys, and a lost
# re-merge would drop or double a count.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-servers.sh"
[ -x "$STORM" ] || skip "no $STORM"
etcd_cluster_start

N=300 COUNT=1500
fleet_push $N sb "$T/t.json"
srv_start 0
srv_start 1
sent() {
	ectl get --prefix /mandos-test/state/ --print-value-only | python3 -c 'import json,sys
t = 0
for l in sys.stdin:
	l = l.strip()
	if l.startswith("{"):
		t += json.loads(l).get("secrets_sent", 0)
print(t)'
}
s0=$(sent)
r0a=$(metric 0 mandos_store_requests_total); r0b=$(metric 1 mandos_store_requests_total)
t0=$(now_ms)
for i in 0 1; do
	"$STORM" --connect "127.0.0.1:${SRV_PORT[$i]}" --clients $N --seed sb --count $COUNT \
	    --concurrency 4 -q --json >"$T/storm$i.json" 2>"$T/storm$i.err" &
	eval "sp$i=\$!"
	EXTRA_PIDS+=("$!")
done
wait "$sp0" || fail "storm 0: $(cat "$T/storm0.err")"
wait "$sp1" || fail "storm 1: $(cat "$T/storm1.err")"
for i in 0 1; do
	okn=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["ok"] if d["failed"] == 0 else -1)' "$T/storm$i.json")
	[ "$okn" = $COUNT ] || fail "storm $i: $(cat "$T/storm$i.json")"
done
want=$((2 * COUNT))
ms=$(wait_until 10000 eval '[ $(( $(sent) - s0 )) -ge $want ]') || fail "the store counts $(( $(sent) - s0 )) of $want secrets sent"
sleep 2	# a late double count would show now
got=$(( $(sent) - s0 ))
[ "$got" = "$want" ] || fail "the store counts $got secrets sent for $want handshakes"
el=$(( ($(now_ms) - t0 + 999) / 1000 ))
ra=$(( $(metric 0 mandos_store_requests_total) - r0a ))
rb=$(( $(metric 1 mandos_store_requests_total) - r0b ))
# Per second and server: ceil(300/128) = 3 txns, the probe, a retry or
# two after a collision; one request per client would be >= 300.
for r in $ra $rb; do
	[ "$r" -le $(( 8 * (el + 2) )) ] || fail "$r etcd requests on one server for $N clients in $el s: not batched"
done
ok "$want handshakes of $N clients on two servers: $ra and $rb etcd requests over $el s; the store counts all $want secrets sent"
srv_stop_all
exit 0
