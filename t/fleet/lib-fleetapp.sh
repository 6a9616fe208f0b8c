# t/fleet/lib-fleetapp.sh (approve.sh, checkers.sh): what the tests of the
# registry, fleet approvals and checker assignment add to lib-servers.sh
# (sourced after lib.sh; it sources lib-servers.sh). Their servers, named
# (a, b, c), listen on ::1 with mandosd's default workers, drop to _mandos
# (or nobody) when run as root, and fall back on $T/clients.json, which the
# test also pushes to the store.
. "$(dirname "${BASH_SOURCE[0]}")/lib-servers.sh"
SRV_ADDR=::1
SRV_WORKERS=
SRV_ARGS=(--clients "$T/clients.json")
SRV_START_S=10
if [ "$(id -u)" -eq 0 ]; then
	SRV_USER=$(getent passwd _mandos >/dev/null && echo _mandos || echo nobody)
fi

# srv_show ID CLIENT KEY: one attribute of a client, as Python prints it.
srv_show() {
	ctl "$1" -j "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]][sys.argv[2]])' "$2" "$3"
}

# srv_pending ID CLIENT: CLIENT waits for an approval on server ID.
srv_pending() { [ "$(srv_show "$1" "$2" ApprovalPending 2>/dev/null)" = True ]; }
