#!/bin/bash
# push.sh: mandosctl --push loads a table into a real 3-member etcd cluster
# and prints what changed; --pull gives back the same table, one that
# mandosd --check-config accepts; a changed table prints exactly its diff.
. "$(dirname "$0")/lib.sh"
[ -x "$STORM" ] || skip "no $STORM"
etcd_cluster_start

make_table 5 1 >"$T/a.json"
names=$(python3 -c 'import json,sys; print(" ".join(sorted(json.load(open(sys.argv[1]))["clients"])))' "$T/a.json")

"$CTL" --store "$STORE" --push "$T/a.json" >"$T/push1.out" 2>"$T/push1.err" ||
    fail "first push: $(cat "$T/push1.err")"
want=$( { echo "added defaults"; for n in $names; do echo "added $n"; done; echo "clients: 5 added, 0 changed, 0 removed"; } )
[ "$(cat "$T/push1.out")" = "$want" ] || fail "first push printed: $(cat "$T/push1.out")"
ok "first push: defaults and 5 clients added"

# One key per client, as the data model says.
[ "$(ectl get --prefix --keys-only /mandos-test/clients/ | grep -c .)" = 5 ] ||
    fail "not 5 client keys: $(ectl get --prefix --keys-only /mandos-test/)"
ectl get --print-value-only /mandos-test/defaults | python3 -c 'import json,sys; assert json.load(sys.stdin)["timeout"] == "PT5M"' ||
    fail "defaults key"

"$CTL" --store "$STORE" --pull >"$T/pull1.json" || fail "pull"
same_json "$T/a.json" "$T/pull1.json" || fail "pulled table differs: $(diff "$T/a.json" "$T/pull1.json")"
ok "pull gives back the pushed table"
"$MANDOSD" --check-config --clients "$T/pull1.json" >"$T/check.out" 2>&1 ||
    fail "mandosd --check-config refuses the pulled table: $(cat "$T/check.out")"
ok "mandosd --check-config accepts the pulled table"

# The same table again: nothing changes, nothing is written.
rev1=$(ectl endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')
"$CTL" --store "$STORE" --push "$T/a.json" >"$T/push2.out" || fail "second push"
[ "$(cat "$T/push2.out")" = "clients: 0 added, 0 changed, 0 removed" ] || fail "same push printed: $(cat "$T/push2.out")"
rev2=$(ectl endpoint status -w json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["Status"]["header"]["revision"])')
[ "$rev1" = "$rev2" ] || fail "an unchanged push wrote (revision $rev1 -> $rev2)"
ok "an unchanged push writes nothing"

# Change one, remove one, add one (from another seed), change defaults.
set -- $names
cp "$T/a.json" "$T/b.json"
edit_json "$T/b.json" "t['clients']['$1']['host'] = 'changed.example'; del t['clients']['$2']; t['defaults']['timeout'] = 'PT10M'"
make_table 1 2 >"$T/c.json"
new=zz-extra
edit_json "$T/b.json" "t['clients']['$new'] = list(json.load(open('$T/c.json'))['clients'].values())[0]"
"$CTL" --store "$STORE" --push "$T/b.json" >"$T/push3.out" || fail "third push"
want=$( { echo "changed defaults"; for n in $(printf '%s\n' "$@" "$new" | sort); do
	case $n in "$1") echo "changed $n";; "$2") echo "removed $n";; "$new") echo "added $n";; esac; done
	echo "clients: 1 added, 1 changed, 1 removed"; } )
[ "$(cat "$T/push3.out")" = "$want" ] || fail "diff printed: $(cat "$T/push3.out"), want: $want"
ok "changed table: the printed diff names exactly what changed"
"$CTL" --store "$STORE" --pull >"$T/pull2.json" || fail "pull 2"
same_json "$T/b.json" "$T/pull2.json" || fail "pulled table differs after change"
ok "pull after the change gives the new table"

# --import with --store: a reference clients.conf, through the importer.
if [ -f "$top_builddir/clients/libimport.a" ]; then
	"$STORM" --make-table 2 --seed imp --format conf >"$T/clients.conf" || fail "conf table"
	"$CTL" --import "$T/clients.conf" >"$T/imported.json" || fail "--import"
	"$CTL" --store "etcd://$ETCD_ENDPOINTS/mandos-conf" --import "$T/clients.conf" >"$T/imp.out" 2>"$T/imp.err" ||
	    fail "--store --import: $(cat "$T/imp.err")"
	tail -n1 "$T/imp.out" | grep -qx "clients: 2 added, 0 changed, 0 removed" || fail "--store --import printed: $(cat "$T/imp.out")"
	"$CTL" --store "etcd://$ETCD_ENDPOINTS/mandos-conf" --pull >"$T/imp-pull.json" || fail "pull imported"
	same_json "$T/imported.json" "$T/imp-pull.json" || fail "imported table differs from --import's"
	ok "--store --import pushes a reference clients.conf (same table as --import)"
fi

# secfile becomes the inline secret; bad input is a clear error.
python3 - "$T/b.json" "$T/d.json" "$T/sec.bin" <<'PY'
import json, sys, base64
t = json.load(open(sys.argv[1]))
c = next(iter(t["clients"].values()))
open(sys.argv[3], "wb").write(base64.b64decode(c.pop("secret")))
c["secfile"] = "sec.bin"
open(sys.argv[2], "w").write(json.dumps(t))
PY
"$CTL" --store "$STORE" --push "$T/d.json" >"$T/push4.out" || fail "secfile push"
[ "$(cat "$T/push4.out")" = "clients: 0 added, 0 changed, 0 removed" ] || fail "secfile not inlined as the same secret: $(cat "$T/push4.out")"
ok "secfile pushed as the same inline secret"
echo '{"clients": {"x": 1}}' >"$T/bad.json"
"$CTL" --store "$STORE" --push "$T/bad.json" 2>"$T/bad.err" && fail "bad table accepted"
grep -q 'client "x"' "$T/bad.err" || fail "bad table error unclear: $(cat "$T/bad.err")"
"$CTL" --store "etcds://127.0.0.1:1/x" --store-ca "$T/no-such-ca.pem" --pull 2>"$T/tls.err" && fail "a missing CA file accepted"
grep -q -- "--store-ca $T/no-such-ca.pem: " "$T/tls.err" || fail "missing CA file error unclear: $(cat "$T/tls.err")"
"$CTL" --store "etcd://127.0.0.1:1" --pull 2>"$T/np.err" && fail "no prefix accepted"
grep -q 'PREFIX' "$T/np.err" || fail "missing prefix error unclear: $(cat "$T/np.err")"
ok "bad table, a missing --store-ca file and a missing prefix are clear errors"

# A push that removes a client removes its runtime state, pending approval
# and checker result with it: the same machine pushed again later starts
# enabled with nothing sent, not disabled by the old record.
. "$(dirname "$0")/lib-servers.sh"
STORE=etcd://$ETCD_ENDPOINTS/mandos-rm
make_table 2 rm >"$T/rm.json"
"$CTL" --store "$STORE" --push "$T/rm.json" >/dev/null || fail "push for removal"
srv_start 0
fetch 0 0 rm
[ "$RC" = 0 ] || fail "storm-0 got no secret (rc $RC): $(cat "$T/fetch.err")"
ctl 0 -d storm-0 || fail "disable storm-0"
state() { ectl get --print-value-only /mandos-rm/state/storm-0; }
wait_until 5000 eval 'state | grep -q "\"enabled\":false.*\"secrets_sent\":1"' >/dev/null ||
    fail "state/storm-0 never showed disabled with one secret sent: $(state)"
ectl put /mandos-rm/approvals/storm-0 '{"approved":false,"duration_ms":600000,"server":"x","time":1}' >/dev/null &&
    ectl put /mandos-rm/checks/storm-0 '{"server":"server0","status":1,"time":1}' >/dev/null || fail "etcdctl put"
cp "$T/rm.json" "$T/rm-without.json"
edit_json "$T/rm-without.json" "del t['clients']['storm-0']"
"$CTL" --store "$STORE" --push "$T/rm-without.json" >"$T/rm1.out" || fail "push without storm-0"
grep -qx "removed storm-0" "$T/rm1.out" || fail "push without storm-0 printed: $(cat "$T/rm1.out")"
left=$(ectl get --prefix --keys-only /mandos-rm/ | grep storm-0)
[ -z "$left" ] || fail "keys of the removed client remain: $left"
ok "a push that removes a client removes its state, approval and checker result"
wait_until 5000 eval '! ctl 0 --dump-json storm-0 >/dev/null 2>&1' >/dev/null ||
    fail "server 0 still lists storm-0 after its removal"
"$CTL" --store "$STORE" --push "$T/rm.json" >"$T/rm2.out" || fail "push storm-0 again"
grep -qx "added storm-0" "$T/rm2.out" || fail "push of storm-0 again printed: $(cat "$T/rm2.out")"
shown() { srv_fields 0 storm-0 Enabled SecretsSent; }
wait_until 5000 eval '[ "$(shown)" = "True 0" ]' >/dev/null ||
    fail "storm-0 pushed again shows Enabled, SecretsSent = $(shown), want True 0"
fetch 0 0 rm
[ "$RC" = 0 ] || fail "storm-0 pushed again got no secret (rc $RC)"
ok "the client pushed again is enabled with zero secrets sent, and served"
srv_stop 0
exit 0
