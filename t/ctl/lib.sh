# t/ctl/lib.sh: helpers for the operator tests (sourced, bash): a private
# mandosd with its own control socket, state directory and port, clients
# from mandos-storm's table. Exit codes: 0 pass, 1 fail, 77 skip.
set -u
: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
MANDOSD=$top_builddir/src/mandosd
CTL=$top_builddir/clients/mandosctl
STORM=$top_builddir/clients/mandos-storm
T=$(mktemp -d "${TMPDIR:-/tmp}/mandosd-ctl.XXXXXX") || exit 99
chmod 0755 "$T"
SOCK=$T/ctl.sock
MPID=
PORT=
MLOG=$T/mandosd.log
EXTRA_PIDS=()

cleanup() {
	local p
	for p in "${EXTRA_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	if [ -n "$MPID" ] && kill -0 "$MPID" 2>/dev/null; then
		kill -TERM "$MPID" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$MPID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$MPID" 2>/dev/null
		wait "$MPID" 2>/dev/null
	fi
	[ "${KEEP:-0}" = 1 ] || rm -rf -- "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
	echo "FAIL: $*"
	[ -f "$MLOG" ] && { echo "--- mandosd log:"; tail -n 40 "$MLOG"; }
	exit 1
}
skip() { echo "SKIP: $*"; exit 77; }
ok() { echo "ok: $*"; }
need_cmd() { command -v "$1" >/dev/null 2>&1 || skip "$1 not installed"; }
[ -x "$MANDOSD" ] || skip "no $MANDOSD"
[ -x "$CTL" ] || skip "no $CTL"
[ -x "$STORM" ] || skip "no $STORM"
need_cmd python3

# The server drops to this user when started as root; it owns the state dir.
if [ "$(id -u)" -eq 0 ]; then
	RUNAS=$(getent passwd _mandos >/dev/null && echo _mandos || echo nobody)
	USER_ARGS=(--user "$RUNAS")
else
	RUNAS=$(id -un)
	USER_ARGS=()
fi
STATEDIR=$T/state
mkdir -p "$STATEDIR"
[ "$(id -u)" -eq 0 ] && chown "$RUNAS" "$STATEDIR"

# make_table N SEED [DEFAULTS_JSON] [PER_CLIENT_JSON]: $T/clients.json.
make_table() {
	"$STORM" --make-table "$1" --seed "$2" >"$T/storm.json" || fail "make-table"
	python3 - "$T/storm.json" "${3:-{\}}" "${4:-{\}}" >"$T/clients.json" <<'PY' || fail "table"
import json, sys
t = json.load(open(sys.argv[1]))
t["defaults"] = json.loads(sys.argv[2])
for name, extra in json.loads(sys.argv[3]).items():
    t["clients"][name].update(extra)
print(json.dumps(t, indent=1))
PY
}

# start ARGS...: mandosd on [::1], any port, our socket and state dir.
start() {
	: >"$MLOG"
	"$MANDOSD" --foreground --no-zeroconf --address ::1 --port 0 \
	    --clients "$T/clients.json" --control "$SOCK" --statedir "$STATEDIR" \
	    "${USER_ARGS[@]}" "$@" </dev/null >>"$MLOG" 2>&1 &
	MPID=$!
	for _ in $(seq 100); do
		PORT=$(sed -n 's/.*listening on \[.*\]:\([0-9]*\),.*/\1/p' "$MLOG" | head -n1)
		[ -n "$PORT" ] && return 0
		kill -0 "$MPID" 2>/dev/null || fail "mandosd exited at start"
		sleep 0.1
	done
	fail "mandosd did not start listening"
}

# stop: SIGTERM and wait; a non-zero exit fails the test.
stop() {
	local rc
	kill -TERM "$MPID"
	wait "$MPID"
	rc=$?
	MPID=
	[ "$rc" -eq 0 ] || fail "mandosd exited with status $rc"
}

ctl() { "$CTL" --socket "$SOCK" "$@"; }

# req JSON: one raw request line, the reply line on stdout.
req() {
	python3 - "$SOCK" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
buf = b""
while b"\n" not in buf:
    d = s.recv(65536)
    if not d:
        break
    buf += d
sys.stdout.write(buf.split(b"\n")[0].decode() + "\n")
PY
}

# jq-like: jget JSON PYEXPR (r is the parsed reply).
jget() { python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }

# counter NAME: one counter from mandosctl --stats.
counter() { ctl --stats | awk -v k="$1" '$1 == k { print $2 }'; }

# storm FIRST N COUNT [ARGS]: play clients FIRST..FIRST+N-1 of the table.
storm() {
	local first=$1 n=$2 count=$3
	shift 3
	"$STORM" --connect "[::1]:$PORT" --seed "$SEED" --first-client "$first" \
	    --clients "$n" --count "$count" -q "$@"
}

# wait_for SECONDS CMD...: until CMD succeeds.
wait_for() {
	local n=$(( $1 * 10 ))
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}

# enabled NAME: "True"/"False" from the server.
enabled() { jget "$(req '{"v":1,"cmd":"show","clients":["'"$1"'"]}')" 'r["result"]["'"$1"'"]["Enabled"]'; }
