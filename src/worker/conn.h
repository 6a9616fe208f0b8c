/*
 * conn.h: one client connection in a network worker: version line, TLS
 * handshake, then parked under its id while the authority decides; its
 * answer (secret, refusal or wait) resumes it; always close_notify.
 */
#ifndef MANDOSD_CONN_H
#define MANDOSD_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "msg.h"

struct event_base;

/* Deadlines per state, in milliseconds. */
struct conn_timeouts {
	uint64_t	 version_ms;	/* connect to the end of the version line */
	uint64_t	 handshake_ms;	/* the TLS handshake */
	uint64_t	 send_ms;	/* the authority's answer; sending, close_notify */
};

/* on_close: a connection ended (accepting may resume). */
void	 conn_init(struct event_base *, const struct conn_timeouts *,
	    void (*on_close)(void));
/* Serve a freshly accepted nonblocking socket; takes ownership of fd. */
void	 conn_new(int fd, const struct sockaddr *, socklen_t);
size_t	 conn_count(void);
/* The authority's answer for a parked connection (decoded MSG_SECRET,
 * MSG_REFUSE or MSG_WAIT); an id that is gone is dropped. */
void	 conn_answer(const struct msg *);
/* fair.c's hs_grant: a connection queued for a handshake turn has one. */
void	 conn_hs_grant(void *conn);
/* Close a connection whose slot a fairer claimant takes (fair_admit's victim). */
void	 conn_evict(void *conn);
/* End every connection (shutdown). */
void	 conn_close_all(void);

#endif
