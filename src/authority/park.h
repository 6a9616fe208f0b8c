/*
 * park.h: connections parked in the workers, as the authority sees them.
 * A worker asks with a key ID (MSG_LOOKUP); the authority answers with the
 * secret, a refusal or "wait", keeps waiting ones on a timer, and acts on
 * them when an operator decides (through the notifier), whichever worker
 * holds them. A worker's word is checked, never trusted: an id it did not
 * park, or one parked twice, is a protocol error.
 */
#ifndef MANDOSD_PARK_H
#define MANDOSD_PARK_H

#include <stddef.h>

#include "msg.h"

struct event_base;
struct keytab;

void	 park_init(struct event_base *, const struct keytab *(*table)(void));
/* From worker wi; -1 with *why: a protocol error (end that worker). */
int	 park_lookup(unsigned wi, const struct msg *, size_t max_parked,
	    const char **why);
int	 park_done(unsigned wi, const struct msg *, const char **why);
/* Worker wi is gone: forget what it had parked; returns how many. */
size_t	 park_worker_gone(unsigned wi);
void	 park_shutdown(void);

#endif
