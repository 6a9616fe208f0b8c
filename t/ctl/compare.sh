#!/bin/bash
# The same clients and the same operations through the reference mandos-ctl
# against the reference server (D-Bus) and through mandosctl against
# mandosd give the same table (-v included), the same -j document and the
# same exit codes. Times are compared in shape only (both print Python's
# isoformat of UTC); the Fingerprint column is left out: mandosd matches
# clients by key_id only and has no OpenPGP fingerprint to show.
. "${top_srcdir:-.}/t/ctl/lib.sh" || exit 99
REFSERVER=${REFSERVER:-$top_srcdir/t/refserver.sh}
[ "$(id -u)" -eq 0 ] || skip "the reference server needs root"
[ -x /usr/sbin/mandos ] && [ -x /usr/sbin/mandos-ctl ] || skip "no reference mandos"
[ -r "$REFSERVER" ] || skip "no $REFSERVER (set REFSERVER)"
need_cmd dbus-daemon
SEED=compare

# The same table in both formats.
make_table 3 "$SEED" '{"checker": "true", "interval": "PT1H"}' \
    '{"storm-0": {"timeout": "PT10M"},
      "storm-1": {"approval_delay": "PT30S", "approved_by_default": false, "host": "one.example", "extended_timeout": "PT1H"},
      "storm-2": {"enabled": false}}'
mkdir -p "$T/ref/conf"
"$STORM" --make-table 3 --seed "$SEED" --format conf | python3 -c '
import sys
extra = {"storm-0": ["timeout = 10m"],
         "storm-1": ["approval_delay = 30s", "approved_by_default = False",
                     "host = one.example", "extended_timeout = 1h"],
         "storm-2": ["enabled = False"]}
sec = None
for line in sys.stdin:
    sys.stdout.write(line)
    if line.startswith("[DEFAULT]"):
        sys.stdout.write("interval = 1h\n")
    if line.startswith("[storm-"):
        sec = line.strip()[1:-1]
        for e in extra[sec]:
            sys.stdout.write(e + "\n")
' >"$T/ref/conf/clients.conf"
: >"$T/ref/conf/mandos.conf"

rport=$((24000 + RANDOM % 1000))
DBUS=1 DEBUG=0 bash "$REFSERVER" "$T/ref" "$rport" >"$T/ref.log" 2>&1 &
EXTRA_PIDS+=("$!")
wait_for 30 test -s "$T/ref/dbus-address" || fail "reference server: $(tail "$T/ref.log")"
wait_for 30 grep -q "listening on" "$T/ref.log" || fail "reference server: $(tail "$T/ref.log")"
start
refctl() { DBUS_SYSTEM_BUS_ADDRESS=$(cat "$T/ref/dbus-address") /usr/sbin/mandos-ctl "$@"; }

# both ARGS: run on both sides, compare exit codes; outputs in $T/{ref,our}.out
both() {
	refctl "$@" >"$T/ref.out" 2>"$T/ref.err"; rrc=$?
	ctl "$@" >"$T/our.out" 2>"$T/our.err"; orc=$?
	[ "$rrc" = "$orc" ] || fail "exit codes differ for '$*': reference $rrc, mandosctl $orc ($(cat "$T/ref.err" "$T/our.err"))"
}
# norm FILE: timestamps masked (same width), the Fingerprint column dropped.
norm() {
	python3 - "$1" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().split("\n")
ts = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?")
out = [ts.sub(lambda m: "T" * len(m.group(0)), l) for l in lines]
if out and "Fingerprint" in out[0]:
    a = out[0].index("Fingerprint")
    b = out[0].index("Check Is Running")
    out = [l[:a] + l[b:] for l in out]
# Row order is the reference's D-Bus dictionary order; mandosd keeps file order.
print("\n".join(out[:1] + sorted(out[1:])))
PY
}
same_table() {
	both "$@"
	norm "$T/ref.out" >"$T/ref.norm"
	norm "$T/our.out" >"$T/our.norm"
	diff -u "$T/ref.norm" "$T/our.norm" >"$T/diff" || { cat "$T/diff"; fail "tables differ for '$*'"; }
}
same_json() {
	both -j "$@"
	python3 - "$T/ref.out" "$T/our.out" <<'PY' || fail "-j differs"
import json, re, sys
ts = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$")
def norm(d):
    for c in d.values():
        c.pop("Fingerprint")
        for k, v in c.items():
            if isinstance(v, str) and ts.match(v):
                c[k] = "TIME"
    return d
r = json.load(open(sys.argv[1]), object_pairs_hook=dict)
o = json.load(open(sys.argv[2]), object_pairs_hook=dict)
assert [list(c) for c in r.values()] == [list(c) for c in o.values()], "key order"
r = dict(sorted(r.items())); o = dict(sorted(o.items()))
if norm(r) != norm(o):
    print(json.dumps(r, indent=1)); print(json.dumps(o, indent=1)); sys.exit(1)
PY
}

same_table
same_table -v
same_json
ok "fresh: the same table, -v and -j"

for op in "-d storm-0" "-e storm-2" "-t 2h storm-1" "--extended-timeout PT20M storm-0" \
    "-i 3h storm-2" "--approval-delay 10s storm-0" "--approval-duration 5s storm-0" \
    "--deny-by-default storm-0" "--approve-by-default storm-1" "-H h.example storm-2" \
    "-c /bin/true storm-1" "-b storm-1" "-e -a"; do
	# shellcheck disable=SC2086
	both $op
done
same_table
same_table -v
same_table -v storm-1 storm-0
same_json
same_json storm-2
ok "after the same operations: the same table, -v and -j"

both -V storm-0; [ "$orc" = 0 ] || fail "-V storm-0"
both -d storm-0; both -V storm-0; [ "$orc" = 1 ] || fail "-V disabled"
both nosuch; [ "$orc" = 1 ] || fail "unknown client exit"
diff "$T/ref.err" "$T/our.err" || fail "unknown-client message differs"
both -e; [ "$orc" = 2 ] || fail "-e without client"
both -v -e storm-0; [ "$orc" = 2 ] || fail "-v with an action"
both -a; [ "$orc" = 2 ] || fail "-a alone"
both -r storm-0; same_table
ok "same exit codes (-V, unknown client, usage errors) and messages; -r"
stop
echo PASS
