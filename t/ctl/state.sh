#!/bin/bash
# State: runtime state survives a clean restart and a kill -9, the file is
# never half-written (the server is killed while it writes), a corrupt file
# is a warning, --no-restore ignores it, a setting changed in the file wins
# over the saved one, and SIGHUP keeps the state of clients that stay.
. "${top_srcdir:-.}/t/ctl/lib.sh" || exit 99
SEED=state
SF=$STATEDIR/clients.state
make_table 4 "$SEED" '{"checker": "true", "interval": "PT1H", "timeout": "PT1H"}'
start
ctl -d storm-0 || fail "disable"
ctl -t PT2H storm-1 || fail "set timeout"
ctl -H saved.example storm-3 || fail "set host"
storm 2 1 1 >/dev/null || fail "storm-2 got nothing"
created=$(jget "$(req '{"v":1,"cmd":"show","clients":["storm-2"]}')" 'r["result"]["storm-2"]["Created"]')
stop
python3 -m json.tool "$SF" >/dev/null || fail "state file not JSON after a clean stop"
[ "$(stat -c %a "$SF")" = 600 ] || fail "state file mode $(stat -c %a "$SF")"
grep -q "$(jget "$(cat "$T/clients.json")" 'r["clients"]["storm-2"]["secret"]')" "$SF" && fail "the secret is in the state file"

start
r=$(req '{"v":1,"cmd":"list"}')
[ "$(jget "$r" 'r["result"]["storm-0"]["Enabled"]')" = False ] || fail "disabled state lost"
[ "$(jget "$r" 'r["result"]["storm-1"]["Timeout"]')" = 7200000 ] || fail "runtime timeout lost"
[ "$(jget "$r" 'r["result"]["storm-3"]["Host"]')" = saved.example ] || fail "runtime host lost"
[ "$(jget "$r" 'r["result"]["storm-2"]["SecretsSent"]')" = 1 ] || fail "secrets sent lost"
[ "$(jget "$r" 'r["result"]["storm-2"]["Created"]')" = "$created" ] || fail "Created changed"
grep -q "state: restored 4 of 4 clients" "$MLOG" || fail "restore not logged"
ok "a clean restart keeps enabled, settings, counters and Created"

# kill -9: a change is on disk about a second later.
ctl -d storm-2 || fail "disable storm-2"
sleep 1.6
kill -KILL "$MPID"; wait "$MPID" 2>/dev/null; MPID=
start
[ "$(enabled storm-2)" = False ] || fail "a change a second before kill -9 was lost"
ok "state survives kill -9 (saved within a second)"

# A setting changed in the file wins over the saved one.
python3 - "$T/clients.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
t["clients"]["storm-1"]["timeout"] = "PT3H"
json.dump(t, open(sys.argv[1], "w"))
PY
stop
start
[ "$(jget "$(req '{"v":1,"cmd":"show","clients":["storm-1"]}')" 'r["result"]["storm-1"]["Timeout"]')" = 10800000 ] ||
    fail "the file's new timeout did not win over the saved one"
[ "$(jget "$(req '{"v":1,"cmd":"show","clients":["storm-3"]}')" 'r["result"]["storm-3"]["Host"]')" = saved.example ] ||
    fail "an unchanged setting lost its saved value"
ok "a setting changed in clients.json wins; unchanged ones keep their saved values"

# SIGHUP: clients that stay keep their state; new ones come, gone ones go.
python3 - "$T/clients.json" "$T/storm.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
del t["clients"]["storm-3"]
json.dump(t, open(sys.argv[1], "w"))
PY
kill -HUP "$MPID"
wait_for 5 grep -q "reloaded .*: 3 clients" "$MLOG" || fail "reload"
r=$(req '{"v":1,"cmd":"list"}')
[ "$(jget "$r" 'sorted(r["result"])')" = "['storm-0', 'storm-1', 'storm-2']" ] || fail "after reload: $(jget "$r" 'sorted(r["result"])')"
[ "$(jget "$r" 'r["result"]["storm-0"]["Enabled"]')" = False ] || fail "reload lost the disabled state"
[ "$(jget "$r" 'r["result"]["storm-2"]["SecretsSent"]')" = 1 ] || fail "reload lost counters"
ok "SIGHUP keeps the runtime state of clients that stay, drops the others"

# --no-restore ignores the saved state.
stop
start --no-restore
[ "$(enabled storm-0)" = True ] || fail "--no-restore still restored"
stop

# A corrupt file: a warning, the table intact, the file kept aside.
printf '{"version": 1, "clients": {"storm-0": ' >"$SF"
start
[ "$(jget "$(req '{"v":1,"cmd":"list"}')" 'len(r["result"])')" = 3 ] || fail "table lost with a corrupt state file"
grep -q "state: .* is unreadable" "$MLOG" || fail "no warning for a corrupt state file"
[ -f "$SF.bad" ] || fail "corrupt file not kept"
ok "a corrupt state file is a warning; --no-restore skips the file"
stop

# Killed while writing: with 3000 clients whose checkers change state all
# the time, the server saves every second or so; kill -9 at random moments
# and the file is always whole.
make_table 3000 "$SEED" '{"checker": "true", "interval": "PT0.5S", "timeout": "PT1H"}'
for i in $(seq 12); do
	start --max-checkers 16
	sleep "$(python3 -c 'import random; print(round(random.uniform(0.9, 2.6), 2))')"
	# The saver is a child of mandosd: kill it too, mid-write or not.
	pkill -KILL -P "$MPID"
	kill -KILL "$MPID"; wait "$MPID" 2>/dev/null; MPID=
	if [ -e "$SF" ]; then
		python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["version"] == 1 and isinstance(d["clients"], dict)' "$SF" ||
		    fail "state file broken after kill -9 number $i"
	fi
done
start --max-checkers 16
wait_for 30 python3 -c 'import json,sys; assert len(json.load(open(sys.argv[1]))["clients"]) == 3000' "$SF" 2>/dev/null ||
    fail "state file lacks clients"
stop
ls -A "$STATEDIR" | grep -q '\.tmp$' && fail "temp files left: $(ls -A "$STATEDIR")"
ok "12 kill -9 of the server and its saver during saves of 3000 clients: the state file was whole every time, no temp file left"
echo PASS
