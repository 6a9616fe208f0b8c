/*
 * store-etcd-pool.c: the etcd client's connections to its endpoints,
 * plain or TLS, and the pool of idle keep-alive ones (see the header).
 * With etcds:// a new connection costs a TLS handshake on both sides; a
 * pooled one keeps its verified session. An idle connection's deadline is
 * evhttp's read timeout, set to ETCD_POOL_IDLE_MS while it waits: evhttp
 * then closes it as it does when etcd does, and the close callback takes
 * it out of the pool.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/queue.h>
#include <sys/time.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "store-etcd.h"
#include "store-etcd-pool.h"

TAILQ_HEAD(etcd_conns, etcd_conn);

struct etcd_pool {
	struct event_base *base;
	const struct etcd_url *url;
	SSL_CTX		*ssl;
	struct etcd_conns idle[ETCD_MAX_EP];	/* most recently used first */
	size_t		 nidle[ETCD_MAX_EP];
	unsigned long	 opened;
	/* Connections dropped inside evhttp's callbacks, freed outside them
	 * (evhttp still uses one right after its callback). */
	struct evhttp_connection **grave;
	size_t		 ngrave, capgrave;
	struct event	*reaper;
};

static void	 pool_reap(evutil_socket_t, short, void *);
static void	 pool_closed(struct evhttp_connection *, void *);

struct etcd_pool *
etcd_pool_new(struct event_base *base, const struct etcd_url *url,
    SSL_CTX *ssl)
{
	struct etcd_pool *p;
	size_t		 i;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return (NULL);
	p->base = base;
	p->url = url;
	p->ssl = ssl;
	for (i = 0; i < ETCD_MAX_EP; i++)
		TAILQ_INIT(&p->idle[i]);
	if ((p->reaper = evtimer_new(base, pool_reap, p)) == NULL) {
		free(p);
		return (NULL);
	}
	return (p);
}

void
etcd_pool_free(struct etcd_pool *p)
{
	size_t	 i;

	if (p == NULL)
		return;
	for (i = 0; i < ETCD_MAX_EP; i++)
		etcd_pool_flush(p, i);
	pool_reap(-1, 0, p);
	event_free(p->reaper);
	free(p->grave);
	free(p);
}

unsigned long
etcd_pool_opened(const struct etcd_pool *p)
{
	return (p != NULL ? p->opened : 0);
}

/* A connection to endpoint i: plain, or TLS verifying etcd's name or IP. */
static struct evhttp_connection *
pool_connect(struct etcd_pool *p, size_t i)
{
	const char		*host = p->url->ep[i].host;
	struct bufferevent	*bev;
	struct in6_addr		 a;
	SSL			*ssl;

	if (p->ssl == NULL)
		return (evhttp_connection_base_new(p->base, NULL, host,
		    p->url->ep[i].port));
	if ((ssl = SSL_new(p->ssl)) == NULL)
		return (NULL);
	if (inet_pton(AF_INET, host, &a) == 1 ||
	    inet_pton(AF_INET6, host, &a) == 1) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
		    host) != 1) {
			SSL_free(ssl);
			return (NULL);
		}
	} else if (SSL_set1_host(ssl, host) != 1 ||
	    SSL_set_tlsext_host_name(ssl, host) != 1) {
		SSL_free(ssl);
		return (NULL);
	}
	bev = bufferevent_openssl_socket_new(p->base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE |
	    BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(ssl);
		return (NULL);
	}
	/* etcd may close without close_notify; the HTTP framing decides. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return (evhttp_connection_base_bufferevent_new(p->base, NULL, bev,
	    host, p->url->ep[i].port));
}

struct etcd_conn *
etcd_pool_get(struct etcd_pool *p, size_t ep, int fresh)
{
	struct etcd_conn *c;

	while (!fresh && (c = TAILQ_FIRST(&p->idle[ep])) != NULL) {
		TAILQ_REMOVE(&p->idle[ep], c, entry);
		p->nidle[ep]--;
		c->idle = 0;
		/* Closed without its callback seen: never hand it out (evhttp
		 * would connect it again, and a TLS one cannot be). */
		if (bufferevent_getfd(evhttp_connection_get_bufferevent(
		    c->evc)) == -1) {
			etcd_pool_drop(c, 0);
			continue;
		}
		return (c);
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	if ((c->evc = pool_connect(p, ep)) == NULL) {
		free(c);
		return (NULL);
	}
	c->ep = ep;
	c->pool = p;
	evhttp_connection_set_closecb(c->evc, pool_closed, c);
	p->opened++;
	return (c);
}

void
etcd_pool_put(struct etcd_conn *c)
{
	struct etcd_pool *p = c->pool;
	struct timeval	 tv = { ETCD_POOL_IDLE_MS / 1000,
	    (ETCD_POOL_IDLE_MS % 1000) * 1000 };

	if (c->closed || p->nidle[c->ep] >= ETCD_POOL_IDLE) {
		etcd_pool_drop(c, 0);
		return;
	}
	c->served++;
	evhttp_connection_set_timeout_tv(c->evc, &tv);
	c->idle = 1;
	TAILQ_INSERT_HEAD(&p->idle[c->ep], c, entry);
	p->nidle[c->ep]++;
}

/*
 * Over TLS a request leaves as two records, headers and body, in two
 * sends: on a kept-alive connection Nagle held the second until etcd's
 * delayed ACK of the first, 40 ms a request (a new connection hid it:
 * Linux ACKs at once at first). Our writes are whole requests anyway.
 */
void
etcd_pool_sent(struct etcd_conn *c)
{
	evutil_socket_t	 fd;
	int		 one = 1;

	if (c->nodelay)
		return;
	fd = bufferevent_getfd(evhttp_connection_get_bufferevent(c->evc));
	if (fd != -1 && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)) == 0)
		c->nodelay = 1;
}

/* Free the connections dropped inside callbacks (see struct etcd_pool). */
static void
pool_reap(evutil_socket_t fd, short ev, void *arg)
{
	struct etcd_pool *p = arg;
	size_t		 i;

	for (i = 0; i < p->ngrave; i++)
		evhttp_connection_free(p->grave[i]);
	p->ngrave = 0;
}

/* Queue evc for freeing once evhttp's callback has returned. */
static void
pool_bury(struct etcd_pool *p, struct evhttp_connection *evc)
{
	struct timeval	 zero = { 0, 0 };
	void		*n;

	if (p->ngrave == p->capgrave) {
		n = reallocarray(p->grave, p->capgrave * 2 + 8,
		    sizeof(*p->grave));
		if (n == NULL)
			return;		/* leak one rather than crash */
		p->grave = n;
		p->capgrave = p->capgrave * 2 + 8;
	}
	p->grave[p->ngrave++] = evc;
	evtimer_add(p->reaper, &zero);
}

void
etcd_pool_drop(struct etcd_conn *c, int now)
{
	struct etcd_pool *p = c->pool;

	if (c->idle) {
		TAILQ_REMOVE(&p->idle[c->ep], c, entry);
		p->nidle[c->ep]--;
	}
	/* Freeing calls the close callback of a live connection. */
	evhttp_connection_set_closecb(c->evc, NULL, NULL);
	if (now)
		evhttp_connection_free(c->evc);
	else
		pool_bury(p, c->evc);
	free(c);
}

void
etcd_pool_flush(struct etcd_pool *p, size_t ep)
{
	struct etcd_conn *c;

	while ((c = TAILQ_FIRST(&p->idle[ep])) != NULL)
		etcd_pool_drop(c, 0);
}

/*
 * evhttp closed the connection: etcd closed it, it idled out, or its
 * request failed. An idle one leaves the pool (we are inside evhttp, which
 * still uses it: buried); a busy one is its request's to drop.
 */
static void
pool_closed(struct evhttp_connection *evc, void *arg)
{
	struct etcd_conn *c = arg;

	c->closed = 1;
	if (c->idle)
		etcd_pool_drop(c, 0);
}
