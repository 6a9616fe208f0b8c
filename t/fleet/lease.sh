#!/bin/bash
# lease.sh: the store client's C API end to end (t/fleet/check_store):
# watch, lease grant, put under the lease, keepalives that hold the key
# past its TTL, and etcd expiring it once they stop, seen by the watch.
. "$(dirname "$0")/lib.sh"
PROG=$top_builddir/t/fleet/check_store
[ -x "$PROG" ] || fail "no $PROG (make check builds it)"
etcd_cluster_start
STORE=$STORE "$PROG" || fail "check_store"
exit 0
