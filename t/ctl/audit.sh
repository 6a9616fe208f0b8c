#!/bin/bash
# The audit trail (--audit-log): every operator change through the control
# socket is one JSON line with the peer's uid/gid/pid, the action, the
# client, the arguments and the result; every secret sent or refused is one
# line (the real Debian mandos-client and mandos-storm); a read-only peer's
# refused change is there with its uid; a secret set by the
# operator never appears; a storm of 2,000 unknown keys writes a bounded
# number of lines that still count every refusal; SIGHUP after mv makes a
# new file; a file that cannot be written costs the server nothing.
. "${top_srcdir:-.}/t/ctl/lib.sh" || exit 99
# The real Debian client and keygen: t/client/lib.sh's tc_refkeys and
# tc_refclient, in this test's temp dir (no tc_init: lib.sh cleans up).
REF_CLIENT=${REF_CLIENT:-$(ls /usr/lib/*/mandos/plugins.d/mandos-client 2>/dev/null | head -n1)}
. "$top_srcdir/t/client/lib.sh"
TC_TMP=$T
[ "$(id -u)" -eq 0 ] || skip "needs root (the real mandos-client)"
[ -x "$REF_CLIENT" ] || skip "the real mandos-client is not installed"
[ -x "$REF_KEYGEN" ] || skip "mandos-keygen not installed"
need_cmd gpg

# The real client's keys and an entry for it, next to storm's clients.
SECRET="audit secret $(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')" tc_refkeys "$T" real ||
    fail "mandos-keygen"
KD=$T/keys
kid=$(tr a-f A-F <"$T/key_id")
b64=$(cat "$T/secret.b64")
[ ${#kid} -eq 64 ] && [ -n "$b64" ] || fail "cannot read mandos-keygen's output"

SEED=audit
make_table 4 "$SEED" '{"checker": "true", "interval": "PT1H"}' \
    '{"storm-1": {"approval_delay": "PT20S", "approved_by_default": false}}'
python3 - "$T/clients.json" "$kid" "$b64" <<'PY' || fail "table"
import json, sys
t = json.load(open(sys.argv[1]))
t["clients"]["real"] = {"key_id": sys.argv[2], "secret": sys.argv[3], "host": "localhost"}
open(sys.argv[1], "w").write(json.dumps(t, indent=1))
PY

# The log's directory belongs to the server's user: SIGHUP reopens there.
install -d -m 0750 "$T/log"
chown "$RUNAS" "$T/log"
AUD=$T/log/audit.log
start --audit-log "$AUD" --refusal-log-interval 1s --no-fair-share --control-group nogroup
[ "$(stat -c %a "$AUD")" = 600 ] || fail "audit log mode $(stat -c %a "$AUD"), want 600"
ok "the audit log is created 0600"

# audit_q PYTHON-EXPR: evaluated with L (every line, parsed); prints it.
# Every line must be JSON, at most 4096 bytes, with an RFC 3339 UTC ms time.
audit_q() {
	python3 - "$AUD" "$1" <<'PY'
import json, re, sys
L = []
for raw in open(sys.argv[1], "rb"):
    assert raw.endswith(b"\n") and len(raw) <= 4096, raw[:200]
    o = json.loads(raw)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", o["time"]), o
    assert o["server"], o
    L.append(o)
def op(action, client=None):
    return [o for o in L if o["type"] == "operator" and o["action"] == action
            and (client is None or o.get("client") == client)]
def sec(client, outcome):
    return [o for o in L if o["type"] == "secret" and o["client"] == client
            and o["outcome"] == outcome]
print(eval(sys.argv[2]))
PY
}
# wait_q SECONDS PYTHON-EXPR: until it prints True.
wait_q() { wait_for "$1" sh -c '[ "$('"$(declare -f audit_q)"'; AUD='"$AUD"' audit_q "$0")" = True ]' "$2"; }

UID_ME=$(id -u)
GID_ME=$(id -g)

# Operator actions.
ctl -d storm-0 || fail "disable"
ctl -e storm-0 || fail "enable"
ctl --timeout PT10M storm-0 || fail "--timeout"
ctl -b storm-0 || fail "bump"
head -c 300 /dev/urandom >"$T/new-secret.bin"
ctl --secret "$T/new-secret.bin" storm-2 || fail "set secret"
ctl -r storm-0 || fail "remove"
[ "$(jget "$(req '{"v":1,"cmd":"disable","clients":["no-such-client"]}')" 'r["ok"]')" = False ] ||
    fail "disable of an unknown client succeeded"
ctl --reload || fail "reload"
r=$(audit_q '[(o["action"], o["client"], o["result"]) for o in L if o["type"] == "operator"]')
echo "  operator lines: $r"
[ "$(audit_q 'len(op("disable","storm-0")) == 1 and len(op("enable","storm-0")) == 1 and len(op("remove","storm-0")) == 1 and len(op("bump-timeout","storm-0")) == 1 and len(op("reload")) == 1')" = True ] ||
    fail "operator actions missing: $r"
[ "$(audit_q 'all(o["uid"] == '"$UID_ME"' and o["gid"] == '"$GID_ME"' and o["pid"] > 0 for o in L if o["type"] == "operator" and o["client"] != "storm-3")')" = True ] ||
    fail "uid/gid/pid of the peer: $(audit_q '[(o["uid"], o["gid"], o["pid"]) for o in L]')"
[ "$(audit_q 'op("set","storm-0")[0]["args"] == {"attr": "timeout", "value": 600000} and op("set","storm-0")[0]["result"] == "ok"')" = True ] ||
    fail "set timeout: $(audit_q 'op("set","storm-0")')"
[ "$(audit_q 'op("disable","no-such-client")[0]["result"] == "error" and "no such client" in op("disable","no-such-client")[0]["error"]')" = True ] ||
    fail "a refused change: $(audit_q 'op("disable","no-such-client")')"
sec_b64=$(base64 -w0 "$T/new-secret.bin")
[ "$(audit_q 'op("set","storm-2")[0]["args"]["attr"] == "secret" and op("set","storm-2")[0]["args"]["value_length"] == '"${#sec_b64}"' and len(op("set","storm-2")[0]["args"]["value_sha256_prefix"]) == 16 and "value" not in op("set","storm-2")[0]["args"]')" = True ] ||
    fail "set secret: $(audit_q 'op("set","storm-2")')"
grep -qF "$sec_b64" "$AUD" && fail "the secret's base64 is in the audit log"
grep -qF "${sec_b64:0:24}" "$AUD" && fail "part of the secret's base64 is in the audit log"
ok "operator actions: one line each with uid=$UID_ME, action, client, args, result; no secret value"

# A change asked by a read-only peer (nobody, through the socket's group):
# refused, and on the trail with that peer's uid.
need_cmd setpriv
NOBODY=$(id -u nobody)
setpriv --reuid=nobody --regid=nogroup --clear-groups "$CTL" --socket "$SOCK" -d storm-3 2>"$T/ro.err" &&
    fail "a read-only peer disabled a client"
[ "$(audit_q 'op("disable","storm-3")[0]["uid"] == '"$NOBODY"' and op("disable","storm-3")[0]["result"] == "error" and "permission denied" in op("disable","storm-3")[0]["error"]')" = True ] ||
    fail "refused change by uid $NOBODY: $(audit_q 'op("disable","storm-3")') $(cat "$T/ro.err")"
ok "a read-only peer's change: refused, on the trail with its uid ($NOBODY)"

# An action whose arguments would pass the 4096-byte line bound: the facts
# stay, the arguments are cut, the line is still whole JSON.
long=$(printf 'true # %05000d' 0)
ctl --checker "$long" storm-3 || fail "set a long checker"
[ "$(audit_q 'op("set","storm-3")[0]["args"].startswith("(cut") and op("set","storm-3")[0]["result"] == "ok" and op("set","storm-3")[0]["uid"] == '"$UID_ME"'')" = True ] ||
    fail "long arguments: $(tail -n1 "$AUD" | head -c 300)"
ok "arguments past the line bound are cut; the line stays whole"

# Approve (-A) a waiting client: the approval and the secret sent.
storm 1 1 1 -t 15 >"$T/a.out" 2>&1 &
sp=$!
wait_for 5 eval '[ "$(counter approvals_pending)" = 1 ]' || fail "storm-1 never waited"
ctl -A storm-1 || fail "approve"
wait "$sp" || fail "approved storm-1 got nothing: $(cat "$T/a.out")"
wait_q 5 'len(sec("storm-1", "sent")) == 1' || fail "no sent line for storm-1: $(audit_q 'L[-3:]')"
[ "$(audit_q 'len(op("approve","storm-1")) == 1 and op("approve","storm-1")[0]["result"] == "ok"')" = True ] ||
    fail "approve line"
[ "$(audit_q 'sec("storm-1","sent")[0]["handshake_ms"] > 0 and sec("storm-1","sent")[0]["peer"].startswith("[::1]:") and sec("storm-1","sent")[0]["worker"] >= 0 and len(sec("storm-1","sent")[0]["key_id"]) == 64')" = True ] ||
    fail "sent line fields: $(audit_q 'sec("storm-1","sent")')"
ok "approve: the operator's line, then the secret sent (key ID, peer, worker, handshake ms)"

# Deny (-D) a waiting client (once the approval's 1 s duration is over).
sleep 1.5
storm 1 1 1 -t 15 --expect none >"$T/d.out" 2>&1 &
sp=$!
wait_for 5 eval '[ "$(counter approvals_pending)" = 1 ]' || fail "storm-1 never waited again"
ctl -D storm-1 || fail "deny"
wait "$sp" || fail "denied storm-1: $(cat "$T/d.out")"
wait_q 5 'len(sec("storm-1", "refused-denied")) == 1' || fail "no refused-denied line"
ok "deny: refused-denied"

# The real Debian mandos-client: sent, then refused while disabled.
tc_refclient "[::1]:$PORT" 60 || fail "real client (its log above)"
cmp -s "$T/out" "$T/secret.txt" || fail "real client printed something else"
wait_q 5 'len(sec("real", "sent")) == 1' || fail "no sent line for the real client"
[ "$(audit_q 'sec("real","sent")[0]["key_id"] == "'"$kid"'"')" = True ] || fail "real client's key ID"
ctl -d real || fail "disable real"
tc_refclient "[::1]:$PORT" 3 2>/dev/null
[ -s "$T/out" ] && fail "disabled real client got a secret"
wait_q 5 'len(sec("real", "refused-disabled")) >= 1' || fail "no refused-disabled line for the real client"
grep -qF "$(head -n1 "$T/secret.txt")" "$AUD" && fail "the real client's password is in the audit log"
ok "the real mandos-client: sent, then refused-disabled"

# A storm of 2,000 handshakes with unknown keys: all counted, few lines.
before=$(wc -l <"$AUD")
t0=$(date +%s%3N)
"$STORM" --connect "[::1]:$PORT" --seed not-in-the-table --clients 50 \
    --count 2000 -C 20 --expect none -q >"$T/u.out" 2>&1 || fail "unknown storm: $(cat "$T/u.out")"
secs=$(( ($(date +%s%3N) - t0 + 999) / 1000 ))
nf=$(counter connections_not_found)
[ "$nf" = 2000 ] || fail "connections_not_found $nf, want 2000"
wait_q 5 'sum(1 for o in L if o["type"] == "secret" and o["outcome"] == "refused-unknown") + sum(o["count"] for o in L if o["type"] == "secret-summary") == 2000' ||
    fail "unknown refusals on the trail: $(audit_q '[o for o in L if o["outcome"] == "refused-unknown"][-3:]' 2>/dev/null)"
added=$(( $(wc -l <"$AUD") - before ))
# One in full, then at most one summary per second (interval 1 s), plus one.
[ "$added" -le $(( secs + 3 )) ] || fail "$added lines for 2,000 unknown keys over ${secs}s"
[ "$(audit_q 'all(o["client"] == "unknown" and o["last_key_id"] and o["last_peer"] for o in L if o["type"] == "secret-summary")')" = True ] ||
    fail "summary fields"
echo "  2000 unknown-key handshakes in ~${secs}s: $added audit lines"
ok "an unknown-key storm writes a bounded number of lines, and every refusal is counted"

# SIGHUP after mv: a new file, the old one gets nothing more.
mv "$AUD" "$AUD.1"
kill -HUP "$MPID"
wait_for 5 test -e "$AUD" || fail "no new audit log after SIGHUP"
[ "$(stat -c %a "$AUD")" = 600 ] || fail "reopened log mode $(stat -c %a "$AUD")"
n1=$(wc -l <"$AUD.1")
ctl -e real || fail "enable real"
wait_q 5 'len(op("enable","real")) == 1' || fail "enable not in the new file"
[ "$(wc -l <"$AUD.1")" = "$n1" ] || fail "the moved file still grows"
ok "SIGHUP after mv reopens: a new 0600 file"
stop

# A log that cannot be written (/dev/full): said once, serving goes on.
AUD=/dev/full
start --audit-log /dev/full --no-restore
ctl -d storm-3 || fail "disable with a full audit log"
ctl -e storm-3 || fail "enable with a full audit log"
storm 3 1 3 -t 15 >/dev/null || fail "no secret with a full audit log"
n=$(grep -c "audit log /dev/full: write failed" "$MLOG")
[ "$n" = 1 ] || fail "write failure logged $n times, want once"
stop
ok "a write error is logged once and the server serves on"
echo PASS
