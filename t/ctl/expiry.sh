#!/bin/bash
# Lifecycle: a client whose checker fails expires, is disabled, and that is
# logged and counted; one whose checker succeeds stays enabled past its
# timeout; sending the secret bumps expires by extended_timeout; a manual
# enable gives a fresh lease.
. "${top_srcdir:-.}/t/ctl/lib.sh" || exit 99
SEED=expiry
make_table 3 "$SEED" '{"timeout": "PT2S", "interval": "PT0.3S", "checker": "true"}' \
    '{"storm-1": {"checker": "false"}, "storm-2": {"checker": "exit 3", "extended_timeout": "PT1H"}}'
start

storm 2 1 1 >/dev/null || fail "storm-2 did not get its secret"
exp=$(jget "$(req '{"v":1,"cmd":"show","clients":["storm-2"]}')" 'r["result"]["storm-2"]["Expires"]')
python3 -c 'import datetime,sys; e=datetime.datetime.fromisoformat(sys.argv[1]); n=datetime.datetime.utcnow(); assert 3500 < (e-n).total_seconds() <= 3600, (e, n)' "$exp" ||
    fail "sending the secret did not bump expires by extended_timeout ($exp)"
ok "sending the secret sets expires = now + extended_timeout"

sleep 3
[ "$(enabled storm-0)" = True ] || fail "storm-0 (checker true) was disabled"
[ "$(enabled storm-1)" = False ] || fail "storm-1 (checker false) still enabled"
grep -q "client storm-1 expired and is now disabled" "$MLOG" || fail "expiry not logged"
[ "$(counter clients_expired)" -ge 1 ] || fail "expiry not counted"
ctl --metrics | grep -q '^mandos_clients_expired_total [1-9]' || fail "no expiry in metrics"
ctl --metrics | grep -q '^mandos_clients{state="disabled"} 1$' || fail "disabled gauge"
r=$(req '{"v":1,"cmd":"show","clients":["storm-0","storm-1","storm-2"]}')
[ "$(jget "$r" 'r["result"]["storm-0"]["LastCheckerStatus"]')" = 0 ] || fail "storm-0 status"
[ "$(jget "$r" 'r["result"]["storm-1"]["LastCheckerStatus"]')" = 1 ] || fail "storm-1 status"
[ "$(jget "$r" 'r["result"]["storm-2"]["LastCheckerStatus"]')" = 3 ] || fail "storm-2 status"
[ "$(jget "$r" 'r["result"]["storm-1"]["Expires"]')" = "" ] || fail "a disabled client has no expiry"
[ -n "$(jget "$r" 'r["result"]["storm-0"]["LastCheckedOK"]')" ] || fail "LastCheckedOK not set"
ok "a failing checker lets the client expire (logged, counted); a succeeding one keeps it"

storm 1 1 1 --expect none >/dev/null || fail "expired storm-1 got a secret"
ok "an expired client gets nothing"

ctl -e storm-1 || fail "enable"
r=$(req '{"v":1,"cmd":"show","clients":["storm-1"]}')
[ "$(jget "$r" 'r["result"]["storm-1"]["Enabled"]')" = True ] || fail "not enabled"
python3 -c 'import datetime,sys; e=datetime.datetime.fromisoformat(sys.argv[1]); n=datetime.datetime.utcnow(); assert 0 < (e-n).total_seconds() <= 2, (e, n)' \
    "$(jget "$r" 'r["result"]["storm-1"]["Expires"]')" || fail "manual enable: no fresh lease"
storm 1 1 1 >/dev/null || fail "re-enabled storm-1 got nothing"
ok "a manual enable gives a fresh lease"

# Timeout change moves expires; bump-timeout renews the lease.
ctl -t PT1H storm-0 || fail "set timeout"
ctl -b storm-0 || fail "bump"
r=$(req '{"v":1,"cmd":"show","clients":["storm-0"]}')
python3 -c 'import datetime,sys; e=datetime.datetime.fromisoformat(sys.argv[1]); n=datetime.datetime.utcnow(); assert 3500 < (e-n).total_seconds() <= 3600' \
    "$(jget "$r" 'r["result"]["storm-0"]["Expires"]')" || fail "bump-timeout"
ok "set timeout and bump-timeout move expires"
stop
echo PASS
