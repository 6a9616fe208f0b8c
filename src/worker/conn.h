/* conn.h: one client connection: version line, TLS handshake, blob, close. */
#ifndef MANDOSD_CONN_H
#define MANDOSD_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct keytab;

/* Deadlines per state, in milliseconds. */
struct conn_timeouts {
	uint64_t	 version_ms;	/* connect to the end of the version line */
	uint64_t	 handshake_ms;	/* the TLS handshake */
	uint64_t	 send_ms;	/* sending the blob, then close_notify */
};

/* table() returns the client table in force when a handshake completes. */
void	 conn_init(struct event_base *, const struct conn_timeouts *,
	    const struct keytab *(*table)(void), void (*on_close)(void));
/* Serve a freshly accepted nonblocking socket; takes ownership of fd. */
void	 conn_new(int fd, const struct sockaddr *, socklen_t);
size_t	 conn_count(void);
/* A client's approval, enabled state or existence changed: connections
 * waiting for its approval look again. */
void	 conn_approval_wake(const char *name);
/* End every connection (shutdown). */
void	 conn_close_all(void);

#endif
