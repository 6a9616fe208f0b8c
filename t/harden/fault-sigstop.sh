#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Fault: a peer stopped with SIGSTOP mid-handshake. A real mandos-storm with
# 20 connections in flight is stopped; their deadlines fire (handshake
# deadline 2 s here) and another storm is served in full meanwhile.
. "${top_srcdir:-$(dirname "$0")/../..}/t/harden/lib.sh"
SEED=fstop
make_table 30 "$SEED" '{"checker": "true", "interval": "PT1H"}'
start --handshake-timeout 2s --version-timeout 2s --send-timeout 2s
active() { ctl --stats | awk '$1 == "connections_active" { print $2 }'; }
"$STORM" --connect "[::1]:$PORT" --seed "$SEED" --clients 20 -C 20 --count 1000000 \
    -t 60 -q >/dev/null 2>&1 &
SP=$!
EXTRA_PIDS+=("$SP")
sleep 1
kill -STOP "$SP"
sleep 0.2
n=$(active)
[ "$n" -gt 0 ] || fail "no connections in flight when the storm was stopped"
t0=$(date +%s%N)
storm 20 10 50 -t 20 >"$T/b.out" 2>&1 || { cat "$T/b.out"; fail "storm B failed while A was stopped"; }
tb=$(( ($(date +%s%N) - t0) / 1000000 ))
wait_for 8 sh -c '[ "$('"$CTL"' --socket '"$SOCK"' --stats | awk '"'"'$1 == "connections_active" {print $2}'"'"')" = 0 ]' ||
    fail "connections of the stopped peer still open: $(active)"
hs=$(grep -c "reason=deadline in HANDSHAKE" "$MLOG")
any=$(grep -c "result=timeout.*reason=deadline in" "$MLOG")
[ "$hs" -gt 0 ] || fail "no handshake deadline fired ($any deadlines: $(grep -o 'deadline in [A-Z]*' "$MLOG" | sort | uniq -c | tr '\n' ' '))"
kill -KILL "$SP"; wait "$SP" 2>/dev/null
ok "stopped storm: $n in flight, $any deadlines ($hs in HANDSHAKE); storm B 50/50 in $tb ms meanwhile"
stop
