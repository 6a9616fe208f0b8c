#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Defect 5: a peer that presents no raw public key (X.509) was closed
# without close_notify, and SIGTERM closed connections without it. The
# reference always says bye; a peer that does not read must not hold up
# the shutdown. tclient exits 3 for close_notify without data, 5 for none.
. "${top_srcdir:-$(dirname "$0")/../..}/t/harden/lib.sh"
TCLIENT=$top_builddir/t/tclient
SEED=bye
make_table 2 "$SEED" '{}' '{"storm-0": {"approval_delay": "PT60S", "approved_by_default": false}}'
# A priority that lets an X.509 peer finish the handshake: only then is
# "no raw public key" the server's own decision, after TLS.
start --priority "NORMAL:-VERS-ALL:+VERS-TLS1.3:+CTYPE-ALL"
"$TCLIENT" --connect "[::1]:$PORT" --x509 --idx 1 --seed "$SEED" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" = 3 ] || fail "X.509 peer: tclient exit $rc, want 3 (close_notify): $(cat "$T/err")"
grep -q "result=tls_error.*raw public key" "$MLOG" || fail "X.509 refusal not logged with its reason"
ok "a peer without a raw public key gets close_notify"

# Waiting for approval when SIGTERM comes: close_notify, then exit.
"$TCLIENT" --connect "[::1]:$PORT" --idx 0 --seed "$SEED" --timeout 20 >"$T/out" 2>"$T/err" &
tp=$!
wait_for 10 grep -q "storm-0 needs approval" "$MLOG" || fail "storm-0 never waited"
# A peer still in the handshake (it sent the version line only): closed at once.
python3 - "$PORT" >"$T/py" 2>&1 <<'PY' &
import socket, sys, time
s = socket.create_connection(("::1", int(sys.argv[1])))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.sendall(b"1\r\n")
time.sleep(30)
PY
pp=$!
EXTRA_PIDS+=("$pp")
sleep 0.5
t0=$(date +%s%N)
stop
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
wait "$tp"; rc=$?
[ "$rc" = 3 ] || fail "waiting peer at SIGTERM: tclient exit $rc, want 3 (close_notify): $(cat "$T/err")"
[ "$ms" -lt 3000 ] || fail "shutdown took $ms ms"
ok "SIGTERM: a waiting peer gets close_notify; shutdown took $ms ms"
