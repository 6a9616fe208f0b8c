#!/bin/bash
# discover-veth.sh: discover.sh with the client on the "other host": a
# second namespace across a veth pair; the service must resolve over IPv4
# and IPv6 link-local, and the real mandos-client gets its secret.
ZC_MODE=veth
. "${top_srcdir:-.}/t/zeroconf/discover.sh"
