#!/bin/bash
# System calls per handshake stay low: a flight is one send and one
# receive (lib/tlsio.c), the version line one receive, one persistent
# event per connection.  strace -c -f counts mandosd's calls over 500
# handshakes from mandos-storm (t/bench/syscalls.sh), in all its processes.
# Before the buffered transport: 14.7 recvfrom, 5.0 sendmsg, 3.3 epoll_ctl,
# 27 in all (one process).  The authority and its workers add the channel:
# a worker's frames of one loop round leave in one write, the authority
# reads them with one read() (no bufferevent: no readv + ioctl FIONREAD)
# and answers them, and logs their outcome lines, in one write each.
# syscalls.sh 2000 before that (8b6c4ad): write 4.03, readv 1.68, ioctl
# 1.68, epoll_wait 2.43, 19.1 in all (23 with the suite running beside
# it); after: write 1.1-2.0, readv 0, ioctl 0, epoll_wait 1.0-2.0, 11.7-14.3
# in all (the batches, and so the calls, vary with the machine's load).
# As root it runs in a network namespace of its own and counts TCP
# segments (both directions): 12.08 a handshake while the FIN left alone
# after the last flight, 11.00 since it leaves with it (MSG_MORE).
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
at_most recvfrom 2.5	# version line, the server's flight (+ EAGAIN at times)
at_most sendmsg 2.5	# ClientHello; Finished + secret + close_notify
at_most epoll_ctl 2.5	# ADD at accept, DEL at close
at_most fcntl 0.1	# accept4 sets the flags
at_most setsockopt 0.1	# TCP_NODELAY comes from the listener
at_most write 3.0	# the channel's batches and the batched outcome lines
at_most readv 0.1	# the authority reads its channels with read()
at_most ioctl 0.1	# ... and never asks FIONREAD
# SYN, SYN-ACK, ACK, version line + ACK, ClientHello + ACK, the client's
# flight, our last flight with the FIN, the client's FIN, the last ACK.
if grep -q '^tcp_segments ' "$T/calls"; then
	at_most tcp_segments 11.5
fi
# The sanitizer build: ASan's allocator maps memory in small pieces
# (mmap 10.8 a handshake): not ours to count.
if [ -n "${MANDOSD_SAN_RUN:-}" ]; then
	t=$(awk -v t="$(per total)" -v a="$(per mmap)" -v b="$(per munmap)" \
	    'BEGIN { printf "%.2f", t - a - b }')
	echo "sanitizer build: total without mmap and munmap: $t"
	sed -i "s/^total .*/total $t/" "$T/calls"
fi
at_most total 17
ok "system calls per handshake: recvfrom $(per recvfrom), sendmsg $(per sendmsg), epoll_ctl $(per epoll_ctl), write $(per write), total $(per total); TCP segments $(per tcp_segments)"
echo "PASS"
