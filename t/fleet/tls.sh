#!/bin/bash
# etcds://: a real 3-member etcd cluster serving clients over TLS only, with
# client certificates required and etcd authentication on (a user whose
# role covers only the test prefix). mandosctl --push/--pull round-trip
# with --store-ca/--store-cert/--store-key/--store-auth; a wrong CA, a
# wrong password, no client certificate, a password file others can read,
# and a prefix outside the role each fail at once with a clear error. The
# C API (t/fleet/check_etcds) watches over TLS, writes the audit sink, and
# authenticates again when its token expires. mandosd --store etcds:// with
# the same options serves the pushed table to mandos-storm and writes a -d
# through its control socket to the store.
. "${top_srcdir:-.}/t/fleet/lib.sh" || exit 99
fleet_tls_init
ETCD_EXTRA=(--auth-token-ttl 2)		# simple tokens expire after 2 s unused
etcd_cluster_start
ok "3-member cluster over TLS with client certificates on $ETCD_ENDPOINTS"

# Users and roles: root, and "mandos" with read-write on /mandos-test/ only.
fleet_auth_enable
ectl get --prefix /mandos-test/ >/dev/null || fail "root cannot read after auth enable"
ok "auth enabled: user mandos limited to /mandos-test/"

printf 'mandos:wrong password\n' >"$T/auth-wrong"
chmod 0600 "$T/auth-wrong"
SEC=(--store-ca "$TLS/ca.pem" --store-cert "$TLS/client.pem" --store-key "$TLS/client.key" --store-auth "$T/auth")

# quick CMD...: must fail within 2 s (a config error is not worth retrying).
quick() {
	local t0
	t0=$(now_ms)
	"$@" >"$T/q.out" 2>"$T/q.err" && fail "succeeded: $*"
	[ $(( $(now_ms) - t0 )) -lt 2500 ] || fail "took $(( $(now_ms) - t0 )) ms to fail: $(cat "$T/q.err")"
}

make_table 3 tls >"$T/clients.json"
"$CTL" --store "$STORE" "${SEC[@]}" --push "$T/clients.json" >"$T/push.out" 2>"$T/push.err" ||
    fail "push over TLS: $(cat "$T/push.err")"
grep -q '^clients: 3 added, 0 changed, 0 removed' "$T/push.out" || fail "push summary: $(cat "$T/push.out")"
"$CTL" --store "$STORE" "${SEC[@]}" --pull >"$T/pulled.json" 2>"$T/pull.err" ||
    fail "pull over TLS: $(cat "$T/pull.err")"
same_json "$T/clients.json" "$T/pulled.json" || fail "pull differs from what was pushed"
[ "$(ectl get --prefix --keys-only /mandos-test/clients/ | grep -c .)" = 3 ] || fail "etcd does not hold 3 clients"
# By name too: the server certificate's DNS name is localhost.
"$CTL" --store "etcds://localhost:${ETCD_CPORT[1]}/mandos-test" "${SEC[@]}" --pull >/dev/null 2>"$T/pull.err" ||
    fail "pull by host name: $(cat "$T/pull.err")"
ok "--push and --pull round-trip over etcds:// with a client certificate and a password"

# A dead member is not a TLS error: the next endpoint answers.
etcd_kill_member 0
"$CTL" --store "$STORE" "${SEC[@]}" --pull >"$T/pulled2.json" 2>"$T/pull.err" ||
    fail "pull with member 0 dead: $(cat "$T/pull.err")"
same_json "$T/clients.json" "$T/pulled2.json" || fail "pull with member 0 dead differs"
etcd_restart_member 0
etcd_wait_healthy 0 1 2 || fail "member 0 did not come back"
ok "with the first endpoint's member killed, the next one answers over TLS"

quick "$CTL" --store "$STORE" --store-ca "$TLS/other-ca.pem" --store-cert "$TLS/client.pem" \
    --store-key "$TLS/client.key" --store-auth "$T/auth" --pull
grep -q 'certificate verify failed' "$T/q.err" || fail "wrong CA: $(cat "$T/q.err")"
echo "  $(head -n1 "$T/q.err")"
ok "a CA that did not sign etcd's certificate: a certificate error"

quick "$CTL" --store "$STORE" --store-ca "$TLS/ca.pem" --store-cert "$TLS/client.pem" \
    --store-key "$TLS/client.key" --store-auth "$T/auth-wrong" --pull
grep -q 'etcd authentication as "mandos" failed: .*authentication failed' "$T/q.err" || fail "wrong password: $(cat "$T/q.err")"
grep -q 'wrong password' "$T/q.err" && fail "the password is in the error"
echo "  $(head -n1 "$T/q.err")"
ok "a wrong password: an authentication error"

quick "$CTL" --store "$STORE" --store-ca "$TLS/ca.pem" --store-auth "$T/auth" --pull
grep -q 'etcd wants a client certificate' "$T/q.err" || fail "no client certificate: $(cat "$T/q.err")"
echo "  $(head -n1 "$T/q.err")"
ok "no client certificate where etcd requires one: a clear error"

chmod 0644 "$T/auth"
quick "$CTL" --store "$STORE" "${SEC[@]}" --pull
grep -q 'others may read' "$T/q.err" || fail "world-readable auth file: $(cat "$T/q.err")"
chmod 0600 "$T/auth"
ok "a password file others can read is refused"

quick "$CTL" --store "etcds://$ETCD_ENDPOINTS/elsewhere" "${SEC[@]}" --pull
grep -q 'permission denied' "$T/q.err" || fail "outside the role: $(cat "$T/q.err")"
ok "a prefix outside the user's role: permission denied"

quick "$CTL" --store "etcd://$ETCD_ENDPOINTS/mandos-test" --store-ca "$TLS/ca.pem" --pull
grep -q 'need an etcds:// URL' "$T/q.err" || fail "--store-ca with etcd://: $(cat "$T/q.err")"
ok "TLS options with a plain etcd:// URL are refused"

PROG=$top_builddir/t/fleet/check_etcds
[ -x "$PROG" ] || fail "no $PROG"
STORE=$STORE STORE_CA=$TLS/ca.pem STORE_CERT=$TLS/client.pem STORE_KEY=$TLS/client.key \
    STORE_AUTH=$T/auth "$PROG" || fail "check_etcds"
[ "$(ectl get --prefix --keys-only /mandos-test/audit/ | grep -c .)" = 3 ] || fail "etcd does not hold 3 audit lines"
ok "the C API over TLS: watch, audit sink, re-authentication after the token expired"

# mandosd itself over etcds:// with all four options: it reads the pushed
# table (mandos-storm gets every secret) and a -d through its control
# socket reaches the store, past token expiries (2 s) in between.
. "$top_srcdir/t/fleet/lib-servers.sh"
srv_start 0 "${SEC[@]}"
grep -q 'store .*revision' "$T/s0/log" || fail "mandosd did not read the store: $(tail -n 5 "$T/s0/log")"
"$STORM" --connect "127.0.0.1:${SRV_PORT[0]}" --clients 3 --seed tls --count 30 --concurrency 3 \
    -q --json >"$T/storm.json" 2>"$T/storm.err" || fail "mandos-storm: $(tail -n 3 "$T/storm.err")"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["failed"] == 0 and d["ok"] >= 30 else "storm: %s" % d)' \
    "$T/storm.json" || fail "mandos-storm against mandosd --store etcds://"
wait_until 5000 sh -c '[ -n "$(etcdctl --endpoints "$0" --cacert "$1" --cert "$2" --key "$3" --user "$4" get /mandos-test/servers/server0 --keys-only)" ]' \
    "$ETCD_URLS" "$TLS/ca.pem" "$TLS/client.pem" "$TLS/client.key" "$ETCD_ROOT" >/dev/null ||
    fail "server0 is not in the registry: $(grep -i store "$T/s0/log" | tail -n 3)"
ok "mandosd --store etcds:// with CA, client certificate and etcd user serves the pushed table (30 secrets) and registers"
sleep 2.5	# the token expires unused
ctl 0 -d storm-0 || fail "mandosctl -d through mandosd --store etcds://"
v=$(ectl get /mandos-test/state/storm-0 --print-value-only)
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d["enabled"] is False and d["server"] == "server0" else d)' "$v" ||
    fail "state/storm-0 after -d: '$v'"
fetch 0 0 tls
[ "$RC" = 3 ] || fail "the disabled client was not refused (rc $RC)"
ok "-d through its control socket is in the store (state/storm-0 disabled by server0) and enforced"
srv_stop 0
echo PASS
