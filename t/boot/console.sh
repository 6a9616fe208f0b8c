#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Test 3: no Mandos server answers (the one port the VM may reach has
# nothing behind it), yet the console prompt is there the whole time: the
# passphrase typed on the serial console unlocks the disk and the VM boots;
# our client, still trying, is stopped before the real init.
. "${top_srcdir:-$(dirname "$0")/../..}/t/client/lib.sh"
. "$top_srcdir/t/boot/lib.sh"
TC_LIMIT=600
bt_init
P=$(tc_port) || tc_fail "no free port"
bt_boot vm "$BT_CACHE/initrd-ours" "$P" "mandosd=connect:$BT_SERVER_IP:$P"
t_prompt=$(bt_wait vm "$BT_MARK_PROMPT" 200) || tc_fail "no console prompt"
sleep 3		# the client is trying meanwhile
grep -qaF -- "$BT_MARK_UNLOCK" "$TC_TMP/vm.console" && tc_fail "unlocked with no server?"
bt_type vm "$(cat "$BT_CACHE/passphrase")"
t_unlock=$(bt_wait vm "$BT_MARK_UNLOCK" 120) || tc_fail "the typed passphrase did not unlock"
t_init=$(bt_wait vm "$BT_MARK_INIT" 60) || tc_fail "the real init was not reached"
bt_end vm || tc_fail "the VM did not power off"
grep -qa 'mandosd-client: started' "$TC_TMP/vm.console" ||
    tc_fail "our client was not running beside the prompt"
grep -qa 'mandosd-client: got the password' "$TC_TMP/vm.console" &&
    tc_fail "our client claims a password with no server"
grep -qa 'mandosd-client: network down' "$TC_TMP/vm.console" ||
    tc_fail "the initramfs did not take the network down"
tc_log "prompt at $t_prompt s, typed, unlock $t_unlock s, real init $t_init s after power-on (TCG, loaded machine)"
exit 0
