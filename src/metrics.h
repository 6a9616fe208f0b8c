/* metrics.h: the server's counters; one table feeds logs, stats and Prometheus. */
#ifndef MANDOSD_METRICS_H
#define MANDOSD_METRICS_H

#include <stdint.h>

struct evbuffer;

/* How a connection ended: the label of mandos_connections_total. */
enum conn_result {
	RESULT_SECRET_SENT,
	RESULT_NOT_FOUND,
	RESULT_DISABLED,
	RESULT_DENIED,
	RESULT_APPROVAL_TIMEOUT,
	RESULT_TLS_ERROR,
	RESULT_PROTOCOL_ERROR,
	RESULT_TIMEOUT,
	RESULT_SHUTDOWN,
	RESULT__COUNT
};

enum metric {
	M_ACCEPTED,		/* connections accepted */
	M_ACCEPT_PAUSED,	/* times accept was paused (cap or EMFILE) */
	M_RELOAD_OK,
	M_RELOAD_FAILED,
	M__COUNT
};

extern uint64_t	 metric_val[M__COUNT];
extern uint64_t	 metric_result[RESULT__COUNT];
extern int64_t	 metric_active;		/* connections open now */
extern int64_t	 metric_clients;	/* clients in the table */

const char	*metric_result_name(enum conn_result);
/* Record a finished connection and, if it got that far, its handshake time. */
void		 metric_conn_done(enum conn_result, double handshake_seconds);
/* Append Prometheus text exposition (format 0.0.4). */
void		 metric_render(struct evbuffer *);

static inline void
metric_inc(enum metric m)
{
	metric_val[m]++;
}

#endif
