#!/bin/bash
# The control socket: every command answers, errors are clear and leave the
# server running (malformed JSON, unknown command, wrong version, a 1 MiB
# line, unknown client, bad value), read-only peers may not change things.
. "${top_srcdir:-.}/t/ctl/lib.sh" || exit 99
SEED=proto
make_table 3 "$SEED" '{"checker": "true", "interval": "PT1H"}'
start --control-group "$(id -gn nobody 2>/dev/null || echo nogroup)"

[ "$(stat -c %a "$SOCK")" = 660 ] || fail "socket mode $(stat -c %a "$SOCK")"
ok "socket mode 0660"

r=$(req '{"v":1,"cmd":"hello"}')
[ "$(jget "$r" 'r["result"]["protocol"]')" = 1 ] || fail "hello: $r"
r=$(req '{"v":1,"cmd":"list"}')
[ "$(jget "$r" 'len(r["result"])')" = 3 ] || fail "list: $r"
[ "$(jget "$r" 'len(r["result"]["storm-0"]) >= 20')" = True ] || fail "list attributes: $r"
r=$(req '{"v":1,"cmd":"show","clients":["storm-1"]}')
[ "$(jget "$r" 'list(r["result"])')" = "['storm-1']" ] || fail "show: $r"
ok "hello, list, show"

for cmd in disable enable bump-timeout start-checker stop-checker approve deny; do
	r=$(req '{"v":1,"cmd":"'$cmd'","clients":["storm-0"]}')
	[ "$(jget "$r" 'r["ok"]')" = True ] || fail "$cmd: $r"
done
r=$(req '{"v":1,"cmd":"set","clients":["storm-2"],"attr":"timeout","value":"PT2H"}')
[ "$(jget "$r" 'r["ok"]')" = True ] || fail "set: $r"
r=$(req '{"v":1,"cmd":"show","clients":["storm-2"]}')
[ "$(jget "$r" 'r["result"]["storm-2"]["Timeout"]')" = 7200000 ] || fail "set timeout: $r"
for a in 'interval","value":60000' 'extended_timeout","value":"1h"' \
    'approval_delay","value":"PT1S"' 'approval_duration","value":"PT2S"' \
    'approved_by_default","value":false' 'host","value":"h.example"' \
    'checker","value":"true %{host}"' 'secret","value":"c2VjcmV0"' \
    'Enabled","value":true'; do
	r=$(req '{"v":1,"cmd":"set","clients":["storm-2"],"attr":"'"$a"'}')
	[ "$(jget "$r" 'r["ok"]')" = True ] || fail "set $a: $r"
done
r=$(req '{"v":1,"cmd":"show","clients":["storm-2"]}')
[ "$(jget "$r" '(r["result"]["storm-2"]["Host"], r["result"]["storm-2"]["ApprovedByDefault"], r["result"]["storm-2"]["ApprovalDelay"])')" = "('h.example', False, 1000)" ] || fail "set values: $r"
r=$(req '{"v":1,"cmd":"stats"}')
[ "$(jget "$r" 'r["result"]["clients"]')" = 3 ] || fail "stats: $r"
r=$(req '{"v":1,"cmd":"metrics"}')
jget "$r" 'r["result"]' | grep '^mandos_connections_active 0$' >/dev/null || fail "metrics: $r"
r=$(req '{"v":1,"cmd":"reload"}')
[ "$(jget "$r" 'r["result"]["clients"]')" = 3 ] || fail "reload: $r"
r=$(req '{"v":1,"cmd":"remove","clients":["storm-1"]}')
[ "$(jget "$r" 'r["ok"]')" = True ] || fail "remove: $r"
r=$(req '{"v":1,"cmd":"list"}')
[ "$(jget "$r" 'sorted(r["result"])')" = "['storm-0', 'storm-2']" ] || fail "after remove: $r"
r=$(req '{"v":1,"cmd":"enable","all":true}')
[ "$(jget "$r" 'r["result"]')" = "['storm-0', 'storm-2']" ] || fail "all: $r"
ok "enable, disable, bump-timeout, checkers, approve, deny, set (all attributes), stats, metrics, reload, remove, all"

# Errors: clear, and the server carries on.
expect_error() {
	local r=$1 want=$2
	[ "$(jget "$r" 'r["ok"]')" = False ] || fail "no error for: $r"
	jget "$r" 'r["error"]' | grep -q -- "$want" || fail "error '$(jget "$r" 'r["error"]')' lacks '$want'"
}
expect_error "$(req '{"v":1,"cmd":')" "malformed request"
expect_error "$(req '[1,2]')" "must be a JSON object"
expect_error "$(req '{"v":1,"cmd":"frobnicate"}')" 'unknown command "frobnicate"'
expect_error "$(req '{"v":2,"cmd":"list"}')" "unsupported protocol version"
expect_error "$(req '{"cmd":"list"}')" "unsupported protocol version"
expect_error "$(req '{"v":1}')" 'missing "cmd"'
expect_error "$(req '{"v":1,"cmd":"enable","clients":["nosuch"]}')" "no such client: nosuch"
expect_error "$(req '{"v":1,"cmd":"enable"}')" '"clients" must be'
expect_error "$(req '{"v":1,"cmd":"set","clients":["storm-0"],"attr":"timeout","value":"soon"}')" "set timeout on storm-0"
expect_error "$(req '{"v":1,"cmd":"set","clients":["storm-0"],"attr":"colour","value":1}')" "unknown attribute"
expect_error "$(req '{"v":1,"cmd":"set","clients":["storm-0"],"attr":"secret","value":"!!"}')" "not valid base64"
ok "malformed JSON, non-object, unknown command, wrong or missing version, unknown client, bad values"

# A 1 MiB line: refused, connection closed, memory bounded, server alive.
r=$(python3 - "$SOCK" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
try:
    s.sendall(b'{"v":1,"cmd":"list","pad":"' + b"x" * (1024 * 1024) + b'"}\n')
except OSError:
    pass
buf = b""
while b"\n" not in buf:
    try:
        d = s.recv(65536)
    except OSError:
        break
    if not d:
        break
    buf += d
print(buf.split(b"\n")[0].decode())
PY
)
expect_error "$r" "request longer than"
kill -0 "$MPID" || fail "mandosd died on a 1 MiB line"
[ "$(jget "$(req '{"v":1,"cmd":"hello"}')" 'r["ok"]')" = True ] || fail "no answer after the long line"
ok "a 1 MiB request line gets an error and the server carries on"

# Several requests on one connection, answered in order.
r=$(python3 - "$SOCK" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(b'{"v":1,"cmd":"hello"}\n{"v":1,"cmd":"nope"}\n{"v":1,"cmd":"stats"}\n')
buf = b""
while buf.count(b"\n") < 3:
    d = s.recv(65536)
    if not d:
        break
    buf += d
print(buf.count(b"\n"))
PY
)
[ "$r" = 3 ] || fail "pipelined requests: $r replies"
ok "pipelined requests on one connection"

# A peer that sends many requests and reads nothing: the server stops
# reading it (memory bounded), keeps serving others, and loses nothing.
r=$(python3 - "$SOCK" "$MPID" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1])
s.setblocking(False)
req = b'{"v":1,"cmd":"metrics"}\n' * 3000
sent = 0
end = time.time() + 3
while sent < len(req) and time.time() < end:
    try:
        sent += s.send(req[sent:])
    except BlockingIOError:
        time.sleep(0.01)
time.sleep(0.5)
rss = int([l for l in open("/proc/%s/status" % sys.argv[2]) if l.startswith("VmRSS")][0].split()[1])
s.setblocking(True)
s.settimeout(20)
if sent < len(req):
    s.sendall(req[sent:])
s.shutdown(socket.SHUT_WR)
n = 0
buf = b""
while True:
    d = s.recv(1 << 20)
    if not d:
        break
    n += d.count(b"\n")
print(rss, n)
PY
)
set -- $r
[ "${2:-0}" = 3000 ] || fail "pipelined requests: $2 of 3000 replies"
[ "$1" -lt 60000 ] || fail "RSS ${1} kB with a peer that does not read"
ok "3000 requests from a peer that reads late: all answered, RSS ${1} kB"

# A read-only peer (not root, not the server's user) may read, not change.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && [ "$RUNAS" != nobody ]; then
	asnobody() { setpriv --reuid=nobody --regid="$(id -gn nobody)" --clear-groups "$@"; }
	r=$(asnobody "$CTL" --socket "$SOCK" -d storm-0 2>&1)
	echo "$r" | grep -q "permission denied" || fail "nobody could disable: $r"
	[ "$(enabled storm-0)" = True ] || fail "storm-0 was disabled by nobody"
	asnobody "$CTL" --socket "$SOCK" >/dev/null || fail "nobody could not list"
	[ "$(counter control_denied)" -ge 1 ] || fail "control_denied not counted"
	ok "a non-root peer may list but not disable (SO_PEERCRED)"
else
	echo "note: read-only peer check skipped (needs root, setpriv)"
fi

kill -0 "$MPID" || fail "mandosd died"
stop
echo PASS
