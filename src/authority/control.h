/*
 * control.h: the control socket: a Unix stream socket speaking one JSON
 * object per line each way (protocol version CTL_PROTO_VERSION), checked
 * with SO_PEERCRED, and the event stream of `watch`.
 */
#ifndef MANDOSD_CONTROL_H
#define MANDOSD_CONTROL_H

#include <jansson.h>

struct event_base;

typedef void	(*ctl_done_fn)(void *ctx, const char *err);

struct ctl_hooks {
	int	(*reload)(char **errstr);	/* SIGHUP's work; -1 + *errstr */
	/* Fleet approvals (fleet-approve.c), NULL without a store: decide
	 * for the fleet, then done(ctx, NULL or why) exactly once, maybe
	 * before it returns. The peer's next request waits for the reply. */
	void	(*approve)(json_t *names, int approve, ctl_done_fn, void *ctx);
};

/* Bind path (a stale socket is replaced, a live one refused) while still
 * privileged; -1 + *errstr (malloc'd). */
int	 ctl_open(const char *path, const char *group, char **errstr);
/* At most n peers at once (their share of descriptors); more are closed. */
void	 ctl_set_max(size_t n);
/* Serve the bound socket on the loop. */
int	 ctl_start(struct event_base *, const struct ctl_hooks *);
void	 ctl_close(void);
/* Whether anyone watches: callers may skip building events. */
int	 ctl_watching(void);
/* One request line answered without a socket (fuzzing): the reply lines,
 * malloc'd. */
char	*ctl_request(const char *line, size_t len, int admin);
/* Send an event to every watcher; fields (may be NULL) is stolen. */
void	 ctl_event(const char *type, json_t *fields);

#endif
