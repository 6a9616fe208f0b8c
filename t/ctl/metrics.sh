#!/bin/bash
# Metrics: mandosctl --metrics and GET /metrics (on the same loop)
# both pass `promtool check metrics`, carry the DESIGN.md families and move
# with what happens; anything but GET /metrics is refused.
. "${top_srcdir:-.}/t/ctl/lib.sh" || exit 99
need_cmd promtool
need_cmd curl
SEED=metrics
make_table 3 "$SEED" '{"checker": "true", "interval": "PT1H"}'
start --metrics-listen 127.0.0.1:0
url=$(sed -n 's|.*metrics on \(http://[^ ]*/metrics\).*|\1|p' "$MLOG" | head -n1)
url=${url/\[127.0.0.1\]/127.0.0.1}
[ -n "$url" ] || fail "no metrics URL in the log"
storm 0 3 6 >/dev/null || fail "storm"
"$STORM" --connect "[::1]:$PORT" --seed other --clients 1 --count 1 -q --expect none >/dev/null || fail "unknown"

ctl --metrics >"$T/ctl.prom" || fail "mandosctl --metrics"
curl -fsS -D "$T/headers" "$url" >"$T/http.prom" || fail "curl $url"
for f in ctl http; do
	promtool check metrics <"$T/$f.prom" >"$T/$f.lint" 2>&1 || { cat "$T/$f.lint"; fail "promtool: $f"; }
	for fam in 'mandos_connections_total{result="secret_sent"} 6' \
	    'mandos_connections_total{result="not_found"} 1' \
	    'mandos_connections_active ' 'mandos_handshake_duration_seconds_bucket{le="0.00025"}' \
	    'mandos_handshake_duration_seconds_count 7' 'mandos_clients{state="enabled"} 3' \
	    'mandos_approvals_pending 0' 'mandos_checker_runs_total{result="success"}' \
	    'mandos_table_reloads_total{result="ok"}' 'mandos_build_info{version=' \
	    'process_cpu_seconds_total ' 'process_resident_memory_bytes ' \
	    'process_open_fds ' 'process_start_time_seconds '; do
		grep -qF -- "$fam" "$T/$f.prom" || fail "$f: no '$fam'"
	done
done
grep -qi '^content-type: text/plain; version=0.0.4' "$T/headers" || fail "content type: $(cat "$T/headers")"
ok "promtool check metrics passes on mandosctl --metrics and on GET /metrics"

code=$(curl -s -o /dev/null -w '%{http_code}' "${url%/metrics}/other")
[ "$code" = 404 ] || fail "/other gave $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url")
[ "$code" = 405 ] || fail "POST gave $code"
curl -fsS "$url" >/dev/null || fail "server stopped answering"
ok "only GET /metrics: 404 elsewhere, 405 for POST"

# The same counter table feeds stats.
[ "$(counter connections_secret_sent)" = 6 ] || fail "stats disagree"
ctl --stats | grep -q '^handshakes 7$' || fail "stats handshakes"
ok "stats and metrics agree"
stop
echo PASS
