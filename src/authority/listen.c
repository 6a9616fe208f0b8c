/*
 * listen.c: the listening sockets, bound by the authority. By default one
 * dual-stack IPv6 socket on all addresses, as the reference does. The
 * authority never accepts: every worker inherits the same sockets and
 * accepts on them (worker/accept.c); the authority keeps them open, so a
 * worker's successor finds the queued peers still there.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listen.h"
#include "log.h"
#include "sockaddr.h"
#include "xmalloc.h"

#define LSN_MAX		8	/* systemd may hand us a few */
#define LSN_BACKLOG	4096	/* a reboot storm arrives at once; the kernel caps it */

struct listener {
	int		 fd;
};

static struct listener	 lsn[LSN_MAX];
static size_t		 nlsn;

/* Record a listener; -1 if there are too many. */
static int
lsn_push(int fd, char **errstr)
{
	if (nlsn == LSN_MAX) {
		xasprintf(errstr, "more than %d listening sockets", LSN_MAX);
		return (-1);
	}
	lsn[nlsn++].fd = fd;
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
	return (lsn_push(fd, errstr));
}

int
lsn_open(const struct lsn_config *lc, char **errstr)
{
	struct addrinfo	 hints, *ai = NULL;
	struct sockaddr_in6 any6;
	struct sockaddr_in any4;
	const struct sockaddr *sa;
	socklen_t	 salen;
	int		 fd = -1, on = 1, off = 0, family, r;
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
	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto syserr;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		goto syserr;
	/* Dual stack: IPv4 clients arrive as ::ffff:a.b.c.d. */
	if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
	    &off, sizeof(off)) == -1)
		goto syserr;
	if (lc->interface != NULL && setsockopt(fd, SOL_SOCKET,
	    SO_BINDTODEVICE, lc->interface, (socklen_t)strlen(lc->interface) + 1)
	    == -1) {
		xasprintf(errstr, "interface \"%s\": %s", lc->interface,
		    strerror(errno));
		goto fail;
	}
	if (bind(fd, sa, salen) == -1) {
		xasprintf(errstr, "bind %s: %s", where, strerror(errno));
		goto fail;
	}
	if (listen(fd, LSN_BACKLOG) == -1)
		goto syserr;
	if (ai != NULL)
		freeaddrinfo(ai);
	return (lsn_push(fd, errstr));
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
lsn_fds(int *fds, size_t max)
{
	size_t	 i;

	for (i = 0; i < nlsn && i < max; i++)
		fds[i] = lsn[i].fd;
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
