#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Defect 8: mandosctl called memchr on its NULL read buffer before the first
# read. Only UBSan sees it, so a sanitized mandosctl runs a few commands.
. "${top_srcdir:-$(dirname "$0")/../..}/t/harden/lib.sh"
[ -x "$CTL_SAN" ] || skip "no $CTL_SAN"
SEED=81
make_table 2 "$SEED"
start
for args in --stats "-v" "--metrics" "-j"; do
	"$CTL_SAN" --socket "$SOCK" $args >"$T/out" 2>"$T/err" ||
	    { cat "$T/err"; fail "sanitized mandosctl $args failed"; }
	grep -q "runtime error\|Sanitizer" "$T/err" &&
	    { cat "$T/err"; fail "sanitizer report for $args"; }
done
ok "sanitized mandosctl: no report"
stop
