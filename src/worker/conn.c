/*
 * conn.c: the per-connection state machine of a network worker. A
 * connection reads the version line in clear, waits for its source's
 * handshake turn (fair.c), runs the TLS handshake as the TLS client, then
 * parks under its id and sends the peer's key ID to the authority, which
 * alone decides (the worker holds no table): it answers with the secret, a
 * refusal, or "wait" for an approval. Every connection ends with
 * close_notify so that a refused client moves on at once. Every state has
 * a deadline; one persistent libevent event serves both the socket and the
 * deadline, so waiting again in the same direction costs no epoll_ctl.
 * TLS runs over lib/tlsio.c: what GnuTLS writes is held until conn_step()
 * stops, so each flight leaves in one send() (the Finished waits with the
 * authority's answer and leaves with the secret and close_notify).
 * conn_close() is the only way out, and it reports the outcome.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <gnutls/gnutls.h>

#include "conn.h"
#include "fair.h"
#include "log.h"
#include "msg.h"
#include "proto.h"
#include "tls.h"
#include "tlsio.h"
#include "worker.h"

#define CONN_NHASH	1024	/* parked connections by id */

enum conn_state {
	CS_VERSION,		/* reading "1\r\n" */
	CS_HANDSHAKE,		/* TLS handshake, we are the TLS client */
	CS_SEND,		/* sending the blob */
	CS_BYE,			/* sending close_notify */
	CS_ASK,			/* parked: waiting for the authority's answer */
	CS_APPROVAL,		/* parked: the authority waits for an operator */
	CS_HSWAIT,		/* version read; waiting for its source's handshake turn */
};

struct conn {
	TAILQ_ENTRY(conn)	 entry;
	struct conn		*hnext;		/* parked: hash chain by id */
	uint64_t		 id;
	int			 fd;
	uint8_t			 state;		/* enum conn_state */
	uint8_t			 linelen;
	uint8_t			 result;	/* enum conn_result, once decided */
	uint8_t			 has_keyid;
	uint8_t			 parked;	/* in conn_hash */
	uint8_t			 hs_granted;	/* CS_HSWAIT: the turn came */
	struct fair_slot	*fair;		/* its place in its source's share */
	uint8_t			 armed;		/* EV_READ or EV_WRITE the event has, or 0 */
	uint8_t			 said_bye;	/* close_notify made, maybe not sent */
	uint8_t			 extra;		/* bytes read past the version line */
	uint64_t		 approval_ms;	/* the authority's wait */
	struct event		 ev;		/* socket readiness or deadline */
	gnutls_session_t	 tls;
	uint64_t		 start_us;
	uint64_t		 hs_start_us;
	uint64_t		 hs_us;		/* handshake time, 0 if none */
	uint64_t		 deadline_us;
	union {
		struct sockaddr		sa;
		struct sockaddr_in	in;
		struct sockaddr_in6	in6;
	}			 peer;
	char			 line[PROTO_LINE_MAX];
	uint8_t			 keyid[KEYID_LEN];
	uint8_t			*secret;	/* the authority's answer, wiped at close */
	size_t			 secret_len;
	size_t			 sent;
	const char		*reason;	/* why, for the log after bye */
};

TAILQ_HEAD(conn_list, conn);

static struct conn_list	 conn_all = TAILQ_HEAD_INITIALIZER(conn_all);
static size_t		 conn_n;
static uint64_t		 conn_next_id = 1;
static struct event_base *conn_base;
static struct conn_timeouts conn_to;
static void		(*conn_on_close)(void);
static struct conn	*conn_hash[CONN_NHASH];

static void	 conn_step(struct conn *);
static void	 conn_io(evutil_socket_t, short, void *);
static void	 conn_close(struct conn *, enum conn_result, const char *);
static void	 conn_parked_io(struct conn *, short);

/* Monotonic microseconds: deadlines must not move with the wall clock. */
static uint64_t
conn_now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

static const char *
conn_strstate(enum conn_state s)
{
	switch (s) {
	case CS_VERSION:	return ("VERSION");
	case CS_HANDSHAKE:	return ("HANDSHAKE");
	case CS_SEND:		return ("SEND");
	case CS_BYE:		return ("BYE");
	case CS_ASK:		return ("ASK");
	case CS_APPROVAL:	return ("APPROVAL");
	case CS_HSWAIT:		return ("HSWAIT");
	}
	return ("?");
}

void
conn_init(struct event_base *base, const struct conn_timeouts *to,
    void (*on_close)(void))
{
	conn_base = base;
	conn_to = *to;
	conn_on_close = on_close;
}

size_t
conn_count(void)
{
	return (conn_n);
}

/* Enter a state and start its deadline. */
static void
conn_set_state(struct conn *c, enum conn_state s)
{
	uint64_t	 ms;

	log_debug("conn %llu %s -> %s", (unsigned long long)c->id,
	    conn_strstate(c->state), conn_strstate(s));
	c->state = s;
	switch (s) {
	case CS_VERSION:	ms = conn_to.version_ms; break;
	case CS_HANDSHAKE:	ms = conn_to.handshake_ms; break;
	case CS_HSWAIT:		ms = conn_to.handshake_ms; break;
	/* The authority decides at the end of its wait; this is a backstop. */
	case CS_APPROVAL:	ms = c->approval_ms + conn_to.send_ms; break;
	default:		ms = conn_to.send_ms; break;
	}
	/* Asking is short and the handshake is paid for: never evicted. */
	if (s == CS_APPROVAL || s == CS_ASK || s == CS_SEND || s == CS_BYE)
		fair_stage(c->fair, s == CS_APPROVAL ? FAIR_ST_APPROVAL :
		    FAIR_ST_LATE);
	c->deadline_us = conn_now_us() + ms * 1000;
}

/*
 * Wait for the socket in one direction, or for the state's deadline.  The
 * event is persistent: the same direction again only moves its timer (no
 * system call); only a change of direction touches epoll.
 */
static void
conn_wait(struct conn *c, short what)
{
	struct timeval	 tv;
	uint64_t	 now = conn_now_us(), left;

	left = c->deadline_us > now ? c->deadline_us - now : 0;
	tv.tv_sec = (time_t)(left / 1000000);
	tv.tv_usec = (suseconds_t)(left % 1000000);
	if (c->armed != what) {
		if (c->armed != 0)
			event_del(&c->ev);
		event_assign(&c->ev, conn_base, c->fd, what | EV_PERSIST,
		    conn_io, c);
		c->armed = (uint8_t)what;
	}
	/* libevent adds tv to the time it cached when this round of callbacks
	 * began; after a slow callback (a handshake step) that time is stale
	 * and the deadline would come early. */
	event_base_update_cache_time(conn_base);
	event_add(&c->ev, &tv);
	/* Input already read into the TLS buffer will not wake the socket. */
	if (what == EV_READ && c->tls != NULL && tlsio_pending(c->tls) > 0)
		event_active(&c->ev, EV_READ, 1);
}

/* Stop waiting (someone else moves the connection on). */
static void
conn_unwait(struct conn *c)
{
	if (c->armed != 0)
		event_del(&c->ev);
	c->armed = 0;
}

void
conn_new(int fd, const struct sockaddr *sa, socklen_t salen)
{
	struct conn	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("conn: calloc");
		close(fd);
		return;
	}
	c->id = conn_next_id++;
	c->fd = fd;
	c->start_us = conn_now_us();
	if (salen > sizeof(c->peer))
		salen = sizeof(c->peer);
	memcpy(&c->peer, sa, salen);
	c->fair = fair_take(sa, c, c->start_us / 1000);
	TAILQ_INSERT_TAIL(&conn_all, c, entry);
	conn_n++;
	worker_stats_changed();
	conn_set_state(c, CS_VERSION);
	/* The client writes the version line right after connect(), so it is
	 * nearly always here by the time we accept: read it now rather than
	 * after a round of epoll_wait (conn_step waits if it is not). */
	conn_step(c);
}

/* Socket ready or deadline passed. */
static void
conn_io(evutil_socket_t fd, short what, void *arg)
{
	struct conn	*c = arg;
	char		 why[64];

	if (c->state == CS_ASK || c->state == CS_APPROVAL) {
		conn_parked_io(c, what);
		return;
	}
	if (what & EV_TIMEOUT) {
		snprintf(why, sizeof(why), "deadline in %s",
		    conn_strstate(c->state));
		conn_close(c, RESULT_TIMEOUT, why);
		return;
	}
	conn_step(c);
}

/*
 * Read the version line in one recv() of at most the room left in the
 * line.  The client sends nothing more until it has our ClientHello, but
 * whatever came after the newline is TLS's: it stays in c->line past
 * linelen (c->extra bytes) and is handed to the session when it starts.
 * 1: complete and acceptable, 0: need more, -1: *why.
 */
static int
conn_read_version(struct conn *c, const char **why)
{
	size_t		 room = PROTO_LINE_MAX - c->linelen, take;
	ssize_t		 n;
	char		*nl, *at = c->line + c->linelen;

	n = recv(c->fd, at, room, 0);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return (0);
		*why = strerror(errno);
		return (-1);
	}
	if (n == 0) {
		*why = "closed before the version line";
		return (-1);
	}
	nl = memchr(at, '\n', (size_t)n);
	take = nl != NULL ? (size_t)(nl - at) + 1 : (size_t)n;
	c->linelen += (uint8_t)take;
	c->extra = (uint8_t)((size_t)n - take);
	if (nl != NULL) {
		if (proto_version_ok(c->line, c->linelen - 1) == 0)
			return (1);
		*why = "unsupported protocol version";
		return (-1);
	}
	if (c->linelen == PROTO_LINE_MAX) {
		*why = "version line too long";
		return (-1);
	}
	return (0);
}

/* The parked connection with this id, or NULL. */
static struct conn **
conn_slot(uint64_t id)
{
	struct conn	**pp = &conn_hash[id % CONN_NHASH];

	while (*pp != NULL && (*pp)->id != id)
		pp = &(*pp)->hnext;
	return (pp);
}

static void
conn_unpark(struct conn *c)
{
	struct conn	**pp;

	if (!c->parked)
		return;
	pp = conn_slot(c->id);
	*pp = c->hnext;
	c->parked = 0;
}

/* The handshake is done: park and ask the authority what this peer gets. */
static void
conn_ask(struct conn *c)
{
	struct msg	 m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_LOOKUP;
	m.reqid = c->id;
	memcpy(m.u.lookup.keyid, c->keyid, KEYID_LEN);
	msg_peer_from(&m.u.lookup.peer, &c->peer.sa);
	worker_send(&m);
	c->hnext = NULL;
	*conn_slot(c->id) = c;
	c->parked = 1;
	conn_set_state(c, CS_ASK);
}

/* Parked: the deadline passed, or the peer stirred. */
static void
conn_parked_io(struct conn *c, short what)
{
	char		 buf[256];
	ssize_t		 r;

	if (what & EV_TIMEOUT) {
		conn_close(c, RESULT_TIMEOUT, c->state == CS_ASK ?
		    "no answer from the authority" : "deadline in APPROVAL");
		return;
	}
	/* Our Finished may still be held: the client must have it first. */
	if ((r = tlsio_flush(c->tls)) != 0) {
		if (r == 1) {
			conn_wait(c, EV_WRITE);
			return;
		}
		conn_close(c, RESULT_ABANDONED, strerror(errno));
		return;
	}
	/* The client sends nothing after the handshake: EOF means it left. */
	r = gnutls_record_recv(c->tls, buf, sizeof(buf));
	if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED || r > 0) {
		conn_wait(c, EV_READ);
		return;
	}
	conn_close(c, RESULT_ABANDONED, r == 0 ? "peer closed while waiting "
	    "for approval" : gnutls_strerror((int)r));
}

void
conn_answer(const struct msg *m)
{
	struct conn	*c = *conn_slot(m->reqid);

	if (c == NULL)		/* it ended meanwhile: the answer is dropped */
		return;
	switch (m->type) {
	case MSG_WAIT:
		c->approval_ms = m->u.wait_ms;
		conn_set_state(c, CS_APPROVAL);
		conn_step(c);	/* our Finished goes; then EOF, or the backstop */
		return;
	case MSG_SECRET:
		if ((c->secret = malloc(m->u.secret.len)) == NULL) {
			c->result = RESULT_TLS_ERROR;	/* send nothing */
			conn_set_state(c, CS_BYE);
			break;
		}
		memcpy(c->secret, m->u.secret.data, m->u.secret.len);
		c->secret_len = m->u.secret.len;
		c->result = RESULT_SECRET_SENT;
		conn_set_state(c, CS_SEND);
		break;
	case MSG_REFUSE:
		c->result = m->u.refuse;
		conn_set_state(c, CS_BYE);
		break;
	default:
		return;
	}
	conn_unpark(c);
	conn_unwait(c);
	conn_step(c);
}

#define FAIL(r, s)	do { res = (r); why = (s); goto fail; } while (0)

/* Advance as far as the socket allows; c may be freed on return. */
static void
conn_step(struct conn *c)
{
	const char		*why = NULL;
	enum conn_result	 res;
	ssize_t			 r;

	for (;;) {
		switch (c->state) {
		case CS_VERSION:
			if ((r = conn_read_version(c, &why)) == 0) {
				conn_wait(c, EV_READ);
				return;
			}
			if (r == -1)
				FAIL(RESULT_PROTOCOL_ERROR, why);
			if (!fair_hs_begin(c->fair)) {	/* over its source's share */
				conn_set_state(c, CS_HSWAIT);
				conn_wait(c, EV_READ);	/* the turn, EOF or the deadline */
				return;
			}
			/* FALLTHROUGH */
		case CS_HSWAIT:
			/* The peer speaks only after our ClientHello. */
			if (c->state == CS_HSWAIT && !c->hs_granted)
				FAIL(RESULT_PROTOCOL_ERROR, "peer spoke or left "
				    "while waiting for a handshake turn");
			/* Only now does the connection cost a TLS session. */
			if ((c->tls = tls_session_new(c->fd, &why)) == NULL)
				FAIL(RESULT_TLS_ERROR, why);
			if (tlsio_preload(c->tls, c->line + c->linelen,
			    c->extra) == -1)
				FAIL(RESULT_TLS_ERROR, "out of memory");
			conn_set_state(c, CS_HANDSHAKE);
			c->hs_start_us = conn_now_us();
			break;
		case CS_HANDSHAKE:
			r = gnutls_handshake(c->tls);
			if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
				goto wait;
			if (r < 0 && !gnutls_error_is_fatal((int)r))
				break;		/* a warning alert: go on */
			if (r < 0)
				FAIL(RESULT_TLS_ERROR, gnutls_strerror((int)r));
			fair_hs_end(c->fair);
			c->hs_us = conn_now_us() - c->hs_start_us;
			log_debug("conn %llu handshake group=%s cipher=%s",
			    (unsigned long long)c->id,
			    gnutls_group_get_name(gnutls_group_get(c->tls)),
			    gnutls_cipher_get_name(gnutls_cipher_get(c->tls)));
			if (tls_peer_keyid(c->tls, c->keyid, &why) == -1) {
				/* After TLS: refused, but with close_notify. */
				c->result = RESULT_TLS_ERROR;
				c->reason = why;
				conn_set_state(c, CS_BYE);
				break;
			}
			c->has_keyid = 1;
			conn_ask(c);
			break;
		case CS_SEND:
			r = gnutls_record_send(c->tls, c->secret + c->sent,
			    c->secret_len - c->sent);
			if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
				goto wait;	/* GnuTLS wants the same arguments */
			if (r < 0)
				FAIL(RESULT_TLS_ERROR, gnutls_strerror((int)r));
			if ((c->sent += (size_t)r) == c->secret_len)
				conn_set_state(c, CS_BYE);
			break;
		case CS_ASK:
		case CS_APPROVAL:
			/* The answer comes on the channel; our Finished is
			 * held to leave with it (one send), unless we wait
			 * for an operator: then it goes now. */
			if (c->state == CS_APPROVAL &&
			    (r = tlsio_flush(c->tls)) != 0) {
				if (r == -1)
					FAIL(RESULT_TLS_ERROR, strerror(errno));
				conn_wait(c, EV_WRITE);
				return;
			}
			conn_wait(c, EV_READ);	/* the answer, EOF, or the deadline */
			return;
		case CS_BYE:
			/* SHUT_WR: the client's close_notify is not worth waiting for. */
			if (!c->said_bye) {
				r = gnutls_bye(c->tls, GNUTLS_SHUT_WR);
				if (r == GNUTLS_E_AGAIN ||
				    r == GNUTLS_E_INTERRUPTED)
					goto wait;
				if (r < 0 && c->result == RESULT_SECRET_SENT)
					FAIL(RESULT_TLS_ERROR,
					    gnutls_strerror((int)r));
				c->said_bye = 1;
			}
			/* Finished, the secret, close_notify and the FIN of
			 * the close() that follows: one segment. */
			if ((r = tlsio_flush_last(c->tls)) == 1) {
				conn_wait(c, EV_WRITE);
				return;
			}
			if (r == -1 && c->result == RESULT_SECRET_SENT)
				FAIL(RESULT_TLS_ERROR, strerror(errno));
			conn_close(c, (enum conn_result)c->result, c->reason);
			return;
		}
	}
wait:
	/* What GnuTLS wrote is held: send it before waiting for the answer. */
	if ((r = tlsio_flush(c->tls)) == -1)
		FAIL(RESULT_TLS_ERROR, strerror(errno));
	conn_wait(c, r == 1 || gnutls_record_get_direction(c->tls) ?
	    EV_WRITE : EV_READ);
	return;
fail:
	conn_close(c, res, why);
}

/* The only exit: report the outcome, free everything, wipe the secret. */
static void
conn_close(struct conn *c, enum conn_result res, const char *why)
{
	struct msg	 m;
	uint64_t	 dur = conn_now_us() - c->start_us;

	log_debug("conn %llu closed: %d %s", (unsigned long long)c->id,
	    (int)res, why != NULL ? why : "");
	conn_unpark(c);
	conn_unwait(c);
	if (c->tls != NULL)
		tls_session_free(c->tls);
	close(c->fd);
	if (c->secret != NULL) {
		explicit_bzero(c->secret, c->secret_len);
		free(c->secret);
	}
	fair_release(c->fair);
	TAILQ_REMOVE(&conn_all, c, entry);
	conn_n--;

	memset(&m, 0, sizeof(m));
	m.type = MSG_DONE;
	m.reqid = c->id;
	m.u.done.result = (uint8_t)res;
	m.u.done.has_keyid = c->has_keyid;
	memcpy(m.u.done.keyid, c->keyid, KEYID_LEN);
	msg_peer_from(&m.u.done.peer, &c->peer.sa);
	m.u.done.hs_us = c->hs_us > UINT32_MAX ? UINT32_MAX : (uint32_t)c->hs_us;
	m.u.done.dur_us = dur > UINT32_MAX ? UINT32_MAX : (uint32_t)dur;
	if (why != NULL) {
		size_t	 i;

		snprintf(m.u.done.why, sizeof(m.u.done.why), "%s", why);
		for (i = 0; m.u.done.why[i] != '\0'; i++)
			if (m.u.done.why[i] < 0x20 || m.u.done.why[i] > 0x7e)
				m.u.done.why[i] = '?';
	}
	worker_stats(&m.u.done.stats);
	worker_send(&m);
	free(c);
	if (conn_on_close != NULL)
		conn_on_close();
}

void
conn_hs_grant(void *owner)
{
	struct conn	*c = owner;

	c->hs_granted = 1;
	conn_unwait(c);
	conn_wait(c, EV_WRITE);	/* writable at once: conn_step sends the ClientHello */
}

void
conn_evict(void *owner)
{
	struct conn	*c = owner;

	fair_count(&c->peer.sa, FAIR_R_EVICTED);
	conn_close(c, RESULT_EVICTED, "slot given to a source under its share");
}

/*
 * Stopping: every peer past the handshake gets close_notify, as from the
 * reference, so it moves on to the next server at once. Bounded: one
 * nonblocking try each, then up to CONN_BYE_MS for those whose socket was
 * full; a peer that does not read is closed without it.
 */
#define CONN_BYE_MS	500
void
conn_close_all(void)
{
	struct conn	*c, *next;
	struct timespec	 pause = { 0, 10 * 1000 * 1000 };
	uint64_t	 end = conn_now_us() + CONN_BYE_MS * 1000;
	int		 r, again = 1;

	while (again) {
		again = 0;
		for (c = TAILQ_FIRST(&conn_all); c != NULL; c = next) {
			next = TAILQ_NEXT(c, entry);
			if (c->tls == NULL || c->state == CS_HANDSHAKE) {
				conn_close(c, RESULT_SHUTDOWN, "server stopping");
				continue;
			}
			r = 0;
			if (!c->said_bye) {
				r = gnutls_bye(c->tls, GNUTLS_SHUT_WR);
				if (r == 0)
					c->said_bye = 1;
			}
			/* The bye sits in the transport's buffer until flushed. */
			if (r == 0 && (r = tlsio_flush(c->tls)) == 1)
				r = GNUTLS_E_AGAIN;
			if ((r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) &&
			    conn_now_us() < end) {
				again = 1;	/* socket full: once more later */
				continue;
			}
			conn_close(c, RESULT_SHUTDOWN, r == 0 ?
			    "server stopping" : "server stopping, no bye");
		}
		if (again)
			nanosleep(&pause, NULL);
	}
}
