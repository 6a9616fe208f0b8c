#!/bin/sh
# t/sanitize.sh CMD ARGS...: run one test of the sanitizer build (configure
# --enable-sanitizers) and fail it when any process it started -- the test
# itself, a daemon in the background, a forked child nobody waits for --
# wrote an ASan, LSan or UBSan report.  Each sanitized process writes its
# report to $SAN_DIR/asan.PID or ubsan.PID; we look for those files after
# the test, whatever its exit status was.  valgrind is off: it does not run
# ASan binaries.
SAN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mandosd-san.XXXXXX") || exit 99
# World-writable: the daemon may have dropped to _mandos or nobody.
chmod 1777 "$SAN_DIR"
supp=${top_srcdir:-$(dirname "$0")/..}/t/lsan.supp
# fast_unwind_on_malloc=0: leak traces through libraries built without
# frame pointers (jansson, GnuTLS) still reach our caller.
ASAN_OPTIONS=abort_on_error=1:halt_on_error=1:detect_leaks=1:fast_unwind_on_malloc=0:log_path=$SAN_DIR/asan
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$SAN_DIR/ubsan
LSAN_OPTIONS=suppressions=$supp:print_suppressions=0
MANDOSD_VALGRIND=0
export ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS MANDOSD_VALGRIND SAN_DIR
"$@"
rc=$?
# A child killed by the test's cleanup may still be writing its report.
sleep 0.2
reports=$(find "$SAN_DIR" -type f 2>/dev/null)
if [ -n "$reports" ]; then
	for f in $reports; do
		echo "--- sanitizer report $f:"
		cat "$f"
	done
	echo "FAIL: sanitizer reports (above)"
	rc=1
fi
rm -rf -- "$SAN_DIR"
exit "$rc"
