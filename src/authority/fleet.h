/*
 * fleet.h: mandosd --store: the client table and the operator-visible
 * runtime state of a fleet of servers, shared through etcd under PREFIX.
 * The authority keeps a full local copy (saved in the state directory)
 * current with one watch; a handshake never waits for etcd. Operator
 * writes are compare-and-swap transactions; per-handshake updates are
 * batched, at most one write per client per second.
 */
#ifndef MANDOSD_FLEET_H
#define MANDOSD_FLEET_H

#include <jansson.h>

struct event_base;
struct etcd;

/* Options (before fleet_initial_table); -1 with *errstr (malloc'd). */
struct etcd_tls_opts;
/* tls: etcds:// and auth options (NULL: none), kept by pointer. */
int	 fleet_configure(const char *url, const char *id, const char *offline,
	    const struct etcd_tls_opts *tls, char **errstr);
/*
 * Start-up, before the loop: read the store (bounded, about 3 s) and save
 * the table in statedir; the path of the table to load: the fresh copy,
 * the saved copy, fallback (--clients), or an empty table. NULL with
 * *errstr when nothing can be served.
 */
char	*fleet_initial_table(const char *statedir, const char *fallback,
	    char **errstr);
/* On the loop: the watch, the probe, the batched writes. load swaps the
 * table for the file at path (the reload path); -1 + *errstr. */
void	 fleet_start(struct event_base *, int port,
	    int (*load)(const char *path, char **errstr));
void	 fleet_stop(void);

int	 fleet_enabled(void);		/* --store given */
int	 fleet_up(void);		/* the store answers now */
/* From fleet_start on (NULL and "" before): the authority's store client,
 * and this server's id (--store-id, or HOST:PORT). */
struct etcd *fleet_etcd(void);
const char *fleet_server_id(void);
/* --store-offline refuse and the fleet's state cannot be confirmed. */
int	 fleet_refusing(void);

/* Client name's runtime state changed here (written within a second). */
void	 fleet_note(const char *name);
/* SIGHUP: read the whole store again. */
void	 fleet_reread(void);

/*
 * An operator write (enable, disable, bump-timeout, set, remove) on the
 * named clients, as CAS writes to the store; done(arg, NULL or why) is
 * called exactly once, after the store answered (within about 2 s).
 * 0 when queued, -1 (nothing queued) if cmd is not a store write.
 */
typedef void	(*fleet_done_fn)(void *arg, const char *err);
int	 fleet_op(const char *cmd, json_t *names, const char *attr,
	    json_t *value, fleet_done_fn, void *arg);

#endif
