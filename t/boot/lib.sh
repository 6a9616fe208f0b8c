# t/boot/lib.sh: boot an encrypted VM under QEMU that unlocks from mandosd
# (sourced, bash, after t/client/lib.sh). The expensive parts are built once
# into a cache in the build tree and shared by the tests:
#   keys/          test keys from our mandos-keygen (never /etc/keys/mandos)
#   disk.img       LUKS2 (pbkdf2, few iterations: argon2 is too slow under
#                  emulation) holding ext4 with a static /sbin/init that
#                  prints a marker and powers off
#   initrd-ours    Debian's mkinitramfs with our hooks (clients/initramfs/)
#   initrd-ref     the same with the reference's mandos-client hooks instead
#   initrd-both    both packages' hooks, as on a machine with both installed
# Each image is built in a private mount namespace where
# /usr/share/initramfs-tools is a copy holding only the hooks of that
# client, so "ours" really runs ours and "ref" the reference's; the host's
# own initramfs and keys are never touched.

BT_CACHE=$top_builddir/t/boot/cache
BT_GUEST_IP=10.0.2.15
BT_SERVER_IP=10.0.2.100		# guestfwd: the one host port the guest reaches
BT_MARK_INIT="MANDOSD-BOOT-TEST: real init reached"
BT_MARK_UNLOCK="cryptsetup: root: set up successfully"
BT_MARK_PROMPT="Please unlock disk root"
BT_KERNEL='' BT_KVER=''

bt_log() { printf '%s: %s\n' "$TC_NAME" "$*" >&2; }

# Skip (77) only when QEMU or the kernel cannot be had; CI installs both.
bt_init() {
	tc_init "$CLIENT" "$KEYGEN" "$MANDOSD" "$@"
	bt_setup
}

# Check for QEMU and the kernel (skip without), then build the cache.
bt_setup() {
	local t
	for t in qemu-system-x86_64 mkinitramfs cryptsetup mkfs.ext4 socat \
	    unshare flock gcc; do
		command -v "$t" >/dev/null 2>&1 || tc_skip "missing $t (quickstart installs it)"
	done
	BT_KERNEL=$(ls -v /boot/vmlinuz-*-cloud-amd64 2>/dev/null | tail -n1)
	[ -n "$BT_KERNEL" ] || tc_skip "no /boot/vmlinuz-*-cloud-amd64 (package linux-image-cloud-amd64)"
	BT_KVER=${BT_KERNEL#/boot/vmlinuz-}
	[ -d "/lib/modules/$BT_KVER" ] || tc_skip "no modules for $BT_KVER"
	[ -e /lib/cryptsetup/askpass ] || tc_skip "no cryptsetup-initramfs"
	mkdir -p "$BT_CACHE"
	exec 8>"$BT_CACHE/lock"
	flock -w 600 8 || tc_fail "cache lock"
	bt_build || tc_fail "building the boot images"
	flock -u 8
}

# Elapsed seconds since $1 (a date +%s.%N value), one decimal.
bt_since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# Build what is missing or older than its sources; under the cache lock.
bt_build() {
	local c=$BT_CACHE t0 src=$top_srcdir/clients/initramfs
	t0=$(date +%s.%N)
	if [ ! -s "$c/keys/seckey.txt" ]; then
		rm -rf "$c/keys" "$c/disk.img" "$c"/initrd-*
		mkdir -p "$c/keys" && chmod 0700 "$c/keys"
		TMPDIR=$TC_TMP "$KEYGEN" --dir "$c/keys" --name vm --force \
		    --type ed25519 >"$c/key_id" 2>"$TC_TMP/keygen.log" ||
		    { cat "$TC_TMP/keygen.log" >&2; return 1; }
		printf 'boot test disk passphrase %s%s' "$RANDOM" "$RANDOM" >"$c/passphrase"
		TMPDIR=$TC_TMP "$KEYGEN" --dir "$c/keys" --name vm --conf \
		    --passfile "$c/passphrase" >"$c/section.conf" 2>"$TC_TMP/keygen.log" ||
		    { cat "$TC_TMP/keygen.log" >&2; return 1; }
		sed -n '/^secret =/,/^[^ ]/{/^    /{s/^ *//;p}}' "$c/section.conf" |
		    tr -d '\n' >"$c/secret.b64"
		bt_log "keys: $(bt_since "$t0") s"
	fi
	if [ ! -s "$c/disk.img" ] || [ "$top_srcdir/t/boot/init.c" -nt "$c/disk.img" ]; then
		t0=$(date +%s.%N)
		bt_disk || return 1
		rm -f "$c"/initrd-*		# the crypttab names the disk's UUID
		bt_log "LUKS2 disk image: $(bt_since "$t0") s"
	fi
	local f stale=
	for f in "$CLIENT" "$src"/* "$top_srcdir/t/boot/lib.sh" \
	    "$top_builddir/clients/initramfs/gen/hook"; do
		[ "$f" -nt "$c/initrd-ours" ] && stale=1
	done
	if [ ! -s "$c/initrd-ours" ] || [ -n "$stale" ]; then
		t0=$(date +%s.%N)
		bt_initrd ours "$c/initrd-ours" || return 1
		bt_log "initramfs with our client (mkinitramfs): $(bt_since "$t0") s, $(du -k "$c/initrd-ours" | cut -f1) KiB"
	fi
	if [ -n "${BT_NEED_REF:-}" ] && { [ ! -s "$c/initrd-ref" ] ||
	    [ "$top_srcdir/t/boot/lib.sh" -nt "$c/initrd-ref" ]; }; then
		t0=$(date +%s.%N)
		bt_initrd ref "$c/initrd-ref" || return 1
		bt_log "initramfs with the reference's client (mkinitramfs): $(bt_since "$t0") s"
	fi
	if [ -n "${BT_NEED_BOTH:-}" ] && { [ ! -s "$c/initrd-both" ] ||
	    [ "$c/initrd-ours" -nt "$c/initrd-both" ]; }; then
		t0=$(date +%s.%N)
		bt_initrd both "$c/initrd-both" || return 1
		bt_log "initramfs with both clients (mkinitramfs): $(bt_since "$t0") s"
	fi
	return 0
}

# disk.img: ext4 with the test init, encrypted in place (no device-mapper
# needed on the host) with the passphrase as the only key.
bt_disk() {
	local c=$BT_CACHE r=$TC_TMP/rootfs
	mkdir -p "$r/sbin" "$r/dev" "$r/proc" "$r/sys" "$r/run" "$r/tmp" "$r/etc"
	gcc -static -O2 -o "$r/sbin/init" "$top_srcdir/t/boot/init.c" || return 1
	rm -f "$c/disk.tmp"
	truncate -s 40M "$c/disk.tmp"
	mkfs.ext4 -q -F -L testroot -d "$r" "$c/disk.tmp" 16M || return 1
	cryptsetup reencrypt --encrypt --type luks2 --pbkdf pbkdf2 \
	    --pbkdf-force-iterations 1000 --reduce-device-size 16M \
	    --batch-mode --key-file "$c/passphrase" "$c/disk.tmp" || return 1
	cryptsetup luksUUID "$c/disk.tmp" >"$c/uuid" || return 1
	mv "$c/disk.tmp" "$c/disk.img"
}

# bt_initrd ours|ref|both OUT: mkinitramfs in a private mount namespace.
bt_initrd() {
	local kind=$1 out=$2 c=$BT_CACHE tree conf src=$top_srcdir/clients/initramfs
	tree=$c/share-$kind conf=$c/conf-$kind
	rm -rf "$tree" "$conf"
	cp -a /usr/share/initramfs-tools "$tree"
	cp -a /etc/initramfs-tools "$conf"
	# Nobody's Mandos hooks but the one under test.
	rm -f "$tree/hooks/mandos" "$tree/scripts/init-premount/mandos" \
	    "$tree/scripts/local-premount/mandos" \
	    "$tree/conf-hooks.d/zz-mandos" "$tree/conf.d/mandos-conf" \
	    "$tree/hooks/mandosd-client" \
	    "$tree/scripts/init-premount/mandosd-client" \
	    "$tree/scripts/local-premount/mandosd-client" \
	    "$tree/conf-hooks.d/zz-mandosd-client" "$conf/conf.d/mandos-conf"
	if [ "$kind" != ref ]; then
		# What "make install" puts there; the hook as built, pointed
		# at the build tree by the MANDOSD_CLIENT_* variables below.
		[ -x "$top_builddir/clients/initramfs/gen/hook" ] ||
		    { bt_log "no clients/initramfs/gen/hook (make all)"; return 1; }
		install -m 0755 "$top_builddir/clients/initramfs/gen/hook" "$tree/hooks/mandosd-client"
		install -m 0755 "$src/init-premount" "$tree/scripts/init-premount/mandosd-client"
		install -m 0755 "$src/local-premount" "$tree/scripts/local-premount/mandosd-client"
		install -m 0644 "$src/conf-hook" "$tree/conf-hooks.d/zz-mandosd-client"
	fi
	if [ "$kind" != ours ]; then
		for f in hooks/mandos scripts/init-premount/mandos \
		    scripts/local-premount/mandos conf-hooks.d/zz-mandos \
		    conf.d/mandos-conf; do
			[ -e "/usr/share/initramfs-tools/$f" ] &&
			    cp -a "/usr/share/initramfs-tools/$f" "$tree/$f"
		done
		[ -e "$tree/hooks/mandos" ] || { bt_log "no reference hook"; return 1; }
	fi
	# Only what the VM needs: small image, quick build and unpack.
	sed -i -e 's/^MODULES=.*/MODULES=list/' -e 's/^COMPRESS=.*/COMPRESS=gzip/' \
	    "$conf/initramfs.conf"
	printf '%s\n' virtio_pci virtio_blk virtio_net ext4 dm_crypt >"$conf/modules"
	printf 'root UUID=%s none luks,initramfs\n' "$(cat "$c/uuid")" >"$c/crypttab"
	# Mount points for the VM's crypttab and the reference's keys (the
	# reference's hook reads /etc/keys/mandos, cryptroot's /etc/crypttab).
	mkdir -p /etc/keys/mandos
	[ -e /etc/crypttab ] || printf '# <target name> <source device> <key file> <options>\n' >/etc/crypttab
	MANDOSD_CLIENT_KEYDIR=$c/keys MANDOSD_CLIENT_BIN=$CLIENT \
	MANDOSD_CLIENT_LIBDIR=$src unshare -m sh -ec '
		mount --make-rprivate /
		mount --bind "$1" /usr/share/initramfs-tools
		mount --bind "$7" /etc/crypttab
		[ "$4" = ours ] || mount --bind "$5" /etc/keys/mandos
		mkinitramfs -d "$2" -o "$3.tmp" "$6"
	' sh "$tree" "$conf" "$out" "$kind" "$c/keys" "$BT_KVER" "$c/crypttab" \
	    >"$c/mkinitramfs-$kind.log" 2>&1 ||
	    { cat "$c/mkinitramfs-$kind.log" >&2; return 1; }
	mv "$out.tmp" "$out"
}

# clients.json for the VM's key with extra JSON members $1 (", ...").
bt_json() {
	printf '{"defaults": {"checker": "true"}, "clients": {"vm": {"key_id": "%s", "secret": "%s", "host": "localhost"%s}}}\n' \
	    "$(cat "$BT_CACHE/key_id")" "$(cat "$BT_CACHE/secret.b64")" "${1:-}"
}

# mandosd on 127.0.0.1 with clients file $1; sets MPORT, MPID, MLOG, MCTL.
bt_mandosd() {
	MADDR=127.0.0.1 tc_mandosd "$1"
	MCTL=${MLOG%.log}.sock
	MCTL=${MCTL/mandosd./ctl.}
}

# bt_boot NAME INITRD PORT EXTRA-CMDLINE: start a VM in the background; its
# serial console goes to $TC_TMP/NAME.console, its input is fd written by
# bt_type NAME. Sets BT_T0_<NAME> (start time) and BT_PID_<NAME>.
bt_boot() {
	local n=$1 initrd=$2 port=$3 extra=$4 d=$TC_TMP/vm-$1
	mkdir -p "$d"
	mkfifo "$d/ser.in" "$d/ser.out"
	: >"$TC_TMP/$n.console"
	cat "$d/ser.out" >"$TC_TMP/$n.console" &
	TC_PIDS+=("$!")
	exec {fd}<>"$d/ser.in"
	eval "BT_FD_$n=$fd"
	eval "BT_T0_$n=$(date +%s.%N)"
	# Hard bound on every VM; the guest reaches one host port, nothing else.
	timeout -k 5 "${BT_VM_LIMIT:-240}" qemu-system-x86_64 -accel tcg -m 384 \
	    -smp 1 -nographic -monitor none -no-reboot \
	    -chardev "pipe,id=s0,path=$d/ser" -serial chardev:s0 \
	    -kernel "$BT_KERNEL" -initrd "$initrd" \
	    -append "console=ttyS0 root=/dev/mapper/root ro panic=-1 net.ifnames=0 ip=$BT_GUEST_IP::10.0.2.2:255.255.255.0::eth0:off $extra" \
	    -drive "file=$BT_CACHE/disk.img,format=raw,if=virtio,snapshot=on" \
	    -netdev "user,id=n0,restrict=on,guestfwd=tcp:$BT_SERVER_IP:$port-cmd:socat STDIO TCP:127.0.0.1:$port" \
	    -device virtio-net-pci,netdev=n0,romfile= \
	    </dev/null >"$d/qemu.log" 2>&1 &
	eval "BT_PID_$n=$!"
	TC_PIDS+=("$!")
}

# bt_wait NAME MARKER SECONDS: wait for MARKER on the console; prints the
# seconds since power-on. Fails if the VM ends first or time runs out.
bt_wait() {
	local n=$1 mark=$2 lim=$3 t0 pid end
	eval "t0=\$BT_T0_$n pid=\$BT_PID_$n"
	end=$((SECONDS + lim))
	while [ $SECONDS -lt $end ]; do
		if grep -qaF -- "$mark" "$TC_TMP/$n.console"; then
			bt_since "$t0"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			grep -qaF -- "$mark" "$TC_TMP/$n.console" && { bt_since "$t0"; return 0; }
			bt_log "$n: the VM ended before \"$mark\""
			bt_tail "$n"
			return 1
		fi
		sleep 0.2
	done
	bt_log "$n: no \"$mark\" in $lim s"
	bt_tail "$n"
	return 1
}

# bt_type NAME TEXT: type a line on the VM's serial console.
bt_type() {
	local fd
	eval "fd=\$BT_FD_$1"
	printf '%s\r' "$2" >&"$fd"
}

# bt_end NAME: wait (bounded) for the VM to power off by itself.
bt_end() {
	local pid
	eval "pid=\$BT_PID_$1"
	for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
	if kill -0 "$pid" 2>/dev/null; then
		bt_log "$1: the VM did not power off"
		return 1
	fi
	wait "$pid" 2>/dev/null
	return 0
}

bt_tail() {
	bt_log "$1: last console lines:"
	tail -n 25 "$TC_TMP/$1.console" | tr -d '\r' | sed 's/^/    /' >&2
	tail -n 5 "$TC_TMP/vm-$1/qemu.log" 2>/dev/null | sed 's/^/    qemu: /' >&2
}
