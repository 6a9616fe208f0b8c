#!/bin/bash
# profile.sh [COUNT]: where mandosd's CPU goes, from perf samples, against
# the in-process limit's: a figure that holds on a loaded machine, where
# handshake.sh's CPU times per handshake move by +-20% between rounds.
#
# Run as root from a build directory (or BUILD=/path/to/build); needs perf.
# mandosd --workers 1 (MANDOSD_ARGS added) runs on CPU 0 with a state dir
# (STATE=0: none), perf samples the authority and its worker (and what
# they fork: the state saver) while mandos-storm makes COUNT (8,000)
# handshakes from CPU 1 (1,000 clients, concurrency 200); then perf samples
# mandos-storm --inproc INPROC (3,000) on CPU 0, both TLS ends in one
# process.  For each, the share of the samples in the TLS libraries
# (GnuTLS, Nettle, GMP, libtasn1), the kernel, libc and the rest; for
# mandosd also the authority's share.  The TLS work of a handshake is the
# same in both, so mandosd's TLS share over the in-process one is the
# fraction of the in-process limit that mandosd reaches, by CPU.
# Environment: BUILD, PORT (first port tried, 20801), FREQ (sampling Hz,
# 2000), STATE, INPROC, MANDOSD_ARGS, KEEP=1 (keep the temp dir).
set -uo pipefail
# die, the programs, $work, free_port, start_server/stop_server ($spid),
# procs: t/bench/lib-procs.sh, shared with workers.sh and scale.sh.
. "$(dirname "$0")/lib-procs.sh"
bench_init profile "${1:-8000}"
ppid_=""
cleanup() {
	[ -n "$ppid_" ] && kill -INT "$ppid_" 2>/dev/null && wait "$ppid_" 2>/dev/null
	stop_server
	[ "${KEEP:-0}" = 1 ] && echo "kept $work" >&2 || rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
case $COUNT in ''|*[!0-9]*) die "usage: profile.sh [COUNT]";; esac
FREQ=${FREQ:-2000}
INPROC=${INPROC:-3000}
for t in perf taskset ss python3; do
	command -v $t >/dev/null || die "$t missing"
done

p=$(free_port "${PORT:-20801}") || exit 2
quiet_table 1000 >"$work/clients.json" || die "make-table failed"
statedir=$work/state
[ "${STATE:-1}" = 1 ] || statedir=''
mkdir -p "$work/state"
echo "load average at start: $(cat /proc/loadavg)" >&2

# shellcheck disable=SC2086
PIN="taskset -c 0" start_server "$p" --statedir "$statedir" --workers 1 \
    ${MANDOSD_ARGS:-} || die "mandosd did not start"
pids=$(procs "$spid" | tr ' ' '\n' | grep . | paste -sd,)
[[ $pids == *,* ]] || die "no worker"
perf record -q -o "$work/md.data" -F "$FREQ" -p "$pids" >/dev/null 2>&1 &
ppid_=$!
sleep 0.5
taskset -c 1 "$STORM" --connect "[::1]:$p" --clients 1000 --concurrency 200 \
    --count "$COUNT" --timeout 60 --json --quiet >"$work/storm.json" 2>&1 ||
    die "storm failed: $(cat "$work/storm.json")"
kill -INT "$ppid_"
wait "$ppid_" 2>/dev/null
ppid_=""
stop_server
perf record -q -o "$work/ip.data" -F "$FREQ" -- taskset -c 0 "$STORM" \
    --inproc "$INPROC" --clients 1000 --json >/dev/null 2>&1 || die "inproc failed"

# shares DATA: "tls kernel libc rest" in percent of all samples.
shares() {
	perf report -i "$1" --no-children --sort dso --stdio -g none 2>/dev/null |
	    awk '/^#/ || NF < 2 { next }
	    { v = $1; sub(/%/, "", v); tot += v }
	    /libgmp|libhogweed|libnettle|libgnutls|libtasn1/ { tls += v; next }
	    /kernel/ { k += v; next }
	    /libc\.so/ { c += v; next }
	    END { printf "%.1f %.1f %.1f %.1f\n", tls, k, c, tot - tls - k - c }'
}
# The authority's share: the samples of every process but the worker
# (the authority and the state savers it forks).
auth=$(perf report -i "$work/md.data" --no-children --sort comm --stdio -g none 2>/dev/null |
    awk '/^#/ || NF < 2 { next } $2 !~ /-w[0-9]/ { v = $1; sub(/%/, "", v); a += v }
    END { printf "%.1f", a }')
read -r mt mk mc mr < <(shares "$work/md.data")
read -r it ik ic ir < <(shares "$work/ip.data")
ok=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["completed"] - s["failed"])' "$work/storm.json")
printf 'mandosd, %s handshakes%s: TLS %s%%, kernel %s%%, libc %s%%, rest %s%%; authority (with its state saver) %s%%\n' \
    "$ok" "$([ -n "$statedir" ] && echo ", state dir" || echo ", no state dir")" \
    "$mt" "$mk" "$mc" "$mr" "$auth"
printf 'in-process, both ends: TLS %s%%, kernel %s%%, libc %s%%, rest %s%%\n' "$it" "$ik" "$ic" "$ir"
awk -v m="$mt" -v i="$it" 'BEGIN { printf "mandosd / in-process limit, by CPU (TLS share over TLS share): %.2f (target >= 0.90)\n", m / i }'
echo "load average: $(cat /proc/loadavg)"
