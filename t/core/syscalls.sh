#!/bin/bash
# System calls per handshake stay low: a flight is one send and one
# receive (lib/tlsio.c), the version line one receive, one persistent
# event per connection.  strace -c -f counts mandosd's calls over 500
# handshakes from mandos-storm (t/bench/syscalls.sh), in all its processes.
# Before the buffered transport: 14.7 recvfrom, 5.0 sendmsg, 3.3 epoll_ctl,
# 27 in all (one process).  The authority and its workers add the channel:
# three frames written at once (LOOKUP, SECRET, DONE: no epoll_ctl), read
# by the worker with read() and by the authority's bufferevent (readv +
# ioctl FIONREAD), and the authority's own wake-ups (epoll_wait); the
# workers' start-up (exec, GnuTLS) is spread over the 500.  Measured on
# the merge: 19.9 in all (epoll_ctl 2.05, write 4.04), and 23.0 while the
# rest of the suite ran beside it: under load the frames coalesce less
# (readv + ioctl 1.7 instead of 1.2) and both workers wake for one accept
# (accept4 1.6), so the total's bound leaves room for a loaded machine.
. "${top_srcdir:-.}/t/core/lib.sh" || exit 99

need_cmd strace
need_cmd python3
BUILD=$top_builddir PORT=$((20800 + RANDOM % 100)) \
    "$top_srcdir/t/bench/syscalls.sh" 500 >"$T/calls" 2>"$T/err" \
    || { cat "$T/err"; fail "syscalls.sh failed"; }
cat "$T/calls"
per() { awk -v c="$1" '$1 == c { print $2; found = 1 } END { if (!found) print 0 }' "$T/calls"; }
# at_most CALL BOUND: fail if CALL is made more than BOUND times a handshake.
at_most() {
	awk -v v="$(per "$1")" -v b="$2" 'BEGIN { exit !(v <= b) }' \
	    || fail "$1: $(per "$1") a handshake, more than $2"
}
at_most recvfrom 3.5	# version line, the server's flight (+ EAGAIN at times)
at_most sendmsg 3.5	# ClientHello; Finished + secret + close_notify
at_most epoll_ctl 2.5	# ADD at accept, DEL at close
at_most fcntl 0.1	# accept4 sets the flags
at_most setsockopt 0.1	# TCP_NODELAY comes from the listener
at_most write 4.5	# the three frames; the authority's outcome line
# The sanitizer build: ASan's allocator maps memory in small pieces
# (mmap 10.8 a handshake): not ours to count.
if [ -n "${MANDOSD_SAN_RUN:-}" ]; then
	t=$(awk -v t="$(per total)" -v a="$(per mmap)" -v b="$(per munmap)" \
	    'BEGIN { printf "%.2f", t - a - b }')
	echo "sanitizer build: total without mmap and munmap: $t"
	sed -i "s/^total .*/total $t/" "$T/calls"
fi
at_most total 25
ok "system calls per handshake: recvfrom $(per recvfrom), sendmsg $(per sendmsg), epoll_ctl $(per epoll_ctl), total $(per total)"
echo "PASS"
