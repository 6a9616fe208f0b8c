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
# For leak traces that stop inside jansson or GnuTLS (no frame pointers),
# set SAN_ASAN_OPTIONS=fast_unwind_on_malloc=0 by hand: not by default, it
# makes t/check_keytab's 100,000 clients take 40 s instead of 4.
ASAN_OPTIONS=abort_on_error=1:halt_on_error=1:detect_leaks=1:log_path=$SAN_DIR/asan${SAN_ASAN_OPTIONS:+:$SAN_ASAN_OPTIONS}
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$SAN_DIR/ubsan
LSAN_OPTIONS=suppressions=$supp:print_suppressions=0
MANDOSD_VALGRIND=0
# Tests that bound how fast something is (not a deadline of the code) may
# multiply their bound by this: sanitized code runs 2-3 times slower.
MANDOSD_TIME_FACTOR=3
export ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS MANDOSD_VALGRIND SAN_DIR \
    MANDOSD_TIME_FACTOR
# The mark tells which processes came from this test (grep below).
MANDOSD_SAN_RUN=$SAN_DIR "$@"
rc=$?
# A child that outlives the test may still be about to report (a leak is
# found at its exit): wait up to 10 s for every process with our mark.
for _ in $(seq 100); do
	grep -qlsz "^MANDOSD_SAN_RUN=$SAN_DIR\$" /proc/[0-9]*/environ || break
	sleep 0.1
done
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
