#!/bin/bash
# serve.sh: mandosd --store against a real 3-member etcd cluster. A table
# pushed once is served by every server; mandosctl -d / -e / --timeout / -r
# on server A and a --push that adds or removes a client are enforced on
# server B within a second (measured and printed); the real Debian
# mandos-client gets its secret from a server that read its table from
# the store; the store's metrics are exposed and valid.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-servers.sh"
[ -x "$TCLIENT" ] || skip "no $TCLIENT"
fleet_up 3 3
for i in 0 1 2; do
	for c in 0 1 2; do
		fetch "$i" "$c" s1
		[ "$RC" = 0 ] || fail "server $i did not serve storm-$c (rc $RC): $(cat "$T/fetch.err")"
	done
done
ok "a table pushed once is served by all three servers"
[ "$(stat -c %a "$T/s0/state/store-clients.json")" = 600 ] || fail "saved copy not 0600"
ok "each server saved the store's table (0600)"

# A disable on A, enforced on B: poll B's control socket, then a handshake.
t0=$(now_ms)
ctl 0 -d storm-1 || fail "mandosctl -d on server 0"
ms=$(seen_ms "$t0" 1 storm-1 false) || fail "server 1: $ms"
fetch 1 1 s1
[ "$RC" = 3 ] || fail "server 1 still serves the disabled client (rc $RC)"
[ "$ms" -le "$PROP_MS" ] || fail "disable took $ms ms to reach server 1"
ok "disable on server 0 enforced on server 1 after $ms ms (from mandosctl's start)"
t0=$(now_ms)
ctl 0 -e storm-1 || fail "mandosctl -e on server 0"
ms=$(seen_ms "$t0" 2 storm-1 true) || fail "server 2: $ms"
fetch 2 1 s1
[ "$RC" = 0 ] || fail "server 2 refuses the re-enabled client (rc $RC)"
[ "$ms" -le "$PROP_MS" ] || fail "enable took $ms ms to reach server 2"
ok "enable on server 0 enforced on server 2 after $ms ms (from mandosctl's start)"

# A setter lands in the client's entry: every server applies it.
ctl 1 --timeout PT7M storm-0 || fail "mandosctl --timeout on server 1"
ms=$(wait_until 5000 eval '[ "$(ctl 0 --dump-json storm-0 | python3 -c "import json,sys; print(json.load(sys.stdin)[\"storm-0\"][\"Timeout\"])")" = 420000 ]') ||
    fail "timeout not seen on server 0"
ectl get --print-value-only /mandos-test/clients/storm-0 | grep -q '"timeout": *"PT420.000S"' || fail "timeout not in the store's entry"
ok "--timeout on server 1 is in the store and on server 0 after $ms ms"

# A client added by a push, then removed by a push.
make_table 4 s1 >"$T/b.json"
"$CTL" --store "$STORE" --push "$T/b.json" >/dev/null || fail "push with storm-3"
t0=$(now_ms)
ms=$(wait_until 5000 eval 'fetch 1 3 s1; [ "$RC" = 0 ]') || fail "server 1 does not serve the added client"
[ "$ms" -le "$PROP_MS" ] || fail "added client took $ms ms on server 1"
ok "a client added with --push served by server 1 after $ms ms"
"$CTL" --store "$STORE" --push "$T/a.json" >/dev/null || fail "push without storm-3"
ms=$(wait_until 5000 eval 'fetch 2 3 s1; [ "$RC" = 3 ]') || fail "server 2 still serves the removed client"
[ "$ms" -le "$PROP_MS" ] || fail "removed client took $ms ms on server 2"
ok "a client removed with --push refused by server 2 after $ms ms"

# -r on one server removes the entry and its state from the store.
ctl 2 -r storm-2 || fail "mandosctl -r on server 2"
[ -z "$(ectl get --keys-only --prefix /mandos-test/clients/storm-2)" ] || fail "entry still in the store"
[ -z "$(ectl get --keys-only --prefix /mandos-test/state/storm-2)" ] || fail "state still in the store"
ms=$(wait_until 5000 eval '! ctl 0 --dump-json storm-2 >/dev/null 2>&1') || fail "server 0 still has storm-2"
ok "-r on server 2 removed the entry and its state; server 0 dropped it after $ms ms"

# A bad entry written straight into the store: logged, the table in force
# stays and is still served; removing the entry lets the next change in.
ectl put /mandos-test/clients/broken '{"key_id": "not-hex", "secret": "AAAA"}' >/dev/null || fail "put broken entry"
wait_until 5000 grep -q "refused.*keeping the table in force" "$T/s0/log" >/dev/null || fail "no log line for the bad entry"
fetch 0 0 s1
[ "$RC" = 0 ] || fail "server 0 stopped serving after a bad entry (rc $RC)"
# A server started meanwhile refuses that table too and starts anyway, on
# its --clients fallback (no saved copy yet).
srv_start 3 --clients "$T/a.json"
grep -q "is refused" "$T/s3/log" || fail "server 3 did not refuse the bad table at start"
fetch 3 0 s1
[ "$RC" = 0 ] || fail "server 3 does not serve its fallback (rc $RC)"
ectl del /mandos-test/clients/broken >/dev/null || fail "del broken entry"
ctl 0 --host fixed.example storm-0 || fail "setter after the bad entry"
wait_until 3000 eval 'ctl 1 --dump-json storm-0 | grep -q fixed.example' >/dev/null || fail "change after the bad entry not loaded"
wait_until 3000 eval 'ctl 3 --dump-json storm-0 | grep -q fixed.example' >/dev/null || fail "server 3 did not move to the store's table"
[ "$(stat -c %a "$T/s3/state/store-clients.json")" = 600 ] || fail "server 3's saved copy"
srv_stop 3
ok "a bad entry in the store is logged and refused; the table in force (or at start the fallback) keeps serving"

# SIGHUP reads the whole store again.
kill -HUP "${SRV_PID[1]}"
wait_until 5000 grep -q "read the whole store" "$T/s1/log" >/dev/null || fail "SIGHUP did not re-read the store"
fetch 1 0 s1
[ "$RC" = 0 ] || fail "server 1 does not serve after SIGHUP (rc $RC)"
ok "SIGHUP re-reads the store"

# The real Debian mandos-client against a server fed by the store (keys
# from the real Debian mandos-keygen, as t/core/interop.sh), through
# t/client/lib.sh's tc_refkeys and tc_refclient in this test's temp dir.
REF_CLIENT=${REF_CLIENT:-$(ls /usr/lib/*/mandos/plugins.d/mandos-client 2>/dev/null | head -n1)}
. "$top_srcdir/t/client/lib.sh"
TC_TMP=$T KD=$T/keys
if [ -x "$REF_CLIENT" ] && [ -x "$REF_KEYGEN" ]; then
	SECRET="fleet secret $$" tc_refkeys "$T" realclient || fail "mandos-keygen (its log above)"
	kid=$(cat "$T/key_id")
	b64=$(cat "$T/secret.b64")
	cp "$T/a.json" "$T/c.json"
	edit_json "$T/c.json" "t['clients']['realclient'] = {'key_id': '$kid', 'secret': '$b64'}"
	"$CTL" --store "$STORE" --push "$T/c.json" >/dev/null || fail "push the real client"
	wait_until 5000 eval 'ctl 1 --dump-json realclient >/dev/null 2>&1' >/dev/null || fail "server 1 did not get realclient"
	tc_refclient "127.0.0.1:${SRV_PORT[1]}" 60 || fail "real mandos-client (its log above)"
	cmp -s "$T/out" "$T/secret.txt" || fail "real mandos-client got the wrong secret"
	ok "the real Debian mandos-client got its secret from a server fed by the store"
elif [ "${CI:-}" = true ]; then
	fail "the real mandos-client or mandos-keygen is missing in CI"
else
	echo "  (real mandos-client not installed: that part not run)"
fi

# Per-handshake updates are batched: a storm of 2,000 unlocks of two
# clients costs one state txn for both per second (plus the
# probe), and the store's secrets_sent ends up counting every one.
sent() {
	local n t=0
	for n in storm-0 storm-1; do
		n=$(ectl get --print-value-only "/mandos-test/state/$n" | python3 -c 'import json,sys
s=sys.stdin.read().strip(); print(json.loads(s).get("secrets_sent", 0) if s else 0)')
		t=$((t + n))
	done
	echo "$t"
}
# Let the writes of the earlier fetches land first.
sleep 2.5
s0=$(sent); r0=$(metric 0 mandos_store_requests_total); t0=$(now_ms)
"$STORM" --connect "127.0.0.1:${SRV_PORT[0]}" --clients 2 --seed s1 --count 2000 \
    --concurrency 8 -q --json >"$T/storm.json" 2>"$T/storm.err" || fail "storm: $(cat "$T/storm.err")"
okn=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["ok"] if d["failed"] == 0 else -1)' "$T/storm.json")
[ "$okn" = 2000 ] || fail "storm: $(cat "$T/storm.json")"
ms=$(wait_until 5000 eval '[ $(( $(sent) - s0 )) = 2000 ]') || fail "the store counts $(( $(sent) - s0 )) of 2000 secrets sent"
r1=$(metric 0 mandos_store_requests_total); el=$(( ($(now_ms) - t0 + 999) / 1000 ))
req=$((r1 - r0))
[ "$req" -le $(( 2 * (el + 2) )) ] || fail "$req etcd requests for 2000 handshakes in $el s: not batched"
ok "2000 handshakes cost $req etcd requests over $el s (batched); the store counts all 2000 secrets sent"

# A state record belongs to one machine: a name pushed again with another
# key does not inherit the old machine's "disabled".
t0=$(now_ms)
ctl 0 -d storm-1 || fail "-d storm-1"
seen_ms "$t0" 1 storm-1 false >/dev/null
cp "$T/a.json" "$T/k.json"
edit_json "$T/k.json" "t['clients']['storm-1'] = json.load(open('$T/b.json'))['clients']['storm-3']"
"$CTL" --store "$STORE" --push "$T/k.json" >/dev/null || fail "push storm-1 with a new key"
ms=$(wait_until 5000 eval 'fetch 1 3 s1; [ "$RC" = 0 ]') || fail "the new machine named storm-1 inherited the old one's disable"
ok "storm-1 pushed with a new key is served ($ms ms): the old machine's disable stays with the old key"

# Metrics: the store's gauges and counter, valid exposition.
[ "$(metric 1 mandos_store_up)" = 1 ] || fail "mandos_store_up is not 1"
rev=$(metric 1 mandos_store_revision)
[ "${rev:-0}" -gt 0 ] || fail "mandos_store_revision: $rev"
ctl 1 --metrics >"$T/metrics.txt"
if command -v promtool >/dev/null 2>&1; then
	promtool check metrics <"$T/metrics.txt" >"$T/promtool.out" 2>&1 || fail "promtool: $(cat "$T/promtool.out")"
	ok "promtool accepts the metrics"
elif [ "${CI:-}" = true ]; then fail "promtool missing in CI"; fi
ok "mandos_store_up 1, mandos_store_revision $rev, mandos_store_requests_total $(metric 1 mandos_store_requests_total)"
srv_stop_all
ok "all servers stopped cleanly"
