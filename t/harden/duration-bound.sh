#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Defect 2: durations given as JSON integers (control "set", the state file)
# skipped the upper bound of duration strings (a century): the timeout
# overflowed, and a huge approval_delay wrapped the deadline so that an
# approved-by-default secret went out at once.
. "${top_srcdir:-$(dirname "$0")/../..}/t/harden/lib.sh"
SEED=durbound
SF=$STATEDIR/clients.state
BIG=9223372036854775807
make_table 2 "$SEED" '{"approved_by_default": true, "approval_delay": "PT0S"}'
start
for attr in approval_delay timeout interval extended_timeout approval_duration; do
	r=$(req '{"v":1,"cmd":"set","clients":["storm-0"],"attr":"'$attr'","value":'$BIG'}')
	[ "$(jget "$r" 'r["ok"]')" = False ] || fail "set $attr $BIG accepted: $r"
	jget "$r" 'r["error"]' | grep -q "too long" || fail "set $attr: unclear error: $r"
done
r=$(req '{"v":1,"cmd":"set","clients":["storm-0"],"attr":"approval_delay","value":2000}')
[ "$(jget "$r" 'r["ok"]')" = True ] || fail "set approval_delay 2000 refused: $r"
ok "control set: integer durations over a century refused, 2000 ms accepted"
stop

# The state file: a saved approval_delay over a century is ignored (logged),
# storm-1 keeps the file's PT0S; before, it was applied and wrapped.
python3 - "$SF" "$BIG" <<'PY' || fail "edit state"
import json, sys
s = json.load(open(sys.argv[1]))
c = s["clients"]["storm-1"]
c.setdefault("settings", {})["approval_delay"] = int(sys.argv[2])
c.setdefault("config", {})["approval_delay"] = 0
json.dump(s, open(sys.argv[1], "w"))
PY
start
t0=$(date +%s%N)
storm 1 1 1 -t 3 >"$T/s.out" 2>&1
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
r=$(req '{"v":1,"cmd":"show","clients":["storm-1"]}')
d=$(jget "$r" 'r["result"]["storm-1"]["ApprovalDelay"]')
[ "$d" -le 3155760000000 ] || fail "state file's approval_delay $d applied"
grep -q "storm-1.*approval_delay\|approval_delay.*storm-1" "$MLOG" ||
    fail "the ignored saved setting is not logged"
ok "state file: an integer approval_delay over a century ignored and logged (delay now $d ms, storm took $ms ms)"
stop
