/*
 * client-browse.c: Zeroconf for mandos-client. An initramfs runs no
 * avahi-daemon, so, like the reference client, we embed avahi-core (our own
 * mDNS stack) on an AvahiSimplePoll that the caller drives in slices.
 */
#include "config.h"

#include <sys/socket.h>

#include <net/if.h>
#include <netinet/in.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#include <avahi-common/simple-watch.h>
#include <avahi-common/strlst.h>
#include <avahi-core/core.h>
#include <avahi-core/log.h>
#include <avahi-core/lookup.h>

#include "client-browse.h"
#include "log.h"
#include "xmalloc.h"

#define BROWSE_TYPE	"_mandos._tcp"

struct browse {
	AvahiSimplePoll		*sp;
	AvahiServer		*server;
	AvahiSServiceBrowser	*sb;
	browse_found_cb		*cb;
	void			*arg;
	int			 xfd;		/* extra fd to poll, or -1 */
	short			 xevents;
	int			 xready;
};

static void	 browse_log(AvahiLogLevel, const char *);
static int	 browse_poll(struct pollfd *, unsigned int, int, void *);
static void	 browse_server_cb(AvahiServer *, AvahiServerState, void *);
static void	 browse_cb(AvahiSServiceBrowser *, AvahiIfIndex, AvahiProtocol,
		    AvahiBrowserEvent, const char *, const char *, const char *,
		    AvahiLookupResultFlags, void *);
static void	 browse_resolve_cb(AvahiSServiceResolver *, AvahiIfIndex,
		    AvahiProtocol, AvahiResolverEvent, const char *,
		    const char *, const char *, const char *,
		    const AvahiAddress *, uint16_t, AvahiStringList *,
		    AvahiLookupResultFlags, void *);

/* Send avahi-core's own messages to our debug log only. */
static void
browse_log(AvahiLogLevel level, const char *txt)
{
	log_debug("avahi: %s", txt);
}

/* AvahiSimplePoll's poll(2), with the caller's connection polled too. */
static int
browse_poll(struct pollfd *ufds, unsigned int nfds, int timeout, void *arg)
{
	struct browse	*b = arg;
	struct pollfd	 fds[64];
	int		 r;

	if (b->xfd == -1 || nfds >= sizeof(fds) / sizeof(fds[0]))
		return (poll(ufds, nfds, timeout));
	memcpy(fds, ufds, nfds * sizeof(*fds));
	fds[nfds].fd = b->xfd;
	fds[nfds].events = b->xevents;
	fds[nfds].revents = 0;
	if ((r = poll(fds, nfds + 1, timeout)) <= 0)
		return (r);
	memcpy(ufds, fds, nfds * sizeof(*fds));
	if (fds[nfds].revents != 0) {
		b->xready = 1;
		r--;
	}
	return (r);
}

/* Report trouble of the embedded mDNS server. */
static void
browse_server_cb(AvahiServer *s, AvahiServerState state, void *arg)
{
	if (state == AVAHI_SERVER_FAILURE)
		log_warnx("Zeroconf: %s",
		    avahi_strerror(avahi_server_errno(s)));
}

/* A resolved service: hand its address to the caller. */
static void
browse_resolve_cb(AvahiSServiceResolver *r, AvahiIfIndex ifindex,
    AvahiProtocol proto, AvahiResolverEvent event, const char *name,
    const char *type, const char *domain, const char *host,
    const AvahiAddress *addr, uint16_t port, AvahiStringList *txt,
    AvahiLookupResultFlags flags, void *arg)
{
	struct browse		*b = arg;
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;

	if (event != AVAHI_RESOLVER_FOUND || addr == NULL) {
		log_debug("Zeroconf: cannot resolve \"%s\"", name);
		avahi_s_service_resolver_free(r);
		return;
	}
	log_debug("Zeroconf: \"%s\" is %s port %u", name, host, port);
	if (addr->proto == AVAHI_PROTO_INET) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(port);
		sin.sin_addr.s_addr = addr->data.ipv4.address;
		b->cb((struct sockaddr *)&sin, sizeof(sin), name, b->arg);
	} else if (addr->proto == AVAHI_PROTO_INET6) {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(port);
		memcpy(&sin6.sin6_addr, addr->data.ipv6.address, 16);
		if (IN6_IS_ADDR_LINKLOCAL(&sin6.sin6_addr))
			sin6.sin6_scope_id = (uint32_t)ifindex;
		b->cb((struct sockaddr *)&sin6, sizeof(sin6), name, b->arg);
	}
	avahi_s_service_resolver_free(r);
}

/* A service appeared: resolve it. */
static void
browse_cb(AvahiSServiceBrowser *sb, AvahiIfIndex ifindex, AvahiProtocol proto,
    AvahiBrowserEvent event, const char *name, const char *type,
    const char *domain, AvahiLookupResultFlags flags, void *arg)
{
	struct browse	*b = arg;

	switch (event) {
	case AVAHI_BROWSER_NEW:
		log_debug("Zeroconf: found \"%s\" in %s", name, domain);
		if (avahi_s_service_resolver_new(b->server, ifindex, proto,
		    name, type, domain, AVAHI_PROTO_UNSPEC, 0,
		    browse_resolve_cb, b) == NULL)
			log_warnx("Zeroconf: cannot resolve \"%s\": %s", name,
			    avahi_strerror(avahi_server_errno(b->server)));
		break;
	case AVAHI_BROWSER_FAILURE:
		log_warnx("Zeroconf browsing failed: %s",
		    avahi_strerror(avahi_server_errno(b->server)));
		break;
	default:
		break;
	}
}

/*
 * Start browsing on the interfaces in ifaces (comma-separated; NULL or "" for
 * all). NULL with *errstr on failure.
 */
struct browse *
browse_start(const char *ifaces, int use_ipv6, browse_found_cb *cb, void *arg,
    char **errstr)
{
	AvahiServerConfig	 conf;
	struct browse		*b;
	char			*list, *tok, *save = NULL;
	int			 error;

	avahi_set_log_function(browse_log);
	b = xcalloc(1, sizeof(*b));
	b->cb = cb;
	b->arg = arg;
	b->xfd = -1;
	if ((b->sp = avahi_simple_poll_new()) == NULL) {
		xasprintf(errstr, "avahi_simple_poll_new failed");
		free(b);
		return (NULL);
	}
	avahi_simple_poll_set_func(b->sp, browse_poll, b);
	avahi_server_config_init(&conf);
	conf.publish_hinfo = 0;
	conf.publish_addresses = 0;
	conf.publish_workstation = 0;
	conf.publish_domain = 0;
	conf.use_ipv6 = use_ipv6;
	conf.enable_wide_area = 0;
	if (ifaces != NULL && *ifaces != '\0') {
		list = xstrdup(ifaces);
		for (tok = strtok_r(list, ",", &save); tok != NULL;
		    tok = strtok_r(NULL, ",", &save))
			conf.allow_interfaces = avahi_string_list_add(
			    conf.allow_interfaces, tok);
		free(list);
	}
	b->server = avahi_server_new(avahi_simple_poll_get(b->sp), &conf,
	    browse_server_cb, b, &error);
	avahi_server_config_free(&conf);
	if (b->server == NULL) {
		xasprintf(errstr, "cannot start the mDNS stack: %s",
		    avahi_strerror(error));
		avahi_simple_poll_free(b->sp);
		free(b);
		return (NULL);
	}
	b->sb = avahi_s_service_browser_new(b->server, AVAHI_IF_UNSPEC,
	    AVAHI_PROTO_UNSPEC, BROWSE_TYPE, NULL, 0, browse_cb, b);
	if (b->sb == NULL) {
		xasprintf(errstr, "cannot browse %s: %s", BROWSE_TYPE,
		    avahi_strerror(avahi_server_errno(b->server)));
		browse_stop(b);
		return (NULL);
	}
	log_debug("Zeroconf: browsing for %s", BROWSE_TYPE);
	return (b);
}

/* Run the mDNS stack for at most timeout_ms milliseconds (0: no waiting). */
void
browse_run(struct browse *b, int timeout_ms)
{
	int	 i;

	/* One iteration may sleep; then drain what is ready without waiting. */
	if (avahi_simple_poll_iterate(b->sp, timeout_ms) != 0)
		return;
	for (i = 0; i < 8; i++)
		if (avahi_simple_poll_iterate(b->sp, 0) != 0)
			return;
}

/*
 * Run the mDNS stack until fd is ready for events or timeout_ms pass
 * (perhaps sooner: the caller loops). 1 if fd is ready, else 0.
 */
int
browse_wait(struct browse *b, int fd, short events, int timeout_ms)
{
	b->xfd = fd;
	b->xevents = events;
	b->xready = 0;
	avahi_simple_poll_iterate(b->sp, timeout_ms);
	b->xfd = -1;
	return (b->xready);
}

/* Stop browsing and free everything. */
void
browse_stop(struct browse *b)
{
	if (b == NULL)
		return;
	if (b->sb != NULL)
		avahi_s_service_browser_free(b->sb);
	if (b->server != NULL)
		avahi_server_free(b->server);
	avahi_simple_poll_free(b->sp);
	free(b);
}
