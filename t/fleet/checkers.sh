#!/bin/bash
# checkers.sh: the live-server registry and checker assignment
# (fleet-registry.c). Three mandosd share a real 3-member etcd cluster and
# 12 clients whose checker logs the server it ran on. PREFIX/servers/
# lists the three; each client is checked by exactly one of them, the one
# rendezvous hashing (FNV-1a 64 + splitmix64, computed here in Python)
# names; after kill -9 of one, its key is gone within the TTL, its
# clients' checkers move to the live servers (the delay is printed), and
# no client is disabled meanwhile although timeout is only 10 s. Without
# etcd's quorum each server checks every client itself, and none expires.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-fleetapp.sh"

TTL=2
make_table 12 fleetchk >"$T/clients.json"
chmod 0755 "$T"
: >"$T/checks.log"
chmod 0666 "$T/checks.log"
edit_json "$T/clients.json" '
t["defaults"] = {"timeout": "PT10S", "interval": "PT1S", "extended_timeout": "PT10S",
    "checker": "echo %{name} $MANDOSD_TEST_SERVER $(date +%s%3N) >>'"$T"'/checks.log",
    "approval_delay": "PT0S"}'
names=$(python3 -c 'import json,sys; print(" ".join(sorted(json.load(open(sys.argv[1]))["clients"])))' "$T/clients.json")

etcd_cluster_start
"$CTL" --store "$STORE" --push "$T/clients.json" >/dev/null || fail "push"
for s in a b c; do srv_start "$s" --store-ttl "${TTL}s"; done
for s in a b c; do srv_wait_log "$s" "3 live servers" 20 || fail "$s never saw 3 live servers"; done

# The registry: one key per live server, under its own lease.
keys=$(ectl get --prefix /mandos-test/servers/ --keys-only | grep . | sort | tr '\n' ' ')
[ "$keys" = "/mandos-test/servers/a /mandos-test/servers/b /mandos-test/servers/c " ] ||
    fail "PREFIX/servers/ lists '$keys'"
v=$(ectl get /mandos-test/servers/b --print-value-only)
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["id"]=="b" and d["pid"]==int(sys.argv[2]) and d["version"] and d["start"]>0, d' \
    "$v" "${SRV_PID[b]}" || fail "servers/b holds $v"
ok "PREFIX/servers/ lists the three live servers (id, pid, start, version)"

# owners SERVERS...: "client owner" lines by the documented hash.
owners() {
	python3 - "$names" "$@" <<'PY'
import sys
M = (1 << 64) - 1
def h(server, client):
    x = 1469598103934665603
    for b in server.encode() + b"\0" + client.encode():
        x = ((x ^ b) * 1099511628211) & M
    x ^= x >> 30; x = (x * 0xbf58476d1ce4e5b9) & M
    x ^= x >> 27; x = (x * 0x94d049bb133111eb) & M
    x ^= x >> 31
    return x
for c in sys.argv[1].split():
    print(c, max(sys.argv[2:], key=lambda s: (h(s, c), s)))
PY
}
# ran SINCE_MS: "client server" pairs of the checks logged since then.
ran() { awk -v t="$1" '$3 >= t { print $1, $2 }' "$T/checks.log" | sort -u; }

# Each client checked by exactly one server: the one the hash names.
sleep 2
t0=$(now_ms)
sleep 4
ran "$t0" >"$T/ran1"
owners a b c | sort >"$T/want1"
diff -u "$T/want1" "$T/ran1" >"$T/diff1" || { cat "$T/diff1"; fail "checkers did not run exactly on their owners"; }
for s in a b c; do echo "  $s checks $(grep -c " $s\$" "$T/want1") of 12"; done
ok "each of 12 clients is checked by exactly one of 3 servers, its rendezvous owner"

# Both records of a result agree, and only the owner writes them: checks/NAME
# at once (fleet-registry.c), state/NAME batched within a second (fleet.c).
# A server that only heard of the result must not write state/NAME too.
sleep 1.5
for c in $names; do
	o=$(awk -v c="$c" '$1 == c { print $2 }' "$T/want1")
	st=$(ectl get "/mandos-test/state/$c" --print-value-only)	# first: it lags
	python3 - "$c" "$o" "$(ectl get "/mandos-test/checks/$c" --print-value-only)" "$st" <<'PY' || fail "checks/$c and state/$c disagree"
import json, sys
c, owner = sys.argv[1], sys.argv[2]
ck, st = json.loads(sys.argv[3]), json.loads(sys.argv[4])
if ck["server"] != owner or st["server"] != owner:
    sys.exit("%s: owner %s, checks/ by %s, state/ by %s" % (c, owner, ck["server"], st["server"]))
# The state lags by at most one flush: the same run or one before (interval 1 s).
if not 0 <= ck["time"] - st["last_checker_time"] <= 3000 or st["last_checker_status"] != ck["status"]:
    sys.exit("%s: checks/ %s, state/ %s" % (c, ck, st))
if ck["ok"] and st["last_checked_ok"] < st["last_checker_time"]:
    sys.exit("%s: last_checked_ok %d before the last check %d" % (c, st["last_checked_ok"], st["last_checker_time"]))
PY
done
ok "checks/NAME and state/NAME agree for each client, both written by its owner only"

# kill -9 c: its key goes with its lease, its clients move.
moved=$(awk '$2 == "c" { print $1 }' "$T/want1")
[ -n "$moved" ] || fail "c owns no client with this seed: choose another"
tk=$(now_ms)
srv_kill9 c
wait_for 15 sh -c '[ -z "$(etcdctl --endpoints '"$ETCD_URLS"' get /mandos-test/servers/c --keys-only)" ]' ||
    fail "servers/c outlived its lease"
tg=$(now_ms)
echo "  servers/c gone $((tg - tk)) ms after kill -9 (TTL ${TTL} s)"
[ $((tg - tk)) -le $((TTL * 1000 + 1500)) ] || fail "servers/c took $((tg - tk)) ms to go"
owners a b | sort >"$T/want2"
took_over() {
	local c s
	for c in $moved; do
		s=$(awk -v c="$c" '$1 == c { print $2 }' "$T/want2")
		awk -v c="$c" -v s="$s" -v t="$tk" '$1 == c && $2 == s && $3 >= t { f = 1 } END { exit !f }' "$T/checks.log" || return 1
	done
}
wait_for 20 took_over || fail "c's clients ($moved) were not taken over"
tt=$(now_ms)
# The checkers' own clock: when the last of c's clients was first checked
# by its new owner.
tc=0
for c in $moved; do
	s=$(awk -v c="$c" '$1 == c { print $2 }' "$T/want2")
	f=$(awk -v c="$c" -v s="$s" -v t="$tk" '$1 == c && $2 == s && $3 >= t { print $3; exit }' "$T/checks.log")
	[ "$f" -gt "$tc" ] && tc=$f
done
echo "  c's $(echo $moved | wc -w) clients checked by their new owners $((tc - tk)) ms after kill -9 (seen by the test at $((tt - tk)) ms)"
[ $((tc - tk)) -le $((TTL * 1000 + 2000)) ] || fail "takeover took $((tc - tk)) ms"
ok "a killed server leaves the registry within the TTL; its clients' checkers move to live servers"

# Nobody disabled: wait past a timeout from the kill, then look everywhere.
sleep 5
t1=$(now_ms)
sleep 4
ran "$t1" >"$T/ran2"
diff -u "$T/want2" "$T/ran2" >"$T/diff2" || { cat "$T/diff2"; fail "after the takeover, checkers did not run exactly on their owners"; }
for s in a b; do
	ctl "$s" -j | python3 -c '
import json, sys
bad = [n for n, c in json.load(sys.stdin).items() if not c["Enabled"]]
sys.exit("disabled on %s: %s" % (sys.argv[1], bad) if bad else 0)' "$s" || fail "a client was disabled"
	! grep -q "expired" "$T/s$s/log" || fail "$s: $(grep expired "$T/s$s/log" | head -n3)"
done
ok "no client was disabled on a or b; each is now checked by exactly one of them"

# Without quorum nobody hears the others' results: each server checks
# every client itself, and nobody expires; with quorum back, owners only.
etcd_kill_member 1
etcd_kill_member 2
tq=$(now_ms)
for s in a b; do
	srv_wait_log "$s" "checking every client here" 20 || fail "$s did not notice the lost quorum"
done
echo "  quorum lost: both servers noticed within $(( $(now_ms) - tq )) ms"
t2=$(now_ms)
sleep 3
ran "$t2" >"$T/ran3"
for c in $names; do
	[ "$(awk -v c="$c" '$1 == c { print $2 }' "$T/ran3" | tr '\n' ' ')" = "a b " ] ||
	    fail "without quorum, $c was not checked by both a and b: $(grep "^$c " "$T/ran3")"
done
sleep 5
for s in a b; do
	ctl "$s" -j | python3 -c '
import json, sys
bad = [n for n, c in json.load(sys.stdin).items() if not c["Enabled"]]
sys.exit("disabled on %s: %s" % (sys.argv[1], bad) if bad else 0)' "$s" || fail "a client was disabled without quorum"
done
ok "without quorum every server checks every client itself; none expired in $(( ($(now_ms) - tq) / 1000 )) s (timeout 10 s)"
etcd_restart_member 1
etcd_restart_member 2
etcd_wait_healthy 0 1 2 || fail "etcd did not recover"
for s in a b; do
	srv_wait_log "$s" "the store answers again" 20 || fail "$s did not see the store return"
done
sleep 1
t3=$(now_ms)
sleep 4
ran "$t3" >"$T/ran4"
diff -u "$T/want2" "$T/ran4" >"$T/diff4" || { cat "$T/diff4"; fail "with quorum back, checkers did not return to their owners"; }
ok "with quorum back each client is checked by its owner only again"

# A clean stop leaves the registry at once.
srv_stop b
wait_for 1 sh -c '[ -z "$(etcdctl --endpoints '"$ETCD_URLS"' get /mandos-test/servers/b --keys-only)" ]' ||
    fail "a stopped server's key stayed"
srv_wait_log a "1 live server;" 5 || fail "a did not see b leave"
ok "a stopped server leaves the registry at once"
srv_stop a
echo PASS
