#!/bin/bash
# watch: a real unlock (the reference mandos-client, keys from the reference
# mandos-keygen) shows up on the event stream, raw and through
# `mandosctl --watch` (plain lines when piped); a watcher that never reads
# is dropped instead of growing the server's memory.
. "${top_srcdir:-.}/t/ctl/lib.sh" || exit 99
REF_CLIENT=${REF_CLIENT:-/usr/lib/x86_64-linux-gnu/mandos/plugins.d/mandos-client}
REF_KEYGEN=/usr/sbin/mandos-keygen
[ "$(id -u)" -eq 0 ] || skip "the reference client needs root"
[ -x "$REF_CLIENT" ] || skip "no $REF_CLIENT"
[ -x "$REF_KEYGEN" ] || skip "no $REF_KEYGEN"
need_cmd gpg

# Keys and secret from the reference mandos-keygen.
K=$T/keys
mkdir -p "$K" && chmod 0700 "$K"
TMPDIR=$T "$REF_KEYGEN" --dir "$K" --name real --force --length 2048 \
    --sublength 2048 </dev/null >"$T/keygen.log" 2>&1 || fail "keygen: $(cat "$T/keygen.log")"
printf 'the real secret %s' "$RANDOM" >"$T/secret.txt"
TMPDIR=$T "$REF_KEYGEN" --dir "$K" --name real --passfile "$T/secret.txt" \
    --no-ssh </dev/null >"$T/section.conf" 2>"$T/keygen.log" || fail "keygen --password"
b64=$(sed -n '/^secret =/,/^[^ ]/{/^    /{s/^ *//;p}}' "$T/section.conf" | tr -d '\n')
kid=$(sed -n 's/^key_id = //p' "$T/section.conf")
printf '{"defaults": {"checker": "true", "interval": "PT1H"}, "clients": {"real": {"key_id": "%s", "secret": "%s", "host": "localhost"}}}\n' \
    "$kid" "$b64" >"$T/clients.json"
start

python3 - "$SOCK" >"$T/raw.events" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b'{"v":1,"cmd":"watch"}\n')
s.settimeout(20)
buf = b""
end = time.time() + 20
while time.time() < end and b'"secret_sent"' not in buf:
    d = s.recv(65536)
    if not d:
        break
    buf += d
sys.stdout.write(buf.decode())
PY
rawpid=$!
EXTRA_PIDS+=("$rawpid")
ctl --watch >"$T/watch.out" 2>&1 &
wpid=$!
EXTRA_PIDS+=("$wpid")
sleep 0.5

mkdir -p "$T/hooks"
timeout 30 "$REF_CLIENT" --connect="[::1]:$PORT" --interface=none \
    --network-hook-dir="$T/hooks" --pubkey="$K/pubkey.txt" \
    --seckey="$K/seckey.txt" --tls-pubkey="$K/tls-pubkey.pem" \
    --tls-privkey="$K/tls-privkey.pem" </dev/null >"$T/out" 2>"$T/client.log" ||
    fail "the reference client failed: $(tail -n 5 "$T/client.log")"
cmp -s "$T/out" "$T/secret.txt" || fail "the reference client printed the wrong secret"
ok "the reference mandos-client unlocked"

wait "$rawpid"
python3 - "$T/raw.events" "$kid" <<'PY' || fail "raw events: $(cat "$T/raw.events")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert lines[0]["ok"] is True and lines[0]["result"] == "watching", lines[0]
ev = {e["event"]: e for e in lines[1:]}
c = ev["connection"]
assert c["result"] == "secret_sent" and c["client"] == "real", c
assert c["key_id"] == sys.argv[2].upper().replace(" ", ""), (c, sys.argv[2])
assert c["peer"].startswith("[::1]:"), c
assert ev["secret_sent"]["client"] == "real"
assert all(e["v"] == 1 and "time" in e for e in lines[1:])
PY
ok "watch streamed the connection outcome and secret_sent of the real unlock"

wait_for 5 grep -q "secret_sent" "$T/watch.out" || fail "mandosctl --watch: $(cat "$T/watch.out")"
grep -q "connection *real .*result=secret_sent" "$T/watch.out" || fail "mandosctl --watch line: $(cat "$T/watch.out")"
ok "mandosctl --watch prints plain lines when piped"
grep -m1 connection "$T/watch.out"

# Events of an operator action and a reload.
ctl -d real
ctl -e real
ctl --reload >/dev/null
wait_for 5 grep -q "reload_ok" "$T/watch.out" || fail "no reload event"
grep -q "disabled *real" "$T/watch.out" && grep -q "enabled *real" "$T/watch.out" || fail "no enable/disable events"
kill "$wpid"

# A watcher that never reads is dropped; the server's memory stays bounded.
python3 - "$SOCK" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1])
s.sendall(b'{"v":1,"cmd":"watch"}\n')
time.sleep(60)
PY
EXTRA_PIDS+=("$!")
SEED=watch
make_table 200 "$SEED" '{"checker": "true", "interval": "PT0.02S", "timeout": "PT1H"}'
kill -HUP "$MPID"
wait_for 30 sh -c '[ "$('"$CTL"' --socket '"$SOCK"' --stats | awk '"'"'$1 == "watchers_dropped" {print $2}'"'"')" -ge 1 ]' ||
    fail "a stuck watcher was not dropped"
grep -q "watch reader is .* bytes behind, dropping it" "$MLOG" || fail "drop not logged"
rss=$(awk '/VmRSS/ {print $2}' /proc/"$MPID"/status)
[ "$rss" -lt 200000 ] || fail "RSS ${rss} kB"
ok "a watcher that does not read is dropped (RSS ${rss} kB)"
stop
echo PASS
