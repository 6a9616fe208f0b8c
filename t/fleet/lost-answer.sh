#!/bin/bash
# lost-answer.sh: a state txn that etcd committed but whose answer never
# came back is not counted twice. A real TCP proxy between mandosd and one
# etcd member forwards every request and, while told to, closes the
# connection of a state txn after etcd answered it, without passing the
# answer on: a network fault, not a mock. It reads each HTTP message on a
# connection in turn, as mandosd keeps its connections alive. Phase 1 loses one answer (the
# store client retries at once, its compare fails on our own commit);
# phase 2 loses every state txn's answer for 3 s (each flush fails after
# its deadline and the next second tries again). Either way the record's
# secrets_sent must equal the secrets the server sent.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-servers.sh"
[ -x "$STORM" ] || skip "no $STORM"
etcd_cluster_start

cat >"$T/proxy.py" <<'PY'
import base64, json, socket, sys, threading
up_port, drop_file, log_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lock = threading.Lock()
dropped = 0

def drops_left():
    try:
        return int(open(drop_file).read().strip() or 0)
    except (OSError, ValueError):
        return 0

def take_drop():
    global dropped
    with lock:
        n = drops_left()
        if n <= 0:
            return False
        open(drop_file, "w").write(str(n - 1))
        dropped += 1
        open(log_file, "w").write("%d\n" % dropped)
        return True

class Conn:
    """A socket with a read buffer: HTTP/1.1 messages one after another
    (mandosd keeps its connections to etcd alive)."""
    def __init__(self, s):
        self.s, self.buf = s, b""
    def fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError
        self.buf += d
    def until(self, sep):
        while sep not in self.buf:
            self.fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out
    def take(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

def headers(head):
    h = {}
    for l in head.split(b"\r\n")[1:]:
        k, _, v = l.partition(b":")
        h[k.strip().lower()] = v.strip()
    return h

def read_message(c):
    """One whole request or answer: (head, raw bytes of it all)."""
    head = c.until(b"\r\n\r\n")
    h = headers(head[:-4])
    if h.get(b"transfer-encoding", b"").lower() == b"chunked":
        raw = head
        while True:
            line = c.until(b"\r\n")
            n = int(line.split(b";")[0], 16)
            raw += line + c.take(n + 2)
            if n == 0:
                return head, raw, b""
    body = c.take(int(h.get(b"content-length", b"0")))
    return head, head + body, body

def is_state_txn(head, body):
    if not head.startswith(b"POST /v3/kv/txn "):
        return False
    try:
        j = json.loads(body)
        return any(b"/state/" in base64.b64decode(c["key"]) for c in j.get("compare", []))
    except Exception:
        return False

def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

def serve(cs):
    c, u = Conn(cs), None
    try:
        while True:
            head, raw, body = read_message(c)
            if u is None:
                u = Conn(socket.create_connection(("127.0.0.1", up_port)))
            u.s.sendall(raw)
            if head.startswith(b"POST /v3/watch "):
                # A stream, not one answer: pass it all through.
                if c.buf:
                    u.s.sendall(c.buf)
                if u.buf:
                    cs.sendall(u.buf)
                threading.Thread(target=pipe, args=(u.s, cs), daemon=True).start()
                pipe(cs, u.s)
                return
            _, answer, _ = read_message(u)
            if is_state_txn(head, body) and take_drop():
                break   # etcd has it and answered; the answer is lost
            cs.sendall(answer)
    except (EOFError, OSError, ValueError):
        pass
    for s in (cs, u.s if u else None):
        if s is not None:
            s.close()

PY
echo 0 >"$T/drop"
fleet_proxy_start "$T/proxy.py" "${ETCD_CPORT[0]}" "$T/drop" "$T/dropped"

make_table 2 la >"$T/t.json"
"$CTL" --store "$STORE" --push "$T/t.json" >/dev/null || fail "push"
STORE=etcd://127.0.0.1:$PROXY_PORT/mandos-test
srv_start 0
sent() { ectl get --print-value-only /mandos-test/state/storm-0 |
    python3 -c 'import json,sys; l=sys.stdin.read().strip(); print(json.loads(l).get("secrets_sent", 0) if l else 0)'; }
handshakes() {
	local k
	for k in $(seq "$1"); do
		fetch 0 0 la
		[ "$RC" = 0 ] || fail "storm-0 got no secret (rc $RC): $(cat "$T/fetch.err")"
	done
}
dropped() { cat "$T/dropped" 2>/dev/null || echo 0; }

# Phase 1: the first state txn's answer is lost.
echo 1 >"$T/drop"
handshakes 3
wait_until 10000 eval '[ "$(dropped)" -ge 1 ]' >/dev/null || fail "the proxy lost no answer"
wait_until 10000 eval '[ "$(sent)" -ge 3 ]' >/dev/null || fail "the store counts $(sent) of 3 secrets sent"
sleep 3		# a late double count would show now
[ "$(sent)" = 3 ] || fail "one lost answer: the store counts $(sent) secrets sent for 3"
ok "one state txn's answer lost: the store counts 3 secrets sent for 3"

# Phase 2: every state txn's answer lost for 3 s, then none.
echo 1000000 >"$T/drop"
d0=$(dropped)
handshakes 3
sleep 3
echo 0 >"$T/drop"
d1=$(dropped)
[ $((d1 - d0)) -ge 2 ] || fail "phase 2 lost only $((d1 - d0)) answers"
wait_until 10000 eval '[ "$(sent)" -ge 6 ]' >/dev/null || fail "the store counts $(sent) of 6 secrets sent"
sleep 3
[ "$(sent)" = 6 ] || fail "$((d1 - d0)) lost answers: the store counts $(sent) secrets sent for 6"
ok "$((d1 - d0)) state txn answers lost over 3 s: the store counts 6 secrets sent for 6"
got=$(srv_fields 0 storm-0 SecretsSent)
[ "$got" = 6 ] || fail "server 0 shows SecretsSent $got, want 6"
ok "the server shows 6 secrets sent"
srv_stop 0
exit 0
