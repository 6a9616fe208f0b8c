/*
 * store-etcd-pool.h: the etcd client's HTTP connections, internal to
 * store-etcd.c. Per endpoint up to ETCD_POOL_IDLE idle keep-alive
 * connections wait for the next request (one request at a time on each);
 * an idle one is closed after ETCD_POOL_IDLE_MS, or as soon as etcd closes
 * it. A request that finds none idle opens one: busy connections have no
 * bound here, because the callers bound their own concurrency and a wait
 * for a free connection would spend the request's deadline on other
 * requests (a stalled member would hold every slot until its timeouts).
 */
#ifndef MANDOS_STORE_ETCD_POOL_H
#define MANDOS_STORE_ETCD_POOL_H

#include <stddef.h>
#include <sys/queue.h>

#include <openssl/ssl.h>

#define ETCD_POOL_IDLE		4	/* idle connections kept per endpoint */
/* Below etcd's own idle close, so it is ours that closes. */
#define ETCD_POOL_IDLE_MS	30000

struct event_base;
struct evhttp_connection;
struct etcd_url;
struct etcd_pool;

/* One connection to one endpoint: busy with a request, or idle. */
struct etcd_conn {
	struct evhttp_connection *evc;
	size_t		 ep;
	unsigned long	 served;	/* requests it finished before this one */
	int		 closed;	/* evhttp saw it close */
	int		 nodelay;	/* TCP_NODELAY set on its socket */
	/* the pool's */
	struct etcd_pool *pool;
	int		 idle;
	TAILQ_ENTRY(etcd_conn) entry;
};

/* url and ssl (etcds://, else NULL) must outlive the pool. */
struct etcd_pool *etcd_pool_new(struct event_base *, const struct etcd_url *,
	    SSL_CTX *);
/* Every idle connection closed and freed; busy ones must be dropped first. */
void	 etcd_pool_free(struct etcd_pool *);
/* An idle connection to endpoint ep, else (or with fresh) a new one;
 * NULL when none can be made. */
struct etcd_conn *etcd_pool_get(struct etcd_pool *, size_t ep, int fresh);
/* The request on c finished cleanly: keep it idle, or close it. */
void	 etcd_pool_put(struct etcd_conn *);
/* Close c, never to be reused. Inside one of evhttp's callbacks on it,
 * now must be 0: it is freed once the callback has returned. */
void	 etcd_pool_drop(struct etcd_conn *, int now);
/* Once a request is made on c (its socket exists then): TCP_NODELAY. */
void	 etcd_pool_sent(struct etcd_conn *);
/* Close every idle connection to endpoint ep (it failed, or restarted). */
void	 etcd_pool_flush(struct etcd_pool *, size_t ep);
/* Connections opened since the pool was made. */
unsigned long etcd_pool_opened(const struct etcd_pool *);

#endif
