#!/bin/bash
# No worker has in its memory the secret of a client that has not connected
# through it, and the secret it sent is wiped when the connection ends:
# every readable byte of each worker (/proc/PID/mem) is searched for each
# client's secret. The authority, which holds them all, is searched too, so
# that the scan is shown to find what is there.
. "${top_srcdir:-.}/t/worker/lib.sh" || exit 99
need_root
need_cmd python3
VALGRIND=	# scan our own image, not valgrind's shadow memory
SCAN=${top_srcdir}/t/worker/memscan.py
"$STORM" --make-table 4 --seed memscan --secret-size 64 >"$T/clients.json" || fail "make-table"
hex() { python3 -c 'import json,sys,base64; print(base64.b64decode(json.load(open(sys.argv[1]))["clients"][sys.argv[2]]["secret"]).hex())' "$T/clients.json" "$1"; }
s0=$(hex storm-0) s1=$(hex storm-1) s2=$(hex storm-2) s3=$(hex storm-3)
start_mandosd --clients "$T/clients.json" --workers 2
[ "$(python3 "$SCAN" "$MPID" "$s1" "$s2")" = "1 1" ] || fail "the scan does not find the secrets in the authority"
ok "the scan finds every secret in the authority"

probe --idx 0 --seed memscan
[ "$RC" -eq 0 ] || fail "storm-0 not served: $(cat "$T/err")"
wait_log "result=secret_sent client=storm-0"
for w in $(workers); do
	r=$(python3 "$SCAN" "$w" "$s0" "$s1" "$s2" "$s3") || fail "scan of $w"
	echo "  worker pid $w: storm-0 (sent) storm-1 storm-2 storm-3 (never connected): $r"
	[ "${r#* }" = "0 0 0" ] || fail "worker $w holds the secret of a client that never connected through it"
	[ "${r%% *}" = 0 ] || fail "worker $w still holds storm-0's secret after the connection ended"
done
ok "no worker holds a secret of a client that has not connected; the one sent is wiped"
stop_mandosd
echo "PASS"
