#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Test 4: the same disk with an initramfs built with the reference's Debian
# mandos-client package (its hooks, plugin-runner and client; none of ours)
# also unlocks from mandosd: the real client in a real boot.
. "${top_srcdir:-$(dirname "$0")/../..}/t/client/lib.sh"
. "$top_srcdir/t/boot/lib.sh"
TC_LIMIT=600
BT_NEED_REF=1
bt_init "$REF_CLIENT"
bt_json >"$TC_TMP/clients.json"
bt_mandosd "$TC_TMP/clients.json"
bt_boot vm "$BT_CACHE/initrd-ref" "$MPORT" "mandos=connect:$BT_SERVER_IP:$MPORT"
t_unlock=$(bt_wait vm "$BT_MARK_UNLOCK" 200) || tc_fail "the disk was not unlocked"
t_init=$(bt_wait vm "$BT_MARK_INIT" 60) || tc_fail "the real init was not reached"
bt_end vm || tc_fail "the VM did not power off"
grep -q 'result=secret_sent client=vm ' "$MLOG" || tc_fail "mandosd sent no secret"
grep -qa 'mandosd-client' "$TC_TMP/vm.console" && tc_fail "our client was in the reference's image"
tc_log "reference client: power-on to unlock $t_unlock s, to the real init $t_init s (TCG, loaded machine)"
exit 0
