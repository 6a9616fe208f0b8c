/* accept.h: a worker's accepting on the listening sockets the authority bound. */
#ifndef MANDOSD_ACCEPT_H
#define MANDOSD_ACCEPT_H

#include <stddef.h>
#include <stdint.h>

struct event_base;

extern uint64_t	 acc_accepted;	/* connections accepted */
extern uint64_t	 acc_paused;	/* times accepting paused */

/* An inherited listening socket; -1 if there are too many. */
int	 acc_add(int fd);
/* Start accepting; at most max_conns connections at once. */
void	 acc_start(struct event_base *, size_t max_conns);
/* A connection ended: accept again if we had stopped. */
void	 acc_conn_closed(void);
void	 acc_close(void);

#endif
