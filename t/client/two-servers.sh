#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Two servers: the first refuses (unknown key) and the second holds the
# secret: done in under 2 s. The first silent (accepts, never answers): done
# within the client's documented deadline (--timeout, 5 s) plus 1 s.
. "${top_srcdir:-$(dirname "$0")/../..}/t/client/lib.sh"
tc_init "$CLIENT" "$KEYGEN" python3
tc_ourkeys "$TC_TMP/a" a || tc_fail "keygen a"
tc_ourkeys "$TC_TMP/b" b || tc_fail "keygen b"
tc_json b="$TC_TMP/b" >"$TC_TMP/only-b.json"
tc_json a="$TC_TMP/a" >"$TC_TMP/a.json"
tc_mandosd "$TC_TMP/only-b.json"; P1=$MPORT
tc_mandosd "$TC_TMP/a.json"; P2=$MPORT
KD=$TC_TMP/a/keys

ms() { echo $(( $(date +%s%N) / 1000000 )); }
t0=$(ms)
tc_client "[::1]:$P1" "[::1]:$P2" || { cat "$TC_TMP/err" >&2; tc_fail "refusing first: status $?"; }
t1=$(ms)
tc_check_out "$TC_TMP/a" || tc_fail "refusing first: wrong output"
tc_log "refusing first server: $((t1 - t0)) ms"
# Slow builds (ASan: MANDOSD_TIME_FACTOR from t/sanitize.sh) scale the
# bound; a refusal that waited for a timeout would still take 5 s more.
lim=$((2000 * ${MANDOSD_TIME_FACTOR:-1}))
[ $((t1 - t0)) -lt "$lim" ] || tc_fail "refusing first server took $((t1 - t0)) ms (limit $lim)"

# A silent server: accepts connections and never says a word.
SP=$(tc_port) || tc_fail "no port"
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::1", int(sys.argv[1]))); s.listen(16)
held = []
while True:
    c, _ = s.accept(); held.append(c)' "$SP" &
TC_PIDS+=("$!")
for _ in $(seq 50); do ss -Hltn "sport = :$SP" | grep -q . && break; sleep 0.1; done
t0=$(ms)
tc_client "[::1]:$SP" "[::1]:$P2" || { cat "$TC_TMP/err" >&2; tc_fail "silent first: status $?"; }
t1=$(ms)
tc_check_out "$TC_TMP/a" || tc_fail "silent first: wrong output"
tc_log "silent first server: $((t1 - t0)) ms"
[ $((t1 - t0)) -lt 6000 ] || tc_fail "silent first server took $((t1 - t0)) ms"
grep -q "timed out" "$TC_TMP/err" || tc_fail "no timeout message for the silent server"
exit 0
