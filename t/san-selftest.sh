#!/bin/bash
# t/san-selftest.sh (sanitizer build only): t/sanitize.sh fails a command
# whose forked child, never waited for, writes an ASan, LSan or UBSan
# report -- even though the command itself exits 0 -- and passes a clean one.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$(pwd)}"
CRASH=$top_builddir/t/san-crash
SAN="sh $top_srcdir/t/sanitize.sh"
[ -x "$CRASH" ] || { echo "FAIL: no $CRASH"; exit 1; }
out=$(mktemp) || exit 99
trap 'rm -f "$out"' EXIT

$SAN "$CRASH" none >"$out" 2>&1 || { cat "$out"; echo "FAIL: a clean run failed"; exit 1; }
echo "ok: a clean run passes"
# (UBSan's object-size check may see the overflow before ASan does.)
for m in "overflow:heap-buffer-overflow|insufficient space" leak:LeakSanitizer \
    ubsan:"signed integer overflow"; do
	mode=${m%%:*} want=${m#*:}
	if $SAN "$CRASH" "$mode" >"$out" 2>&1; then
		cat "$out"; echo "FAIL: $mode in a child went unnoticed"; exit 1
	fi
	grep -Eq "$want" "$out" || { cat "$out"; echo "FAIL: $mode: no '$want' report"; exit 1; }
	echo "ok: $mode in a forked child fails the test"
done
# A daemon in the background that the test never waits for.
if $SAN sh -c "\"$CRASH\" overflow & exit 0" >"$out" 2>&1; then
	cat "$out"; echo "FAIL: a background crash went unnoticed"; exit 1
fi
echo "ok: a crash in the background fails the test"
