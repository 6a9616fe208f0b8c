/*
 * client.h: the runtime state of clients (enabled, expires, checker,
 * approval, counters), keyed by name. struct keytab stays immutable
 * configuration; this module survives reloads and restarts.
 */
#ifndef MANDOSD_CLIENT_H
#define MANDOSD_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "metrics.h"

struct event_base;
struct keytab;
struct client;
struct client_rt;

/* What a connection of an enabled, known client may do now. */
enum client_gate {
	GATE_SEND,		/* approved, or no approval needed */
	GATE_WAIT,		/* wait up to approval_delay for a decision */
	GATE_DENY,		/* an operator denied it (within approval_duration) */
	GATE_DISABLED,		/* disabled (or expired) */
};

void	 client_init(struct event_base *, int max_checkers);
/* Match runtime state to a freshly loaded table (start-up and reload).
 * Names that stay keep their state, new names get a fresh one, gone names
 * are dropped. Settings changed in the file win over runtime changes. */
void	 client_sync(const struct keytab *);
void	 client_shutdown(void);

struct client_rt *client_find(const char *name);
size_t	 client_count(void);
/* i-th client in table order; NULL past the end. */
struct client_rt *client_nth(size_t i);
const char *client_name(const struct client_rt *);

/* Parked connections' side (park.c). */
enum client_gate client_gate(struct client_rt *, uint64_t *delay_ms);
int	 client_approved_by_default(const struct client_rt *);
void	 client_approval_wait(struct client_rt *);	/* a conn starts waiting */
void	 client_approval_end(const char *name);	/* a waiting conn leaves */
/* The secret to send (the client's own memory: send it before returning). */
const uint8_t *client_secret(const struct client_rt *, size_t *len);
/* A connection ended (name NULL if the key was unknown). */
void	 client_conn_done(const char *name, const char *keyid,
	    const char *peer, enum conn_result, const char *why, double ms);

/* Operator side (control.c); each returns 0 or -1 with *errstr (static). */
void	 client_enable(struct client_rt *, const char *why);
void	 client_disable(struct client_rt *, const char *why);
void	 client_checked_ok(struct client_rt *);		/* bump-timeout */
void	 client_start_checker(struct client_rt *);
void	 client_stop_checker(struct client_rt *);
void	 client_approve(struct client_rt *, int approve);
void	 client_remove(struct client_rt *);
/* Set one attribute from a JSON value; -1 with *errstr. */
int	 client_set(struct client_rt *, const char *attr, json_t *value,
	    const char **errstr);
/* Every attribute mandos-ctl shows (D-Bus property names), plus ours. */
json_t	*client_json(const struct client_rt *);
/* Gauges for stats and metrics. */
size_t	 client_enabled_count(void);
size_t	 client_pending_count(void);

/* State file (state.c): dump and apply one client's runtime state. */
json_t	*client_state_json(const struct client_rt *);
void	 client_state_apply(struct client_rt *, json_t *);

/*
 * Fleet store (fleet.c): the operator-visible runtime state shared as
 * PREFIX/state/NAME. apply takes a record from the store; merge builds
 * the record to write from the store's (cur, may be NULL) and this
 * server's changes, *delta the secrets sent here not yet counted there
 * (flushed once written); op builds an operator's change ("enable",
 * "disable", "checked") by server id.
 */
void	 client_store_apply(struct client_rt *, json_t *);
json_t	*client_store_merge(struct client_rt *, json_t *cur, const char *id,
	    uint64_t *delta);
void	 client_store_flushed(struct client_rt *, uint64_t delta);
json_t	*client_store_op(struct client_rt *, json_t *cur, const char *op,
	    const char *id);

/* Checker side (checker.c). */
char	*client_checker_command(const struct client_rt *, const char **errstr);
void	 client_checker_done(struct client_rt *, int status, int signo,
	    uint64_t ms);

/*
 * A fleet of servers (fleet-registry.c): mine(name) says whether this
 * server runs name's scheduled checker (NULL: always); done() hears each
 * result of a checker this server ran. Results from another server are
 * applied with client_check_result; client_extend keeps a client enabled
 * until at least a given time (a checker's takeover by another server).
 */
struct client_check_hooks {
	int	(*mine)(const char *name);
	void	(*done)(struct client_rt *, int status, int signo);
};
void	 client_set_check_hooks(const struct client_check_hooks *);
void	 client_check_result(struct client_rt *, int64_t when_ms, int status,
	    int signo);
void	 client_extend(struct client_rt *, int64_t until_ms);
int	 client_enabled(const struct client_rt *);
int64_t	 client_expires(const struct client_rt *);
uint64_t client_interval_ms(const struct client_rt *);
uint64_t client_timeout_ms(const struct client_rt *);
uint64_t client_approval_duration_ms(const struct client_rt *);

/* Time, ms since the epoch (wall clock, for display and the state file). */
int64_t	 client_now_ms(void);
void	 client_format_time(int64_t ms, char *buf, size_t len);

#endif
