/*
 * fleet-approve.h: approvals and denials shared by a fleet of servers
 * through the store (issue 10). An operator's decision on any server is
 * written to PREFIX/approvals/NAME under an etcd lease of the client's
 * approval_duration; every server watches PREFIX/approvals/ and applies
 * each decision with client_approve, so the machine waiting on any
 * server is answered through the same path as a local approval.
 */
#ifndef MANDOSD_FLEET_APPROVE_H
#define MANDOSD_FLEET_APPROVE_H

#include <jansson.h>

#include "control.h"

struct event_base;
struct etcd;

/* Start watching PREFIX/approvals/ on e (not owned) as server id;
 * store_up() says whether the store answers now (NULL: assume so). */
int	 fapprove_init(struct event_base *, struct etcd *, const char *id,
	    int (*store_up)(void), char **errstr);
/* The control socket's hook: record approve (1) or deny (0) of each
 * named client for the fleet, apply it here, then done(ctx, NULL or
 * why) exactly once. With the store down it fails at once. */
void	 fapprove_decide(json_t *names, int approve, ctl_done_fn, void *ctx);
void	 fapprove_shutdown(void);

#endif
