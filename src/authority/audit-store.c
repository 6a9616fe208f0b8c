/*
 * audit-store.c: the audit sink of the fleet store. Each operator line is
 * put under PREFIX/audit/TIME-SERVER-SEQ (no lease: the trail outlives the
 * server), one put at a time so the store keeps their order. The queue is
 * bounded: when etcd is slow or down, new lines are dropped and counted
 * (the local --audit-log still has them); nothing here ever blocks.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "log.h"
#include "store-etcd.h"
#include "xmalloc.h"

#define AUDIT_STORE_QMAX	256

struct aline {
	STAILQ_ENTRY(aline)	 entry;
	char			*key;
	char			*line;
};

static STAILQ_HEAD(, aline) as_queue = STAILQ_HEAD_INITIALIZER(as_queue);
static size_t		 as_n;		/* queued, the one in flight included */
static int		 as_busy;
static struct etcd	*as_etcd;
static char		*as_prefix;
static unsigned long long as_seq, as_dropped, as_failed;
static int		 as_down;	/* the last put failed: said once */
static int		 as_stopped;	/* exit: nothing new goes to etcd */

static void	 as_next(void);

static void
as_done(struct etcd_result *r, void *arg)
{
	struct aline	*a = STAILQ_FIRST(&as_queue);

	as_busy = 0;
	if (r->err != NULL) {
		as_failed++;
		if (!as_down)
			log_warnx("audit: cannot write to the store (%s); "
			    "operator lines stay in the local audit log only",
			    r->err);
		as_down = 1;
	} else if (as_down) {
		log_info("audit: writing to the store again (%llu lines "
		    "failed, %llu dropped meanwhile)", as_failed, as_dropped);
		as_down = 0;
		as_failed = as_dropped = 0;
	}
	etcd_result_free(r);
	if (a != NULL) {
		STAILQ_REMOVE_HEAD(&as_queue, entry);
		as_n--;
		free(a->key);
		free(a->line);
		free(a);
	}
	as_next();
}

static void
as_next(void)
{
	struct aline	*a;

	while (!as_busy && !as_stopped && (a = STAILQ_FIRST(&as_queue)) != NULL) {
		as_busy = 1;
		if (etcd_put(as_etcd, a->key, a->line, strlen(a->line), 0,
		    as_done, NULL) == 0)
			return;
		/* Not even queued (out of memory): drop it, try the next. */
		as_busy = 0;
		as_dropped++;
		STAILQ_REMOVE_HEAD(&as_queue, entry);
		as_n--;
		free(a->key);
		free(a->line);
		free(a);
	}
}

static void
as_sink(const char *line, void *arg)
{
	struct aline	*a;
	struct timespec	 ts;
	struct tm	 tm;
	char		 t[32];

	if (as_n >= AUDIT_STORE_QMAX) {
		if (as_dropped++ == 0)
			log_warnx("audit: store queue full (%d lines); dropping "
			    "operator lines for the store until it drains",
			    AUDIT_STORE_QMAX);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(t, sizeof(t), "%Y%m%dT%H%M%S", &tm);
	a = xcalloc(1, sizeof(*a));
	/* Sorted by time, then server; seq keeps two in one ms apart. */
	xasprintf(&a->key, "%s/audit/%s.%03ldZ-%s-%llu", as_prefix, t,
	    ts.tv_nsec / 1000000, audit_server_id(),
	    ++as_seq);
	a->line = xstrdup(line);
	STAILQ_INSERT_TAIL(&as_queue, a, entry);
	as_n++;
	as_next();
}

/*
 * Exit: drop the lines not yet sent (counted in the log line) and start
 * nothing new; the put in flight, if any, ends by itself before the
 * handle is freed (fleet_stop waits for it).
 */
void
audit_store_stop(void)
{
	struct aline	*a, *keep = NULL;
	size_t		 dropped = 0;

	if (as_etcd == NULL || as_stopped)
		return;
	as_stopped = 1;
	audit_set_sink(NULL, NULL);
	if (as_busy)	/* the head is in flight: as_done frees it */
		if ((keep = STAILQ_FIRST(&as_queue)) != NULL)
			STAILQ_REMOVE_HEAD(&as_queue, entry);
	while ((a = STAILQ_FIRST(&as_queue)) != NULL) {
		STAILQ_REMOVE_HEAD(&as_queue, entry);
		free(a->key);
		free(a->line);
		free(a);
		dropped++;
	}
	as_n = 0;
	if (keep != NULL) {
		STAILQ_INSERT_HEAD(&as_queue, keep, entry);
		as_n = 1;
	}
	if (dropped > 0)
		log_warnx("audit: %zu operator lines not written to the store "
		    "at exit (they are in the local audit log)", dropped);
	free(as_prefix);
	as_prefix = NULL;
}

void
audit_store_init(struct etcd *e, const char *prefix)
{
	as_etcd = e;
	free(as_prefix);
	as_prefix = xstrdup(prefix);
	audit_set_sink(as_sink, NULL);
}
