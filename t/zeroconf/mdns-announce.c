/*
 * mdns-announce.c: run the mdns module alone on a libevent loop, so that
 * shell tests can drive publishing without a whole server.
 *
 *   mdns-announce [-4] [-i ifname] name port
 *
 * Prints "published NAME" on stdout each time the daemon confirms the
 * announcement; stops cleanly on SIGTERM or SIGINT.
 */
#include "config.h"

#include <sys/socket.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "mdns.h"

static struct mdns	*ann;
static int		 was_published;

static void	 announce_stop(evutil_socket_t, short, void *);
static void	 announce_tick(evutil_socket_t, short, void *);

/* SIGTERM/SIGINT: withdraw and leave the loop. */
static void
announce_stop(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* Report changes of the published state on stdout. */
static void
announce_tick(evutil_socket_t fd, short what, void *arg)
{
	int	 p = mdns_published(ann);

	if (p && !was_published) {
		printf("published %s\n", mdns_name(ann));
		fflush(stdout);
	}
	was_published = p;
}

int
main(int argc, char *argv[])
{
	struct event_base	*base;
	struct event		*ev_term, *ev_int, *ev_tick;
	struct timeval		 tv = { 0, 100000 };
	const char		*ifname = NULL;
	char			*errstr = NULL;
	int			 ch, af = AF_UNSPEC;

	while ((ch = getopt(argc, argv, "4i:")) != -1) {
		switch (ch) {
		case '4':
			af = AF_INET;
			break;
		case 'i':
			ifname = optarg;
			break;
		default:
			goto usage;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 2)
		goto usage;
	log_init("mdns-announce", 1, 1);
	signal(SIGPIPE, SIG_IGN);
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	ev_term = evsignal_new(base, SIGTERM, announce_stop, base);
	ev_int = evsignal_new(base, SIGINT, announce_stop, base);
	ev_tick = event_new(base, -1, EV_PERSIST, announce_tick, NULL);
	evsignal_add(ev_term, NULL);
	evsignal_add(ev_int, NULL);
	evtimer_add(ev_tick, &tv);
	if ((ann = mdns_start(base, argv[0], ifname, af, atoi(argv[1]),
	    &errstr)) == NULL)
		fatalx("mdns_start: %s", errstr);
	event_base_dispatch(base);
	mdns_stop(ann);
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_tick);
	event_base_free(base);
	return (0);
usage:
	fprintf(stderr, "usage: mdns-announce [-4] [-i ifname] name port\n");
	return (2);
}
