#!/bin/bash
# Approval: with approval_delay the connection waits in the loop until an
# operator approves (-A) or denies (-D), the delay runs out (then
# approved_by_default decides), or the peer leaves (dropped at once); a
# decision holds for approval_duration.
. "${top_srcdir:-.}/t/ctl/lib.sh" || exit 99
SEED=approval
make_table 6 "$SEED" '{"approval_delay": "PT20S", "approved_by_default": false, "approval_duration": "PT1S", "checker": "true", "interval": "PT1H"}' \
    '{"storm-2": {"approval_delay": "PT1S", "approved_by_default": true},
      "storm-3": {"approval_delay": "PT1S"},
      "storm-5": {"approval_duration": "PT30S"}}'
start

pending() { jget "$(req '{"v":1,"cmd":"show","clients":["'"$1"'"]}')" 'r["result"]["'"$1"'"]["ApprovalPending"]'; }
is_pending() { [ "$(pending "$1")" = True ]; }

# Approve.
t0=$(date +%s%N)
storm 0 1 1 -t 15 >"$T/a.out" 2>&1 &
sp=$!
wait_for 5 is_pending storm-0 || fail "storm-0 never pending"
[ "$(counter approvals_pending)" = 1 ] || fail "approvals_pending gauge"
ctl --metrics | grep -q '^mandos_approvals_pending 1$' || fail "pending in metrics"
ctl -A storm-0 || fail "approve"
wait "$sp" || fail "approved storm-0 got nothing: $(cat "$T/a.out")"
[ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 10000 ] || fail "approval did not release at once"
[ "$(counter approvals_pending)" = 0 ] || fail "pending after approval"
ok "approve releases a waiting client at once"

# Deny.
storm 1 1 1 -t 15 --expect none >"$T/d.out" 2>&1 &
sp=$!
wait_for 5 is_pending storm-1 || fail "storm-1 never pending"
ctl -D storm-1 || fail "deny"
wait "$sp" || fail "denied storm-1: $(cat "$T/d.out")"
[ "$(counter connections_denied)" = 1 ] || fail "denial not counted"
ok "deny sends nothing, at once"

# The delay runs out: approved_by_default decides.
storm 2 1 1 -t 15 >/dev/null || fail "storm-2 (approved by default) got nothing"
storm 3 1 1 -t 15 --expect none >/dev/null || fail "storm-3 (denied by default) got a secret"
[ "$(counter connections_approval_timeout)" = 1 ] || fail "approval timeout not counted"
r=$(req '{"v":1,"cmd":"show","clients":["storm-3"]}')
[ -n "$(jget "$r" 'r["result"]["storm-3"]["LastApprovalRequest"]')" ] || fail "LastApprovalRequest not set"
ok "the delay runs out: approved_by_default true sends, false does not"

# The peer leaves while waiting: dropped at once, gauge back to 0.
storm 4 1 1 -t 1 >/dev/null 2>&1 &
sp=$!
wait_for 5 is_pending storm-4 || fail "storm-4 never pending"
wait "$sp"
wait_for 3 sh -c '[ "$('"$CTL"' --socket '"$SOCK"' --stats | awk '"'"'$1 == "connections_abandoned" {print $2}'"'"')" = 1 ]' ||
    fail "a peer that left was not dropped"
[ "$(counter approvals_pending)" = 0 ] || fail "pending after the peer left"
[ "$(pending storm-4)" = False ] || fail "storm-4 still pending"
grep -q "result=abandoned client=storm-4.*reason=" "$MLOG" || fail "abandon not logged"
ok "a peer that disconnects while waiting is dropped at once"

# A decision covers new requests within approval_duration.
storm 5 1 1 -t 15 >/dev/null 2>&1 &
sp=$!
wait_for 5 is_pending storm-5 || fail "storm-5 never pending"
ctl -A storm-5 || fail "approve storm-5"
wait "$sp" || fail "approved storm-5 got nothing"
t0=$(date +%s%N)
storm 5 1 1 -t 15 >/dev/null || fail "second request within approval_duration got nothing"
[ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 3000 ] || fail "second request waited"
ok "an approval covers new requests within approval_duration"

# Disabling a client releases its waiting connections with nothing.
storm 0 1 1 -t 15 --expect none >/dev/null 2>&1 &
sp=$!
wait_for 5 is_pending storm-0 || fail "storm-0 never pending again"
ctl -d storm-0 || fail "disable"
wait "$sp" || fail "disabled while waiting: got a secret"
ok "disabling a client refuses its waiting connections"
stop
echo PASS
