#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# t/boot/demo.sh: the main job, shown (run by "./quickstart demo"): fresh
# test keys from our mandos-keygen, a LUKS2 disk, an initramfs from Debian's
# mkinitramfs with our hooks, mandosd on 127.0.0.1, and the encrypted VM
# booting under QEMU with nobody at its console. Each step prints its time.
# Exit 77: QEMU or the kernel is missing (the caller falls back).
. "${top_srcdir:-$(dirname "$0")/../..}/t/client/lib.sh"
. "$top_srcdir/t/boot/lib.sh"
TC_LIMIT=600
TC_NAME=demo
bt_log() { printf '== %s\n' "$*"; }
BT_CACHE=	# set below: a fresh cache, nothing reused
tc_init "$CLIENT" "$KEYGEN" "$MANDOSD"
BT_CACHE=$TC_TMP/cache
bt_log "building keys (mandos-keygen), the LUKS2 disk and the initramfs (mkinitramfs, our hooks) in $BT_CACHE"
bt_setup
bt_json >"$TC_TMP/clients.json"
t0=$(date +%s.%N)
bt_mandosd "$TC_TMP/clients.json"
bt_log "mandosd on 127.0.0.1:$MPORT ($(bt_since "$t0") s): $(grep -m1 'listening on' "$MLOG")"
bt_log "booting the encrypted VM: QEMU (TCG), kernel $BT_KVER, root=/dev/mapper/root (LUKS2)"
bt_log "  the VM reaches only 10.0.2.100:$MPORT, forwarded to mandosd; its console:"
bt_boot vm "$BT_CACHE/initrd-ours" "$MPORT" "mandosd=connect:$BT_SERVER_IP:$MPORT"
# Show the console lines that tell the story, as they come.
( tail -n +1 -f "$TC_TMP/vm.console" | grep --line-buffered -aE \
    'IP-Config: eth0 complete|Please unlock|mandosd-client:|cryptsetup:|MANDOSD-BOOT-TEST' |
    sed -u 's/\r//g; s/^/     | /' ) &
TC_PIDS+=("$!")
t_unlock=$(bt_wait vm "$BT_MARK_UNLOCK" 300) || tc_fail "the disk was not unlocked"
t_init=$(bt_wait vm "$BT_MARK_INIT" 60) || tc_fail "the real init was not reached"
bt_end vm || tc_fail "the VM did not power off"
sleep 0.3
bt_log "mandosd: $(grep -m1 'result=secret_sent client=vm ' "$MLOG" | sed 's/^mandosd: //')"
bt_log "OK: unlocked from mandosd $t_unlock s after power-on, real init at $t_init s (emulated CPU, no KVM)"
exit 0
