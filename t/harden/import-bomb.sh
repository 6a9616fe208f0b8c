#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Defect 7: "%(x)s" interpolation grew exponentially (ten levels of doubling
# references, or of references to empty values, cost 2^N or 1000^N). The
# importer must stop quickly with an error naming the section and the key.
. "${top_srcdir:-$(dirname "$0")/../..}/t/harden/lib.sh"
IMPORT=$top_builddir/t/client/import-driver
[ -x "$IMPORT" ] || skip "no $IMPORT"
K1=bc2c5aca160c017e92c7742739727db65ca9f0dcdbbcb3a04e4356e7fddad626
try() {	# NAME: run the importer on $T/$NAME.conf, 10 s at most
	local rc=0
	timeout 10 "$IMPORT" "$T/$1.conf" >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" = 124 ] && fail "$1: importer still running after 10 s"
	[ "$rc" = 1 ] || { head -c 300 "$T/err"; fail "$1: exit $rc, want 1"; }
	[ -s "$T/out" ] && fail "$1: output despite error"
	grep -q "\[foo\].*host.*too long\|\[foo\].*host.*too many" "$T/err" ||
	    { head -c 300 "$T/err"; fail "$1: no clear error naming [foo] host"; }
	ok "$1: $(grep -v warning "$T/err" | head -c 200)"
}
# Doubling: 4^7 copies of a 16 KiB value (256 MiB).
W=$(head -c 16384 /dev/zero | tr '\0' w)
{ printf '[foo]\nkey_id = %s\nsecret = QUJD\n' "$K1"
  printf 'v0 = %s\n' "$W"
  for i in $(seq 1 7); do printf 'v%d = %%(v%d)s%%(v%d)s%%(v%d)s%%(v%d)s\n' "$i" $((i-1)) $((i-1)) $((i-1)) $((i-1)); done
  printf 'host = %%(v7)s\n'; } >"$T/double.conf"
try double
# Empty values: 30 references per level, 8 levels = 30^8 expansions of "".
R=$(for _ in $(seq 30); do printf '%%(e%%d)s'; done)
{ printf '[foo]\nkey_id = %s\nsecret = QUJD\ne0 =\n' "$K1"
  for i in $(seq 1 8); do printf "e$i = ${R//%d/$((i-1))}\n"; done
  printf 'host = x%%(e8)s\n'; } >"$T/empty.conf"
try empty
