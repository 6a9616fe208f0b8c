#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Test 1: the encrypted VM, with our client in an initramfs made by Debian's
# mkinitramfs, unlocks from mandosd on the host and reaches its real init
# with nobody at the console; the initramfs stopped the client and took the
# network down before that init.
. "${top_srcdir:-$(dirname "$0")/../..}/t/client/lib.sh"
. "$top_srcdir/t/boot/lib.sh"
TC_LIMIT=600
bt_init
bt_json >"$TC_TMP/clients.json"
bt_mandosd "$TC_TMP/clients.json"
bt_boot vm "$BT_CACHE/initrd-ours" "$MPORT" "mandosd=connect:$BT_SERVER_IP:$MPORT"
t_unlock=$(bt_wait vm "$BT_MARK_UNLOCK" 200) || tc_fail "the disk was not unlocked"
t_init=$(bt_wait vm "$BT_MARK_INIT" 60) || tc_fail "the real init was not reached"
bt_end vm || tc_fail "the VM did not power off"
grep -q 'result=secret_sent client=vm ' "$MLOG" || tc_fail "mandosd sent no secret"
grep -qa 'mandosd-client: got the password' "$TC_TMP/vm.console" ||
    tc_fail "the password did not come from our client"
grep -qa 'mandosd-client: network down' "$TC_TMP/vm.console" ||
    tc_fail "the initramfs did not take the network down"
tc_log "power-on to unlock: $t_unlock s, to the real init: $t_init s (TCG, loaded machine)"
exit 0
