/*
 * fair.h: fair shares of the connection slots and of the handshake turns
 * between network sources (an IPv4 /32, an IPv6 /64 by default), so that one
 * busy or hostile source cannot starve the others. A source alone still gets
 * everything. No libevent in the share arithmetic: time comes in as an
 * argument, so the unit test drives it.
 */
#ifndef MANDOSD_FAIR_H
#define MANDOSD_FAIR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct msg_share;

#define FAIR_ROOM	16	/* the least room for connections accepted at the cap */

struct fair_config {
	int		 enabled;	/* 0: admit everything, FIFO handshakes */
	unsigned	 prefix4;	/* bits that name an IPv4 source (32) */
	unsigned	 prefix6;	/* bits that name an IPv6 source (64) */
	size_t		 max_slots;	/* the connection cap */
	size_t		 max_handshakes; /* handshakes in progress at once */
	uint64_t	 stale_ms;	/* silent this long before the version line: replaceable at the cap */
	uint64_t	 silent_ms;	/* before the version line: evictable for another source after this */
	uint64_t	 grace_ms;	/* past the version line: evictable after this */
	uint64_t	 log_interval_ms; /* one refusal summary per reason per interval */
	size_t		 max_room;	/* bound on the room (descriptors); 0: max_slots / 4 */
};

/* What the accept path does with a new connection. */
enum fair_verdict {
	FAIR_ADMIT,	/* serve it */
	FAIR_EVICT,	/* close *victim (a connection over its share), then serve it */
	FAIR_QUEUED,	/* kept in the waiting room; fair_next() hands it out later */
	FAIR_REFUSE,	/* over its source's share while others wait: close it */
};

/* Why a connection did not get (or keep) a slot: the metric's label. */
enum fair_reason {
	FAIR_R_SOURCE_SHARE,	/* refused at accept */
	FAIR_R_EVICTED,		/* its slot was given to a waiting source */
	FAIR_R__COUNT
};

/* Where a connection is, for choosing whom to evict (cheapest first). */
enum fair_stage {
	FAIR_ST_VERSION,	/* no version line yet: no TLS work spent */
	FAIR_ST_HSWAIT,		/* waiting for a handshake turn */
	FAIR_ST_HANDSHAKE,
	FAIR_ST_APPROVAL,
	FAIR_ST_LATE,		/* sending the secret or close_notify: never evicted */
};

struct fair_slot;

/* hs_grant(owner): a queued connection may start its handshake now. base may be NULL (tests). */
void	 fair_init(struct event_base *, const struct fair_config *,
	    void (*hs_grant)(void *owner));
void	 fair_shutdown(void);
int	 fair_enabled(void);

/* At accept (fd already accepted). On FAIR_QUEUED fair owns fd until fair_next(). */
enum fair_verdict fair_admit(const struct sockaddr *, socklen_t, int fd,
	    uint64_t now_ms, void **victim);
/* A slot may be free, or a waiter may replace a stale peer: 1 with the next
 * waiter's fd and address (and *victim to close first, or NULL), else 0. */
int	 fair_next(uint64_t now_ms, int *fd, struct sockaddr_storage *,
	    socklen_t *, void **victim);
/* May the listener accept? Not while the room is full of one source's waiters. */
int	 fair_accepting(void);
/* Milliseconds until a waiter might replace a stale peer; UINT64_MAX: never. */
uint64_t fair_next_stale_ms(uint64_t now_ms);
/* Close every waiting connection (shutdown). */
void	 fair_room_close(void);

/* A served connection: its place in its source's accounts. */
struct fair_slot *fair_take(const struct sockaddr *, void *owner, uint64_t now_ms);
void	 fair_stage(struct fair_slot *, enum fair_stage);
/* 1: start the handshake now; 0: queued, hs_grant(owner) comes later. */
int	 fair_hs_begin(struct fair_slot *);
/* The handshake ended (either way): its turn goes to the next source. */
void	 fair_hs_end(struct fair_slot *);
void	 fair_release(struct fair_slot *);

/* Count and summarise (rate-limited) a refusal or an eviction. */
void	 fair_count(const struct sockaddr *, enum fair_reason);
/* Write the summary lines now (the timer calls it each interval). */
void	 fair_log_flush(uint64_t now_ms);
const char *fair_reason_name(enum fair_reason);
extern uint64_t fair_counted[FAIR_R__COUNT];

/* Shares across workers (the authority sums the workers' reports): the
 * busiest max sources here, by slots + waiters; returns how many. */
size_t	 fair_report(struct msg_share *, size_t max);
/* What the other workers hold of these sources (replaces the last). */
void	 fair_others(const struct msg_share *, size_t n);

/* The source of an address as "10.0.0.0/32" or "2001:db8::/64". */
void	 fair_source_format(const struct sockaddr *, char *, size_t);
/* For tests and stats: slots held by sa's source, handshakes it runs, sources. */
size_t	 fair_source_slots(const struct sockaddr *);
size_t	 fair_source_handshakes(const struct sockaddr *);
size_t	 fair_sources(void);
size_t	 fair_waiting(void);
/* Slots free right now (below the cap). */
size_t	 fair_free(void);
/* How many connections the room holds: max_slots / 4, at least FAIR_ROOM. */
size_t	 fair_room_size(void);

#endif
