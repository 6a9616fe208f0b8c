#!/bin/bash
[ -n "$BASH_VERSION" ] || exec bash "$0" "$@"
# Our mandos-client as a drop-in plugin under the reference's plugin-runner
# (as in the reference's initramfs): plugin-runner drops to the _mandos user,
# passes --options-for=mandos-client:..., and prints what the plugin printed.
# The secret comes from mandosd; our keygen made the keys.
. "${top_srcdir:-$(dirname "$0")/../..}/t/client/lib.sh"
RUNNER=/usr/lib/x86_64-linux-gnu/mandos/plugin-runner
tc_init "$CLIENT" "$RUNNER"
tc_ourkeys "$TC_TMP/a" a || tc_fail "our keygen"
tc_json a="$TC_TMP/a" >"$TC_TMP/clients.json"
tc_mandosd "$TC_TMP/clients.json"
# The plugin directory holds only our client, under the reference's name.
u=$(getent passwd _mandos | cut -d: -f3,4); u=${u:-65534:65534}
mkdir -p "$TC_TMP/plugins.d" "$TC_TMP/helpers" "$TC_TMP/hooks" "$TC_TMP/gpgtmp"
install -m 0755 "$CLIENT" "$TC_TMP/plugins.d/mandos-client"
# As the reference's hook does: keys owned by the user the plugins run as,
# named to plugin-runner with --userid/--groupid.
KD=$TC_TMP/a/keys
chown -R "$u" "$KD" "$TC_TMP/gpgtmp"
chmod 0755 "$TC_TMP/plugins.d"
printf -- '--options-for=mandos-client:--connect=[::1]:%s,--interface=none,--network-hook-dir=%s\n' \
    "$MPORT" "$TC_TMP/hooks" >"$TC_TMP/plugin-runner.conf"
printf -- '--options-for=mandos-client:--pubkey=%s/pubkey.txt,--seckey=%s/seckey.txt\n' \
    "$KD" "$KD" >>"$TC_TMP/plugin-runner.conf"
printf -- '--options-for=mandos-client:--tls-pubkey=%s/tls-pubkey.pem,--tls-privkey=%s/tls-privkey.pem\n' \
    "$KD" "$KD" >>"$TC_TMP/plugin-runner.conf"
timeout 60 "$RUNNER" --config-file="$TC_TMP/plugin-runner.conf" \
    --plugin-dir="$TC_TMP/plugins.d" --plugin-helper-dir="$TC_TMP/helpers" \
    --userid="${u%:*}" --groupid="${u#*:}" \
    --global-env=TMPDIR="$TC_TMP/gpgtmp" \
    </dev/null >"$TC_TMP/out" 2>"$TC_TMP/err" ||
    { cat "$TC_TMP/err" >&2; tc_fail "plugin-runner status $?"; }
tc_check_out "$TC_TMP/a" || tc_fail "wrong output from plugin-runner"
grep -q 'result=secret_sent client=a ' "$MLOG" || tc_fail "mandosd did not send the secret"
exit 0
