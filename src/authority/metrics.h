/* metrics.h: the server's counters; one table feeds logs, stats and Prometheus. */
#ifndef MANDOSD_METRICS_H
#define MANDOSD_METRICS_H

#include <stdint.h>

#include "msg.h"	/* enum conn_result */

struct evbuffer;


enum metric {
	M_ACCEPTED,		/* connections accepted */
	M_ACCEPT_PAUSED,	/* times accept was paused (cap or EMFILE) */
	M_RELOAD_OK,
	M_RELOAD_FAILED,
	M_EXPIRED,		/* clients disabled because expires passed */
	M_CHECKER_OK,		/* checker runs by result */
	M_CHECKER_FAILED,
	M_CHECKER_KILLED,
	M_CHECKER_ERROR,
	M_STATE_SAVE_OK,
	M_STATE_SAVE_FAILED,
	M_CTL_REQUESTS,		/* control socket */
	M_CTL_ERRORS,
	M_CTL_DENIED,
	M_WATCH_DROPPED,
	M_CTL_TIMEOUTS,		/* control peers closed at a deadline */
	M_REFUSED_SHARE,	/* refused at accept: over its source's fair share */
	M_WORKER_DIED,		/* network workers that died and were replaced */
	M_WORKER_KILLED,	/* workers ended for a protocol error */
	M_STORE_REQUESTS,	/* requests to the fleet store (etcd) */
	M_STORE_REFUSED,	/* refused: --store-offline refuse, store away */
	M__COUNT
};

extern uint64_t	 metric_val[M__COUNT];
extern uint64_t	 metric_result[RESULT__COUNT];
extern int64_t	 metric_active;		/* connections open now */
extern int64_t	 metric_clients;	/* clients in the table */
extern int64_t	 metric_clients_enabled;
extern int64_t	 metric_approvals_pending;
extern int64_t	 metric_checkers_running;
extern int64_t	 metric_checkers_queued;
extern int64_t	 metric_checker_cap;
extern int64_t	 metric_workers;	/* network workers running */
extern int	 metric_store_enabled;	/* --store: render the store's */
extern int64_t	 metric_store_up;
extern int64_t	 metric_store_revision;
/* Connections opened to the store, read when rendered (NULL: none yet). */
extern unsigned long (*metric_store_connections)(void);

const char	*metric_result_name(enum conn_result);
/* Record a finished connection and, if it got that far, its handshake time. */
void		 metric_conn_done(enum conn_result, double handshake_seconds);
/* Append Prometheus text exposition (format 0.0.4). */
void		 metric_render(struct evbuffer *);
/* Every counter and gauge as name/value pairs (the control socket's stats). */
void		 metric_stats(void (*)(void *, const char *, double), void *);

static inline void
metric_inc(enum metric m)
{
	metric_val[m]++;
}

#endif
