#!/bin/bash
# reuse-tls.sh: t/fleet/reuse.sh over etcds:// with a client certificate
# and an etcd user (see there).
REUSE_TLS=1
. "$(dirname "$0")/reuse.sh"
