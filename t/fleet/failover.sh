#!/bin/bash
# failover.sh: the store client against a failing cluster. The leader
# killed: push and pull work after the election. Two of three members
# stopped (no quorum): push and pull fail fast (< 5 s) with a clear error
# instead of hanging. Members back: push and pull work again.
. "$(dirname "$0")/lib.sh"
[ -x "$STORM" ] || skip "no $STORM"
etcd_cluster_start

make_table 4 3 >"$T/a.json"
"$CTL" --store "$STORE" --push "$T/a.json" >/dev/null || fail "first push"
c=$(python3 -c 'import json,sys; print(sorted(json.load(open(sys.argv[1]))["clients"])[0])' "$T/a.json")

cp "$T/a.json" "$T/b.json"
edit_json "$T/b.json" "t['clients']['$c']['host'] = 'after-election.example'"
lead=$(etcd_leader) || fail "no leader"
etcd_kill_member "$lead"
t0=$(now_ms)
"$CTL" --store "$STORE" --push "$T/b.json" >"$T/b.out" 2>"$T/b.err" ||
    fail "push after the leader died: $(cat "$T/b.err")"
t1=$(now_ms)
new=$(etcd_leader) || fail "no new leader"
echo "  killed leader m$lead; push done $((t1 - t0)) ms after the kill; new leader m$new"
grep -qx "changed $c" "$T/b.out" || fail "push after election printed: $(cat "$T/b.out")"
"$CTL" --store "$STORE" --pull >"$T/pull.json" || fail "pull after the leader died"
same_json "$T/b.json" "$T/pull.json" || fail "pull after election differs"
ok "leader killed: push and pull work"

# Stop one more: the survivor has no quorum.
for i in 0 1 2; do
	[ -n "${ETCD_PIDS[$i]}" ] && { etcd_stop_member "$i"; echo "  stopped m$i"; break; }
done
edit_json "$T/b.json" "t['clients']['$c']['host'] = 'no-quorum.example'"
t0=$(now_ms)
"$CTL" --store "$STORE" --push "$T/b.json" >"$T/nq.out" 2>"$T/nq.err" &&
    fail "push without quorum succeeded: $(cat "$T/nq.out")"
t1=$(now_ms)
echo "  push without quorum failed after $((t1 - t0)) ms: $(head -n1 "$T/nq.err")"
[ $((t1 - t0)) -lt 5000 ] || fail "push without quorum took $((t1 - t0)) ms (want < 5 s)"
grep -q "no etcd endpoint answered within" "$T/nq.err" || fail "unclear error: $(cat "$T/nq.err")"
for i in 0 1 2; do [ -n "${ETCD_PIDS[$i]}" ] && live=${ETCD_CPORT[$i]}; done
grep -q "etcd at 127.0.0.1:$live did not answer" "$T/nq.err" ||
    fail "the error does not name the member without quorum (:$live): $(cat "$T/nq.err")"
grep -q "^changed" "$T/nq.out" && fail "a failed push claimed a change"
t0=$(now_ms)
"$CTL" --store "$STORE" --pull >"$T/nq.json" 2>"$T/nqp.err" && fail "pull without quorum succeeded"
t1=$(now_ms)
[ $((t1 - t0)) -lt 5000 ] || fail "pull without quorum took $((t1 - t0)) ms"
grep -q "no etcd endpoint answered within" "$T/nqp.err" || fail "unclear pull error: $(cat "$T/nqp.err")"
ok "two members down: push and pull fail in < 5 s with a clear error"

for i in 0 1 2; do [ -n "${ETCD_PIDS[$i]}" ] || etcd_restart_member "$i"; done
etcd_wait_healthy 0 1 2 || fail "cluster not healthy after restart"
"$CTL" --store "$STORE" --push "$T/b.json" >"$T/back.out" 2>"$T/back.err" ||
    fail "push after members returned: $(cat "$T/back.err")"
grep -qx "changed $c" "$T/back.out" || fail "push after return printed: $(cat "$T/back.out")"
"$CTL" --store "$STORE" --pull >"$T/back.json" || fail "pull after return"
same_json "$T/b.json" "$T/back.json" || fail "pull after return differs"
ok "members back: push and pull work again"

# Quorum lost in the middle of a push (between its read and its writes,
# held there by the test hook): the first failing write stops the push,
# which must not wait out one deadline per remaining entry.
cp "$T/b.json" "$T/m.json"
edit_json "$T/m.json" "t['defaults']['timeout'] = 'PT7M'
for n in t['clients']: t['clients'][n]['host'] = 'mid-' + n"
t0=$(now_ms)
MANDOSCTL_TEST_PUSH_DELAY_MS=2500 "$CTL" --store "$STORE" --push "$T/m.json" >"$T/m.out" 2>"$T/m.err" &
mp=$!
EXTRA_PIDS+=("$!")
sleep 1.0
etcd_kill_member 0
etcd_kill_member 1
wait "$mp" && fail "push across quorum loss succeeded: $(cat "$T/m.out")"
t1=$(now_ms)
echo "  push with quorum lost mid-way failed after $((t1 - t0 - 2500)) ms past its hold: $(tail -n1 "$T/m.out")"
[ $((t1 - t0 - 2500)) -lt 5000 ] || fail "push across quorum loss took $((t1 - t0)) ms (hold 2500)"
grep -q "push stopped at the error above" "$T/m.out" || fail "no stop line: $(cat "$T/m.out")"
grep -q "no etcd endpoint answered within" "$T/m.err" || fail "unclear error: $(cat "$T/m.err")"
ok "quorum lost mid-push: it stops at the first failed write, in < 5 s"
exit 0
