/*
 * listen.c: the listening sockets, bound by the authority. By default one
 * dual-stack IPv6 socket on all addresses, as the reference does. The
 * authority never accepts: every worker inherits the same sockets and
 * accepts on them (worker/accept.c); the authority keeps them open, so a
 * worker's successor finds the queued peers still there. Accepted sockets
 * inherit O_NONBLOCK and FD_CLOEXEC from accept4() and TCP_NODELAY from
 * the listener (Linux copies it), so a connection costs no fcntl or
 * setsockopt of its own.
 */
#include "config.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "listen.h"
#include "log.h"
#include "sockaddr.h"
#include "xmalloc.h"

#define LSN_MAX		LSN_MAX_FDS	/* systemd may hand us a few; one per worker when steered */
#define LSN_BACKLOG	4096	/* a reboot storm arrives at once; the kernel caps it */

struct listener {
	int		 fd;
	int		 member;	/* its worker in a steered group; -1: every worker's */
};

static struct listener	 lsn[LSN_MAX];
static size_t		 nlsn;

/* Record a listener; -1 if there are too many. */
static int
lsn_push(int fd, int member, char **errstr)
{
	if (nlsn == LSN_MAX) {
		xasprintf(errstr, "more than %d listening sockets", LSN_MAX);
		return (-1);
	}
	lsn[nlsn].fd = fd;
	lsn[nlsn++].member = member;
	return (0);
}

/*
 * No Nagle on what the listener accepts: each flight is one send() of its
 * own and must not wait for the ACK of the one before.
 */
static int
lsn_nodelay(int fd, char **errstr)
{
	int	 on = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1) {
		xasprintf(errstr, "descriptor %d: TCP_NODELAY: %s", fd,
		    strerror(errno));
		return (-1);
	}
	return (0);
}

int
lsn_adopt(int fd, char **errstr)
{
	int		 val;
	socklen_t	 len = sizeof(val);

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &val, &len) == -1 || !val) {
		xasprintf(errstr, "descriptor %d is not a listening socket", fd);
		return (-1);
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
		xasprintf(errstr, "descriptor %d: %s", fd, strerror(errno));
		return (-1);
	}
	if (lsn_nodelay(fd, errstr) == -1)
		return (-1);
	return (lsn_push(fd, -1, errstr));
}

int
lsn_open(const struct lsn_config *lc, char **errstr)
{
	struct addrinfo	 hints, *ai = NULL;
	struct sockaddr_in6 any6;
	struct sockaddr_in any4;
	const struct sockaddr *sa;
	socklen_t	 salen;
	struct sockaddr_storage bound;
	socklen_t	 bound_len;
	int		 fd = -1, on = 1, off = 0, family, r;
	unsigned	 nsocks, k;
	char		 where[SOCKADDR_STRLEN];
	char		*end;
	unsigned long	 port;

	port = strtoul(lc->port, &end, 10);
	if (*lc->port == '\0' || *end != '\0' || port > 65535) {
		xasprintf(errstr, "bad port \"%s\"", lc->port);
		return (-1);
	}
	if (lc->address != NULL) {
		memset(&hints, 0, sizeof(hints));
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
		hints.ai_family = lc->no_ipv6 ? AF_INET : AF_UNSPEC;
		if ((r = getaddrinfo(lc->address, lc->port, &hints, &ai)) != 0) {
			xasprintf(errstr, "address \"%s\": %s", lc->address,
			    gai_strerror(r));
			return (-1);
		}
		sa = ai->ai_addr;
		salen = ai->ai_addrlen;
		if (sa->sa_family == AF_INET6 && lc->interface != NULL &&
		    IN6_IS_ADDR_LINKLOCAL(&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr))
			((struct sockaddr_in6 *)ai->ai_addr)->sin6_scope_id =
			    if_nametoindex(lc->interface);
	} else if (lc->no_ipv6) {
		memset(&any4, 0, sizeof(any4));
		any4.sin_family = AF_INET;
		any4.sin_port = htons((uint16_t)port);
		sa = (struct sockaddr *)&any4;
		salen = sizeof(any4);
	} else {
		memset(&any6, 0, sizeof(any6));
		any6.sin6_family = AF_INET6;
		any6.sin6_port = htons((uint16_t)port);
		sa = (struct sockaddr *)&any6;
		salen = sizeof(any6);
	}
	family = sa->sa_family;
	sockaddr_format(sa, where, sizeof(where));
	nsocks = lc->nsocks > 1 ? lc->nsocks : 1;
	for (k = 0; k < nsocks; k++) {
		fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1)
			goto syserr;
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
			goto syserr;
		/* One socket per worker, one group: the kernel picks the
		 * socket of each SYN by the steering program below. */
		if (nsocks > 1 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on,
		    sizeof(on)) == -1)
			goto syserr;
		/* Dual stack: IPv4 clients arrive as ::ffff:a.b.c.d. */
		if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
		    IPV6_V6ONLY, &off, sizeof(off)) == -1)
			goto syserr;
		if (lc->interface != NULL && setsockopt(fd, SOL_SOCKET,
		    SO_BINDTODEVICE, lc->interface,
		    (socklen_t)strlen(lc->interface) + 1) == -1) {
			xasprintf(errstr, "interface \"%s\": %s", lc->interface,
			    strerror(errno));
			goto fail;
		}
		if (bind(fd, sa, salen) == -1) {
			xasprintf(errstr, "bind %s: %s", where, strerror(errno));
			goto fail;
		}
		/* Port 0: the others join the port the first one got. */
		if (k == 0 && nsocks > 1) {
			bound_len = sizeof(bound);
			if (getsockname(fd, (struct sockaddr *)&bound,
			    &bound_len) == -1)
				goto syserr;
			sa = (struct sockaddr *)&bound;
			salen = bound_len;
		}
		/* A socket joins the group (and takes its index) at listen. */
		if (listen(fd, LSN_BACKLOG) == -1)
			goto syserr;
		if (lsn_nodelay(fd, errstr) == -1)
			goto fail;
		if (k == nsocks - 1 && nsocks > 1 && lsn_steer_by_source(fd,
		    nsocks, lc->prefix4, lc->prefix6, errstr) == -1)
			goto fail;
		if (lsn_push(fd, nsocks > 1 ? (int)k : -1, errstr) == -1)
			goto fail;
		fd = -1;
	}
	if (ai != NULL)
		freeaddrinfo(ai);
	return (0);
syserr:
	xasprintf(errstr, "listening socket %s: %s", where, strerror(errno));
fail:
	if (fd != -1)
		close(fd);
	if (ai != NULL)
		freeaddrinfo(ai);
	return (-1);
}

size_t
lsn_fds(int *fds, int *members, size_t max)
{
	size_t	 i;

	for (i = 0; i < nlsn && i < max; i++) {
		fds[i] = lsn[i].fd;
		members[i] = lsn[i].member;
	}
	return (i);
}

void
lsn_close(void)
{
	size_t	 i;

	for (i = 0; i < nlsn; i++)
		close(lsn[i].fd);
	nlsn = 0;
}

/* Address of the first listener. */
static int
lsn_sockname(struct sockaddr_storage *ss)
{
	socklen_t	 len = sizeof(*ss);

	if (nlsn == 0 || getsockname(lsn[0].fd, (struct sockaddr *)ss, &len) == -1)
		return (-1);
	return (0);
}

int
lsn_port(void)
{
	struct sockaddr_storage	 ss;

	if (lsn_sockname(&ss) == -1)
		return (-1);
	return ((int)sockaddr_port((struct sockaddr *)&ss));
}

void
lsn_describe(char *buf, size_t len)
{
	struct sockaddr_storage	 ss;

	if (lsn_sockname(&ss) == -1)
		snprintf(buf, len, "?");
	else
		sockaddr_format((struct sockaddr *)&ss, buf, len);
}

int
lsn_family(void)
{
	struct sockaddr_storage	 ss;

	if (lsn_sockname(&ss) == -1)
		return (-1);
	return (ss.ss_family);
}

/*
 * Steering by source, for a SO_REUSEPORT group of n listening sockets (one
 * per network worker): a classic BPF program that the kernel runs on each
 * SYN picks the socket from the source address masked to the source prefix,
 * so all of one source's connections meet in one worker and that worker's
 * fair shares are exact. The program sees the packet from the end of the TCP
 * header, so it reads the addresses relative to the network header
 * (SKF_NET_OFF); skb->protocol tells IPv4 (a dual-stack socket's IPv4 peers
 * included) from IPv6. The index is a socket's place in the group (the order
 * of binding; when one leaves, the last takes its place). Another protocol
 * returns n: out of range, the kernel then uses its own hash.
 */
#define LSN_STEER_MUL	0x9e3779b1U	/* Fibonacci hashing's odd multiplier */
#define LSN_STEER_MAX	64		/* instructions: at most 49 */

/* The mask of word i (0-based, 32 bits each) of a prefix of bits. */
static uint32_t
lsn_steer_mask(unsigned bits, unsigned i)
{
	if (bits >= 32 * (i + 1))
		return (0xffffffffU);
	if (bits <= 32 * i)
		return (0);
	return (0xffffffffU << (32 - (bits - 32 * i)));
}

/* Append one masked address word to the hash kept in M[0]. */
static void
lsn_steer_word(struct sock_filter *f, size_t *n, uint32_t off, uint32_t mask)
{
	f[(*n)++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    (uint32_t)SKF_NET_OFF + off);
	f[(*n)++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, mask);
	f[(*n)++] = (struct sock_filter)BPF_STMT(BPF_LDX | BPF_W | BPF_MEM, 0);
	f[(*n)++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0);
	f[(*n)++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_MUL | BPF_K,
	    LSN_STEER_MUL);
	f[(*n)++] = (struct sock_filter)BPF_STMT(BPF_ST, 0);
}

/* A = (M[0] ^ M[0] >> 16) % nsocks; return A. */
static void
lsn_steer_finish(struct sock_filter *f, size_t *n, unsigned nsocks)
{
	f[(*n)++] = (struct sock_filter)BPF_STMT(BPF_MISC | BPF_TAX, 0);
	f[(*n)++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16);
	f[(*n)++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0);
	f[(*n)++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, nsocks);
	f[(*n)++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_A, 0);
}

int
lsn_steer_by_source(int fd, unsigned nsocks, unsigned prefix4,
    unsigned prefix6, char **errstr)
{
	struct sock_filter	 f[LSN_STEER_MAX];
	struct sock_fprog	 prog;
	size_t			 n = 0, jv6, i;

	if (nsocks < 1 || prefix4 > 32 || prefix6 > 128) {
		xasprintf(errstr, "steering: bad arguments");
		return (-1);
	}
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_ABS,
	    (uint32_t)SKF_AD_OFF + SKF_AD_PROTOCOL);
	jv6 = n;	/* IPv4 falls through; IPv6 jumps; else: out of range */
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0800,
	    1, 0);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, 0);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_IMM, 0);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_ST, 0);
	lsn_steer_word(f, &n, 12, lsn_steer_mask(prefix4, 0));	/* saddr */
	lsn_steer_finish(f, &n, nsocks);
	f[jv6 + 1].k = (uint32_t)(n - (jv6 + 2));	/* JA: to the IPv6 test */
	f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x86dd,
	    1, 0);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, nsocks);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_IMM, 0);
	f[n++] = (struct sock_filter)BPF_STMT(BPF_ST, 0);
	for (i = 0; i < 4 && lsn_steer_mask(prefix6, (unsigned)i) != 0; i++)
		lsn_steer_word(f, &n, 8 + 4 * (uint32_t)i,	/* saddr */
		    lsn_steer_mask(prefix6, (unsigned)i));
	lsn_steer_finish(f, &n, nsocks);
	prog.len = (unsigned short)n;
	prog.filter = f;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog,
	    sizeof(prog)) == -1) {
		xasprintf(errstr, "SO_ATTACH_REUSEPORT_CBPF: %s", strerror(errno));
		return (-1);
	}
	return (0);
}

/* One word of the hash, as the program computes it. */
static uint32_t
lsn_steer_mix(uint32_t h, const uint8_t *p, uint32_t mask)
{
	uint32_t	 w = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
			    (uint32_t)p[2] << 8 | p[3];

	return (((w & mask) ^ h) * LSN_STEER_MUL);
}

unsigned
lsn_steer_index(const struct sockaddr *sa, unsigned nsocks, unsigned prefix4,
    unsigned prefix6)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	const uint8_t	*a;
	uint32_t	 h = 0;
	unsigned	 i;

	if (sa->sa_family == AF_INET6 && !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		a = s6->sin6_addr.s6_addr;
		for (i = 0; i < 4 && lsn_steer_mask(prefix6, i) != 0; i++)
			h = lsn_steer_mix(h, a + 4 * i, lsn_steer_mask(prefix6, i));
	} else {
		a = sa->sa_family == AF_INET6 ? s6->sin6_addr.s6_addr + 12 :
		    (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		h = lsn_steer_mix(0, a, lsn_steer_mask(prefix4, 0));
	}
	return ((h ^ h >> 16) % nsocks);
}
