/*
 * mdns.c: Zeroconf announcement of the server through avahi-client.
 *
 * Owns the AvahiPoll adapter over the libevent base (Debian ships no
 * libevent glue for Avahi), the avahi client and its entry group.  The
 * daemon may be absent, restarted, or gone with its bus: the server keeps
 * serving, says so once, and publishes again when the daemon is back,
 * retrying on a back-off timer (never from inside an Avahi callback).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#ifdef HAVE_AVAHI
#include <avahi-client/client.h>
#include <avahi-client/publish.h>
#include <avahi-common/alternative.h>
#include <avahi-common/domain.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#endif

#include "log.h"
#include "mdns.h"
#include "xmalloc.h"

#ifdef HAVE_AVAHI

#define MDNS_RETRY_MAX	15	/* seconds; cap of the reconnect back-off */

struct AvahiWatch {
	struct event		*ev;
	AvahiWatchCallback	 cb;
	void			*arg;
	AvahiWatchEvent		 got;
	int			 fd;
};

struct AvahiTimeout {
	struct event		*ev;
	AvahiTimeoutCallback	 cb;
	void			*arg;
};

struct mdns_poll {
	AvahiPoll		 api;
	struct event_base	*base;
};

struct mdns {
	struct event_base	*base;
	struct mdns_poll	*poll;
	AvahiClient		*client;
	AvahiEntryGroup		*group;
	struct event		*retry;		/* restarts the client */
	char			*name;
	AvahiIfIndex		 ifindex;
	AvahiProtocol		 proto;
	uint16_t		 port;
	int			 delay;		/* next back-off, seconds */
	int			 down;		/* "unavailable" was logged */
	int			 published;
};

static short	 mdns_evflags(AvahiWatchEvent);
static void	 mdns_watch_cb(evutil_socket_t, short, void *);
static AvahiWatch *mdns_watch_new(const AvahiPoll *, int, AvahiWatchEvent,
		    AvahiWatchCallback, void *);
static void	 mdns_watch_update(AvahiWatch *, AvahiWatchEvent);
static AvahiWatchEvent mdns_watch_get_events(AvahiWatch *);
static void	 mdns_watch_free(AvahiWatch *);
static void	 mdns_timeout_cb(evutil_socket_t, short, void *);
static AvahiTimeout *mdns_timeout_new(const AvahiPoll *,
		    const struct timeval *, AvahiTimeoutCallback, void *);
static void	 mdns_timeout_update(AvahiTimeout *, const struct timeval *);
static void	 mdns_timeout_free(AvahiTimeout *);
static void	 mdns_unavailable(struct mdns *, const char *);
static void	 mdns_schedule(struct mdns *);
static void	 mdns_retry_cb(evutil_socket_t, short, void *);
static void	 mdns_connect(struct mdns *);
static void	 mdns_client_cb(AvahiClient *, AvahiClientState, void *);
static void	 mdns_group_cb(AvahiEntryGroup *, AvahiEntryGroupState, void *);
static void	 mdns_register(struct mdns *, AvahiClient *);
static void	 mdns_rename(struct mdns *);

/* Map Avahi's wanted events to libevent flags (ERR/HUP come with READ). */
static short
mdns_evflags(AvahiWatchEvent e)
{
	return (((e & AVAHI_WATCH_IN) ? EV_READ : 0) |
	    ((e & AVAHI_WATCH_OUT) ? EV_WRITE : 0));
}

/* Run a watch's callback; the callback may free the watch. */
static void
mdns_watch_cb(evutil_socket_t fd, short what, void *arg)
{
	AvahiWatch	*w = arg;

	w->got = ((what & EV_READ) ? AVAHI_WATCH_IN : 0) |
	    ((what & EV_WRITE) ? AVAHI_WATCH_OUT : 0);
	w->cb(w, fd, w->got, w->arg);
}

/* Watch fd for events with a persistent libevent event. */
static AvahiWatch *
mdns_watch_new(const AvahiPoll *api, int fd, AvahiWatchEvent e,
    AvahiWatchCallback cb, void *arg)
{
	struct mdns_poll	*mp = api->userdata;
	AvahiWatch		*w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return (NULL);
	w->cb = cb;
	w->arg = arg;
	w->fd = fd;
	w->ev = event_new(mp->base, fd, mdns_evflags(e) | EV_PERSIST,
	    mdns_watch_cb, w);
	if (w->ev == NULL) {
		free(w);
		return (NULL);
	}
	if (e != 0 && event_add(w->ev, NULL) == -1) {
		event_free(w->ev);
		free(w);
		return (NULL);
	}
	return (w);
}

/* Change the events a watch waits for (safe from its own callback). */
static void
mdns_watch_update(AvahiWatch *w, AvahiWatchEvent e)
{
	struct event_base	*base = event_get_base(w->ev);

	event_del(w->ev);
	event_assign(w->ev, base, w->fd, mdns_evflags(e) | EV_PERSIST,
	    mdns_watch_cb, w);
	if (e != 0)
		event_add(w->ev, NULL);
}

/* The events seen by the running callback. */
static AvahiWatchEvent
mdns_watch_get_events(AvahiWatch *w)
{
	return (w->got);
}

/* Stop watching and free. */
static void
mdns_watch_free(AvahiWatch *w)
{
	event_free(w->ev);
	free(w);
}

/* A timeout expired: it is now disabled until updated, as Avahi expects. */
static void
mdns_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	AvahiTimeout	*t = arg;

	t->cb(t, t->arg);
}

/* Arm t for the absolute (gettimeofday) time tv, or disarm it if NULL. */
static void
mdns_timeout_update(AvahiTimeout *t, const struct timeval *tv)
{
	struct timeval	 now, rel;

	evtimer_del(t->ev);
	if (tv == NULL)
		return;
	gettimeofday(&now, NULL);
	if (timercmp(tv, &now, <))
		timerclear(&rel);
	else
		timersub(tv, &now, &rel);
	evtimer_add(t->ev, &rel);
}

/* Create a one-shot timer. */
static AvahiTimeout *
mdns_timeout_new(const AvahiPoll *api, const struct timeval *tv,
    AvahiTimeoutCallback cb, void *arg)
{
	struct mdns_poll	*mp = api->userdata;
	AvahiTimeout		*t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return (NULL);
	t->cb = cb;
	t->arg = arg;
	if ((t->ev = evtimer_new(mp->base, mdns_timeout_cb, t)) == NULL) {
		free(t);
		return (NULL);
	}
	mdns_timeout_update(t, tv);
	return (t);
}

/* Free a timer (safe from its own callback). */
static void
mdns_timeout_free(AvahiTimeout *t)
{
	event_free(t->ev);
	free(t);
}

/* Make an AvahiPoll that runs on base. */
struct mdns_poll *
mdns_poll_new(struct event_base *base)
{
	struct mdns_poll	*mp;

	mp = xcalloc(1, sizeof(*mp));
	mp->base = base;
	mp->api.userdata = mp;
	mp->api.watch_new = mdns_watch_new;
	mp->api.watch_update = mdns_watch_update;
	mp->api.watch_get_events = mdns_watch_get_events;
	mp->api.watch_free = mdns_watch_free;
	mp->api.timeout_new = mdns_timeout_new;
	mp->api.timeout_update = mdns_timeout_update;
	mp->api.timeout_free = mdns_timeout_free;
	return (mp);
}

/* The AvahiPoll to hand to avahi_client_new(). */
const AvahiPoll *
mdns_poll_get(struct mdns_poll *mp)
{
	return (&mp->api);
}

/* Free the adapter; every watch and timeout must be gone already. */
void
mdns_poll_free(struct mdns_poll *mp)
{
	free(mp);
}

/* Say once that Zeroconf is off until the daemon comes back. */
static void
mdns_unavailable(struct mdns *m, const char *why)
{
	m->published = 0;
	if (m->down) {
		log_debug("%s: still unavailable: %s", __func__, why);
		return;
	}
	m->down = 1;
	log_warnx("%s: avahi-daemon unavailable (%s); serving without "
	    "Zeroconf until it returns", __func__, why);
}

/* Restart the client after the current back-off (first retry at once). */
static void
mdns_schedule(struct mdns *m)
{
	struct timeval	 tv = { m->delay, 0 };

	m->delay = m->delay == 0 ? 1 : m->delay * 2;
	if (m->delay > MDNS_RETRY_MAX)
		m->delay = MDNS_RETRY_MAX;
	if (!evtimer_pending(m->retry, NULL))
		evtimer_add(m->retry, &tv);
}

/* Back-off timer: drop the old client and connect again. */
static void
mdns_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	mdns_connect(arg);
}

/* (Re)create the client; with NO_FAIL it waits for a missing daemon. */
static void
mdns_connect(struct mdns *m)
{
	AvahiClient	*c;
	int		 err;

	if (m->group != NULL) {
		avahi_entry_group_free(m->group);
		m->group = NULL;
	}
	if (m->client != NULL) {
		avahi_client_free(m->client);
		m->client = NULL;
	}
	c = avahi_client_new(mdns_poll_get(m->poll), AVAHI_CLIENT_NO_FAIL,
	    mdns_client_cb, m, &err);
	if (c == NULL) {
		/* Freed with anything its callback made; forget both. */
		m->client = NULL;
		m->group = NULL;
		/* No bus at all: NO_FAIL does not cover that. */
		mdns_unavailable(m, avahi_strerror(err));
		mdns_schedule(m);
		return;
	}
	m->client = c;
}

/* Follow the daemon: publish when it runs, restart on failure. */
static void
mdns_client_cb(AvahiClient *c, AvahiClientState state, void *arg)
{
	struct mdns	*m = arg;

	m->client = c;	/* first call comes from inside avahi_client_new() */
	switch (state) {
	case AVAHI_CLIENT_S_RUNNING:
		if (m->down)
			log_info("%s: avahi-daemon is available again",
			    __func__);
		m->down = 0;
		m->delay = 0;
		mdns_register(m, c);
		break;
	case AVAHI_CLIENT_S_COLLISION:
	case AVAHI_CLIENT_S_REGISTERING:
		/* Host name being (re)probed: withdraw, publish on RUNNING. */
		m->published = 0;
		if (m->group != NULL)
			avahi_entry_group_reset(m->group);
		break;
	case AVAHI_CLIENT_CONNECTING:
		mdns_unavailable(m, "daemon not running");
		break;
	case AVAHI_CLIENT_FAILURE:
		mdns_unavailable(m, avahi_strerror(avahi_client_errno(c)));
		mdns_schedule(m);
		break;
	}
}

/* Follow our entry group: log success, rename on collision. */
static void
mdns_group_cb(AvahiEntryGroup *g, AvahiEntryGroupState state, void *arg)
{
	struct mdns	*m = arg;
	AvahiClient	*c = avahi_entry_group_get_client(g);

	switch (state) {
	case AVAHI_ENTRY_GROUP_ESTABLISHED:
		m->published = 1;
		log_info("%s: published \"%s\" %s port %u", __func__, m->name,
		    MDNS_SERVICE_TYPE, m->port);
		break;
	case AVAHI_ENTRY_GROUP_COLLISION:
		m->published = 0;
		mdns_rename(m);
		avahi_entry_group_reset(g);
		mdns_register(m, c);
		break;
	case AVAHI_ENTRY_GROUP_FAILURE:
		m->published = 0;
		log_warnx("%s: entry group failed: %s", __func__,
		    avahi_strerror(avahi_client_errno(c)));
		mdns_schedule(m);
		break;
	case AVAHI_ENTRY_GROUP_UNCOMMITED:
	case AVAHI_ENTRY_GROUP_REGISTERING:
		break;
	}
}

/* Add the service to the (empty) group and commit it. */
static void
mdns_register(struct mdns *m, AvahiClient *c)
{
	int	 r;

	if (m->group == NULL &&
	    (m->group = avahi_entry_group_new(c, mdns_group_cb, m)) == NULL) {
		log_warnx("%s: avahi_entry_group_new: %s", __func__,
		    avahi_strerror(avahi_client_errno(c)));
		mdns_schedule(m);
		return;
	}
	if (!avahi_entry_group_is_empty(m->group))
		return;
	/* A service of the same name on this very daemon collides at once. */
	while ((r = avahi_entry_group_add_service(m->group, m->ifindex,
	    m->proto, 0, m->name, MDNS_SERVICE_TYPE, NULL, NULL, m->port,
	    NULL)) == AVAHI_ERR_COLLISION)
		mdns_rename(m);
	if (r < 0 || (r = avahi_entry_group_commit(m->group)) < 0) {
		log_warnx("%s: publishing \"%s\": %s", __func__, m->name,
		    avahi_strerror(r));
		avahi_entry_group_reset(m->group);
		mdns_schedule(m);
	}
}

/* Take Avahi's next alternative name ("Mandos" -> "Mandos #2"). */
static void
mdns_rename(struct mdns *m)
{
	char	*alt;

	alt = avahi_alternative_service_name(m->name);
	log_info("%s: service name collision: \"%s\" renamed to \"%s\"",
	    __func__, m->name, alt);
	free(m->name);
	m->name = xstrdup(alt);
	avahi_free(alt);
}

/* Start announcing; see mdns.h. */
struct mdns *
mdns_start(struct event_base *base, const char *name, const char *ifname,
    int af, uint16_t port, char **errstr)
{
	struct mdns	*m;
	unsigned int	 idx = 0;

	if (name == NULL || *name == '\0')
		name = MDNS_DEFAULT_NAME;
	if (!avahi_is_valid_service_name(name)) {
		*errstr = "invalid service name";
		return (NULL);
	}
	if (ifname != NULL && *ifname != '\0' &&
	    (idx = if_nametoindex(ifname)) == 0) {
		*errstr = "no such interface";
		return (NULL);
	}
	m = xcalloc(1, sizeof(*m));
	m->base = base;
	m->name = xstrdup(name);
	m->ifindex = idx == 0 ? AVAHI_IF_UNSPEC : (AvahiIfIndex)idx;
	m->proto = af == AF_INET ? AVAHI_PROTO_INET :
	    af == MDNS_AF_INET6_ONLY ? AVAHI_PROTO_INET6 : AVAHI_PROTO_UNSPEC;
	m->port = port;
	m->poll = mdns_poll_new(base);
	if ((m->retry = evtimer_new(base, mdns_retry_cb, m)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	log_debug("%s: announcing \"%s\" port %u", __func__, name, port);
	mdns_connect(m);
	return (m);
}

/* Withdraw the service and free everything. */
void
mdns_stop(struct mdns *m)
{
	if (m == NULL)
		return;
	if (m->group != NULL)
		avahi_entry_group_free(m->group);
	if (m->client != NULL)
		avahi_client_free(m->client);
	event_free(m->retry);
	mdns_poll_free(m->poll);
	free(m->name);
	free(m);
}

/* The name in use now (renames included). */
const char *
mdns_name(const struct mdns *m)
{
	return (m->name);
}

/* Whether the daemon confirmed the announcement. */
int
mdns_published(const struct mdns *m)
{
	return (m->published);
}

#else	/* !HAVE_AVAHI */

/* Without Avahi there is nothing to announce. */
struct mdns *
mdns_start(struct event_base *base, const char *name, const char *ifname,
    int af, uint16_t port, char **errstr)
{
	*errstr = "built without Avahi (use --no-zeroconf)";
	return (NULL);
}

/* Nothing was started. */
void
mdns_stop(struct mdns *m)
{
}

/* No name without Avahi. */
const char *
mdns_name(const struct mdns *m)
{
	return (NULL);
}

/* Never published without Avahi. */
int
mdns_published(const struct mdns *m)
{
	return (0);
}

#endif	/* HAVE_AVAHI */
