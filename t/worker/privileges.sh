#!/bin/bash
# Every network worker runs with nothing: no capability (CapEff), not root
# (Uid), no_new_privs, and the seccomp filter (Seccomp: 2) that
# sandbox_enter installs (not in the sanitizer build). ps shows each
# process's role.
. "${top_srcdir:-.}/t/worker/lib.sh" || exit 99
VALGRIND=	# seccomp is off under valgrind
# The sanitizer build (t/sanitize.sh) runs its workers without the filter,
# so that a report can reach its file; every other build must have it.
expect_seccomp=${MANDOSD_EXPECT_SECCOMP:-$([ -n "${MANDOSD_SAN_RUN:-}" ] && echo 0 || echo 1)}
"$STORM" --make-table 2 --seed priv >"$T/clients.json" || fail "make-table"
start_mandosd --clients "$T/clients.json" --workers 3
probe --idx 1 --seed priv
[ "$RC" -eq 0 ] || fail "not served: $(cat "$T/err")"
[ "$(tr '\0' ' ' </proc/"$MPID"/cmdline | sed 's/ *$//')" = "mandosd: authority" ] \
    || fail "the authority shows as '$(tr '\0' ' ' </proc/"$MPID"/cmdline)'"
n=0
for i in 0 1 2; do
	w=$(worker_pid $i)
	[ -n "$w" ] || fail "no process shows as 'mandosd: worker $i'"
	st=/proc/$w/status
	grep -q '^CapEff:[[:space:]]*0000000000000000$' "$st" || fail "worker $i: $(grep CapEff "$st")"
	grep -q '^CapPrm:[[:space:]]*0000000000000000$' "$st" || fail "worker $i: $(grep CapPrm "$st")"
	awk '/^Uid:/ {exit !($2 && $3 && $4 && $5)}' "$st" || fail "worker $i runs as root: $(grep Uid "$st")"
	grep -q '^NoNewPrivs:[[:space:]]*1$' "$st" || fail "worker $i: $(grep NoNewPrivs "$st")"
	if [ "$expect_seccomp" = 1 ]; then
		grep -q '^Seccomp:[[:space:]]*2$' "$st" || fail "worker $i: $(grep '^Seccomp:' "$st")"
	fi
	echo "  worker $i (pid $w): $(grep -E '^(Uid|CapEff|NoNewPrivs|Seccomp):' "$st" | tr -s '\t\n' '  ')"
	n=$((n + 1))
done
[ "$expect_seccomp" = 1 ] && s="a seccomp filter" || s="(sanitizer build: no seccomp filter)"
ok "$n workers: no capability, not root, no_new_privs $s; ps shows the roles"
stop_mandosd
echo "PASS"
