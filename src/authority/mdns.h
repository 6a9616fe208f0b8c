/* mdns.h: announce _mandos._tcp through avahi-daemon on the libevent loop. */
#ifndef MANDOSD_MDNS_H
#define MANDOSD_MDNS_H

#include <stdint.h>

struct event_base;
struct mdns;

#define MDNS_SERVICE_TYPE	"_mandos._tcp"
#define MDNS_DEFAULT_NAME	"Mandos"

/*
 * Start publishing name on port.  af is the listener's family: AF_UNSPEC
 * (or AF_INET6 dual-stack) publishes over IPv4 and IPv6, AF_INET over
 * IPv4 only, MDNS_AF_INET6_ONLY over IPv6 only.  ifname (may be NULL)
 * restricts the announcement to one interface.  A missing avahi-daemon or
 * D-Bus is not an error: publishing starts when they appear.  Returns NULL
 * and sets *errstr on bad arguments or a build without Avahi.
 */
#define MDNS_AF_INET6_ONLY	(-6)
struct mdns	*mdns_start(struct event_base *, const char *name,
		    const char *ifname, int af, uint16_t port, char **errstr);
void		 mdns_stop(struct mdns *);
const char	*mdns_name(const struct mdns *);	/* after renames */
int		 mdns_published(const struct mdns *);

#ifdef HAVE_AVAHI
#include <avahi-common/watch.h>

/* The AvahiPoll adapter over a libevent base (exposed for unit tests). */
struct mdns_poll;
struct mdns_poll	*mdns_poll_new(struct event_base *);
const AvahiPoll		*mdns_poll_get(struct mdns_poll *);
void			 mdns_poll_free(struct mdns_poll *);
#endif

#endif
