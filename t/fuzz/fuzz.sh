#!/bin/bash
# t/fuzz/fuzz.sh build|run|replay [NAME...]: the libFuzzer harnesses.
#   build   compile t/fuzz/fuzz_NAME.c with clang against the sources
#           (apart from the gcc build) into $FUZZ_OUT/fuzz_NAME
#   run     fuzz each for FUZZ_SECONDS (default 30) from its seed corpus;
#           a crash leaves crash-* in $FUZZ_OUT/NAME/ and fails the run
#   replay  run each harness once over its seed corpus and its regression
#           inputs (t/fuzz/regress/NAME/), no fuzzing: make check does this
# Environment: top_srcdir, top_builddir (config.h), FUZZ_OUT (default
# $top_builddir/t/fuzz), FUZZ_CC (clang), FUZZ_SECONDS, FUZZ_JOBS.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$(pwd)}"
: "${FUZZ_OUT:=$top_builddir/t/fuzz}"
: "${FUZZ_CC:=clang}"
: "${FUZZ_SECONDS:=30}"
S=$top_srcdir
FZ=$S/t/fuzz

# Every harness, and the sources each one links (src/, src/authority/,
# src/worker/: the authority and the network worker of one binary).
NAMES="proto duration keyid keytab import state control client msg"
LIB="lib/duration.c lib/keyid.c lib/log.c lib/sockaddr.c lib/tlsio.c lib/xmalloc.c"
# The daemon without main.c, with checkers that never run (fuzz_checker_stub.c).
DAEMON="$(cd "$S" && ls src/*.c src/authority/*.c src/worker/*.c lib/*.c |
    grep -v -e '^src/main.c$' -e '^src/authority/checker.c$' \
    -e '^src/authority/spawner.c$' | tr '\n' ' ')"
srcs() {
	case $1 in
	proto)		echo "src/worker/proto.c" ;;
	duration)	echo "lib/duration.c" ;;
	keyid)		echo "lib/keyid.c" ;;
	keytab)		echo "src/authority/keytab.c src/authority/secmem.c $LIB" ;;
	import)		echo "clients/import.c src/authority/keytab.c src/authority/secmem.c $LIB" ;;
	state|control)	echo "$DAEMON" ;;
	client)		echo "clients/client-pgp.c $LIB" ;;
	msg)		echo "src/msg.c $LIB" ;;
	*)		return 1 ;;
	esac
}
extra() {
	case $1 in
	state|control)	echo "$FZ/fuzz_checker_stub.c" ;;
	esac
}
# Per-input bound: a little above what the real reader accepts.
max_len() {
	case $1 in
	proto)		echo 80 ;;		# PROTO_LINE_MAX 64
	duration|keyid)	echo 256 ;;
	control)	echo 8192 ;;		# CTL_MAXLINE lines
	client)		echo 16384 ;;
	*)		echo 65536 ;;
	esac
}

die() { echo "fuzz.sh: $*" >&2; exit 1; }

build_one() {
	local n=$1 out=$FUZZ_OUT/fuzz_$1 objdir=$FUZZ_OUT/obj f o objs=() pc
	srcs "$n" >/dev/null || die "unknown harness $n"
	[ -f "$FZ/fuzz_$n.c" ] || { echo "fuzz.sh: no t/fuzz/fuzz_$n.c yet, skipped"; return 0; }
	mkdir -p "$objdir/src/authority" "$objdir/src/worker" "$objdir/lib" "$objdir/clients"
	pc=$(pkg-config --cflags libevent_core libevent_extra libevent_openssl openssl gnutls jansson \
	    avahi-client gpgme inih libseccomp 2>/dev/null)
	CFLAGS_FZ="-g -O1 -std=gnu11 -fsanitize=fuzzer-no-link,address,undefined
	    -fno-sanitize-recover=all -fno-omit-frame-pointer
	    -I$top_builddir -I$S/lib -I$S/src -I$S/src/authority -I$S/src/worker
	    -I$S/clients -I$FZ $pc
	    -DSYSCONFDIR=\"/etc\" -DLOCALSTATEDIR=\"/var\" -DRUNSTATEDIR=\"/run\"
	    -DFUZZ_DATADIR=\"$FZ/data\" -Wno-unused-parameter"
	for f in $(srcs "$n"); do
		o=$objdir/${f%.c}.o
		# Shared objects are compiled once for all harnesses.
		if [ ! -f "$o" ] || [ "$S/$f" -nt "$o" ] || [ -n "$(find "$S/src" "$S/lib" -name '*.h' -newer "$o" 2>/dev/null | head -n1)" ]; then
			# shellcheck disable=SC2086
			$FUZZ_CC $CFLAGS_FZ -c "$S/$f" -o "$o" || return 1
		fi
		objs+=("$o")
	done
	# shellcheck disable=SC2086,SC2046
	$FUZZ_CC $CFLAGS_FZ -fsanitize=fuzzer "$FZ/fuzz_$n.c" $(extra "$n") \
	    "${objs[@]}" -o "$out" \
	    $(pkg-config --libs libevent_core libevent_extra libevent_openssl openssl gnutls jansson \
	    avahi-client gpgme inih libseccomp 2>/dev/null) -lm || return 1
	echo "  FUZZ     t/fuzz/fuzz_$n"
}

# Inputs to replay: the seed corpus and the regression inputs.
inputs() {
	find "$FZ/corpus/$1" "$FZ/regress/$1" -type f 2>/dev/null | sort
}

cmd=${1:-}
shift
names=${*:-$NAMES}
rc=0
case $cmd in
build)
	command -v "$FUZZ_CC" >/dev/null || die "$FUZZ_CC not installed"
	for n in $names; do build_one "$n" || die "building fuzz_$n failed"; done
	;;
run)
	for n in $names; do
		[ -x "$FUZZ_OUT/fuzz_$n" ] || continue
		mkdir -p "$FUZZ_OUT/$n/corpus"
		touch "$FUZZ_OUT/$n/.start"	# crash files older than this are old news
		t0=$(date +%s)
		# New inputs go to the build tree's corpus, the seeds stay as they are.
		( cd "$FUZZ_OUT/$n" && "$FUZZ_OUT/fuzz_$n" -max_total_time="$FUZZ_SECONDS" \
		    -max_len="$(max_len "$n")" -timeout=10 -rss_limit_mb=2048 \
		    -print_final_stats=1 -close_fd_mask=2 corpus "$FZ/corpus/$n" ) \
		    >"$FUZZ_OUT/$n.log" 2>&1
		r=$?
		stats=$(grep -E '^stat::number_of_executed_units' "$FUZZ_OUT/$n.log" | awk '{print $2}')
		if [ "$r" -ne 0 ]; then
			echo "FAIL: fuzz_$n ($(( $(date +%s) - t0 )) s): see $FUZZ_OUT/$n.log; the input is $(find "$FUZZ_OUT/$n" -maxdepth 1 -newer "$FUZZ_OUT/$n/.start" \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | tr '\n' ' ')"
			tail -n 40 "$FUZZ_OUT/$n.log"
			rc=1
		else
			echo "ok: fuzz_$n: ${stats:-?} inputs in $(( $(date +%s) - t0 )) s"
		fi
	done
	;;
replay)
	for n in $names; do
		[ -x "$FUZZ_OUT/fuzz_$n" ] || { [ -f "$FZ/fuzz_$n.c" ] && { echo "FAIL: fuzz_$n not built"; rc=1; }; continue; }
		mapfile -t in < <(inputs "$n")
		[ "${#in[@]}" -gt 0 ] || { echo "FAIL: fuzz_$n has no inputs"; rc=1; continue; }
		if "$FUZZ_OUT/fuzz_$n" -runs=1 "${in[@]}" >"$FUZZ_OUT/$n-replay.log" 2>&1; then
			echo "ok: fuzz_$n replayed ${#in[@]} inputs"
		else
			echo "FAIL: fuzz_$n on its inputs:"
			tail -n 40 "$FUZZ_OUT/$n-replay.log"
			rc=1
		fi
	done
	;;
*)	die "usage: fuzz.sh build|run|replay [NAME...]" ;;
esac
exit "$rc"
