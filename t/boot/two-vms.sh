#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Test 5: two VMs boot at once from one mandosd and both unlock.
. "${top_srcdir:-$(dirname "$0")/../..}/t/client/lib.sh"
. "$top_srcdir/t/boot/lib.sh"
TC_LIMIT=600
BT_VM_LIMIT=360
bt_init
bt_json >"$TC_TMP/clients.json"
bt_mandosd "$TC_TMP/clients.json"
bt_boot a "$BT_CACHE/initrd-ours" "$MPORT" "mandosd=connect:$BT_SERVER_IP:$MPORT"
bt_boot b "$BT_CACHE/initrd-ours" "$MPORT" "mandosd=connect:$BT_SERVER_IP:$MPORT"
ua=$(bt_wait a "$BT_MARK_UNLOCK" 300) || tc_fail "VM a was not unlocked"
ub=$(bt_wait b "$BT_MARK_UNLOCK" 300) || tc_fail "VM b was not unlocked"
ia=$(bt_wait a "$BT_MARK_INIT" 60) || tc_fail "VM a: no real init"
ib=$(bt_wait b "$BT_MARK_INIT" 60) || tc_fail "VM b: no real init"
bt_end a || tc_fail "VM a did not power off"
bt_end b || tc_fail "VM b did not power off"
n=$(grep -c 'result=secret_sent client=vm ' "$MLOG")
[ "$n" -ge 2 ] || tc_fail "mandosd sent $n secrets, want 2"
tc_log "two at once: a unlock $ua s / init $ia s, b unlock $ub s / init $ib s (TCG, 2 cores, loaded machine)"
exit 0
