# t/core/lib.sh: helpers for mandosd's shell tests (sourced, bash).
# Exit codes: 0 pass, 1 fail, 77 skip, 99 hard error (automake's).
set -u
: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
MANDOSD=$top_builddir/src/mandosd
TCLIENT=$top_builddir/t/tclient
T=$(mktemp -d "${TMPDIR:-/tmp}/mandosd-test.XXXXXX")
MPID=
PORT=

cleanup() {
	if [ -n "$MPID" ] && kill -0 "$MPID" 2>/dev/null; then
		kill -TERM "$MPID" 2>/dev/null
		wait "$MPID" 2>/dev/null
	fi
	rm -rf -- "$T"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	if [ -f "$T/mandosd.log" ]; then
		echo "--- mandosd log:"
		tail -n 40 "$T/mandosd.log"
	fi
	exit 1
}
skip() { echo "SKIP: $*"; exit 77; }
ok() { echo "ok: $*"; }
need_cmd() { command -v "$1" >/dev/null 2>&1 || skip "$1 not installed"; }
need_root() { [ "$(id -u)" -eq 0 ] || skip "needs root"; }

# Run mandosd under valgrind when it is there (MANDOSD_VALGRIND=0 turns it off).
# It follows the exec'd network workers too: one log per process.
VALGRIND=
if [ "${MANDOSD_VALGRIND:-1}" = 1 ] && command -v valgrind >/dev/null 2>&1; then
	# A child writes its log after the drop to _mandos: a directory it may write.
	mkdir -m 1777 "$T/vg" && chmod 711 "$T"
	VALGRIND="valgrind -q --vgdb=no --trace-children=yes --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --log-file=$T/vg/valgrind.%p.log"
fi

# A test's server keeps its state and control socket to itself: never the
# machine's /var/lib/mandos or /run/mandos, which other tests may be using.
PRIVATE="--statedir $T/state --control $T/mandosd.sock --no-zeroconf"

# keyid IDX [SEED]: the key ID of tclient's storm client IDX.
keyid() { "$TCLIENT" --keyid --idx "$1" --seed "${2:-test}"; }

# table FILE: write a client table; entries come on stdin as JSON members.
table() {
	{ printf '{"clients": {\n'; cat; printf '}}\n'; } >"$1"
}

# client NAME IDX SECRET [EXTRA]: one JSON member for table().
client() {
	printf '"%s": {"key_id": "%s", "secret": "%s"%s}' "$1" "$(keyid "$2")" \
	    "$(printf '%s' "$3" | base64 -w0)" "${4:+, $4}"
}

# start_mandosd ARGS...: start on [::1] and any port; sets MPID and PORT.
start_mandosd() {
	: >"$T/mandosd.log"
	# shellcheck disable=SC2086
	$VALGRIND "$MANDOSD" --foreground --address ::1 --port 0 $PRIVATE "$@" \
	    >>"$T/mandosd.log" 2>&1 &
	MPID=$!
	for _ in $(seq $([ -z "$VALGRIND" ] && echo 300 || echo 900)); do
		PORT=$(sed -n 's/.*listening on \[.*\]:\([0-9]*\),.*/\1/p' "$T/mandosd.log" | head -n1)
		[ -n "$PORT" ] && return 0
		kill -0 "$MPID" 2>/dev/null || fail "mandosd exited at start"
		sleep 0.1
	done
	fail "mandosd did not start listening"
}

# stop_mandosd: SIGTERM, wait, and fail on a non-zero exit (valgrind errors
# are 99; a worker's make the authority exit 1) or on any process's
# valgrind report (a worker killed mid-run exits with no status to judge).
stop_mandosd() {
	local rc f bad=
	kill -TERM "$MPID"
	wait "$MPID"
	rc=$?
	MPID=
	if [ -n "$VALGRIND" ]; then
		for f in "$T"/vg/valgrind.*.log; do
			[ -s "$f" ] || continue
			echo "--- valgrind ($f):"
			cat "$f"
			# "--pid--" lines are valgrind's own warnings, "==pid==" reports.
			grep -q '^==[0-9]*==' "$f" && bad=1
		done
	fi
	[ "$rc" -eq 0 ] || fail "mandosd exited with status $rc"
	[ -z "$bad" ] || fail "valgrind found errors or leaks"
}

# wait_log PATTERN [SECONDS]: until the log has a line matching PATTERN.
# Under valgrind every process (the authority and each worker) starts
# slowly, the more so on a loaded machine: three times the bound.
wait_log() {
	local n=$(( ${2:-10} * 10 ))
	[ -z "$VALGRIND" ] || n=$((n * 3))
	for _ in $(seq "$n"); do
		grep -q -- "$1" "$T/mandosd.log" && return 0
		sleep 0.1
	done
	fail "no log line matching '$1'"
}

# probe ARGS...: run tclient against mandosd; sets RC, output in $T/out, messages in $T/err.
probe() {
	"$TCLIENT" --connect "[::1]:$PORT" "$@" >"$T/out" 2>"$T/err"
	RC=$?
}
