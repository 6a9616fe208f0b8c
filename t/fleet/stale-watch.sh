#!/bin/bash
# stale-watch.sh: an event the watch brings late, from before a server's
# own removal of a client, does not bring the client back. A real TCP
# proxy between mandosd and one etcd member passes requests at once and
# holds the watch stream's bytes back DELAY ms (a slow network, not a
# mock). Server 0 sets storm-0's interval (its own put, applied at once),
# 0.3 s later removes storm-0 (its own delete, applied at once); the put's
# event then arrives 0.3 s before the delete's. Polled every ~20 ms for
# 2 s, server 0 must never list storm-0 again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-servers.sh"
[ -x "$STORM" ] || skip "no $STORM"
etcd_cluster_start

cat >"$T/proxy.py" <<'PY'
import socket, sys, threading, time
up_port, delay_file = int(sys.argv[1]), sys.argv[2]

def delay():
    try:
        return int(open(delay_file).read().strip() or 0) / 1000.0
    except (OSError, ValueError):
        return 0.0

def close(*ss):
    for s in ss:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

def pipe(a, b, slow):
    """a to b; with slow, each chunk leaves delay() after it came (in
    order, so the stream stays whole)."""
    q, cv = [], threading.Condition()
    def sender():
        while True:
            with cv:
                while not q:
                    cv.wait()
                due, d = q.pop(0)
            if d is None:
                break
            time.sleep(max(0.0, due - time.monotonic()))
            try:
                b.sendall(d)
            except OSError:
                break
        close(a, b)
    threading.Thread(target=sender, daemon=True).start()
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            with cv:
                q.append((time.monotonic() + (delay() if slow else 0), d))
                cv.notify()
    except OSError:
        pass
    with cv:
        q.append((0, None))
        cv.notify()

def serve(c):
    u = socket.create_connection(("127.0.0.1", up_port))
    # A connection that opens with a watch request carries only the stream.
    watch = c.recv(65536, socket.MSG_PEEK).startswith(b"POST /v3/watch ")
    threading.Thread(target=pipe, args=(u, c, watch), daemon=True).start()
    pipe(c, u, False)

PY
echo 0 >"$T/delay"
fleet_proxy_start "$T/proxy.py" "${ETCD_CPORT[0]}" "$T/delay"

make_table 2 sw >"$T/t.json"
"$CTL" --store "$STORE" --push "$T/t.json" >/dev/null || fail "push"
STORE0=$STORE
STORE=etcd://127.0.0.1:$PROXY_PORT/mandos-test
srv_start 0
ctl 0 --dump-json storm-0 >/dev/null || fail "server 0 does not list storm-0"

# The watch's bytes now arrive 600 ms late; requests and answers do not.
echo 600 >"$T/delay"
t0=$(now_ms)
ctl 0 --interval PT7M storm-0 || fail "set storm-0's interval on server 0"
sleep 0.3
ctl 0 -r storm-0 || fail "mandosctl -r storm-0 on server 0"
ctl 0 --dump-json storm-0 >/dev/null 2>&1 && fail "server 0 still lists storm-0 when -r returned"
back=0 polls=0
while [ $(( $(now_ms) - t0 )) -lt 2000 ]; do
	polls=$((polls + 1))
	if ctl 0 --dump-json storm-0 >/dev/null 2>&1; then
		back=$(( $(now_ms) - t0 )); break
	fi
	sleep 0.02
done
[ "$back" = 0 ] || fail "storm-0 came back on server 0 $back ms after its interval was set (the late event of that put)"
echo "  $polls polls over 2 s: storm-0 stayed removed"
# The proxy did hold the watch back: storm-0 pushed again straight to etcd
# reaches server 0 only after the delay (the same 600 ms).
t1=$(now_ms)
"$CTL" --store "$STORE0" --push "$T/t.json" >/dev/null || fail "push again"
wait_until 5000 eval 'ctl 0 --dump-json storm-0 >/dev/null 2>&1' >/dev/null ||
    fail "storm-0 pushed again never reached server 0 by its watch"
late=$(( $(now_ms) - t1 ))
echo 0 >"$T/delay"
echo "  storm-0 pushed again reached server 0 after $late ms (watch held back 600 ms)"
[ "$late" -ge 500 ] || fail "the watch was not held back ($late ms): the test proved nothing"
ctl 0 --dump-json storm-1 >/dev/null || fail "server 0 lost storm-1"
ok "a late watch event from before a server's own removal does not bring the client back"
srv_stop 0
exit 0
