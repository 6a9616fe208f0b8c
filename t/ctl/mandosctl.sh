#!/bin/bash
# mandosctl on its own: mandos-ctl's output shapes (table, -v's 20 columns,
# -j's 20 properties), exit codes, setters including -s, and our additions
# (--stats, --metrics, --reload, --import); an unknown client and a missing
# socket are one clear line each.
. "${top_srcdir:-.}/t/ctl/lib.sh" || exit 99
SEED=mandosctl
make_table 3 "$SEED" '{"checker": "true", "interval": "PT1H"}' '{"storm-2": {"enabled": false}}'
start

ctl >"$T/table" || fail "table"
[ "$(head -n1 "$T/table" | tr -s " ")" = "Name Enabled Timeout Last Successful Check" ] || fail "header: $(head -n1 "$T/table")"
[ "$(wc -l <"$T/table")" = 4 ] || fail "rows"
grep -q '^storm-2 No      00:05:00 ' "$T/table" || fail "row: $(cat "$T/table")"
ctl -v >"$T/v" || fail "-v"
for h in Name Enabled Timeout "Last Successful Check" Created Interval Host "Key ID" Fingerprint \
    "Check Is Running" "Last Enabled" "Approval Is Pending" "Approved By Default" \
    "Last Approval Request" "Approval Delay" "Approval Duration" Checker "Extended Timeout" \
    Expires "Last Checker Status"; do
	head -n1 "$T/v" | grep -q "$h" || fail "-v lacks '$h'"
done
ctl -j >"$T/j" || fail "-j"
python3 - "$T/j" <<'PY' || fail "-j shape"
import json, sys
d = json.load(open(sys.argv[1]))
assert list(d) == ["storm-0", "storm-1", "storm-2"]
assert list(d["storm-0"]) == ["Name", "Enabled", "Timeout", "LastCheckedOK",
    "Created", "Interval", "Host", "KeyID", "Fingerprint", "CheckerRunning",
    "LastEnabled", "ApprovalPending", "ApprovedByDefault", "LastApprovalRequest",
    "ApprovalDelay", "ApprovalDuration", "Checker", "ExtendedTimeout",
    "Expires", "LastCheckerStatus"]
assert d["storm-0"]["Timeout"] == 300000 and d["storm-0"]["Enabled"] is True
PY
grep -q '^    "storm-0": {$' "$T/j" || fail "-j is not indented as json.dumps(indent=4)"
ok "table, -v and -j have mandos-ctl's shapes"

ctl -V storm-0 || fail "-V enabled"
ctl -V storm-2 && fail "-V disabled"
out=$(ctl nosuch 2>&1); rc=$?
[ $rc = 1 ] && [ "$out" = "Client not found on server: 'nosuch'" ] || fail "unknown client: $rc '$out'"
ctl -e >/dev/null 2>&1; [ $? = 2 ] || fail "usage error exit"
ctl -e -d storm-0 >/dev/null 2>&1; [ $? = 2 ] || fail "-e -d"
out=$("$CTL" --socket "$T/nonexistent" 2>&1); rc=$?
[ $rc = 1 ] && [ "$(echo "$out" | wc -l)" = 1 ] && echo "$out" | grep -q "cannot reach mandosd at $T/nonexistent" || fail "missing socket: '$out'"
ok "exit codes: -V 0/1, unknown client 1 (named), usage 2, missing socket 1 (one line)"

printf 'new secret' >"$T/secret.bin"
ctl -s "$T/secret.bin" -c "echo %{name}" -t 10m --extended-timeout 1h -i PT30M \
    --approval-delay 5s --approval-duration 2s --deny-by-default -H h.example storm-1 || fail "setters"
python3 - "$(ctl -j storm-1)" <<'PY' || fail "setters did not take"
import json, sys
c = json.loads(sys.argv[1])["storm-1"]
assert (c["Checker"], c["Timeout"], c["ExtendedTimeout"], c["Interval"], c["ApprovalDelay"],
        c["ApprovalDuration"], c["ApprovedByDefault"], c["Host"]) == \
       ("echo %{name}", 600000, 3600000, 1800000, 5000, 2000, False, "h.example"), c
PY
[ "$(jget "$(req '{"v":1,"cmd":"show","clients":["storm-1"]}')" 'r["result"]["storm-1"]["SecretOverridden"]')" = True ] || fail "-s"
ctl --approve-by-default --approval-delay 0s storm-1 || fail "reset"
if [ -x "$top_builddir/t/tclient" ]; then
	got=$("$top_builddir/t/tclient" --connect "[::1]:$PORT" --idx 1 --seed "$SEED") || fail "tclient"
	[ "$got" = "new secret" ] || fail "the secret set with -s was not served: '$got'"
fi
ok "setters, including -s FILE (served at once)"

ctl --stats | grep -q '^connections_secret_sent 1$' || fail "--stats"
ctl --metrics | grep -q '^# TYPE mandos_connections_total counter$' || fail "--metrics"
[ "$(ctl --reload)" = "reloaded: 3 clients" ] || fail "--reload"
echo '{' >"$T/clients.json"
out=$(ctl --reload 2>&1) && fail "a broken table reloaded"
echo "$out" | grep -q "reload failed: .*clients.json" || fail "reload error: $out"
ctl -r storm-0 || fail "-r"
[ "$(ctl | wc -l)" = 3 ] || fail "-r did not remove"
ok "--stats, --metrics, --reload (and its error), -r"

if [ -f "$top_builddir/clients/libimport.a" ]; then
	"$STORM" --make-table 2 --seed imp --format conf >"$T/clients.conf"
	ctl --import "$T/clients.conf" >"$T/imported.json" || fail "--import"
	python3 -c 'import json,sys; assert len(json.load(open(sys.argv[1]))["clients"]) == 2' "$T/imported.json" || fail "--import output"
	ok "--import converts a reference clients.conf"
fi
stop
echo PASS
