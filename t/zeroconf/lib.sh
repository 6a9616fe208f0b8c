# lib.sh: shared by the t/zeroconf tests (sourced, bash).
#
# A private D-Bus "system" bus and a real avahi-daemon inside a network
# namespace made by the test (loopback only, IPv4: IPv6 multicast does not
# work on lo), so that nothing leaves the machine.  Every process started
# here is remembered by PID and ended by PID at exit.  Derived from the
# project's proven recipe (a private bus per sandbox, the avahi pid
# directory bind-mounted per namespace, wide-area off).
#
# Exit codes: 0 pass, 1 fail, 77 skip.

# The harness may run us with a POSIX sh: these tests are bash.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
: "${top_builddir:=.}" "${top_srcdir:=.}"
ZC_NAME=${0##*/}
ZC_PIDS=""		# every daemon we started
ZC_NS=""
ZC_DIR=""

zc_skip() { echo "SKIP: $ZC_NAME: $*"; exit 77; }
zc_fail() {
	echo "FAIL: $ZC_NAME: $*"
	if [ -n "$ZC_DIR" ]; then
		for f in "$ZC_DIR"/*.log; do
			[ -f "$f" ] || continue
			echo "--- $f"; tail -n 25 "$f"
		done
	fi
	exit 1
}
zc_pass() { echo "PASS: $ZC_NAME"; exit 0; }

# alive PID: exists and is not a zombie.
zc_alive() {
	local s
	s=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${s#Z}" = "$s" ]
}

# zc_kill PID [SIG]: end one process we started, and wait for it.
zc_kill() {
	local p=$1 sig=${2:-TERM}
	[ -n "$p" ] || return 0
	kill -"$sig" "$p" 2>/dev/null
	for _ in $(seq 100); do zc_alive "$p" || break; sleep 0.02; done
	zc_alive "$p" && kill -KILL "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	ZC_PIDS=$(echo " $ZC_PIDS " | sed "s/ $p / /g")
	return 0
}

zc_cleanup() {
	local p
	for p in $ZC_PIDS; do zc_kill "$p"; done
	[ -n "$ZC_NS" ] && ip netns del "$ZC_NS" 2>/dev/null
	[ -n "${ZC_PEER:-}" ] && ip netns del "$ZC_PEER" 2>/dev/null
	[ -n "$ZC_DIR" ] && [ "${ZC_KEEP:-0}" != 1 ] && rm -rf "$ZC_DIR"
}

# zc_setup: check the tools, make the work dir and the namespace.
zc_setup() {
	local t
	[ "$(id -u)" = 0 ] || zc_skip "needs root"
	for t in ip dbus-daemon dbus-send avahi-daemon avahi-browse setsid; do
		command -v "$t" >/dev/null 2>&1 || zc_skip "missing $t"
	done
	[ -f /usr/share/dbus-1/system.d/avahi-dbus.conf ] ||
		zc_skip "missing avahi-dbus.conf"
	ZC_DIR=$(mktemp -d /tmp/mzc.XXXXXX) || zc_fail "mktemp"
	chmod 0755 "$ZC_DIR"	# the server drops to _mandos: bus reachable
	trap zc_cleanup EXIT
	trap 'exit 1' INT TERM
	ZC_NS="mzc-$$"
	ip netns add "$ZC_NS" 2>/dev/null || zc_skip "cannot create netns"
	ip -n "$ZC_NS" link set lo up || zc_fail "lo up"
	ZC_IFACE=lo ZC_IPV6=no
	if [ "${ZC_MODE:-lo}" = veth ]; then
		# A second namespace across a veth pair: the "other host",
		# reached over IPv4 and IPv6 link-local.
		ZC_PEER="$ZC_NS-peer" ZC_IFACE=mdns0 ZC_IPV6=yes
		ip netns add "$ZC_PEER" || zc_fail "peer netns"
		ip -n "$ZC_PEER" link set lo up
		ip link add mdns0 netns "$ZC_NS" type veth peer name mdns1 \
		    netns "$ZC_PEER" || zc_skip "no veth"
		ip netns exec "$ZC_NS" sysctl -qw net.ipv6.conf.mdns0.accept_dad=0
		ip netns exec "$ZC_PEER" sysctl -qw net.ipv6.conf.mdns1.accept_dad=0
		ip -n "$ZC_NS" addr add 10.253.0.1/24 dev mdns0
		ip -n "$ZC_PEER" addr add 10.253.0.2/24 dev mdns1
		ip -n "$ZC_NS" link set mdns0 up
		ip -n "$ZC_PEER" link set mdns1 up
	fi
	export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$ZC_DIR/bus.sock"
	cat >"$ZC_DIR/dbus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$ZC_DIR/bus.sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus"/>
  </policy>
  <include>/usr/share/dbus-1/system.d/avahi-dbus.conf</include>
</busconfig>
EOF
	cat >"$ZC_DIR/avahi.conf" <<EOF
[server]
host-name=mzc-host
allow-interfaces=$ZC_IFACE
use-ipv4=yes
use-ipv6=$ZC_IPV6
enable-dbus=yes
ratelimit-interval-usec=1000000
ratelimit-burst=1000
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
[reflector]
enable-reflector=no
[rlimits]
EOF
	mkdir -p "$ZC_DIR/avahi-run"
}

# zc_bg LOG CMD...: start CMD in the background; its PID in ZC_LAST.
zc_bg() {
	local log=$1; shift
	"$@" </dev/null >>"$log" 2>&1 &
	ZC_LAST=$!
	ZC_PIDS="$ZC_PIDS $ZC_LAST"
}

# zc_bus_start: the private system bus, ready when GetId answers.
zc_bus_start() {
	rm -f "$ZC_DIR/bus.sock"
	zc_bg "$ZC_DIR/dbus.log" dbus-daemon --config-file="$ZC_DIR/dbus.conf" \
	    --nofork --nopidfile
	ZC_BUS_PID=$ZC_LAST
	for _ in $(seq 100); do
		dbus-send --system --dest=org.freedesktop.DBus \
		    --type=method_call --print-reply / \
		    org.freedesktop.DBus.GetId >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	zc_fail "dbus-daemon did not start"
}

zc_bus_stop() { zc_kill "$ZC_BUS_PID"; ZC_BUS_PID=""; }

# zc_avahi_start: avahi-daemon in the namespace, ready when RUNNING (2).
zc_avahi_start() {
	mkdir -p /run/avahi-daemon	# mount point only; ours is bound over it
	# exec keeps the PID: ending it ends avahi-daemon itself.
	zc_bg "$ZC_DIR/avahi.log" ip netns exec "$ZC_NS" sh -c \
	    'mount --bind "$1" /run/avahi-daemon && exec avahi-daemon -f "$2" \
	     --no-drop-root --no-chroot --no-rlimits --no-proc-title' \
	    sh "$ZC_DIR/avahi-run" "$ZC_DIR/avahi.conf"
	ZC_AVAHI_PID=$ZC_LAST
	local st
	for _ in $(seq 200); do
		st=$(dbus-send --system --dest=org.freedesktop.Avahi \
		    --print-reply / org.freedesktop.Avahi.Server.GetState \
		    2>/dev/null | awk '/int32/{print $2}')
		[ "$st" = 2 ] && return 0
		zc_alive "$ZC_AVAHI_PID" || break
		sleep 0.05
	done
	zc_fail "avahi-daemon did not reach RUNNING"
}

zc_avahi_stop() { zc_kill "$ZC_AVAHI_PID"; ZC_AVAHI_PID=""; }

# zc_browse: one resolved browse of _mandos._tcp inside the namespace.
zc_browse() {
	ip netns exec "$ZC_NS" timeout 5 avahi-browse -rpt _mandos._tcp \
	    2>/dev/null
}

# zc_escape NAME: the name as avahi-browse -p prints it (decimal escapes).
zc_escape() {
	printf '%s' "$1" | sed -e 's/ /\\032/g' -e 's/#/\\035/g'
}

# zc_wait_resolved NAME PORT [SECONDS]: until NAME resolves to our address
# and PORT: 127.0.0.1 on lo, or in veth mode 10.253.0.1 and an IPv6
# link-local address on mdns0.
zc_wait_resolved() {
	local n pat pat6="" i
	n=$(zc_escape "$1" | sed 's/\\/\\\\/g')
	if [ "$ZC_IFACE" = lo ]; then
		pat="^=;lo;IPv4;$n;_mandos\\._tcp;local;[^;]*;127\\.0\\.0\\.1;$2;"
	else
		pat="^=;$ZC_IFACE;IPv4;$n;_mandos\\._tcp;local;[^;]*;10\\.253\\.0\\.1;$2;"
		pat6="^=;$ZC_IFACE;IPv6;$n;_mandos\\._tcp;local;[^;]*;fe80::[0-9a-f:]+;$2;"
	fi
	for i in $(seq $((${3:-15} * 2))); do
		ZC_SEEN=$(zc_browse)
		grep -qE "$pat" <<<"$ZC_SEEN" &&
		    { [ -z "$pat6" ] || grep -qE "$pat6" <<<"$ZC_SEEN"; } &&
		    return 0
		sleep 0.5
	done
	return 1
}

# zc_wait_gone NAME [SECONDS]: until NAME is no longer announced.
zc_wait_gone() {
	local n
	n=$(zc_escape "$1" | sed 's/\\/\\\\/g')
	for _ in $(seq $((${2:-10} * 2))); do
		ZC_SEEN=$(zc_browse)
		grep -qE "^[=+];[^;]*;[^;]*;$n;" <<<"$ZC_SEEN" || return 0
		sleep 0.5
	done
	return 1
}

# zc_port: a loopback port in 22000-22999 that is free in our namespace.
zc_port() {
	echo $((22000 + ($$ * 7 + ${1:-0}) % 1000))
}

# zc_announce NAME PORT [ARGS...]: mandosd (or, with ZC_HELPER=1, the
# mdns module alone) announcing NAME for PORT in the namespace; PID in
# ZC_LAST, log in $ZC_DIR/announce-PORT.log.
zc_announce() {
	local name=$1 port=$2 bin
	shift 2
	if [ "${ZC_HELPER:-0}" = 1 ]; then
		bin=$top_builddir/t/zeroconf/mdns-announce
		[ -x "$bin" ] || zc_skip "no $bin (built without Avahi?)"
		zc_bg "$ZC_DIR/announce-$port.log" ip netns exec "$ZC_NS" \
		    "$bin" -4 "$name" "$port"
		return
	fi
	bin=$top_builddir/src/mandosd
	[ -x "$bin" ] || zc_fail "no $bin"
	[ -f "$ZC_DIR/clients.json" ] ||
		echo '{"clients": {}}' >"$ZC_DIR/clients.json"
	zc_bg "$ZC_DIR/announce-$port.log" ip netns exec "$ZC_NS" "$bin" \
	    --debug --port "$port" --clients "$ZC_DIR/clients.json" \
	    $(zc_private "$port") --servicename "$name" "$@"
}

# zc_private TAG: options that keep a test server's control socket and
# state out of the system's /run/mandos and /var/lib/mandos.
zc_private() {
	echo "--control $ZC_DIR/ctl-$1.sock --statedir $ZC_DIR/state-$1"
}
