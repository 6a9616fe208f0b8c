#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Fault: clients.json replaced while a reload reads it, by rename over it
# and by a partial write then rename. Either the old or the new table is in
# force, never a half one; a bad file keeps the old table; serving goes on.
. "${top_srcdir:-$(dirname "$0")/../..}/t/harden/lib.sh"
SEED=freload
make_table 400 "$SEED" '{"checker": "true", "interval": "PT1H"}'
cp "$T/clients.json" "$T/big.json"
python3 - "$T/big.json" "$T/small.json" "$T/partial.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
small = dict(t, clients={k: v for k, v in t["clients"].items() if int(k.split("-")[1]) < 100})
json.dump(small, open(sys.argv[2], "w"))
text = json.dumps(t)
open(sys.argv[3], "w").write(text[: len(text) // 2])   # cut in the middle
PY
# nclients: how many clients the server has in force now.
nclients() {
	python3 - "$SOCK" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(b'{"v":1,"cmd":"list"}\n')
buf = b""
while b"\n" not in buf:
    d = s.recv(1 << 20)
    if not d:
        break
    buf += d
print(len(json.loads(buf.split(b"\n")[0])["result"]))
PY
}
start
# The writer: renames the big, the small and the cut table over clients.json
# as fast as it can; the main loop sends SIGHUP meanwhile.
python3 - "$T" <<'PY' &
import os, shutil, sys, time
d = sys.argv[1]
end = time.time() + 8
i = 0
while time.time() < end:
    src = ("big", "small", "partial")[i % 3]
    shutil.copyfile(f"{d}/{src}.json", f"{d}/.new.json")
    os.rename(f"{d}/.new.json", f"{d}/clients.json")
    i += 1
PY
WP=$!
EXTRA_PIDS+=("$WP")
bad=0 n=0
while kill -0 "$WP" 2>/dev/null; do
	kill -HUP "$MPID"
	sleep 0.05
	c=$(nclients) || fail "list failed"
	case "$c" in 400|100) ;; *) bad=$((bad + 1)); echo "table of $c clients";; esac
	n=$((n + 1))
done
wait "$WP"
kill -0 "$MPID" || fail "mandosd died"
[ "$bad" = 0 ] || fail "$bad of $n looks saw a half table"
ok=$(grep -c "reloaded .*clients" "$MLOG"); failed=$(grep -c "reload failed, keeping" "$MLOG")
[ "$ok" -gt 0 ] && [ "$failed" -gt 0 ] || fail "want both good and failed reloads: ok=$ok failed=$failed"
storm 0 100 100 >/dev/null || fail "storm after the reloads"
ok "$n looks during renames: always 100 or 400 clients ($ok reloads, $failed refused as partial); storm ok"
stop
