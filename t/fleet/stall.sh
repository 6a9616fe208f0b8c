#!/bin/bash
# stall.sh: a member that hangs without closing its connections (SIGSTOP)
# must not leave a server's watch silent for ever. Each member in turn is
# stopped; a change written meanwhile reaches the other server within a
# bound (the probe notices the quiet watch and restarts it elsewhere).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-servers.sh"
fleet_up 2 2
for i in 0 1 2; do
	kill -STOP "${ETCD_PIDS[$i]}"
	want=$([ "$(enabled 1 storm-0)" = true ] && echo false || echo true)
	# The write itself may meet the stopped member first: it fails over.
	ok=
	for _ in 1 2 3; do
		if [ "$want" = false ]; then ctl 0 -d storm-0 2>/dev/null && ok=1
		else ctl 0 -e storm-0 2>/dev/null && ok=1; fi
		[ -n "$ok" ] && break
	done
	[ -n "$ok" ] || { kill -CONT "${ETCD_PIDS[$i]}"; fail "no write with m$i stopped"; }
	ms=$(wait_until 10000 eval '[ "$(enabled 1 storm-0)" = '"$want"' ]') ||
	    { kill -CONT "${ETCD_PIDS[$i]}"; fail "with m$i stopped the change never reached server 1"; }
	kill -CONT "${ETCD_PIDS[$i]}"
	ok "m$i stopped (SIGSTOP): the change reached server 1 after $ms ms"
	etcd_wait_healthy 0 1 2 || fail "m$i not healthy after SIGCONT"
done
srv_stop_all
ok "both servers stopped cleanly"
