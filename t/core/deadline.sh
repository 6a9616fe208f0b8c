#!/bin/bash
# Every state has a deadline: a silent peer, one that stalls after the
# version line, and one that stalls mid-handshake are all dropped in time,
# while an honest client is served meanwhile.
. "${top_srcdir:-.}/t/core/lib.sh" || exit 99

client good 1 "good secret" | table "$T/clients.json"
start_mandosd --clients "$T/clients.json" --version-timeout 1s --handshake-timeout 2s

# time_close ARGS: run tclient, require a server close between LO and HI seconds.
time_close() {
	local lo=$1 hi=$2
	shift 2
	local start end ms
	start=$(date +%s%N)
	probe --timeout 8 "$@"
	end=$(date +%s%N)
	ms=$(( (end - start) / 1000000 ))
	[ "$RC" -eq 7 ] || [ "$RC" -eq 4 ] || fail "$*: expected the server to close, got $RC: $(cat "$T/err")"
	[ "$ms" -ge $((lo * 1000 - 100)) ] && [ "$ms" -le $((hi * 1000 + 1500)) ] \
	    || fail "$*: closed after $ms ms, expected ${lo}-${hi} s"
	echo "  closed after $ms ms"
}

"$TCLIENT" --connect "[::1]:$PORT" --silent --timeout 8 2>/dev/null &
bg=$!
probe --idx 1
[ "$RC" -eq 0 ] || fail "good client not served while a silent peer waits"
ok "served while a silent peer is connected"
wait "$bg"

time_close 1 1 --silent
wait_log "result=timeout.*reason=deadline in VERSION"
ok "silent peer dropped at the version deadline"

time_close 1 1 --no-tls --line 1
wait_log "result=timeout.*reason=deadline in VERSION" 
ok "line without newline dropped at the version deadline"

# Version line sent, then the ClientHello is never answered.
time_close 2 2 --no-tls
wait_log "reason=deadline in HANDSHAKE"
ok "stalled handshake dropped at the handshake deadline"
stop_mandosd
echo "PASS"
