# t/harden/lib.sh: helpers for the review and fault tests (sourced, bash):
# the operator tests' private mandosd (t/ctl/lib.sh) plus the sanitized
# builds of the programs whose defects only a sanitizer shows.
. "${top_srcdir:-$(dirname "$0")/../..}/t/ctl/lib.sh"
IMPORT_SAN=$top_builddir/t/import-driver-san
CTL_SAN=$top_builddir/t/mandosctl-san
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
need_root() { [ "$(id -u)" -eq 0 ] || skip "needs root"; }
# cpu_ticks PID: utime+stime of PID in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
