/*
 * proc.h: the network workers, from the authority: start them (fork+exec
 * of mandosd in worker mode), read their channel, replace one that dies,
 * end one that breaks the protocol.
 */
#ifndef MANDOSD_PROC_H
#define MANDOSD_PROC_H

#include <stddef.h>
#include <stdint.h>

#include "fair.h"
#include "msg.h"

#define PROC_MAX_WORKERS	256

struct event_base;

struct proc_config {
	unsigned	 nworkers;
	const int	*listen_fds;	/* kept open here, for each successor */
	const int	*listen_members; /* the worker each is for; -1: all */
	size_t		 nlisten;
	const char	*priority;
	uint64_t	 version_ms, handshake_ms, send_ms;
	size_t		 max_conns;	/* per worker; bounds its parked requests */
	size_t		 max_total;	/* if > 0: shared out instead */
	int		 debug;
	int		 to_stderr;
	const char	*user;		/* sandbox: drop to this user; NULL: keep */
	const char	*chroot_dir;	/* sandbox: NULL for none */
	int		 seccomp;
	struct fair_config fair;	/* per worker: max_slots is its cap */
};

/* Start the workers; serving() runs once, when each has reported in, and
 * then they start accepting. -1 with *errstr if the binary is not found. */
int	 proc_start(struct event_base *, const struct proc_config *,
	    void (*serving)(void), char **errstr);
/* Queue an answer to worker wi; -1 if it is gone (or being ended). */
int	 proc_send(unsigned wi, const struct msg *);
/* Stop every worker and wait for it (shutdown). */
int	 proc_stop(void);	/* -1 if a worker did not exit cleanly */
/* Process ids of the running workers (tests, logs); returns how many. */
size_t	 proc_pids(long *pids, size_t max);

#endif
