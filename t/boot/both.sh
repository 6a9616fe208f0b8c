#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Coexistence: an initramfs built with both our hooks and the reference's
# (a machine with both packages installed) boots from mandosd with both
# clients running; each stops its own before the real init.
. "${top_srcdir:-$(dirname "$0")/../..}/t/client/lib.sh"
. "$top_srcdir/t/boot/lib.sh"
TC_LIMIT=600
BT_NEED_BOTH=1
bt_init "$REF_CLIENT"
bt_json >"$TC_TMP/clients.json"
bt_mandosd "$TC_TMP/clients.json"
bt_boot vm "$BT_CACHE/initrd-both" "$MPORT" \
    "mandosd=connect:$BT_SERVER_IP:$MPORT mandos=connect:$BT_SERVER_IP:$MPORT"
t_unlock=$(bt_wait vm "$BT_MARK_UNLOCK" 200) || tc_fail "the disk was not unlocked"
t_init=$(bt_wait vm "$BT_MARK_INIT" 60) || tc_fail "the real init was not reached"
bt_end vm || tc_fail "the VM did not power off"
grep -q 'result=secret_sent client=vm ' "$MLOG" || tc_fail "mandosd sent no secret"
grep -qa 'mandosd-client: started' "$TC_TMP/vm.console" || tc_fail "our client did not run"
grep -qa 'mandosd-client: network down' "$TC_TMP/vm.console" ||
    tc_fail "our teardown did not run"
n=$(grep -c 'result=secret_sent client=vm ' "$MLOG")
tc_log "both clients: unlock $t_unlock s, real init $t_init s after power-on; $n secret(s) sent (TCG, loaded machine)"
exit 0
