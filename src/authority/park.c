/*
 * park.c: the authority's side of a connection after its handshake. Only
 * here is it decided what a peer gets: the worker sent a key ID, we look it
 * up in the table in force and in the client's runtime state, and answer.
 * A connection waiting for approval is a timer here (approval_delay) and an
 * idle socket in its worker; an operator's decision, a disable or a removal
 * reaches it through the notifier, on whichever worker it is parked.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "audit.h"
#include "client.h"
#include "keyid.h"
#include "keytab.h"
#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "notify.h"
#include "park.h"
#include "proc.h"
#include "sockaddr.h"
#include "xmalloc.h"

#define PARK_NHASH	4096

enum park_state {
	P_ASKED,	/* not answered yet (only inside park_lookup) */
	P_WAITING,	/* told to wait for an approval */
	P_ANSWERED,	/* secret or refusal sent; the worker reports the end */
};

struct park {
	TAILQ_ENTRY(park)	 entry;		/* every parked request */
	struct park		*hnext;		/* by (worker, reqid) */
	unsigned		 wi;
	uint64_t		 reqid;
	uint8_t			 state;		/* enum park_state */
	uint8_t			 pending;	/* counted as waiting for approval */
	uint8_t			 sent;		/* we sent the secret */
	uint8_t			 keyid[KEYID_LEN];
	char			*client;	/* name, once found */
	struct sockaddr_storage	 peer;
	struct event		 timer;		/* approval_delay */
};

TAILQ_HEAD(park_list, park);

static struct park_list	 park_all = TAILQ_HEAD_INITIALIZER(park_all);
static struct park	*park_hash[PARK_NHASH];
static size_t		 park_nper[PROC_MAX_WORKERS];
static struct event_base *park_base;
static const struct keytab *(*park_table)(void);

static void	 park_wake(const char *name);

void
park_init(struct event_base *base, const struct keytab *(*table)(void))
{
	park_base = base;
	park_table = table;
	notify_subscribe(park_wake);
}

static struct park **
park_slot(unsigned wi, uint64_t reqid)
{
	struct park	**pp;

	pp = &park_hash[(reqid * 2654435761u + wi) % PARK_NHASH];
	while (*pp != NULL && ((*pp)->wi != wi || (*pp)->reqid != reqid))
		pp = &(*pp)->hnext;
	return (pp);
}

/* Stop counting p as waiting for approval. */
static void
park_leave(struct park *p)
{
	if (p->pending) {
		p->pending = 0;
		client_approval_end(p->client);
	}
	evtimer_del(&p->timer);
}

static void
park_refuse(struct park *p, enum conn_result r)
{
	struct msg	 m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_REFUSE;
	m.reqid = p->reqid;
	m.u.refuse = (uint8_t)r;
	p->state = P_ANSWERED;
	proc_send(p->wi, &m);
}

static void	 park_timeout(evutil_socket_t, short, void *);

/* Act on what the client's runtime state allows now. */
static void
park_gate(struct park *p, struct client_rt *rt, enum client_gate g,
    uint64_t delay_ms)
{
	struct msg	 m;
	struct timeval	 tv;

	memset(&m, 0, sizeof(m));
	m.reqid = p->reqid;
	if (g == GATE_WAIT) {
		if (!p->pending) {
			p->pending = 1;
			client_approval_wait(rt);
			p->state = P_WAITING;
			tv.tv_sec = (time_t)(delay_ms / 1000);
			tv.tv_usec = (suseconds_t)(delay_ms % 1000) * 1000;
			evtimer_add(&p->timer, &tv);
			m.type = MSG_WAIT;
			m.u.wait_ms = delay_ms > UINT32_MAX ? UINT32_MAX :
			    (uint32_t)delay_ms;
			proc_send(p->wi, &m);
		}
		return;
	}
	park_leave(p);
	if (g == GATE_DISABLED || g == GATE_DENY) {
		park_refuse(p, g == GATE_DENY ? RESULT_DENIED : RESULT_DISABLED);
		return;
	}
	m.type = MSG_SECRET;
	m.u.secret.data = client_secret(rt, &m.u.secret.len);
	if (m.u.secret.len == 0 || m.u.secret.len > MSG_SECRET_MAX) {
		log_warnx("client %s: a secret of %zu bytes cannot be sent",
		    p->client, m.u.secret.len);
		park_refuse(p, RESULT_TLS_ERROR);
		return;
	}
	p->state = P_ANSWERED;
	p->sent = 1;
	proc_send(p->wi, &m);
}

int
park_lookup(unsigned wi, const struct msg *m, size_t max, const char **why)
{
	const struct client	*cl;
	struct client_rt	*rt;
	struct park		*p, **pp;
	enum client_gate	 g;
	uint64_t		 delay = 0;

	pp = park_slot(wi, m->reqid);
	if (*pp != NULL) {
		*why = "a request id parked twice";
		return (-1);
	}
	if (park_nper[wi] >= max) {
		*why = "more parked requests than connections";
		return (-1);
	}
	p = xcalloc(1, sizeof(*p));
	p->wi = wi;
	p->reqid = m->reqid;
	memcpy(p->keyid, m->u.lookup.keyid, KEYID_LEN);
	msg_peer_to(&m->u.lookup.peer, &p->peer);
	evtimer_assign(&p->timer, park_base, park_timeout, p);
	*pp = p;
	TAILQ_INSERT_TAIL(&park_all, p, entry);
	park_nper[wi]++;

	cl = keytab_lookup(park_table(), p->keyid);
	/* Removed at run time: unknown until the table is loaded again. */
	if (cl == NULL || (rt = client_find(cl->name)) == NULL) {
		park_refuse(p, RESULT_NOT_FOUND);
		return (0);
	}
	p->client = xstrdup(cl->name);
	g = client_gate(rt, &delay);	/* sets delay: call it first */
	park_gate(p, rt, g, delay);
	return (0);
}

/* The approval delay ran out: approved_by_default decides. */
static void
park_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct park		*p = arg;
	struct client_rt	*rt = client_find(p->client);
	enum client_gate	 g;
	uint64_t		 d;

	park_leave(p);
	if (rt != NULL && client_approved_by_default(rt)) {
		g = client_gate(rt, &d);
		park_gate(p, rt, g == GATE_WAIT ? GATE_SEND : g, 0);
	} else
		park_refuse(p, rt == NULL ? RESULT_NOT_FOUND :
		    RESULT_APPROVAL_TIMEOUT);
}

/* A client's gate may have changed: look again at its waiting requests. */
static void
park_wake(const char *name)
{
	struct park		*p, *next;
	struct client_rt	*rt;
	enum client_gate	 g;
	uint64_t		 d;

	for (p = TAILQ_FIRST(&park_all); p != NULL; p = next) {
		next = TAILQ_NEXT(p, entry);
		if (p->state != P_WAITING || p->client == NULL ||
		    strcmp(p->client, name) != 0)
			continue;
		if ((rt = client_find(name)) == NULL) {
			park_leave(p);
			park_refuse(p, RESULT_NOT_FOUND);
		} else if ((g = client_gate(rt, &d)) != GATE_WAIT)
			park_gate(p, rt, g, d);
	}
}

static void
park_free(struct park *p)
{
	struct park	**pp = park_slot(p->wi, p->reqid);

	park_leave(p);
	*pp = p->hnext;
	TAILQ_REMOVE(&park_all, p, entry);
	park_nper[p->wi]--;
	free(p->client);
	free(p);
}

int
park_done(unsigned wi, const struct msg *m, const char **why)
{
	struct park		*p = *park_slot(wi, m->reqid);
	struct sockaddr_storage	 ss;
	enum conn_result	 res = m->u.done.result;
	char			 peer[SOCKADDR_STRLEN], kid[KEYID_HEXLEN + 1] = "-";
	double			 ms = m->u.done.dur_us / 1000.0;

	if (p == NULL && m->u.done.has_keyid) {
		*why = "an end for a request that was not parked";
		return (-1);
	}
	if (res == RESULT_SECRET_SENT && (p == NULL || !p->sent)) {
		*why = "a secret sent that the authority did not give";
		return (-1);
	}
	if (p != NULL)
		keyid_format(p->keyid, kid);
	if (p != NULL)
		ss = p->peer;
	else
		msg_peer_to(&m->u.done.peer, &ss);
	sockaddr_format((struct sockaddr *)&ss, peer, sizeof(peer));
	log_info("conn %llu %s result=%s client=%s key_id=%s duration_ms=%.1f "
	    "worker=%u%s%s", (unsigned long long)m->reqid, peer,
	    metric_result_name(res), p != NULL && p->client != NULL ?
	    p->client : "-", kid, ms, wi,
	    m->u.done.why[0] != '\0' ? " reason=" : "", m->u.done.why);
	metric_conn_done(res, m->u.done.hs_us ? m->u.done.hs_us / 1e6 : -1);
	if (p != NULL)
		park_leave(p);
	client_conn_done(p != NULL ? p->client : NULL, kid, peer, res,
	    m->u.done.why[0] != '\0' ? m->u.done.why : NULL, ms);
	if (p != NULL)		/* the authority decided: on the audit trail */
		audit_secret(p->client, kid, peer, wi, metric_result_name(res),
		    p->sent, m->u.done.why[0] != '\0' ? m->u.done.why : NULL,
		    m->u.done.hs_us ? m->u.done.hs_us / 1000.0 : -1, ms);
	if (p != NULL)
		park_free(p);
	return (0);
}

size_t
park_worker_gone(unsigned wi)
{
	struct park	*p, *next;
	size_t		 n = 0;

	for (p = TAILQ_FIRST(&park_all); p != NULL; p = next) {
		next = TAILQ_NEXT(p, entry);
		if (p->wi == wi) {
			park_free(p);
			n++;
		}
	}
	return (n);
}

void
park_shutdown(void)
{
	struct park	*p;

	while ((p = TAILQ_FIRST(&park_all)) != NULL)
		park_free(p);
}
