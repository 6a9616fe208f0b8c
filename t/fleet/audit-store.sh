#!/bin/bash
# audit-store.sh: the audit trail of a --store server (audit-store.c wired
# by parent_fleet_start). With --store and --audit-log, a mandosctl -d and
# an -A through server A's control socket each give a line in A's audit
# file and a key under PREFIX/audit/, both naming A's --store-id and the
# operator's uid; server B, which did nothing, adds no key. Real 3-member
# etcd cluster (lib.sh), two mandosd (lib-servers.sh).
. "${top_srcdir:-.}/t/fleet/lib.sh" || exit 99
. "$top_srcdir/t/fleet/lib-servers.sh"
etcd_cluster_start
fleet_push 3 aud "$T/clients.json"
srv_start 0 --audit-log "$T/s0.audit"
srv_start 1
me=$(id -u)

# audited FILE-OR-- ACTION CLIENT: the line (from FILE, or the store's
# values on stdin with --) of ACTION on CLIENT by server0 and uid $me.
audited() {
	python3 -c '
import json, sys
src = sys.stdin if sys.argv[1] == "--" else open(sys.argv[1])
act, cl, uid = sys.argv[2], sys.argv[3], int(sys.argv[4])
for l in src:
    l = l.strip()
    if not l.startswith("{"): continue
    d = json.loads(l)
    if d.get("type") == "operator" and d.get("action") == act and d.get("client") == cl \
       and d.get("server") == "server0" and d.get("uid") == uid and d.get("result") == "ok":
        sys.exit(0)
sys.exit(1)' "$1" "$2" "$3" "$me"
}
in_store() { ectl get --prefix /mandos-test/audit/ | audited -- "$1" "$2"; }

ctl 0 -d storm-0 || fail "mandosctl -d on server0"
wait_until 3000 audited "$T/s0.audit" disable storm-0 >/dev/null ||
    fail "no disable line in server0's audit file: $(cat "$T/s0.audit")"
ms=$(wait_until 3000 in_store disable storm-0) ||
    fail "no disable under PREFIX/audit/: $(ectl get --prefix /mandos-test/audit/)"
echo "  the disable's audit key was in etcd ${ms} ms after mandosctl returned"
ectl get --prefix --keys-only /mandos-test/audit/ | grep -q -- '-server0-' ||
    fail "the audit key does not name server0: $(ectl get --prefix --keys-only /mandos-test/audit/)"
ok "-d on server0: a line in its --audit-log and a key under PREFIX/audit/, with its id and uid $me"

ctl 0 -A storm-1 || fail "mandosctl -A on server0"
[ -n "$(ectl get /mandos-test/approvals/storm-1 --print-value-only)" ] ||
    fail "the approval is not in the store"
wait_until 3000 audited "$T/s0.audit" approve storm-1 >/dev/null ||
    fail "no approve line in server0's audit file: $(cat "$T/s0.audit")"
wait_until 3000 in_store approve storm-1 >/dev/null ||
    fail "no approve under PREFIX/audit/: $(ectl get --prefix /mandos-test/audit/)"
ok "-A through server0 (a fleet approval): audited in its file and in the store"

# Reads are not audited, and server1 did nothing: two keys, both server0's.
ctl 1 >/dev/null || fail "mandosctl (list) on server1"
sleep 0.5
keys=$(ectl get --prefix --keys-only /mandos-test/audit/ | grep -c .)
[ "$keys" = 2 ] || fail "expected 2 audit keys, found $keys: $(ectl get --prefix --keys-only /mandos-test/audit/)"
ok "no audit key from server1 (only read) and none for reads"
srv_stop 1
srv_stop 0
echo PASS
