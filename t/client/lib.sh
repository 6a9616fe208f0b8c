# t/client/lib.sh: helpers for the client interop tests (sourced, bash).
# Exit codes: 0 pass, 1 fail, 77 skip. Each test gets a private temp dir,
# its own ports and kills only the PIDs it started.

TC_NAME=${0##*/}
: "${top_builddir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
CLIENT=$top_builddir/clients/mandos-client
KEYGEN=$top_builddir/clients/mandos-keygen
MANDOSD=$top_builddir/src/mandosd
IMPORT=$top_builddir/t/client/import-driver
REF_CLIENT=${REF_CLIENT:-/usr/lib/x86_64-linux-gnu/mandos/plugins.d/mandos-client}
REF_KEYGEN=/usr/sbin/mandos-keygen
REF_SERVER=/usr/sbin/mandos
TC_PIDS=()

tc_log() { echo "$TC_NAME: $*" >&2; }
tc_fail() { tc_log "FAIL: $*"; exit 1; }
tc_skip() { tc_log "SKIP: $*"; exit 77; }

# Stop what this test started, newest first, and remove its temp dir.
tc_cleanup() {
	local i p
	set +m
	for ((i = ${#TC_PIDS[@]} - 1; i >= 0; i--)); do
		p=${TC_PIDS[i]}
		kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null
	done
	for p in "${TC_PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	[ -n "${TC_TMP:-}" ] && [ "${TC_KEEP:-0}" != 1 ] && rm -rf -- "$TC_TMP"
}

# Start a test: root, required tools, temp dir, cleanup trap, overall bound.
tc_init() {
	[ "$(id -u)" -eq 0 ] || tc_skip "needs root"
	local t
	for t in "$@"; do
		[ -e "$t" ] || command -v "$t" >/dev/null 2>&1 || tc_skip "missing $t"
	done
	TC_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tclient.XXXXXX") || exit 99
	chmod 0755 "$TC_TMP"
	trap tc_cleanup EXIT
	trap 'exit 1' INT TERM HUP
	set -m	# background jobs get their own process groups
	# Whatever happens, the test ends within TC_LIMIT seconds.
	( trap 'kill $w 2>/dev/null; exit 0' TERM; sleep "${TC_LIMIT:-240}" &
	  w=$!; wait $w; kill -TERM $$ ) </dev/null >/dev/null 2>&1 &
	TC_PIDS+=("$!")
}

# Print a port in 21000-21999 with nothing listening on it.
tc_port() {
	local p
	for _ in $(seq 200); do
		p=$((21000 + RANDOM % 1000))
		if ! ss -Htan "sport = :$p" 2>/dev/null | grep -q .; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# Key set from the reference mandos-keygen in $1 with a secret; sets files
# $1/{key_id,secret.txt,secret.b64,section.conf}.
tc_refkeys() {
	local d=$1 name=${2:-client}
	mkdir -p "$d/keys" && chmod 0700 "$d/keys"
	TMPDIR=$TC_TMP "$REF_KEYGEN" --dir "$d/keys" --name "$name" --force \
	    --length 2048 --sublength 2048 </dev/null >"$d/keygen.log" 2>&1 ||
	    { cat "$d/keygen.log" >&2; return 1; }
	printf '%s' "${SECRET:-secret-$RANDOM$RANDOM-$name}" >"$d/secret.txt"
	TMPDIR=$TC_TMP "$REF_KEYGEN" --dir "$d/keys" --name "$name" \
	    --passfile "$d/secret.txt" --no-ssh </dev/null >"$d/section.conf" \
	    2>"$d/keygen.log" || { cat "$d/keygen.log" >&2; return 1; }
	sed -n '/^secret =/,/^[^ ]/{/^    /{s/^ *//;p}}' "$d/section.conf" |
	    tr -d '\n' >"$d/secret.b64"
	sed -n 's/^key_id = //p' "$d/section.conf" >"$d/key_id"
	[ -s "$d/secret.b64" ] && [ -s "$d/key_id" ]
}

# Key set from our mandos-keygen in $1 (options: $KEYGEN_ARGS); same files
# as tc_refkeys.
tc_ourkeys() {
	local d=$1 name=${2:-client}
	mkdir -p "$d/keys" && chmod 0700 "$d/keys"
	# shellcheck disable=SC2086
	TMPDIR=$TC_TMP "$KEYGEN" --dir "$d/keys" --name "$name" --force \
	    ${KEYGEN_ARGS:---length 2048 --sublength 2048} >"$d/key_id" \
	    2>"$d/keygen.log" ||
	    { cat "$d/keygen.log" >&2; return 1; }
	printf '%s' "${SECRET:-secret-$RANDOM$RANDOM-$name}" >"$d/secret.txt"
	TMPDIR=$TC_TMP "$KEYGEN" --dir "$d/keys" --name "$name" --conf \
	    --passfile "$d/secret.txt" >"$d/section.conf" 2>"$d/keygen.log" ||
	    { cat "$d/keygen.log" >&2; return 1; }
	sed -n '/^secret =/,/^[^ ]/{/^    /{s/^ *//;p}}' "$d/section.conf" |
	    tr -d '\n' >"$d/secret.b64"
	[ -s "$d/secret.b64" ] && [ -s "$d/key_id" ]
}

# clients.json for mandosd serving the key sets given as name=dir pairs.
tc_json() {
	local first=1 arg
	printf '{"defaults": {"checker": "true"}, "clients": {'
	for arg in "$@"; do
		[ $first = 1 ] || printf ', '
		first=0
		printf '"%s": {"key_id": "%s", "secret": "%s", "host": "localhost"}' \
		    "${arg%%=*}" "$(cat "${arg#*=}/key_id")" "$(cat "${arg#*=}/secret.b64")"
	done
	printf '}}\n'
}

# Start mandosd on ::1 (or $MADDR) with clients file $1; sets MPORT, MPID.
tc_mandosd() {
	[ -x "$MANDOSD" ] || tc_skip "no $MANDOSD"
	local tag=$RANDOM
	local log=$TC_TMP/mandosd.$tag.log a=(--address "${MADDR:-::1}")
	[[ ${MADDR:-::1} == *:* ]] || a+=(--no-ipv6)
	# Private state and control socket, no Zeroconf: tests must not share them.
	a+=(--statedir "$TC_TMP/state.$tag" --control "$TC_TMP/ctl.$tag.sock" --no-zeroconf)
	"$MANDOSD" --foreground --clients "$1" "${a[@]}" --port 0 \
	    </dev/null >"$log" 2>&1 &
	MPID=$!
	TC_PIDS+=("$MPID")
	for _ in $(seq 100); do
		MPORT=$(sed -n 's/.*listening on \[.*\]:\([0-9][0-9]*\).*/\1/p' "$log" | head -n1)
		[ -n "$MPORT" ] && { MLOG=$log; return 0; }
		kill -0 "$MPID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$log" >&2
	tc_fail "mandosd did not start"
}

# Start the reference Python server with confdir $1 on ::1; sets RPORT, RPID.
tc_refserver() {
	local conf=$1 run=$TC_TMP/ref.$RANDOM suser=nobody u
	[ -x "$REF_SERVER" ] || tc_skip "no reference server"
	command -v dbus-daemon >/dev/null || tc_skip "no dbus-daemon"
	for u in _mandos mandos; do getent passwd "$u" >/dev/null && { suser=$u; break; }; done
	mkdir -p "$run/state" && chown "$suser" "$run/state" && chmod 0700 "$run/state"
	chmod 0755 "$run"
	cat >"$run/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path=$run/bus</listen>
<auth>EXTERNAL</auth><policy context="default"><allow user="*"/>
<allow own="*"/><allow send_destination="*" eavesdrop="true"/>
<allow eavesdrop="true"/></policy></busconfig>
EOF
	dbus-daemon --config-file="$run/bus.conf" --nofork </dev/null >/dev/null 2>&1 &
	TC_PIDS+=("$!")
	for _ in $(seq 50); do [ -S "$run/bus" ] && break; sleep 0.1; done
	RPORT=$(tc_port) || tc_fail "no free port"
	# The server needs a system bus even with --no-dbus, and /dev/log.
	DBUS_SYSTEM_BUS_ADDRESS=unix:path=$run/bus /usr/bin/python3 -bI -c '
import os, sys, runpy, logging
if not os.path.exists("/dev/log"):
    logging.raiseExceptions = False
sys.argv = ["/usr/sbin/mandos"] + sys.argv[1:]
runpy.run_path("/usr/sbin/mandos", run_name="__main__")' \
	    --no-zeroconf --no-dbus --no-restore --foreground --address ::1 \
	    --port "$RPORT" --configdir "$conf" --statedir "$run/state" \
	    </dev/null >"$run/log" 2>&1 &
	RPID=$!
	TC_PIDS+=("$RPID")
	for _ in $(seq 200); do
		ss -Hltn "sport = :$RPORT" 2>/dev/null | grep -q . && return 0
		kill -0 "$RPID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$run/log" >&2
	tc_fail "reference server did not start"
}

# Reference clients.conf dir in $1 for key sets given as name=dir pairs.
tc_refconf() {
	local c=$1 arg; shift
	mkdir -p "$c" && chmod 0700 "$c"
	printf '[DEFAULT]\n' >"$c/mandos.conf"
	{
		printf '[DEFAULT]\nchecker = true\n\n'
		for arg in "$@"; do
			sed "1s/^\[.*\]/[${arg%%=*}]/" "${arg#*=}/section.conf"
			echo
		done
	} >"$c/clients.conf"
}

# Run our client against the servers in "$@" (ADDR:PORT each) with key dir
# $KD; output to $TC_TMP/out, log to $TC_TMP/err; returns its status.
tc_client() {
	local a=() s
	for s in "$@"; do a+=(--connect "$s"); done
	mkdir -p "$TC_TMP/hooks"
	timeout "${TC_TIMEOUT:-30}" "$CLIENT" "${a[@]}" --interface=none \
	    --network-hook-dir="$TC_TMP/hooks" \
	    --pubkey="$KD/pubkey.txt" --seckey="$KD/seckey.txt" \
	    --tls-pubkey="$KD/tls-pubkey.pem" --tls-privkey="$KD/tls-privkey.pem" \
	    --give-up="${GIVE_UP:-10}" ${CLIENT_ARGS:-} \
	    </dev/null >"$TC_TMP/out" 2>"$TC_TMP/err"
}

# Run the reference client once against $1 (ADDR:PORT) with key dir $KD,
# for at most $2 seconds (20); it fails at its first retry (a refusal).
# timeout bounds it even if this shell dies first.
tc_refclient() {
	local log=$TC_TMP/refclient.log pid why= lim=${2:-20}
	mkdir -p "$TC_TMP/hooks"
	timeout "$((lim + 2))" "$REF_CLIENT" --connect="$1" --interface=none \
	    --network-hook-dir="$TC_TMP/hooks" \
	    --pubkey="$KD/pubkey.txt" --seckey="$KD/seckey.txt" \
	    --tls-pubkey="$KD/tls-pubkey.pem" --tls-privkey="$KD/tls-privkey.pem" \
	    --retry=1 --debug </dev/null >"$TC_TMP/out" 2>"$log" &
	pid=$!
	for _ in $(seq $((lim * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		if grep -q 'Retrying in' "$log"; then why=retry; break; fi
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && { kill -TERM "$pid"; why=${why:-timeout}; }
	wait "$pid"
	local rc=$?
	[ -z "$why" ] && [ $rc -eq 0 ] && return 0
	grep -v 'GnuTLS: ' "$log" | tail -n 8 >&2
	return 1
}

# Whether $TC_TMP/out is exactly the secret of key set $1.
tc_check_out() {
	cmp -s "$TC_TMP/out" "$1/secret.txt" || {
		tc_log "output differs from $1/secret.txt"
		cat "$TC_TMP/err" >&2
		return 1
	}
}
