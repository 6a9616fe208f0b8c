# t/fleet/lib.sh: a real three-member etcd cluster on loopback for the fleet
# tests (sourced, bash). Ports are chosen free at run time, data lives in a
# private temp dir, timings are short so elections take well under a second.
# Cleanup kills only the pids started here. Exit codes: 0 pass, 1 fail,
# 77 skip (only when etcd is not installed and we are not in CI).
set -u
: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_srcdir:=$top_builddir}"
CTL=$top_builddir/clients/mandosctl
MANDOSD=$top_builddir/src/mandosd
T=$(mktemp -d "${TMPDIR:-/tmp}/mandosd-fleet.XXXXXX") || exit 99
ETCD_N=3
ETCD_PIDS=()	# by member index 0..2; empty when stopped
ETCD_CPORT=()	# client ports
ETCD_PPORT=()	# peer ports
EXTRA_PIDS=()

fleet_cleanup() {
	local p i
	for p in "${EXTRA_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for i in "${!ETCD_PIDS[@]}"; do
		p=${ETCD_PIDS[$i]}
		[ -n "$p" ] && kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	[ "${KEEP:-0}" = 1 ] || rm -rf -- "$T"
}
trap fleet_cleanup EXIT
trap 'exit 1' INT TERM HUP

fail() {
	echo "FAIL: $*"
	local i
	for i in 0 1 2; do
		[ -f "$T/etcd$i.log" ] && { echo "--- etcd$i log:"; tail -n 5 "$T/etcd$i.log"; }
	done
	exit 1
}
skip() {
	# CI installs etcd through quickstart: a skip there is a failure.
	[ "${CI:-}" = true ] && fail "would skip in CI: $*"
	echo "SKIP: $*"; exit 77
}
ok() { echo "ok: $*"; }
command -v etcd >/dev/null 2>&1 || skip "etcd not installed (apt-get install etcd-server)"
command -v etcdctl >/dev/null 2>&1 || skip "etcdctl not installed (apt-get install etcd-client)"
command -v python3 >/dev/null 2>&1 || skip "python3 not installed"
[ -x "$CTL" ] || skip "no $CTL"
# Debian's etcd refuses some arches without this; amd64 ignores it.
case "$(uname -m)" in x86_64|aarch64) ;; *) export ETCD_UNSUPPORTED_ARCH=$(dpkg --print-architecture 2>/dev/null) ;; esac
export ETCDCTL_API=3

# Six free loopback ports, held together while chosen so they differ.
fleet_ports() {
	python3 -c '
import socket
ss = [socket.socket() for _ in range(6)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))'
}

# Start member $1 (0..2) with the cluster state given as $2 (new|existing).
etcd_start_member() {
	local i=$1 state=${2:-existing}
	etcd --name "m$i" --data-dir "$T/data$i" \
	    --listen-client-urls "http://127.0.0.1:${ETCD_CPORT[$i]}" \
	    --advertise-client-urls "http://127.0.0.1:${ETCD_CPORT[$i]}" \
	    --listen-peer-urls "http://127.0.0.1:${ETCD_PPORT[$i]}" \
	    --initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PPORT[$i]}" \
	    --initial-cluster "$ETCD_CLUSTER" --initial-cluster-state "$state" \
	    --initial-cluster-token "mandosd-fleet-$$" \
	    --heartbeat-interval 50 --election-timeout 300 \
	    --listen-metrics-urls "" --enable-v2=false \
	    --logger zap --log-level error \
	    </dev/null >>"$T/etcd$i.log" 2>&1 &
	ETCD_PIDS[$i]=$!
}

# Start the three members and wait until every one answers healthy. The
# ports are free when chosen but not held until etcd binds them, so under
# a parallel make check another process may take one: then start over
# once on new ports.
etcd_cluster_start() {
	local p i try
	for try in 1 2; do
		read -r -a p <<<"$(fleet_ports)"
		ETCD_CLUSTER=
		for i in 0 1 2; do
			ETCD_CPORT[$i]=${p[$((2 * i))]}
			ETCD_PPORT[$i]=${p[$((2 * i + 1))]}
			ETCD_CLUSTER+="${ETCD_CLUSTER:+,}m$i=http://127.0.0.1:${ETCD_PPORT[$i]}"
		done
		ETCD_ENDPOINTS="127.0.0.1:${ETCD_CPORT[0]},127.0.0.1:${ETCD_CPORT[1]},127.0.0.1:${ETCD_CPORT[2]}"
		ETCD_URLS="http://127.0.0.1:${ETCD_CPORT[0]},http://127.0.0.1:${ETCD_CPORT[1]},http://127.0.0.1:${ETCD_CPORT[2]}"
		STORE="etcd://$ETCD_ENDPOINTS/mandos-test"
		for i in 0 1 2; do etcd_start_member "$i" new; done
		etcd_wait_healthy 0 1 2 && return 0
		[ "$try" = 2 ] && break
		echo "  etcd cluster not healthy on ports ${p[*]}; retrying on new ports"
		for i in 0 1 2; do etcd_kill_member "$i"; rm -rf "$T/data$i"; mv "$T/etcd$i.log" "$T/etcd$i.log.1" 2>/dev/null; done
	done
	fail "etcd cluster not healthy within 20 s"
}

# etcdctl against the whole cluster (etcdctl 3.4 refuses ETCDCTL_ENDPOINTS
# together with --endpoints, so the endpoints are always given as a flag).
ectl() { etcdctl --endpoints "$ETCD_URLS" --command-timeout 3s "$@"; }

# Wait (up to 20 s) until the given members all report healthy.
etcd_wait_healthy() {
	local i eps= _
	for i in "$@"; do eps+="${eps:+,}http://127.0.0.1:${ETCD_CPORT[$i]}"; done
	for _ in $(seq 100); do
		etcdctl --endpoints "$eps" --command-timeout 2s endpoint health \
		    >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

# Kill member $1 hard (SIGKILL), as a crash.
etcd_kill_member() {
	local i=$1
	[ -n "${ETCD_PIDS[$i]:-}" ] || return 0
	kill -KILL "${ETCD_PIDS[$i]}" 2>/dev/null
	wait "${ETCD_PIDS[$i]}" 2>/dev/null
	ETCD_PIDS[$i]=
}

# Stop member $1 cleanly (SIGTERM), waiting up to 10 s, then SIGKILL.
etcd_stop_member() {
	local i=$1 p=${ETCD_PIDS[$1]:-} _
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	ETCD_PIDS[$i]=
}

# Restart a stopped member $1 on its data dir (it rejoins the cluster).
etcd_restart_member() {
	etcd_start_member "$1" existing
}

# Print the index (0..2) of the current leader, or nothing.
etcd_leader() {
	local i
	for i in 0 1 2; do
		[ -n "${ETCD_PIDS[$i]:-}" ] || continue
		etcdctl --endpoints "http://127.0.0.1:${ETCD_CPORT[$i]}" \
		    --command-timeout 2s endpoint status -w json 2>/dev/null |
		    python3 -c '
import json, sys
s = json.load(sys.stdin)[0]["Status"]
sys.exit(0 if s["leader"] == s["header"]["member_id"] else 1)' &&
		    { echo "$i"; return 0; }
	done
	return 1
}

# Milliseconds since the epoch (for bounded-time checks).
now_ms() { date +%s%3N; }

STORM=$top_builddir/clients/mandos-storm
# make_table N SEED > file: a clients.json with N real clients (keys and
# secrets from mandos-storm) and some defaults.
make_table() {
	"$STORM" --make-table "$1" --seed "$2" >"$T/storm-$2.json" || fail "make-table"
	python3 - "$T/storm-$2.json" <<'PY' || fail "table"
import json, sys
t = json.load(open(sys.argv[1]))
t["defaults"] = {"timeout": "PT5M", "interval": "PT2M", "approval_delay": "PT0S"}
print(json.dumps(t, indent=1))
PY
}

# same_json A B: the two files hold the same JSON value.
same_json() {
	python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' "$1" "$2"
}

# edit_json FILE PYTHON-STATEMENTS: rewrite FILE, the JSON value bound to t.
edit_json() {
	python3 - "$1" "$2" <<'PY' || fail "edit_json $2"
import json, sys
t = json.load(open(sys.argv[1]))
exec(sys.argv[2])
open(sys.argv[1], "w").write(json.dumps(t, indent=1))
PY
}
