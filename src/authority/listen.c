/*
 * listen.c: the listening sockets. By default one dual-stack IPv6 socket on
 * all addresses, as the reference does. Accepting stops at the connection
 * cap and, for a second, when descriptors run out (EMFILE must never spin
 * the loop), and resumes as connections end.
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

#include <event2/event.h>

#include "conn.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "sockaddr.h"
#include "xmalloc.h"

#define LSN_MAX		8	/* systemd may hand us a few */
#define LSN_BACKLOG	4096	/* a reboot storm arrives at once; the kernel caps it */
#define LSN_BATCH	64	/* accepts per wake-up, so established peers are served too */

struct listener {
	int		 fd;
	struct event	*ev;
};

static struct listener	 lsn[LSN_MAX];
static size_t		 nlsn;
static size_t		 lsn_max_conns;
static int		 lsn_paused;
static struct event	*lsn_retry_ev;
static struct event_base *lsn_base;

static void	 lsn_accept(evutil_socket_t, short, void *);

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

/* Stop accepting (at the cap, or for a second when out of descriptors). */
static void
lsn_pause(int out_of_fds)
{
	struct timeval	 one = { 1, 0 };
	size_t		 i;

	if (!lsn_paused) {
		metric_inc(M_ACCEPT_PAUSED);
		for (i = 0; i < nlsn; i++)
			event_del(lsn[i].ev);
		lsn_paused = 1;
	}
	if (out_of_fds)
		evtimer_add(lsn_retry_ev, &one);
}

/* Accept again, unless we are still at the cap. */
static void
lsn_resume(void)
{
	size_t	 i;

	if (!lsn_paused || conn_count() >= lsn_max_conns)
		return;
	lsn_paused = 0;
	evtimer_del(lsn_retry_ev);
	for (i = 0; i < nlsn; i++)
		event_add(lsn[i].ev, NULL);
}

/* The retry timer after EMFILE. */
static void
lsn_retry(evutil_socket_t fd, short what, void *arg)
{
	lsn_resume();
}

void
lsn_conn_closed(void)
{
	lsn_resume();
}

/* Accept a batch of connections. */
static void
lsn_accept(evutil_socket_t fd, short what, void *arg)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 cfd, i;
	static int		 warned_fds;

	for (i = 0; i < LSN_BATCH; i++) {
		if (conn_count() >= lsn_max_conns) {
			log_debug("connection cap %zu reached; not accepting",
			    lsn_max_conns);
			lsn_pause(0);
			return;
		}
		len = sizeof(ss);
		cfd = accept4(fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1) {
			switch (errno) {
			case EAGAIN:
			case EINTR:
				return;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				if (!warned_fds++)
					log_warn("accept: pausing 1 s");
				lsn_pause(1);
				return;
			default:	/* ECONNABORTED and friends: that peer only */
				log_debug("accept: %s", strerror(errno));
				continue;
			}
		}
		warned_fds = 0;
		metric_inc(M_ACCEPTED);
		conn_new(cfd, (struct sockaddr *)&ss, len);
	}
}

void
lsn_start(struct event_base *base, size_t max_conns)
{
	size_t	 i;

	lsn_base = base;
	lsn_max_conns = max_conns;
	lsn_retry_ev = evtimer_new(base, lsn_retry, NULL);
	for (i = 0; i < nlsn; i++) {
		lsn[i].ev = event_new(base, lsn[i].fd, EV_READ | EV_PERSIST,
		    lsn_accept, NULL);
		event_add(lsn[i].ev, NULL);
	}
}

void
lsn_close(void)
{
	size_t	 i;

	for (i = 0; i < nlsn; i++) {
		if (lsn[i].ev != NULL)
			event_free(lsn[i].ev);
		close(lsn[i].fd);
	}
	nlsn = 0;
	if (lsn_retry_ev != NULL)
		event_free(lsn_retry_ev);
	lsn_retry_ev = NULL;
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
