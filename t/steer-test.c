/*
 * steer-test: a SO_REUSEPORT group of listening sockets with
 * lsn_steer_by_source() attached; connect ROUNDS times from each source
 * address and check that every connection of a source (and of every source
 * in one '+'-joined group, e.g. two addresses of one IPv6 /64) lands on the
 * same socket, the one lsn_steer_index() predicts, and that more than one
 * socket is used. Real kernel, real sockets; exit 0 or 1 with a message.
 *
 * usage: steer-test LISTEN-ADDR NSOCKS ROUNDS PREFIX4 PREFIX6 SRC[+SRC...]...
 * STEER_NO_PROG=1 leaves the program out: the control case, which must fail.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen.h"

#define MAXSOCK	8

static struct sockaddr_storage	 lsa;
static socklen_t		 lsalen;

static void
die(const char *what)
{
	fprintf(stderr, "steer-test: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A numeric address with port. */
static socklen_t
parse(const char *s, unsigned port, struct sockaddr_storage *ss)
{
	struct addrinfo	 hints, *ai;
	char		 p[8];
	socklen_t	 len;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(p, sizeof(p), "%u", port);
	if (getaddrinfo(s, p, &hints, &ai) != 0) {
		fprintf(stderr, "steer-test: bad address %s\n", s);
		exit(1);
	}
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return (len);
}

/* Connect from src; return the index of the group socket that accepted it. */
static int
one(const char *src, int *lfd, unsigned nsocks)
{
	struct sockaddr_storage	 ss;
	struct pollfd		 pfd[MAXSOCK];
	socklen_t		 len = parse(src, 0, &ss);
	unsigned		 i;
	int			 c, a, got = -1;

	if ((c = socket(ss.ss_family, SOCK_STREAM, 0)) == -1)
		die("socket");
	if (bind(c, (struct sockaddr *)&ss, len) == -1)
		die(src);
	if (ss.ss_family == lsa.ss_family) {
		if (connect(c, (struct sockaddr *)&lsa, lsalen) == -1)
			die("connect");
	} else {	/* IPv4 to a dual-stack group: its port on 127.0.0.1 */
		struct sockaddr_in	 to;

		memset(&to, 0, sizeof(to));
		to.sin_family = AF_INET;
		to.sin_port = ((struct sockaddr_in6 *)&lsa)->sin6_port;
		to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (connect(c, (struct sockaddr *)&to, sizeof(to)) == -1)
			die("connect");
	}
	for (i = 0; i < nsocks; i++) {
		pfd[i].fd = lfd[i];
		pfd[i].events = POLLIN;
	}
	if (poll(pfd, nsocks, 2000) <= 0) {
		fprintf(stderr, "steer-test: no socket accepted from %s\n", src);
		exit(1);
	}
	for (i = 0; i < nsocks; i++)
		if (pfd[i].revents & POLLIN) {
			if ((a = accept(lfd[i], NULL, NULL)) == -1)
				die("accept");
			close(a);
			if (got != -1) {
				fprintf(stderr, "steer-test: two accepts\n");
				exit(1);
			}
			got = (int)i;
		}
	close(c);
	return (got);
}

int
main(int argc, char **argv)
{
	int		 lfd[MAXSOCK], on = 1, off = 0, idx = -1, want, used = 0;
	int		 first;
	unsigned	 nsocks, rounds, p4, p6, i, r;
	char		*err = NULL, *grp, *src, *save;
	struct sockaddr_storage ss;
	int		 a;

	if (argc < 7) {
		fprintf(stderr, "usage: steer-test LISTEN-ADDR NSOCKS ROUNDS "
		    "PREFIX4 PREFIX6 SRC[+SRC...]...\n");
		return (2);
	}
	nsocks = (unsigned)atoi(argv[2]);
	rounds = (unsigned)atoi(argv[3]);
	p4 = (unsigned)atoi(argv[4]);
	p6 = (unsigned)atoi(argv[5]);
	if (nsocks < 2 || nsocks > MAXSOCK)
		return (2);
	lsalen = parse(argv[1], 0, &lsa);
	for (i = 0; i < nsocks; i++) {
		if ((lfd[i] = socket(lsa.ss_family, SOCK_STREAM, 0)) == -1)
			die("socket");
		setsockopt(lfd[i], SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
		if (lsa.ss_family == AF_INET6)	/* dual stack, as mandosd */
			setsockopt(lfd[i], IPPROTO_IPV6, IPV6_V6ONLY, &off,
			    sizeof(off));
		if (bind(lfd[i], (struct sockaddr *)&lsa, lsalen) == -1)
			die("bind");
		if (i == 0 && getsockname(lfd[0], (struct sockaddr *)&lsa,
		    &lsalen) == -1)
			die("getsockname");
		if (listen(lfd[i], 64) == -1)
			die("listen");
	}
	if (getenv("STEER_NO_PROG") == NULL &&
	    lsn_steer_by_source(lfd[0], nsocks, p4, p6, &err) == -1) {
		fprintf(stderr, "steer-test: %s\n", err);
		return (1);
	}
	for (a = 6; a < argc; a++) {
		first = -1;
		for (grp = strtok_r(argv[a], "+", &save); grp != NULL;
		    grp = strtok_r(NULL, "+", &save)) {
			src = grp;
			parse(src, 0, &ss);
			want = (int)lsn_steer_index((struct sockaddr *)&ss,
			    nsocks, p4, p6);
			for (r = 0; r < rounds; r++) {
				idx = one(src, lfd, nsocks);
				if (idx != want || (first != -1 && idx != first)) {
					fprintf(stderr, "steer-test: %s landed on "
					    "socket %d, expected %d (group %d)\n",
					    src, idx, want, first);
					return (1);
				}
				first = idx;
			}
			printf("%s -> socket %d (%u of %u connections)\n", src,
			    idx, rounds, rounds);
			if (idx >= 0)
				used |= 1 << idx;
		}
	}
	if ((used & (used - 1)) == 0) {
		fprintf(stderr, "steer-test: every source on one socket\n");
		return (1);
	}
	return (0);
}
