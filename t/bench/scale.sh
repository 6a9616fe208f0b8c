#!/bin/bash
# scale.sh [COUNT]: how handshakes/s grow with workers. For W = 1, 2, 4 ...
# mandosd runs W workers pinned to cores 0..W-1 (taskset; the workers
# inherit it) and mandos-storm runs on the other cores, as long as at least
# one core is left for the storm; the median of REPEAT (3) runs is printed
# with the server's CPU per handshake (all mandosd processes) and the rate
# per worker. Where the machine stops, it says why.
# Run from a build directory (BUILD=...); COUNT (20000), CLIENTS (1000),
# CONC (200), WARMUP (1000), REPEAT (3), PORT (20801, first port tried).
set -uo pipefail
. "$(dirname "$0")/lib-procs.sh"
bench_init scale "${1:-}"
command -v taskset >/dev/null || die "taskset missing"
trap 'stop_server; rm -rf -- "$work"' EXIT
trap 'exit 130' INT TERM
ulimit -n 65536 2>/dev/null || true
"$STORM" --make-table "$CLIENTS" --seed bench >"$work/clients.json" || die "make-table"
NCPU=$(nproc)
port=$(free_port "${PORT:-20801}") || exit 2

printf '%8s %10s %12s %14s %12s\n' workers cores "handshakes/s" "us CPU/hs" "per worker"
W=1
while :; do
	if [ $((W + 1)) -gt "$NCPU" ]; then
		echo "stop at $W workers: $NCPU CPUs, and the storm needs at least one core of its own"
		break
	fi
	: >"$work/runs"
	for _ in $(seq "$REPEAT"); do
		PIN="taskset -c 0-$((W - 1))" start_server "$port" --workers "$W" || exit 2
		run_storm "$port" "$W-$((NCPU - 1))" >>"$work/runs" || die "storm: $(cat "$work/storm.json")"
		stop_server
	done
	python3 - "$work/runs" "$W" "$HZ" "$NCPU" <<'PY'
import statistics as st, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
w, hz, n = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
rate = st.median(r[0] for r in rows)
cpu = st.median(r[3] * 1e6 / hz / r[1] for r in rows)
print(f"{w:8d} {'0-%d' % (w - 1):>10s} {rate:12.0f} {cpu:14.1f} {rate / w:12.0f}   (storm on {w}-{n - 1}; {int(sum(r[2] for r in rows))} failed)")
PY
	W=$((W * 2))
done
