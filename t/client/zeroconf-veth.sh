#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# zeroconf.sh across a veth pair: the client in the "other host" namespace,
# servers resolved over IPv4 and IPv6 link-local.
ZC_MODE=veth
. "${top_srcdir:-.}/t/client/zeroconf.sh"
