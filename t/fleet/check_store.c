/*
 * check_store.c: the store client's asynchronous API against a real etcd
 * (the endpoints come from $STORE, set by t/fleet/lease.sh). One event
 * loop drives a watch, a lease grant, a put under the lease, keepalives
 * that must hold the key past its TTL, then silence that must let etcd
 * expire it: the watch must report the lease's DELETE. Prints one line per
 * step; exit 0 pass, 1 fail.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/event.h>

#include "store-etcd.h"

static struct event_base *base;
static struct etcd	*e;
static char		 key[600];
static int64_t		 lease;
static int		 keepalives, deleted, failed;
static struct timeval	 t_silent;
static struct event	*tick;

static double
since(const struct timeval *t0)
{
	struct timeval	 now, d;

	gettimeofday(&now, NULL);
	timersub(&now, t0, &d);
	return (d.tv_sec + d.tv_usec / 1e6);
}

static void
die(const char *what, struct etcd_result *r)
{
	printf("FAIL: %s: %s\n", what, r != NULL && r->err != NULL ? r->err :
	    "no answer");
	failed = 1;
	event_base_loopbreak(base);
}

static void
on_watch(const struct etcd_watch_msg *m, void *arg)
{
	size_t	 i;

	if (m->err != NULL)
		printf("  watch: %s\n", m->err);
	for (i = 0; i < m->nev; i++) {
		if (strcmp(m->ev[i].kv.key, key) != 0)
			continue;
		if (m->ev[i].type == ETCD_PUT)
			printf("  watch: put %s\n", m->ev[i].kv.val);
		else {
			printf("ok: the lease expired %.1f s after the last "
			    "keepalive; the watch saw the DELETE\n",
			    since(&t_silent));
			deleted = 1;
			event_base_loopbreak(base);
		}
	}
}

static void
on_keepalive(struct etcd_result *r, void *arg)
{
	if (r->err != NULL) {
		die("keepalive", r);
	} else if (++keepalives == 4) {
		printf("ok: 4 keepalives (ttl %lld), holding the key past its "
		    "TTL\n", (long long)r->ttl);
		gettimeofday(&t_silent, NULL);
		event_del(tick);	/* go silent: etcd must expire it */
	}
	etcd_result_free(r);
}

static void
on_tick(evutil_socket_t fd, short ev, void *arg)
{
	if (etcd_lease_keepalive(e, lease, on_keepalive, NULL) == -1)
		die("keepalive queue", NULL);
}

static void
on_check(struct etcd_result *r, void *arg)
{
	/* After 4 keepalives at 0.8 s (3.2 s > TTL 2 s), the key is there. */
	if (r->err != NULL || r->nkvs != 1)
		die("the key vanished while its lease was kept alive", r);
	else
		printf("ok: the key outlived its TTL while kept alive\n");
	etcd_result_free(r);
}

static void
on_check_tick(evutil_socket_t fd, short ev, void *arg)
{
	etcd_range(e, key, 0, on_check, NULL);
}

static void
on_put(struct etcd_result *r, void *arg)
{
	struct timeval	 iv = { 0, 800000 }, chk = { 3, 300000 };

	if (r->err != NULL) {
		die("put with lease", r);
		etcd_result_free(r);
		return;
	}
	printf("ok: put %s under lease %lld at revision %lld\n", key,
	    (long long)lease, (long long)r->revision);
	etcd_result_free(r);
	tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
	event_add(tick, &iv);
	event_base_once(base, -1, EV_TIMEOUT, on_check_tick, NULL, &chk);
}

static void
on_grant(struct etcd_result *r, void *arg)
{
	if (r->err != NULL || r->lease_id == 0 || r->ttl != 2) {
		die("lease grant", r);
		etcd_result_free(r);
		return;
	}
	lease = r->lease_id;
	printf("ok: lease %lld granted, ttl %lld\n", (long long)lease,
	    (long long)r->ttl);
	etcd_result_free(r);
	if (etcd_put(e, key, "alive", 5, lease, on_put, NULL) == -1)
		die("put queue", NULL);
}

static void
on_created(const struct etcd_watch_msg *m, void *arg)
{
	static int	 started;

	if (m->created && !started) {
		started = 1;
		if (etcd_lease_grant(e, 2, on_grant, NULL) == -1)
			die("grant queue", NULL);
	}
	on_watch(m, arg);
}

static void
on_deadline(evutil_socket_t fd, short ev, void *arg)
{
	printf("FAIL: no DELETE from the expired lease within 20 s "
	    "(keepalives=%d)\n", keepalives);
	failed = 1;
	event_base_loopbreak(base);
}

int
main(void)
{
	struct etcd_watch	*w;
	struct timeval		 dl = { 20, 0 };
	const char		*url = getenv("STORE");
	char			*err = NULL;

	if (url == NULL) {
		printf("FAIL: no $STORE\n");
		return (1);
	}
	base = event_base_new();
	if ((e = etcd_new(base, url, &err)) == NULL) {
		printf("FAIL: %s\n", err);
		return (1);
	}
	snprintf(key, sizeof(key), "%s/servers/check-store", etcd_prefix(e));
	if ((w = etcd_watch(e, key, 0, 0, on_created, NULL)) == NULL) {
		printf("FAIL: watch\n");
		return (1);
	}
	event_base_once(base, -1, EV_TIMEOUT, on_deadline, NULL, &dl);
	event_base_dispatch(base);
	etcd_watch_cancel(w);
	if (tick != NULL)
		event_free(tick);
	etcd_free(e);
	event_base_free(base);
	return (failed || !deleted || keepalives < 4);
}
