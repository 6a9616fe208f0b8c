/*
 * audit.h: the audit trail (--audit-log FILE): one JSON line per operator
 * action through the control socket and per secret released or refused.
 * Line format: doc/audit.md. Without a file and without a sink every call
 * is a no-op.
 */
#ifndef MANDOSD_AUDIT_H
#define MANDOSD_AUDIT_H

#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

struct event_base;
struct etcd;

#define AUDIT_MAXLINE	4096	/* one line, newline included: one write(2) */

/* Who asked, from SO_PEERCRED when the control peer connected. */
struct audit_peer {
	uid_t	 uid;
	gid_t	 gid;
	pid_t	 pid;
};

/* Open (create 0600, append) while still root; -1 + *errstr (malloc'd). */
int	 audit_open(const char *path, char **errstr);
/* Start the summary timer of unknown-key refusals (one line per interval). */
void	 audit_init(struct event_base *, uint64_t unknown_interval_ms);
/* SIGHUP: open the path again (logrotate moved it); the old file stays in
 * use if that fails. */
void	 audit_reopen(void);
/* Flush the pending summary, close. */
void	 audit_close(void);
/* The "server" field: the host name unless set (the store's --store-id). */
void	 audit_set_server_id(const char *);
const char *audit_server_id(void);
/* Also hand each operator line (no newline) to fn, e.g. for the store. */
void	 audit_set_sink(void (*fn)(const char *line, void *), void *arg);
/* A sink that puts each operator line under PREFIX/audit/ (audit-store.c). */
void	 audit_store_init(struct etcd *, const char *prefix);
/* Exit, before the handle is freed: queued lines dropped, none started. */
void	 audit_store_stop(void);

/* One operator action on one client (client NULL: none, e.g. reload); args
 * may be NULL and is stolen; error NULL means it succeeded. */
void	 audit_operator(const struct audit_peer *, const char *action,
	    const char *client, json_t *args, const char *error);
/* A connection whose key the authority looked up has ended. */
void	 audit_secret(const char *client, const char *keyid, const char *peer,
	    unsigned worker, const char *result, int sent, const char *why,
	    double handshake_ms, double duration_ms);

#endif
