#!/bin/bash
# units.sh: systemd accepts the unit files (systemd-analyze verify), the
# sysusers snippet makes _mandos in a scratch root, and the tmpfiles
# snippet makes /run/mandos and /var/lib/mandos owned by it there.
. "${top_srcdir:-.}/t/zeroconf/lib.sh"

for t in systemd-analyze systemd-sysusers systemd-tmpfiles; do
	command -v "$t" >/dev/null 2>&1 || zc_skip "missing $t (package systemd)"
done
[ "$(id -u)" = 0 ] || zc_skip "needs root (chown in the scratch root)"
ZC_DIR=$(mktemp -d /tmp/mzc.XXXXXX) || zc_fail "mktemp"
trap zc_cleanup EXIT
E=$top_srcdir/etc

# ExecStart must name an executable file: point it at the build.
sed "s|@sbindir@|$(cd "$top_builddir/src" && pwd)|" "$E/mandosd.service" \
    >"$ZC_DIR/mandosd.service"
cp "$E/mandosd.socket" "$ZC_DIR/"
out=$(systemd-analyze verify --man=no "$ZC_DIR/mandosd.service" \
    "$ZC_DIR/mandosd.socket" 2>&1) || zc_fail "verify: $out"
# verify may only warn; any line about our units is a finding.
grep -F "$ZC_DIR" <<<"$out" && zc_fail "verify complained"
grep -q '^Type=notify' "$ZC_DIR/mandosd.service" || zc_fail "not Type=notify"

R=$ZC_DIR/root
mkdir -p "$R/etc"
: >"$R/etc/passwd"; : >"$R/etc/group"; : >"$R/etc/shadow"; : >"$R/etc/gshadow"
systemd-sysusers --root="$R" "$E/mandosd.sysusers" >"$ZC_DIR/sysusers.log" 2>&1 ||
	zc_fail "sysusers: $(cat "$ZC_DIR/sysusers.log")"
grep -q '^_mandos:x:[0-9]*:[0-9]*:.*:/nonexistent:/usr/sbin/nologin$' "$R/etc/passwd" ||
	zc_fail "no _mandos: $(cat "$R/etc/passwd")"
grep -q '^_mandos:' "$R/etc/group" || zc_fail "no _mandos group"
uid=$(awk -F: '$1 == "_mandos" { print $3 }' "$R/etc/passwd")

systemd-tmpfiles --root="$R" --create "$E/mandosd.tmpfiles" \
    >"$ZC_DIR/tmpfiles.log" 2>&1 || zc_fail "tmpfiles: $(cat "$ZC_DIR/tmpfiles.log")"
[ "$(stat -c '%u %a' "$R/run/mandos")" = "$uid 755" ] ||
	zc_fail "/run/mandos: $(stat -c '%u %a' "$R/run/mandos")"
[ "$(stat -c '%u %a' "$R/var/lib/mandos")" = "$uid 700" ] ||
	zc_fail "/var/lib/mandos: $(stat -c '%u %a' "$R/var/lib/mandos")"
zc_pass
