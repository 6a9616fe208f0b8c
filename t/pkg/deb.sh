#!/bin/bash
# deb.sh: the Debian packages, end to end. Build them with
# dpkg-buildpackage from a copy of the tree (never this build dir), run
# lintian (an error or a warning fails), install them with apt-get beside
# the reference's mandos and mandos-client, check what the postinst did
# (_mandos, the conffile, nothing started), run the installed mandosd
# against the real mandos-client with keys from the installed
# mandosd-keygen, then purge them and check that nothing is left: the file
# list of the system is what it was. The packages are purged on every
# exit, so the rest of the suite finds the machine as it was.
. "${top_srcdir:-.}/t/core/lib.sh" || exit 99

need_root
for c in dpkg-buildpackage dh lintian fakeroot apt-get; do need_cmd "$c"; done
REAL=$(ls /usr/lib/*/mandos/plugins.d/mandos-client 2>/dev/null | head -n1)
[ -n "$REAL" ] || skip "the real mandos-client is not installed"
PKGS="mandosd mandosd-client mandosd-tools"
for p in $PKGS; do
	if dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qv '^not-installed$'; then
		skip "$p is already on this machine; not touching it"
	fi
done
APT="apt-get -o DPkg::Lock::Timeout=600 -y -q"
INSTALLED=0
HAD_USER=0
getent passwd _mandos >/dev/null && HAD_USER=1

# known: those of ours dpkg still knows (installed or config-files).
known() {
	local p
	for p in $PKGS; do
		dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null |
		    grep -qv '^not-installed$' && echo "$p"
	done
}
# /run/mandos is a runtime directory any mandosd run as root makes; the
# purge removes it when empty. Put it back afterwards if it was here.
RUNDIR=$(stat -c '%a %U %G' /run/mandos 2>/dev/null)
put_back_rundir() {
	if [ -n "$RUNDIR" ] && [ ! -d /run/mandos ]; then
		# shellcheck disable=SC2086
		set -- $RUNDIR
		install -d -m "$1" -o "$2" -g "$3" /run/mandos
	fi
}
# Purge whatever got installed, and put back the user as it was.
pkg_cleanup() {
	local left
	if [ "$INSTALLED" = 1 ]; then
		left=$(known)
		# shellcheck disable=SC2086
		[ -z "$left" ] || dpkg --purge $left >>"$T/purge.log" 2>&1
		INSTALLED=0
	fi
	put_back_rundir
	if [ "$HAD_USER" = 0 ] && getent passwd _mandos >/dev/null; then
		deluser --system --quiet _mandos >/dev/null 2>&1
		getent group _mandos >/dev/null && delgroup --system --quiet _mandos >/dev/null 2>&1
	fi
}
trap 'pkg_cleanup; cleanup' EXIT

# snapshot FILE: every path a package may touch, one a line, sorted.
# Logs, caches and the package manager's own books are left out.
snapshot() {
	find /boot /etc /usr /lib /var /run /opt /srv -xdev \
	    \( -path /var/log -o -path /var/cache -o -path /var/tmp \
	       -o -path /var/lib/apt -o -path /var/lib/dpkg -o -path /run/user \
	       -o -path /run/netns -o -path /var/lib/systemd/coredump \
	       -o -path /var/lib/man-db -o -path '/tmp/*' \) -prune -o -print \
	    2>/dev/null | LC_ALL=C sort >"$1"
}

# --- Build from a copy: git archive of what is checked out, else a tar.
W=$T/pkg
mkdir -p "$W/src"
if git -C "$top_srcdir" rev-parse --git-dir >/dev/null 2>&1; then
	rev=$(git -C "$top_srcdir" stash create 2>/dev/null)
	git -C "$top_srcdir" archive "${rev:-HEAD}" | tar -C "$W/src" -xf - ||
		fail "git archive"
else
	tar -C "$top_srcdir" --exclude=./.git --exclude=./build \
	    --exclude=autom4te.cache -cf - . | tar -C "$W/src" -xf - ||
		fail "copying the tree"
fi
[ -f "$W/src/debian/control" ] || fail "no debian/ in the copied tree"
t0=$(date +%s)
(cd "$W/src" && dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1 ||
	{ tail -n 40 "$T/build.log"; fail "dpkg-buildpackage failed"; }
echo "ok: dpkg-buildpackage -us -uc -b in $(( $(date +%s) - t0 )) s"
for p in $PKGS; do
	ls "$W/${p}_"*.deb >/dev/null 2>&1 || fail "no $p package built"
done

# --- lintian: no error, no warning that is not overridden.
lintian --pedantic -I "$W"/mandosd_*.changes >"$T/lintian.log" 2>&1
grep -v '^running with root privileges' "$T/lintian.log" | sed 's/^/  lintian: /'
grep -qE '^(E|W): ' "$T/lintian.log" && fail "lintian reports errors or warnings"
echo "ok: lintian: no error, no warning"

# --- Install beside the reference.
snapshot "$T/before"
debs=""
for p in $PKGS; do debs="$debs $(ls "$W/${p}_"*.deb)"; done
INSTALLED=1
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $APT install --no-install-recommends $debs \
    >"$T/install.log" 2>&1 || { tail -n 20 "$T/install.log"; fail "apt-get install"; }
for p in mandos mandos-client; do
	dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -q '^installed$' ||
		echo "note: the reference's $p is not installed here"
done
echo "ok: installed beside the reference: $(dpkg-query -W -f='${Package} ${db:Status-Status}; ' mandos mandos-client 2>/dev/null)"
getent passwd _mandos >/dev/null || fail "no _mandos user after install"
[ "$(stat -c '%a %U' /etc/mandos/clients.json)" = "600 root" ] ||
	fail "/etc/mandos/clients.json is $(stat -c '%a %U' /etc/mandos/clients.json)"
for p in /proc/[0-9]*; do
	[ "$(readlink "$p/exe" 2>/dev/null)" = /usr/sbin/mandosd ] &&
		fail "the package started mandosd (pid ${p#/proc/})"
done
/usr/sbin/mandosd --check-config >"$T/check.out" 2>&1 ||
	fail "mandosd --check-config of the installed table: $(cat "$T/check.out")"
grep -q '/etc/mandos/clients.json: 0 clients, configuration OK' "$T/check.out" ||
	fail "--check-config: $(cat "$T/check.out")"
for f in /usr/sbin/mandosctl /usr/sbin/mandos-client /usr/sbin/mandosd-keygen \
    /usr/bin/mandos-storm; do
	"$f" --help >/dev/null 2>&1 || fail "$f --help"
done
echo "ok: _mandos exists, the table is root's 0600, nothing started, --check-config"

# A fresh machine has no _mandos (here the reference made it): run the
# postinst's user part in a private mount namespace over a copy of /etc
# without _mandos, and look at what adduser made there.
if command -v unshare >/dev/null; then
	sed -n '/^if \[ "\$1" = configure \]; then/,/^fi$/p' \
	    /var/lib/dpkg/info/mandosd.postinst >"$T/mkuser.sh"
	grep -q adduser "$T/mkuser.sh" || fail "no adduser part in the postinst"
	cp -a /etc "$T/etc"
	for f in passwd group shadow gshadow; do
		[ -f "$T/etc/$f" ] && sed -i '/^_mandos:/d' "$T/etc/$f"
	done
	unshare -m --propagation private sh -c '
		mount --bind "$1/etc" /etc || exit 99
		getent passwd _mandos >/dev/null && exit 98
		sh "$1/mkuser.sh" configure || exit 97
		sh "$1/mkuser.sh" configure || exit 96	# idempotent
		getent passwd _mandos; id -gn _mandos' sh "$T" >"$T/mkuser.out" 2>&1
	rc=$?
	[ "$rc" -eq 0 ] || fail "postinst on a machine without _mandos: exit $rc: $(cat "$T/mkuser.out")"
	IFS=: read -r _ _ uid _ _ home shell <"$T/mkuser.out"
	[ "$uid" -lt 1000 ] && [ "$home" = /nonexistent ] && [ "$shell" = /usr/sbin/nologin ] &&
	    [ "$(sed -n 2p "$T/mkuser.out")" = _mandos ] ||
		fail "the postinst made: $(cat "$T/mkuser.out")"
	rm -rf "$T/etc"
	echo "ok: on a machine without it the postinst makes _mandos (system uid $uid, group _mandos, no home, no shell)"
fi

# --- The installed server and keygen, the real client (and ours).
chmod 0755 "$T"
install -d -m 0700 "$T/keys"
install -d -m 0755 "$T/hooks"
/usr/sbin/mandosd-keygen --dir "$T/keys" --name pkgtest --type ed25519 \
    --subtype cv25519 --force </dev/null >"$T/keygen.log" 2>&1 ||
	{ cat "$T/keygen.log"; fail "mandosd-keygen"; }
printf 'packaged secret %s\n' "$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')" >"$T/secret.txt"
/usr/sbin/mandosd-keygen --dir "$T/keys" --name pkgtest --passfile "$T/secret.txt" \
    </dev/null >"$T/entry" 2>"$T/keygen.log" || { cat "$T/keygen.log"; fail "mandosd-keygen --passfile"; }
{ printf '{"clients": {'; cat "$T/entry"; printf '}}\n'; } >"$T/clients.json"
MANDOSD=/usr/sbin/mandosd
start_mandosd --clients "$T/clients.json"
/usr/sbin/mandosd --check-config --clients "$T/clients.json" | grep -q '1 clients' ||
	fail "--check-config of the test table"
timeout 60 "$REAL" --connect="[::1]:$PORT" --interface=none \
    --network-hook-dir="$T/hooks" --pubkey="$T/keys/pubkey.txt" \
    --seckey="$T/keys/seckey.txt" --tls-pubkey="$T/keys/tls-pubkey.pem" \
    --tls-privkey="$T/keys/tls-privkey.pem" --retry=1 </dev/null \
    >"$T/real.out" 2>"$T/real.err" ||
	{ grep -v GnuTLS "$T/real.err" | tail -n 5; fail "the real mandos-client against the installed mandosd"; }
cmp -s "$T/real.out" "$T/secret.txt" || fail "the real client printed something else"
timeout 60 /usr/sbin/mandos-client --connect="[::1]:$PORT" --interface=none \
    --network-hook-dir="$T/hooks" --pubkey="$T/keys/pubkey.txt" --seckey="$T/keys/seckey.txt" \
    --tls-pubkey="$T/keys/tls-pubkey.pem" --tls-privkey="$T/keys/tls-privkey.pem" \
    </dev/null >"$T/ours.out" 2>"$T/ours.err" ||
	{ tail -n 5 "$T/ours.err"; fail "the installed mandos-client"; }
cmp -s "$T/ours.out" "$T/secret.txt" || fail "the installed mandos-client printed something else"
/usr/sbin/mandosctl --socket "$T/mandosd.sock" | grep -q pkgtest ||
	fail "the installed mandosctl does not list the client"
stop_mandosd
echo "ok: the installed mandosd served the real mandos-client and ours; mandosctl lists it"

# --- Remove: the programs go, the conffile stays until the purge.
DEBIAN_FRONTEND=noninteractive $APT remove $PKGS >"$T/remove.log" 2>&1 ||
	{ tail -n 20 "$T/remove.log"; fail "apt-get remove"; }
for f in /usr/sbin/mandosd /usr/sbin/mandosctl /usr/sbin/mandos-client \
    /usr/sbin/mandosd-keygen /usr/bin/mandos-storm; do
	[ ! -e "$f" ] || fail "$f is still there after remove"
done
[ -f /etc/mandos/clients.json ] || fail "remove took the conffile /etc/mandos/clients.json"
dpkg-query -W -f='${db:Status-Status}' mandosd | grep -q '^config-files$' ||
	fail "mandosd is not in config-files state after remove"
echo "ok: removed: programs gone, the table kept (config-files)"

# --- Purge: nothing left but the _mandos user (README.Debian).
# After the remove only mandosd (its conffile) is left for dpkg.
[ "$(known)" = mandosd ] || fail "dpkg still knows: $(known)"
DEBIAN_FRONTEND=noninteractive $APT purge mandosd >"$T/purge.log" 2>&1 ||
	{ tail -n 20 "$T/purge.log"; fail "apt-get purge"; }
[ -z "$(known)" ] || fail "still known to dpkg after purge: $(known)"
INSTALLED=0
getent passwd _mandos >/dev/null || fail "purge removed the _mandos user (documented to stay)"
put_back_rundir
snapshot "$T/after"
# Paths that another package (someone else's apt-get meanwhile) owns are
# not ours; anything else that differs is.
LC_ALL=C comm -3 "$T/before" "$T/after" >"$T/diff"
: >"$T/left"
while IFS= read -r line; do
	case $line in
	"	"*)	# only after: someone else's, or ours left behind
		path=${line#"	"}
		dpkg-query -S "$path" >/dev/null 2>&1 ||
			echo "left: $path" >>"$T/left" ;;
	*)	echo "removed: $line" >>"$T/left" ;;
	esac
done <"$T/diff"
[ -s "$T/left" ] && { cat "$T/left"; fail "the purge left the system changed"; }
echo "ok: purged: the file list is as before ($(wc -l <"$T/before") paths), _mandos kept"
echo "PASS"
