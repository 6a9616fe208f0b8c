# t/fleet/lib.sh: a real three-member etcd cluster on loopback for the fleet
# tests (sourced, bash). Ports are chosen free at run time, data lives in a
# private temp dir, timings are short so elections take well under a second.
# Cleanup kills only the pids started here. Exit codes: 0 pass, 1 fail,
# 77 skip (only when etcd is not installed and we are not in CI).
# TLS mode: call fleet_tls_init before etcd_cluster_start; the members then
# serve clients over https with client certificates required, STORE is an
# etcds:// URL and ectl passes the certificates (and ETCD_ROOT, user:pass,
# once set). ETCD_EXTRA holds more etcd flags for every member.
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
ETCD_TLS=0
ETCD_EXTRA=()
ETCD_ROOT=

fleet_cleanup() {
	local p i
	# A pid here may be a subshell (a backgrounded helper function): its
	# children first, or they outlive the test until their own deadline.
	for p in "${EXTRA_PIDS[@]}"; do
		pkill -TERM -P "$p" 2>/dev/null
		kill -TERM "$p" 2>/dev/null
	done
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

# fleet_proxy_start SCRIPT ARGS...: a TCP proxy of the test's own on
# loopback. SCRIPT (Python) defines serve(conn), run in a thread for each
# accepted connection, and takes ARGS as sys.argv[1:]; the listener and
# its port file are this helper's. Sets PROXY_PORT; killed at exit.
fleet_proxy_start() {
	local py=$1
	shift
	cat "$py" - >"$py.run" <<'PY'
import os as _os, socket as _socket, threading as _threading
_l = _socket.socket()
_l.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
_l.bind(("127.0.0.1", 0)); _l.listen(64)
_pf = _os.environ["PROXY_PORT_FILE"]
open(_pf + ".tmp", "w").write(str(_l.getsockname()[1]))
_os.rename(_pf + ".tmp", _pf)
while True:
    _c, _ = _l.accept()
    _threading.Thread(target=serve, args=(_c,), daemon=True).start()
PY
	rm -f "$T/proxy.port"
	PROXY_PORT_FILE=$T/proxy.port python3 "$py.run" "$@" &
	EXTRA_PIDS+=("$!")
	for _ in $(seq 50); do [ -s "$T/proxy.port" ] && break; sleep 0.1; done
	[ -s "$T/proxy.port" ] || fail "the proxy did not start"
	PROXY_PORT=$(cat "$T/proxy.port")
}
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
	local i=$1 state=${2:-existing} tls=()
	[ "$ETCD_TLS" = 1 ] && tls=(--cert-file "$TLS/server.pem" \
	    --key-file "$TLS/server.key" --trusted-ca-file "$TLS/ca.pem" \
	    --client-cert-auth)
	etcd --name "m$i" --data-dir "$T/data$i" \
	    --listen-client-urls "$ETCD_SCHEME://127.0.0.1:${ETCD_CPORT[$i]}" \
	    --advertise-client-urls "$ETCD_SCHEME://127.0.0.1:${ETCD_CPORT[$i]}" \
	    "${tls[@]}" "${ETCD_EXTRA[@]}" \
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
		ETCD_URLS="$ETCD_SCHEME://127.0.0.1:${ETCD_CPORT[0]},$ETCD_SCHEME://127.0.0.1:${ETCD_CPORT[1]},$ETCD_SCHEME://127.0.0.1:${ETCD_CPORT[2]}"
		STORE="etcd$([ "$ETCD_TLS" = 1 ] && echo s)://$ETCD_ENDPOINTS/mandos-test"
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
ectl() { etcdctl --endpoints "$ETCD_URLS" --command-timeout 3s "${ETCDCTL_TLS[@]}" \
    ${ETCD_ROOT:+--user "$ETCD_ROOT"} "$@"; }
ETCD_SCHEME=http
ETCDCTL_TLS=()

# fleet_tls_init: a CA, a server certificate for 127.0.0.1 (IP SAN) and
# localhost, a client certificate (no CN: etcd 3.4's gateway refuses one with a CN), and a second CA that
# signed none of them, in $TLS; the cluster then speaks TLS to clients.
# fleet_auth_enable: etcd users on, root and "mandos" (read-write on
# /mandos-test/ only, password in $T/auth, 0600, for --store-auth); ectl
# goes on as root.
fleet_auth_enable() {
	ectl user add root --new-user-password 'root pw' >/dev/null || fail "user add root"
	ectl user grant-role root root >/dev/null || fail "grant root"
	ectl role add mandos >/dev/null || fail "role add"
	ectl role grant-permission mandos --prefix=true readwrite /mandos-test/ >/dev/null || fail "grant-permission"
	ectl user add mandos --new-user-password 'fleet s3cret' >/dev/null || fail "user add mandos"
	ectl user grant-role mandos mandos >/dev/null || fail "grant mandos"
	ectl auth enable >/dev/null || fail "auth enable"
	ETCD_ROOT='root:root pw'
	printf 'mandos:fleet s3cret\n' >"$T/auth"
	chmod 0600 "$T/auth"
}

fleet_tls_init() {
	command -v certtool >/dev/null 2>&1 || skip "certtool not installed (apt-get install gnutls-bin)"
	TLS=$T/tls
	mkdir -p "$TLS"
	local n
	for n in ca other-ca server client; do
		certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 \
		    --outfile "$TLS/$n.key" >/dev/null 2>&1 || fail "certtool key $n"
	done
	printf 'cn = "mandosd test CA"\nca\ncert_signing_key\nexpiration_days = 2\n' >"$TLS/ca.tmpl"
	printf 'cn = "some other CA"\nca\ncert_signing_key\nexpiration_days = 2\n' >"$TLS/other-ca.tmpl"
	printf 'cn = "etcd"\nip_address = "127.0.0.1"\ndns_name = "localhost"\ntls_www_server\ntls_www_client\nsigning_key\nencryption_key\nexpiration_days = 2\n' >"$TLS/server.tmpl"
	printf 'organization = "mandosd test client"\ntls_www_client\nsigning_key\nexpiration_days = 2\n' >"$TLS/client.tmpl"
	for n in ca other-ca; do
		certtool --generate-self-signed --load-privkey "$TLS/$n.key" \
		    --template "$TLS/$n.tmpl" --outfile "$TLS/$n.pem" >/dev/null 2>&1 || fail "certtool $n"
	done
	for n in server client; do
		certtool --generate-certificate --load-privkey "$TLS/$n.key" \
		    --load-ca-certificate "$TLS/ca.pem" --load-ca-privkey "$TLS/ca.key" \
		    --template "$TLS/$n.tmpl" --outfile "$TLS/$n.pem" >/dev/null 2>&1 || fail "certtool $n"
	done
	chmod 0600 "$TLS"/*.key
	ETCD_TLS=1
	ETCD_SCHEME=https
	ETCDCTL_TLS=(--cacert "$TLS/ca.pem" --cert "$TLS/client.pem" --key "$TLS/client.key")
}

# Wait (up to 20 s) until the given members all report healthy.
etcd_wait_healthy() {
	local i eps= _
	for i in "$@"; do eps+="${eps:+,}$ETCD_SCHEME://127.0.0.1:${ETCD_CPORT[$i]}"; done
	for _ in $(seq 100); do
		etcdctl --endpoints "$eps" --command-timeout 2s "${ETCDCTL_TLS[@]}" \
		    ${ETCD_ROOT:+--user "$ETCD_ROOT"} endpoint health \
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
		etcdctl --endpoints "$ETCD_SCHEME://127.0.0.1:${ETCD_CPORT[$i]}" \
		    --command-timeout 2s "${ETCDCTL_TLS[@]}" \
		    ${ETCD_ROOT:+--user "$ETCD_ROOT"} endpoint status -w json 2>/dev/null |
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
