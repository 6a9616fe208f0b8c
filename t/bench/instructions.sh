#!/bin/bash
# instructions.sh [N]: user-space instructions per handshake, counted by
# valgrind's callgrind, which counts the same whatever else the machine
# does (handshake.sh's rates move by up to 1.7x on this shared VM):
#   - a mandosd network worker (--workers 1, no state dir), serving
#     mandos-storm, itself under callgrind;
#   - the in-process loop's two ends (mandos-storm --inproc): its server
#     end, mandosd's TLS work alone, is the one-core limit's numerator.
# Each is the difference of a run of 100 handshakes and one of 100 + N
# (600), divided by N, so start-up and key generation drop out.  The
# in-process ends are told apart by callgrind_annotate's per-line
# inclusive counts of clients/storm-inproc.c: the lines of its SIDE(srv_us,
# ...) calls and the body of storm_inproc_peer_ok are the server end's.
# Not counted: the kernel (TCP against the loop's socketpair), and the
# authority, whose callgrind file cannot be written once it has dropped
# privileges (workers.sh gives its share of the CPU: 2-3%).
# Run from a build directory (BUILD=...), as root (mandosd's workers);
# PORT (20821, first port tried), KEEP=1 keeps the temp dir.
set -uo pipefail
. "$(dirname "$0")/lib-procs.sh"
bench_init instructions "${1:-600}"
cleanup() {
	stop_server
	[ "${KEEP:-0}" = 1 ] && echo "kept $work" >&2 || rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
case $COUNT in ''|*[!0-9]*|0) die "usage: instructions.sh [N]";; esac
for t in valgrind callgrind_annotate ss python3; do
	command -v $t >/dev/null || die "$t missing"
done
[ "$(id -u)" -eq 0 ] || die "run as root: mandosd's workers drop to their own user"
BASE=100
# The workers write their callgrind files as their own unprivileged user.
chmod 711 "$work" && mkdir -m 1777 "$work/cg" || die "mkdir"
CG=(valgrind --tool=callgrind --trace-children=yes)
quiet_table 1000 --seed bench >"$work/clients.json" || die "make-table"
port=$(free_port "${PORT:-20821}") || exit 2

# summary FILE: the total Ir callgrind wrote.
summary() { awk '/^summary:/ { print $2; exit }' "$1"; }

# inproc N: callgrind the in-process loop over N handshakes; prints
# "server client" instructions.
inproc() {
	"${CG[@]}" --callgrind-out-file="$work/cg/ip.$1" "$STORM" --inproc "$1" \
	    --clients 1000 --seed bench --json >"$work/ip.$1.json" \
	    2>"$work/ip.$1.vg" || die "inproc $1: $(tail -3 "$work/ip.$1.vg")"
	callgrind_annotate --inclusive=yes --auto=yes --show-percs=no \
	    "$work/cg/ip.$1" 2>/dev/null | python3 -c '
import re, sys
srv = cli = 0
side = None		# whose line this is: "srv", "cli" or None
in_file = in_peer = False
for l in sys.stdin:
    l = l.rstrip("\n")
    if "Auto-annotated source:" in l:
        in_file = l.rstrip().endswith("clients/storm-inproc.c")
        continue
    if not in_file:
        continue
    m = re.match(r"^\s*([0-9,]+|\.)\s(.*)$", l)
    if not m:
        continue
    val, text = m.group(1), m.group(2).strip()
    if not text.startswith("=>"):
        if text.startswith("storm_inproc_peer_ok(gnutls_session_t"):
            in_peer = True
        elif in_peer and text == "}":
            in_peer = False
        side = "srv" if in_peer or text.startswith("SIDE(srv_us") else \
            "cli" if text.startswith("SIDE(cli_us") else None
    if val == "." or side is None:
        continue
    n = int(val.replace(",", ""))
    if side == "srv":
        srv += n
    else:
        cli += n
if srv == 0 or cli == 0:
    sys.exit("no per-line counts for clients/storm-inproc.c (built with -g?)")
print(srv, cli)' || die "inproc $1: cannot read the annotation"
}

# served N: a worker and a storm, both under callgrind, N handshakes;
# prints "worker storm" instructions.  It runs inside $(...), where the
# EXIT trap does not: it stops its own server on every way out.
served() {
	local f w="" s
	PIN="${CG[*]} --callgrind-out-file=$work/cg/md.$1.%p" \
	    start_server "$port" --workers 1 || { stop_server; die "mandosd did not start"; }
	# One handshake first, in both runs alike: the worker is up.
	"$STORM" --connect "[::1]:$port" --clients 1000 --seed bench \
	    --concurrency 1 --count 1 --warmup 0 --timeout 60 --json --quiet \
	    >"$work/probe.json" 2>&1 || { stop_server
		die "the worker does not serve: $(tail -3 "$work/mandosd.log")"; }
	"${CG[@]}" --callgrind-out-file="$work/cg/storm.$1" "$STORM" \
	    --connect "[::1]:$port" --clients 1000 --seed bench \
	    --concurrency 10 --count "$1" --warmup 0 --timeout 120 --json \
	    --quiet >"$work/storm.$1.json" 2>"$work/storm.$1.vg" ||
	    { stop_server; die "storm $1: $(cat "$work/storm.$1.json")"; }
	stop_server
	for f in "$work"/cg/md."$1".*; do
		grep -q '^cmd:.* --worker ' "$f" && w=$f
	done
	[ -n "$w" ] && [ -s "$w" ] || die "no callgrind file of the worker"
	s=$(summary "$work/cg/storm.$1")
	echo "$(summary "$w") $s"
}

echo "instructions.sh: $BASE and $((BASE + COUNT)) handshakes each, 1,000 clients" >&2
# (A die inside $(...) ends only that subshell: count what came back.)
set -- $(inproc $BASE) $(inproc $((BASE + COUNT)))
[ $# -eq 4 ] || die "the in-process runs failed"
ip_srv=$(( ($3 - $1) / COUNT )) ip_cli=$(( ($4 - $2) / COUNT ))
set -- $(served $BASE) $(served $((BASE + COUNT)))
[ $# -eq 4 ] || die "the served runs failed"
md_w=$(( ($3 - $1) / COUNT )) md_s=$(( ($4 - $2) / COUNT ))
python3 - "$ip_srv" "$ip_cli" "$md_w" "$md_s" <<'PY'
import sys
ip_srv, ip_cli, md_w, md_s = map(int, sys.argv[1:])
print("user-space instructions per handshake (callgrind):")
print(f"  mandosd worker                 {md_w:>11,}")
print(f"  in-process server end          {ip_srv:>11,}   worker / server end {md_w / ip_srv:.3f}")
print(f"  mandos-storm, per connection   {md_s:>11,}")
print(f"  in-process client end          {ip_cli:>11,}   storm / client end {md_s / ip_cli:.3f}")
PY
