#!/bin/bash
# Checkers: substitutions shell-quoted (%{name}, %{key_id}, the reference's
# %%(host)s), killed with their children at timeout, every child reaped (no
# zombie, checked in /proc), and never more running than --max-checkers.
. "${top_srcdir:-.}/t/ctl/lib.sh" || exit 99
SEED=checker
mkdir -p "$T/out" && chmod 0777 "$T/out"

# Checkers are children of mandosd's spawner helper (its one child), or of
# mandosd itself when it runs them in-process.
# children PID: the children of PID; zombies PID: its zombie children.
children() { awk -v p="$1" '$4 == p' /proc/[0-9]*/stat 2>/dev/null | wc -l; }
zombies() { awk -v p="$1" '$4 == p && $3 == "Z"' /proc/[0-9]*/stat 2>/dev/null | wc -l; }
# parent_of_checkers: the helper's PID, or mandosd's.
parent_of_checkers() { pgrep -P "$MPID" -x mandosd || echo "$MPID"; }

host="a b'c;\$(id)"
make_table 2 "$SEED" '{"timeout": "PT1S", "interval": "PT1H"}' \
    "$(python3 -c 'import json,sys; print(json.dumps({"storm-0": {"host": sys.argv[1], "checker": "printf \"%s|%s|%s\\n\" %{name} %%(host)s %{key_id} >'"$T"'/out/subst"}, "storm-1": {"checker": "sleep 31.7; true", "timeout": "PT2S"}}))' "$host")"
start
# The secret extends storm-1's lease, so only the checker's own timeout
# acts later. It must come within the 2 s timeout: first, before the
# substitution test, so that slow builds (ASan) make it too.
storm 1 1 1 >/dev/null || fail "storm-1 got no secret"
ctl --start-checker storm-0 || fail "start-checker"
wait_for 5 test -s "$T/out/subst" || fail "checker did not run"
kid=$(jget "$(req '{"v":1,"cmd":"show","clients":["storm-0"]}')" 'r["result"]["storm-0"]["KeyID"]')
[ "$(cat "$T/out/subst")" = "storm-0|$host|$kid" ] || fail "substitution gave '$(cat "$T/out/subst")'"
ok "substitutions are shell-quoted: $(cat "$T/out/subst")"

ctl --start-checker storm-1 || fail "start-checker"
sleep 0.3
r=$(req '{"v":1,"cmd":"show","clients":["storm-1"]}')
[ "$(jget "$r" 'r["result"]["storm-1"]["CheckerRunning"]')" = True ] || fail "not running: $r"
wait_for 2 pgrep -f "^sleep 31.7" >/dev/null || fail "no sleep child"
wait_for 4 sh -c '! pgrep -f "^sleep 31.7" >/dev/null' || fail "checker (and its child) not killed at timeout"
H=$(parent_of_checkers)
wait_for 2 sh -c "[ \"\$(awk -v p=$H '\$4 == p && \$3 == \"Z\"' /proc/[0-9]*/stat 2>/dev/null | wc -l)\" = 0 ]" || fail "zombie left"
[ "$(zombies "$MPID")" = 0 ] || fail "zombie child of mandosd"
r=$(req '{"v":1,"cmd":"show","clients":["storm-1"]}')
[ "$(jget "$r" 'r["result"]["storm-1"]["LastCheckerStatus"]')" = -1 ] || fail "killed checker status: $r"
[ "$(counter checker_killed)" -ge 1 ] || fail "kill not counted"
grep -q "checker pid=[0-9]* timed out" "$MLOG" || fail "kill not logged"
ok "a checker is killed with its children at timeout, reaped, status -1"
stop

# The cap: 40 clients each wanting a 0.3 s checker every 0.2 s, at most 3 at once.
make_table 40 "$SEED" '{"timeout": "PT1H", "interval": "PT0.2S", "checker": "sleep 0.3"}'
start --max-checkers 3
H=$(parent_of_checkers)
max=0 queued=0
for _ in $(seq 40); do
	n=$(children "$H")
	[ "$n" -gt "$max" ] && max=$n
	q=$(counter checkers_queued)
	[ "$q" -gt "$queued" ] && queued=$q
	sleep 0.05
done
[ "$max" -le 3 ] || fail "$max checkers ran at once with --max-checkers 3"
[ "$max" -ge 2 ] || fail "checkers did not run ($max)"
[ "$queued" -ge 1 ] || fail "nothing was ever queued"
[ "$(counter checkers_max)" = 3 ] || fail "checkers_max"
[ "$(zombies "$MPID")" = 0 ] || fail "zombies under load"
sleep 0.3; z1=$(awk -v p="$H" '$4 == p && $3 == "Z" {print $1}' /proc/[0-9]*/stat 2>/dev/null | sort)
sleep 0.3; z2=$(awk -v p="$H" '$4 == p && $3 == "Z" {print $1}' /proc/[0-9]*/stat 2>/dev/null | sort)
[ -z "$(comm -12 <(echo "$z1") <(echo "$z2") | grep .)" ] || fail "zombies stay under load"
ok "at most 3 checkers at once (saw $max running, up to $queued queued), no zombie"
ctl -d -a || fail "disable all"
wait_for 3 sh -c "[ \"\$(awk -v p=$H '\$4 == p' /proc/[0-9]*/stat 2>/dev/null | wc -l)\" = 0 ]" || fail "children left after disabling all"
ok "disabling stops and reaps every checker"
stop
kill -0 "$H" 2>/dev/null && [ "$H" != "$MPID" ] && fail "the checker helper outlived mandosd"
ok "the helper goes with mandosd"
echo PASS
