#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Defect 4: secrets wiped on every path, and no core dumps. The server's
# memory (/proc/PID/mem, as root) is scanned for a secret, as base64 text
# and as bytes, after "set secret" replaced it and after a reload removed
# the client that had it. Core dumps: RLIMIT_CORE 0 and not dumpable
# (/proc/PID/mem then belongs to root although the server runs as $RUNAS).
. "${top_srcdir:-$(dirname "$0")/../..}/t/harden/lib.sh"
need_root
SEED=wipe
make_table 3 "$SEED" '{"checker": "true", "interval": "PT1H"}'
# Big secrets for the ones that must vanish: their memory is not simply
# reused by the next small allocation, so an unwiped copy stays visible.
big() { head -c 3000 /dev/urandom | base64 -w0; }
python3 - "$T/clients.json" "$(big)" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
t["clients"]["storm-1"]["secret"] = sys.argv[2]
json.dump(t, open(sys.argv[1], "w"))
PY
start
[ "$(awk '/^Max core file size/ { print $5 $6 }' /proc/"$MPID"/limits)" = 00 ] ||
    fail "core dumps allowed: $(grep core /proc/"$MPID"/limits)"
[ "$(stat -c %U /proc/"$MPID"/mem)" = root ] || fail "server is dumpable (/proc/PID/mem owned by $(stat -c %U /proc/"$MPID"/mem))"
ok "no core dumps: RLIMIT_CORE 0, not dumpable"

# scan B64...: exit 1 if any secret (text or decoded) is in the server's memory.
scan() {
	python3 - "$MPID" "$@" <<'PY'
import base64, re, sys
pid, needles = sys.argv[1], sys.argv[2:]
pats = []
# A middle part: free() writes its list pointers over a chunk's first bytes.
for b in needles:
    pats += [b.encode()[20:44], base64.b64decode(b)[16:36]]
found = []
with open(f"/proc/{pid}/maps") as m, open(f"/proc/{pid}/mem", "rb", 0) as mem:
    for line in m:
        f = line.split()
        if "r" not in f[1] or (len(f) > 5 and f[5].startswith(("[vvar", "[vsyscall"))):
            continue
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        # ASan's shadow: terabytes never touched, no heap of ours.
        if hi - lo > 1 << 30:
            continue
        try:
            mem.seek(lo)
            data = mem.read(hi - lo)
        except (OSError, OverflowError, ValueError):
            continue
        for i, p in enumerate(pats):
            if data.find(p) != -1:
                found.append(f"{'text' if i % 2 == 0 else 'bytes'} in {line.strip()}")
for x in found:
    print("found:", x)
sys.exit(1 if found else 0)
PY
}
rnd() { head -c 48 /dev/urandom | base64 -w0; }
X=$(big); Y=$(rnd)
for s in "$X" "$Y"; do
	r=$(req '{"v":1,"cmd":"set","clients":["storm-0"],"attr":"secret","value":"'"$s"'"}')
	[ "$(jget "$r" 'r["ok"]')" = True ] || fail "set secret: $r"
done
scan "$Y" >/dev/null && fail "the current secret is not in memory at all (the scan is broken)"
scan "$X" || fail "a secret replaced by set secret is still in the server's memory"
ok "a secret replaced by set secret is gone from memory"

S1=$(jget "$(cat "$T/clients.json")" 'r["clients"]["storm-1"]["secret"]')
S2=$(jget "$(cat "$T/clients.json")" 'r["clients"]["storm-2"]["secret"]')
scan "$S2" >/dev/null && fail "storm-2's secret not found before the reload (the scan is broken)"
python3 - "$T/clients.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
del t["clients"]["storm-1"]
json.dump(t, open(sys.argv[1], "w"))
PY
kill -HUP "$MPID"
wait_for 10 grep -q "storm-1 removed\|reload.*ok\|reloaded" "$MLOG" || fail "no reload"
sleep 0.5
storm 2 1 1 >/dev/null || fail "storm-2 not served after the reload"
scan "$S1" || fail "the secret of a client removed by reload is still in the server's memory"
ok "the secret of a client removed by a reload is gone from memory"
stop
