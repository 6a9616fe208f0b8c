#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Defect 9: at a first start (no state file, state directory made by
# mandosd) the missing file was reported as corrupt and its rename to .bad
# failed. A first start must be quiet: one info line, no warning.
. "${top_srcdir:-$(dirname "$0")/../..}/t/harden/lib.sh"
SEED=first
make_table 1 "$SEED"
# A directory mandosd makes itself, under a parent only root may search
# (the server reaches it, access() with the real uid did not), and ours.
mkdir -m 0700 "$T/priv"
for dir in "$T/priv/fresh" "$STATEDIR"; do
	STATEDIR=$dir start
	wait_for 5 grep -q "state: " "$MLOG" || fail "no state line"
	grep -q "state: no $dir/clients.state yet; starting fresh" "$MLOG" ||
	    fail "$dir: first start not reported as such"
	grep -E "unreadable|\.bad|rename" "$MLOG" && fail "$dir: first start reported as corrupt"
	ctl -d storm-0 || fail "disable"
	stop
	[ -s "$dir/clients.state" ] || fail "$dir: nothing saved at exit"
	STATEDIR=$dir start
	[ "$(enabled storm-0)" = False ] || fail "$dir: state not restored"
	stop
	ok "$dir: first start quiet, state saved and restored"
done
