# t/worker/lib.sh: helpers for the tests of the authority and its workers.
. "${top_srcdir:-.}/t/core/lib.sh" || exit 99
STORM=$top_builddir/clients/mandos-storm
CTL=$top_builddir/clients/mandosctl
[ -x "$STORM" ] || fail "mandos-storm not built"

# workers: the pids of the authority's network workers (comm mandosd-wN;
# under valgrind, a child whose command line has --worker).
workers() {
	local p
	for p in $(cat /proc/"$MPID"/task/*/children 2>/dev/null); do
		case "$(cat /proc/"$p"/comm 2>/dev/null)" in
		mandosd-w[0-9]*) echo "$p" ;;
		*) tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null |
		    grep -q -- ' --worker ' && echo "$p" ;;
		esac
	done
}
# worker_pid N: the pid of worker N ("mandosd: worker N" in ps).
worker_pid() {
	local p c
	for p in $(workers); do
		c=$(tr '\0' ' ' </proc/"$p"/cmdline | sed 's/ *$//')
		case "$c" in
		"mandosd: worker $1"|*" --worker "[0-9]*",$1 "*) echo "$p" ;;
		esac
	done
}
# metric NAME: one sample from the control socket's metrics.
metric() { "$CTL" --socket "$T/mandosd.sock" --metrics | awk -v m="$1" '$1 == m {print $2}'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
