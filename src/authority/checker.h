/*
 * checker.h: checker processes (/bin/sh -c COMMAND), at most a global cap
 * running at once, the rest queued in order; each killed at its timeout and
 * always reaped.
 */
#ifndef MANDOSD_CHECKER_H
#define MANDOSD_CHECKER_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct client_rt;
struct checker_job;

void	 checker_init(struct event_base *, int max_running);
/* Run a checker for rt now, or queue it behind the cap; a no-op if one
 * is already running or queued. *jobp is rt's slot, cleared when done. */
void	 checker_request(struct checker_job **jobp, struct client_rt *,
	    uint64_t timeout_ms);
/* Dequeue, or kill a running checker (reaped later; no callback). */
void	 checker_cancel(struct checker_job **jobp);
int	 checker_is_running(const struct checker_job *);
size_t	 checker_running(void);
size_t	 checker_queued(void);
int	 checker_max(void);
/* Kill every checker and reap it (exit). */
void	 checker_shutdown(void);

#endif
