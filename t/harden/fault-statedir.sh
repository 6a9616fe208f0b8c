#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Fault: the state directory full (a tiny tmpfs) and then read-only
# (remount ro). Serving continues, the error is logged once per episode
# (not per save), saving resumes when the fault goes, and the state file
# already saved stays intact throughout.
. "${top_srcdir:-$(dirname "$0")/../..}/t/harden/lib.sh"
need_root
need_cmd mount
SEED=fstate
SD=$T/tiny
mkdir "$SD"
mount -t tmpfs -o size=256k,mode=0700 "mandosd-test-$$" "$SD" || skip "cannot mount a tmpfs"
umount_sd() { umount "$SD" 2>/dev/null; }
# Stop the server first (it may be saving there), then unmount, then remove.
trap 'KEEP=1 cleanup; umount_sd; rm -rf -- "$T"' EXIT
chown "$RUNAS" "$SD"
SF=$SD/clients.state
make_table 4 "$SEED" '{"checker": "true", "interval": "PT1H"}'
STATEDIR=$SD start
# saved_enabled NAME: "True"/"False" for NAME in the state file on disk.
saved_enabled() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["clients"][sys.argv[2]]["enabled"])' "$SF" "$1"; }
errors() { grep -c "state: .*\(No space\|Read-only\)" "$MLOG"; }
ctl -d storm-0 || fail "disable storm-0"
wait_for 5 test -s "$SF" || fail "nothing saved"
wait_for 5 sh -c "[ \"\$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"clients\"][\"storm-0\"][\"enabled\"])' $SF)\" = False ]" ||
    fail "storm-0's change not saved"
ok "saved on a healthy tmpfs"

# Full: fill it up, change things for 7 s (two or more save attempts).
dd if=/dev/zero of="$SD/filler" bs=4k 2>/dev/null
sum0=$(md5sum <"$SF")
ctl -d storm-1 || fail "disable storm-1 (full)"
sleep 3
ctl -d storm-2 || fail "disable storm-2 (full)"
storm 3 1 3 >/dev/null || fail "storm-3 not served with the state dir full"
sleep 4
nf=$(ctl --stats | awk '$1 == "state_saves_failed" { print $2 }')
[ "$nf" -ge 2 ] || fail "want two or more failed saves, saw $nf"
[ "$(errors)" = 1 ] || { grep "state:" "$MLOG"; fail "$(errors) error lines for $nf failed saves (want 1)"; }
[ "$(md5sum <"$SF")" = "$sum0" ] || fail "the saved state file changed while the disk was full"
ls -A "$SD" | grep -q '\.tmp$' && fail "temp file left behind: $(ls -A "$SD")"
ok "full: $nf failed saves, one error line, serving on, state file intact"
rm -f "$SD/filler"
wait_for 20 grep -q "state: saved to .* again after" "$MLOG" || fail "saving did not resume after space returned"
[ "$(saved_enabled storm-1)" = False ] && [ "$(saved_enabled storm-2)" = False ] ||
    fail "changes made while full not saved after"
ok "space back: saving resumed, the changes made meanwhile are on disk"

# Read-only: the same.
e0=$(errors)
mount -o remount,ro "$SD" || fail "remount ro"
sum0=$(md5sum <"$SF")
ctl -e storm-1 || fail "enable storm-1 (ro)"
storm 3 1 3 >/dev/null || fail "storm-3 not served with the state dir read-only"
sleep 7
[ "$(( $(errors) - e0 ))" = 1 ] || { grep "state:" "$MLOG"; fail "read-only: $(( $(errors) - e0 )) error lines (want 1)"; }
[ "$(md5sum <"$SF")" = "$sum0" ] || fail "the state file changed on a read-only fs?"
mount -o remount,rw "$SD" || fail "remount rw"
wait_for 30 sh -c "[ \$(grep -c 'state: saved to .* again after' $MLOG) -ge 2 ]" ||
    fail "saving did not resume after remount rw"
[ "$(saved_enabled storm-1)" = True ] || fail "change made while read-only not saved after"
ok "read-only: one error line, state intact, saving resumed after remount rw"
stop
python3 -m json.tool "$SF" >/dev/null || fail "state file not JSON after stop"
