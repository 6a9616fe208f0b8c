#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Test 2: with approval_delay and approved_by_default false the VM waits at
# boot for the operator. "mandosctl -D" denies: the console prompt is there
# and the disk stays locked while the client tries again; "mandosctl -A"
# approves the next request and the VM boots. One boot.
. "${top_srcdir:-$(dirname "$0")/../..}/t/client/lib.sh"
. "$top_srcdir/t/boot/lib.sh"
TC_LIMIT=600
CTL=$top_builddir/clients/mandosctl
bt_init
bt_json ', "approval_delay": "PT10M", "approved_by_default": false, "approval_duration": "PT1S"' \
    >"$TC_TMP/clients.json"
bt_mandosd "$TC_TMP/clients.json"
waiting() { [ "$(grep -c 'client vm needs approval' "$MLOG")" -ge "$1" ]; }
wait_waiting() {
	for _ in $(seq "$2"); do waiting "$1" && return 0; sleep 1; done
	return 1
}
locked() { ! grep -qaF -- "$BT_MARK_UNLOCK" "$TC_TMP/vm.console"; }

bt_boot vm "$BT_CACHE/initrd-ours" "$MPORT" "mandosd=connect:$BT_SERVER_IP:$MPORT"
wait_waiting 1 200 || { bt_tail vm; tc_fail "the VM never asked for approval"; }
t_ask=$(bt_since "$BT_T0_vm")
"$CTL" --socket "$MCTL" -D vm || tc_fail "mandosctl -D"
for _ in $(seq 20); do grep -q 'result=denied client=vm ' "$MLOG" && break; sleep 0.5; done
grep -q 'result=denied client=vm ' "$MLOG" || tc_fail "the denial was not logged"
bt_wait vm "$BT_MARK_PROMPT" 60 >/dev/null || tc_fail "no console prompt after the denial"
# Denied, the client starts over (back-off) and waits again; still locked.
wait_waiting 2 60 || { bt_tail vm; tc_fail "the client did not ask again after the denial"; }
sleep 2
locked || tc_fail "the disk was unlocked after a denial"
t_approve=$(bt_since "$BT_T0_vm")
"$CTL" --socket "$MCTL" -A vm || tc_fail "mandosctl -A"
t_unlock=$(bt_wait vm "$BT_MARK_UNLOCK" 120) || tc_fail "not unlocked after the approval"
t_init=$(bt_wait vm "$BT_MARK_INIT" 60) || tc_fail "the real init was not reached"
bt_end vm || tc_fail "the VM did not power off"
grep -q 'result=secret_sent client=vm ' "$MLOG" || tc_fail "mandosd sent no secret"
tc_log "asked for approval at $t_ask s, denied, asked again, approved at $t_approve s; unlock $t_unlock s, real init $t_init s after power-on (TCG, loaded machine)"
exit 0
