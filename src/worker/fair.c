/*
 * fair.c: per-source fair shares. A source is an address masked to a prefix
 * (IPv4 /32, IPv6 /64; an IPv4-mapped IPv6 address counts as IPv4).
 *
 * Connection slots. Below the cap everyone is admitted. At the cap, with A
 * sources holding or wanting slots, a source's share is cap / A:
 *  - a newcomer whose source holds fewer slots than the biggest source
 *    (by two or more: no ping-pong between equals) takes a slot from it,
 *    evicting that source's cheapest connection (silent before the version
 *    line first, then queued, in handshake, waiting for approval; never one
 *    that is sending its secret, nor a young one: see fair_victim).
 *    Max-min rather than "under cap / A": with several workers each sees
 *    an arbitrary part of every source (the kernel's accept queue is
 *    shared), so a source may be over cap / A in one worker and still far
 *    under the flooder there; what holds in every worker is "nobody is
 *    squeezed out by a bigger source";
 *  - otherwise it waits in the room for a slot, as it would have in the
 *    kernel's backlog; freed slots go to the waiter whose source holds
 *    fewest. The room grows with the cap (a quarter of it, at least
 *    FAIR_ROOM, at most what descriptors allow), so that a burst landing
 *    mostly on one worker waits instead of being refused; not bigger: what
 *    waits in one worker's room cannot use another worker's free slots.
 *    A waiter may also replace a connection of its own source (or of one
 *    at or over its share) silent for stale_ms before its version line: a
 *    lone source of silent peers cannot keep the backlog behind it blocked
 *    until their deadlines;
 *  - when the room is full, the source most over its share gives way: the
 *    one that weighs most (waiters and silent slots: see fair_weight) loses
 *    its newest waiter, or if it has none its cheapest connection; if that
 *    is the newcomer's own source, the newcomer is refused (closed before
 *    any TLS work). So a flood costs only the flooder, and a burst that
 *    goes through in milliseconds is not refused for waiting its turn.
 * So a lone source gets every slot and a backlog, as before, and a rack
 * behind one NAT is served at full speed.
 *
 * Across workers: each reports its busiest sources to the authority, which
 * answers with the other workers' counts of them (fair_report,
 * fair_others); the max-min comparison and a full room's weight add them,
 * so that a burst landing mostly on one worker is not taken there for the
 * biggest source.
 *
 * Handshake turns. At most max_handshakes handshakes run at once; with A
 * sources running or wanting one, a source may start one only under
 * ceil(max / A) while another source waits; queued ones are granted round-
 * robin across sources, so a source hammering unknown-key handshakes gets its
 * share of the CPU and no more.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "fair.h"
#include "log.h"
#include "msg.h"
#include "xmalloc.h"

struct fair_key {
	uint8_t		 family;	/* AF_INET or AF_INET6 */
	uint8_t		 addr[16];	/* masked */
};

struct fair_slot {
	TAILQ_ENTRY(fair_slot)	 entry;		/* in its source, oldest first */
	TAILQ_ENTRY(fair_slot)	 hsq;		/* waiting for a handshake turn */
	struct fair_src		*src;
	void			*owner;
	uint64_t		 since;		/* ms */
	uint8_t			 stage;		/* enum fair_stage */
	uint8_t			 in_hs;		/* holds a turn */
	uint8_t			 in_hsq;
};

TAILQ_HEAD(fair_slots, fair_slot);

struct fair_src {
	struct fair_key		 key;
	struct fair_src		*next;		/* hash chain */
	TAILQ_ENTRY(fair_src)	 all;
	TAILQ_ENTRY(fair_src)	 ring;		/* has handshakes queued */
	struct fair_slots	 slots;
	struct fair_slots	 hsq;
	size_t			 nslots;
	size_t			 nhs;		/* handshakes running */
	size_t			 nhsq;		/* handshakes queued */
	size_t			 nwait;		/* in the room */
	size_t			 nsilent;	/* slots before their version line */
	size_t			 others;	/* slots + waiters in the other workers */
	uint8_t			 in_ring;
	uint64_t		 tried;		/* fair_next's pass that asked it */
};

TAILQ_HEAD(fair_srcs, fair_src);

struct fair_waiter {
	int			 fd;
	socklen_t		 salen;
	struct sockaddr_storage	 ss;
	struct fair_src		*src;
	uint64_t		 since;
};

/* Per reason and interval: how many, and the majority source (Boyer-Moore vote). */
struct fair_tally {
	uint64_t		 n;
	uint64_t		 votes;
	struct sockaddr_storage	 cand;
};

uint64_t		 fair_counted[FAIR_R__COUNT];

static struct fair_config fair_cf;
static void		(*fair_grant)(void *);
static struct fair_src	**fair_hash;
static size_t		 fair_hmask;
static uint64_t		 fair_hkey[3];
static struct fair_srcs	 fair_all = TAILQ_HEAD_INITIALIZER(fair_all);
static struct fair_srcs	 fair_ring = TAILQ_HEAD_INITIALIZER(fair_ring);
static size_t		 fair_nsrc;	/* sources with slots or waiters */
static size_t		 fair_nslots;
static size_t		 fair_nhs;
static size_t		 fair_nhsq;
static size_t		 fair_nhs_srcs;	/* sources running or queueing handshakes */
static struct fair_waiter *fair_room;
static size_t		 fair_roomcap;
static size_t		 fair_nroom;
static uint64_t		 fair_pass;
static uint64_t		 fair_next_since; /* the waiter fair_next handed out */
static struct fair_tally fair_tally[FAIR_R__COUNT];
static struct msg_share	 fair_oth[MSG_SHARES_MAX]; /* the authority's last sums */
static size_t		 fair_noth;
static uint64_t		 fair_iv_start;
static struct event	*fair_log_ev;

static const char *const fair_reason_names[FAIR_R__COUNT] = {
	"source_share", "evicted",
};

static void	 fair_hs_dispatch(void);

const char *
fair_reason_name(enum fair_reason r)
{
	return (fair_reason_names[r]);
}

/* The source key of an address; IPv4-mapped IPv6 is IPv4. */
static void
fair_key_of(const struct sockaddr *sa, struct fair_key *k)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	unsigned	 bits, i;

	memset(k, 0, sizeof(*k));
	if (sa->sa_family == AF_INET6 && !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		k->family = AF_INET6;
		memcpy(k->addr, &s6->sin6_addr, 16);
		bits = fair_cf.prefix6;
	} else {
		k->family = AF_INET;
		if (sa->sa_family == AF_INET6)
			memcpy(k->addr, (const uint8_t *)&s6->sin6_addr + 12, 4);
		else
			memcpy(k->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		bits = fair_cf.prefix4;
	}
	for (i = 0; i < 16; i++) {
		if (bits >= 8)
			bits -= 8;
		else {
			k->addr[i] &= (uint8_t)(0xff00 >> bits);
			bits = 0;
		}
	}
}

/* Keyed so that a peer cannot aim all its sources at one chain. */
static size_t
fair_hash_of(const struct fair_key *k)
{
	uint64_t	 a, b, h;

	memcpy(&a, k->addr, 8);
	memcpy(&b, k->addr + 8, 8);
	h = (a ^ fair_hkey[0]) * 0x9e3779b97f4a7c15ULL;
	h = (h ^ (h >> 29) ^ b ^ fair_hkey[1]) * 0xbf58476d1ce4e5b9ULL;
	h ^= (h >> 32) ^ k->family ^ fair_hkey[2];
	h *= 0x94d049bb133111ebULL;
	return ((size_t)(h ^ (h >> 31)) & fair_hmask);
}

/* The source of key k, or NULL. */
static struct fair_src *
fair_src_find(const struct fair_key *k)
{
	struct fair_src	*s;

	for (s = fair_hash[fair_hash_of(k)]; s != NULL; s = s->next)
		if (memcmp(&s->key, k, sizeof(*k)) == 0)
			return (s);
	return (NULL);
}

/* What the other workers hold of source k, as the authority last said:
 * also for a source gone here and back since, or not here yet. */
static size_t
fair_others_of(const struct fair_key *k)
{
	size_t	 i;

	for (i = 0; i < fair_noth; i++)
		if (fair_oth[i].family == (k->family == AF_INET ? 4 : 6) &&
		    memcmp(fair_oth[i].addr, k->addr, 16) == 0)
			return (fair_oth[i].count);
	return (0);
}

/* The source of sa, created if create and missing. */
static struct fair_src *
fair_src_get(const struct sockaddr *sa, int create)
{
	struct fair_key	 k;
	struct fair_src	*s;
	size_t		 h;

	fair_key_of(sa, &k);
	h = fair_hash_of(&k);
	for (s = fair_hash[h]; s != NULL; s = s->next)
		if (memcmp(&s->key, &k, sizeof(k)) == 0)
			return (s);
	if (!create)
		return (NULL);
	s = xcalloc(1, sizeof(*s));
	s->key = k;
	s->others = fair_others_of(&k);
	TAILQ_INIT(&s->slots);
	TAILQ_INIT(&s->hsq);
	s->next = fair_hash[h];
	fair_hash[h] = s;
	TAILQ_INSERT_TAIL(&fair_all, s, all);
	fair_nsrc++;
	return (s);
}

/* Forget a source that holds and wants nothing. */
static void
fair_src_put(struct fair_src *s)
{
	struct fair_src	**pp;

	if (s->nslots > 0 || s->nwait > 0)
		return;
	for (pp = &fair_hash[fair_hash_of(&s->key)]; *pp != s; pp = &(*pp)->next)
		;
	*pp = s->next;
	TAILQ_REMOVE(&fair_all, s, all);
	fair_nsrc--;
	free(s);
}

/* Every change of a slot's stage goes here: it keeps nsilent. */
static void
fair_set_stage(struct fair_slot *sl, enum fair_stage st)
{
	if (sl->stage == FAIR_ST_VERSION && st != FAIR_ST_VERSION)
		sl->src->nsilent--;
	else if (sl->stage != FAIR_ST_VERSION && st == FAIR_ST_VERSION)
		sl->src->nsilent++;
	sl->stage = (uint8_t)st;
}

static uint64_t
fair_mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* Summary timer. */
static void
fair_log_cb(evutil_socket_t fd, short what, void *arg)
{
	fair_log_flush(fair_mono_ms());
}

void
fair_init(struct event_base *base, const struct fair_config *cf,
    void (*hs_grant)(void *))
{
	struct timeval	 tv;
	size_t		 n = 64;

	fair_cf = *cf;
	if (fair_cf.prefix4 > 32)
		fair_cf.prefix4 = 32;
	if (fair_cf.prefix6 > 128)
		fair_cf.prefix6 = 128;
	if (fair_cf.max_slots == 0)
		fair_cf.max_slots = 1;
	if (fair_cf.max_handshakes == 0)
		fair_cf.max_handshakes = 1;
	fair_grant = hs_grant;
	fair_roomcap = fair_cf.max_slots / 4;
	if (fair_cf.max_room > 0 && fair_roomcap > fair_cf.max_room)
		fair_roomcap = fair_cf.max_room;
	if (fair_roomcap < FAIR_ROOM)
		fair_roomcap = FAIR_ROOM;
	fair_room = xcalloc(fair_roomcap, sizeof(*fair_room));
	while (n < fair_cf.max_slots && n < (1 << 16))
		n <<= 1;
	fair_hash = xcalloc(n, sizeof(*fair_hash));
	fair_hmask = n - 1;
	if (getrandom(fair_hkey, sizeof(fair_hkey), 0) != sizeof(fair_hkey))
		fair_hkey[0] = (uint64_t)getpid() * 0x2545f4914f6cdd1dULL;
	fair_iv_start = fair_mono_ms();
	if (base != NULL && fair_cf.enabled && fair_cf.log_interval_ms > 0) {
		fair_log_ev = event_new(base, -1, EV_PERSIST, fair_log_cb, NULL);
		tv.tv_sec = (time_t)(fair_cf.log_interval_ms / 1000);
		tv.tv_usec = (suseconds_t)(fair_cf.log_interval_ms % 1000) * 1000;
		event_add(fair_log_ev, &tv);
	}
}

void
fair_shutdown(void)
{
	struct fair_src	*s;

	fair_room_close();
	fair_noth = 0;
	if (fair_log_ev != NULL)
		event_free(fair_log_ev);
	fair_log_ev = NULL;
	/* Connections release their slots first; what is left is a leak. */
	while ((s = TAILQ_FIRST(&fair_all)) != NULL) {
		TAILQ_REMOVE(&fair_all, s, all);
		free(s);
	}
	fair_nsrc = fair_nslots = fair_nhs = fair_nhsq = fair_nhs_srcs = 0;
	TAILQ_INIT(&fair_ring);
	free(fair_hash);
	fair_hash = NULL;
	free(fair_room);
	fair_room = NULL;
	fair_roomcap = 0;
}

int
fair_enabled(void)
{
	return (fair_cf.enabled);
}

/* The slot share of one source when n sources hold or want slots. */
static size_t
fair_share(size_t n)
{
	size_t	 share = fair_cf.max_slots / (n ? n : 1);

	return (share ? share : 1);
}

/* The source holding the most slots. */
static struct fair_src *
fair_biggest(void)
{
	struct fair_src	*s, *best = NULL;

	TAILQ_FOREACH(s, &fair_all, all)
		if (best == NULL || s->nslots > best->nslots)
			best = s;
	return (best);
}

/*
 * s's cheapest connection to close: the oldest at the earliest stage, of
 * those old enough: silent before its version line for silent_ms, or past
 * it (queued for a handshake turn, in the handshake, waiting for approval)
 * for grace_ms; mandosd makes both stale_ms, so that a connection can be
 * evicted for another source once it could be replaced, not before. Under
 * load the wait of a young one is often ours (a version line not read yet,
 * a handshake turn), and with several workers a burst may land mostly on
 * one of them, bigger there than the flooder it took its slots from.
 */
static struct fair_slot *
fair_victim(struct fair_src *s, uint64_t now, int young)
{
	struct fair_slot *sl, *best = NULL;
	uint64_t	 first = fair_cf.silent_ms < fair_cf.grace_ms ?
			    fair_cf.silent_ms : fair_cf.grace_ms;

	if (young)	/* as if every connection were old */
		now += fair_cf.silent_ms > fair_cf.grace_ms ?
		    fair_cf.silent_ms : fair_cf.grace_ms;

	TAILQ_FOREACH(sl, &s->slots, entry) {
		if (sl->since + first > now)
			break;		/* oldest first: the rest are younger */
		if (sl->stage == FAIR_ST_VERSION) {
			if (sl->since + fair_cf.silent_ms <= now)
				return (sl);	/* none cheaper */
			continue;
		}
		if (sl->stage != FAIR_ST_LATE &&
		    sl->since + fair_cf.grace_ms <= now &&
		    (best == NULL || sl->stage < best->stage))
			best = sl;
	}
	return (best);
}

/* What s holds in every worker: here, and as the others last said. */
static size_t
fair_global(const struct fair_src *s, size_t here)
{
	return (here + (s != NULL ? s->others : 0));
}

/* The same for a newcomer's address, whose source may not be here. */
static size_t
fair_global_sa(const struct fair_src *s, const struct sockaddr *sa, size_t here)
{
	struct fair_key	 k;

	if (s != NULL || sa == NULL)
		return (fair_global(s, here));
	fair_key_of(sa, &k);
	return (here + fair_others_of(&k));
}

/*
 * A connection of t to close for s (holding mine everywhere). Young ones
 * too when the other workers say that t holds more than twice as much as
 * s across them all: the grace protects a burst that is big in one worker
 * only, and the authority's sums show which source is big everywhere.
 * Twice: the sums are up to 50 ms old, and a burst that is going through
 * must not lose young connections to a source about its size (others is
 * 0 with one worker: no change).
 */
static struct fair_slot *
fair_victim_for(struct fair_src *t, size_t mine, uint64_t now)
{
	return (fair_victim(t, now, t->others > 0 &&
	    2 * mine + 1 < fair_global(t, t->nslots + t->nwait)));
}

/* A connection to close for s (holding mine, counting what it holds in
 * the other workers): of the biggest source with one to give that holds
 * at least two more than s, counted the same way. */
static struct fair_slot *
fair_bigger_victim(struct fair_src *s, size_t mine, uint64_t now)
{
	struct fair_src	*t, *best = NULL;
	struct fair_slot *v, *bestv = NULL;

	TAILQ_FOREACH(t, &fair_all, all)
		if (t != s && mine + 1 < fair_global(t, t->nslots) &&
		    (best == NULL || fair_global(t, t->nslots) >
		    fair_global(best, best->nslots)) &&
		    (v = fair_victim_for(t, mine, now)) != NULL) {
			best = t;
			bestv = v;
		}
	return (bestv);
}

/* s's oldest connection silent for stale_ms before its version line. */
static struct fair_slot *
fair_stale(struct fair_src *s, uint64_t now)
{
	struct fair_slot *sl;

	if (s == NULL)
		return (NULL);
	TAILQ_FOREACH(sl, &s->slots, entry)
		if (sl->stage == FAIR_ST_VERSION) {
			if (sl->since + fair_cf.stale_ms <= now)
				return (sl);
			break;		/* oldest first: the rest are younger */
		}
	return (NULL);
}

/* Sources that would hold or want slots if s joined. */
static size_t
fair_nwith(const struct fair_src *s)
{
	return (fair_nsrc + (s == NULL || (s->nslots == 0 && s->nwait == 0)));
}

/*
 * At the cap: a connection of s (NULL: new source, from sa) may take a slot
 * by evicting *victim; or it may replace a stale peer. NULL: neither.
 */
static struct fair_slot *
fair_make_room(struct fair_src *s, const struct sockaddr *sa, uint64_t now)
{
	struct fair_src	*big;
	struct fair_slot *v;
	size_t		 share, have = s != NULL ? s->nslots : 0;

	share = fair_share(fair_nwith(s));
	big = fair_biggest();
	/* Max-min: after the move s still holds no more than the source it
	 * takes from; the biggest that has a connection to give. */
	if ((v = fair_bigger_victim(s, fair_global_sa(s, sa, have), now)) != NULL)
		return (v);
	if ((v = fair_stale(s, now)) != NULL)
		return (v);
	if (big != NULL && big != s && big->nslots >= share &&
	    (v = fair_stale(big, now)) != NULL)
		return (v);
	return (NULL);
}

/* An upper bound of fair_weight(), in constant time. */
static size_t
fair_weight_max(const struct fair_src *s)
{
	return (s->nsilent + s->nwait + s->others);
}

/*
 * How much s is over its share, for a full room (see fair_admit): its
 * waiters, and its slots silent before their version line for silent_ms.
 * Not the younger ones: under load an honest burst's version lines wait
 * to be read, and that is ours.
 */
static size_t
fair_weight(const struct fair_src *s, uint64_t now)
{
	const struct fair_slot *sl;
	size_t		 n = s->nwait + s->others, left = s->nsilent;

	TAILQ_FOREACH(sl, &s->slots, entry) {
		if (left == 0 || sl->since + fair_cf.silent_ms > now)
			break;		/* oldest first: the rest are younger */
		if (sl->stage == FAIR_ST_VERSION) {
			n++;
			left--;
		}
	}
	return (n);
}

/* Put a connection in the room. */
static void
fair_room_push(int fd, const struct sockaddr *sa, socklen_t salen,
    const struct sockaddr *key, uint64_t now)
{
	struct fair_waiter *w = &fair_room[fair_nroom++];

	w->fd = fd;
	w->salen = salen > sizeof(w->ss) ? sizeof(w->ss) : salen;
	memcpy(&w->ss, sa, w->salen);
	w->src = fair_src_get(key, 1);
	w->src->nwait++;
	w->since = now;
}

/* Take waiter i out of the room. */
static void
fair_room_pop(size_t i)
{
	struct fair_src	*s = fair_room[i].src;

	memmove(&fair_room[i], &fair_room[i + 1],
	    (fair_nroom - i - 1) * sizeof(fair_room[0]));
	fair_nroom--;
	s->nwait--;
	fair_src_put(s);
}

enum fair_verdict
fair_admit(const struct sockaddr *sa, socklen_t salen, int fd, uint64_t now,
    void **victim)
{
	struct fair_src	*s;
	struct fair_slot *v;
	struct fair_src	*t, *heavy = NULL;
	size_t		 j, w, mine, most = 0;

	*victim = NULL;
	fair_next_since = 0;	/* a new connection: its age starts now */
	if (!fair_cf.enabled || (fair_nslots < fair_cf.max_slots &&
	    fair_nroom == 0))
		return (FAIR_ADMIT);
	s = fair_src_get(sa, 0);
	if (fair_nslots >= fair_cf.max_slots &&	/* else: the room drains first */
	    (v = fair_make_room(s, sa, now)) != NULL) {
		*victim = v->owner;
		return (FAIR_EVICT);
	}
	if (fair_nroom < fair_roomcap) {
		fair_room_push(fd, sa, salen, sa, now);
		return (FAIR_QUEUED);
	}
	/* A full room: the source most over its share gives way, the
	 * newcomer's own or, if another weighs more even after the swap, that
	 * one's newest waiter or, if it has none, its cheapest connection.
	 * The weight: what waits, and what holds a slot without a version
	 * line. A burst of honest peers, which go through in milliseconds,
	 * weighs its waiters only; a holder of silent connections, all it
	 * holds, though it waits for nothing. */
	mine = s != NULL ? fair_weight(s, now) : fair_global_sa(NULL, sa, 0);
	TAILQ_FOREACH(t, &fair_all, all)
		if (t != s && (heavy == NULL || fair_weight_max(t) > most) &&
		    (w = fair_weight(t, now)) >= most) {
			heavy = t;
			most = w;
		}
	if (heavy != NULL && most > mine + 1 && heavy->nwait > 0) {
		for (j = fair_nroom; fair_room[j - 1].src != heavy; j--)
			;
		j--;		/* its newest waiter */
		fair_count((struct sockaddr *)&fair_room[j].ss,
		    FAIR_R_SOURCE_SHARE);
		close(fair_room[j].fd);
		fair_room_pop(j);
		fair_room_push(fd, sa, salen, sa, now);
		return (FAIR_QUEUED);
	}
	if (heavy != NULL && most > mine + 1 &&
	    (v = fair_victim_for(heavy, fair_global_sa(s, sa, s != NULL ?
	    s->nslots + s->nwait : 0), now)) != NULL) {
		*victim = v->owner;
		return (FAIR_EVICT);
	}
	fair_count(sa, FAIR_R_SOURCE_SHARE);
	return (FAIR_REFUSE);
}

int
fair_next(uint64_t now, int *fd, struct sockaddr_storage *ss, socklen_t *salen,
    void **victim)
{
	struct fair_slot *v = NULL;
	struct fair_src	*s;
	size_t		 i, pick;

	*victim = NULL;
	if (fair_nroom == 0)
		return (0);
	/* The oldest waiter of the source holding fewest slots. */
	for (i = 0, pick = 0; i < fair_nroom; i++)
		if (fair_room[i].src->nslots < fair_room[pick].src->nslots)
			pick = i;
	if (fair_nslots >= fair_cf.max_slots) {
		/* Ask each source once, not each waiter: the room is big. */
		fair_pass++;
		for (i = pick; i < fair_nroom + pick && v == NULL; i++) {
			s = fair_room[i % fair_nroom].src;
			if (s->tried == fair_pass)
				continue;
			s->tried = fair_pass;
			v = fair_make_room(s, NULL, now);
		}
		if (v == NULL)
			return (0);
		pick = (i - 1) % fair_nroom;
		*victim = v->owner;
	}
	*fd = fair_room[pick].fd;
	*salen = fair_room[pick].salen;
	fair_next_since = fair_room[pick].since;
	memcpy(ss, &fair_room[pick].ss, *salen);
	fair_room_pop(pick);
	return (1);
}

int
fair_accepting(void)
{
	struct fair_src	*s;

	if (!fair_cf.enabled || fair_nroom < fair_roomcap)
		return (1);
	/* Full: go on looking at the backlog only if someone else waits. */
	s = fair_room[0].src;
	return (s->nwait < fair_nroom || s->nslots < fair_nslots);
}

uint64_t
fair_next_stale_ms(uint64_t now)
{
	struct fair_src	*s;
	struct fair_slot *sl;
	uint64_t	 best = UINT64_MAX, at;

	if (fair_nroom == 0 || fair_nslots < fair_cf.max_slots)
		return (fair_nroom ? 0 : UINT64_MAX);
	TAILQ_FOREACH(s, &fair_all, all) {
		TAILQ_FOREACH(sl, &s->slots, entry)
			if (sl->stage == FAIR_ST_VERSION) {
				at = sl->since + fair_cf.stale_ms;
				if (at < best)
					best = at;
				break;
			}
	}
	if (best == UINT64_MAX)
		return (best);
	return (best > now ? best - now : 0);
}

void
fair_room_close(void)
{
	while (fair_nroom > 0) {
		close(fair_room[0].fd);
		fair_room_pop(0);
	}
}

struct fair_slot *
fair_take(const struct sockaddr *sa, void *owner, uint64_t now)
{
	struct fair_slot *sl, *at;

	if (fair_hash == NULL)		/* not initialised: no accounts */
		return (NULL);
	sl = xcalloc(1, sizeof(*sl));
	sl->src = fair_src_get(sa, 1);
	sl->owner = owner;
	/* A waiter's age counts from its accept: a holder's silent peers do
	 * not become young again by waiting in the room. */
	sl->since = fair_next_since != 0 && fair_next_since < now ?
	    fair_next_since : now;
	fair_next_since = 0;
	sl->stage = FAIR_ST_VERSION;
	sl->src->nsilent++;
	/* Kept oldest first (fair_victim, fair_stale, fair_weight stop at the
	 * first young one): a waiter may be older than the last slots. */
	for (at = TAILQ_LAST(&sl->src->slots, fair_slots); at != NULL &&
	    at->since > sl->since; at = TAILQ_PREV(at, fair_slots, entry))
		;
	if (at == NULL)
		TAILQ_INSERT_HEAD(&sl->src->slots, sl, entry);
	else
		TAILQ_INSERT_AFTER(&sl->src->slots, at, sl, entry);
	sl->src->nslots++;
	fair_nslots++;
	return (sl);
}

void
fair_stage(struct fair_slot *sl, enum fair_stage st)
{
	if (sl != NULL)
		fair_set_stage(sl, st);
}

/* Keep the count of sources running or queueing handshakes, after s changed. */
static void
fair_hs_active(struct fair_src *s, int before)
{
	int	 now = s->nhs + s->nhsq > 0;

	if (before && !now)
		fair_nhs_srcs--;
	else if (!before && now)
		fair_nhs_srcs++;
}

/* The handshake share of one source. */
static size_t
fair_hs_share(void)
{
	size_t	 n = fair_nhs_srcs ? fair_nhs_srcs : 1;

	return ((fair_cf.max_handshakes + n - 1) / n);
}

int
fair_hs_begin(struct fair_slot *sl)
{
	struct fair_src	*s;
	int		 before;

	if (sl == NULL)
		return (1);
	s = sl->src;
	before = s->nhs + s->nhsq > 0;
	fair_set_stage(sl, FAIR_ST_HANDSHAKE);
	if (!fair_cf.enabled)
		return (1);
	if (!before)
		fair_nhs_srcs++;
	if (fair_nhs < fair_cf.max_handshakes && (s->nhs < fair_hs_share() ||
	    fair_nhsq == s->nhsq)) {
		sl->in_hs = 1;
		s->nhs++;
		fair_nhs++;
		return (1);
	}
	fair_set_stage(sl, FAIR_ST_HSWAIT);
	sl->in_hsq = 1;
	TAILQ_INSERT_TAIL(&s->hsq, sl, hsq);
	s->nhsq++;
	fair_nhsq++;
	if (!s->in_ring) {
		s->in_ring = 1;
		TAILQ_INSERT_TAIL(&fair_ring, s, ring);
	}
	return (0);
}

/* Leave the handshake queue. */
static void
fair_hsq_remove(struct fair_slot *sl)
{
	struct fair_src	*s = sl->src;

	TAILQ_REMOVE(&s->hsq, sl, hsq);
	sl->in_hsq = 0;
	s->nhsq--;
	fair_nhsq--;
	if (s->nhsq == 0 && s->in_ring) {
		s->in_ring = 0;
		TAILQ_REMOVE(&fair_ring, s, ring);
	}
}

/* Grant free turns round-robin over the sources that queue, under their share first. */
static void
fair_hs_dispatch(void)
{
	struct fair_src	*s;
	struct fair_slot *sl;
	size_t		 share;
	int		 pass;

	while (fair_nhs < fair_cf.max_handshakes && fair_nhsq > 0) {
		share = fair_hs_share();
		sl = NULL;
		for (pass = 0; pass < 2 && sl == NULL; pass++)
			TAILQ_FOREACH(s, &fair_ring, ring)
				if (pass == 1 || s->nhs < share) {
					sl = TAILQ_FIRST(&s->hsq);
					break;
				}
		s = sl->src;
		fair_hsq_remove(sl);
		if (s->in_ring) {		/* to the back of the ring */
			TAILQ_REMOVE(&fair_ring, s, ring);
			TAILQ_INSERT_TAIL(&fair_ring, s, ring);
		}
		sl->in_hs = 1;
		fair_set_stage(sl, FAIR_ST_HANDSHAKE);
		s->nhs++;
		fair_nhs++;
		fair_grant(sl->owner);
	}
}

void
fair_hs_end(struct fair_slot *sl)
{
	struct fair_src	*s;
	int		 before;

	if (sl == NULL || (!sl->in_hs && !sl->in_hsq))
		return;
	s = sl->src;
	before = s->nhs + s->nhsq > 0;
	if (sl->in_hsq)
		fair_hsq_remove(sl);
	else {
		sl->in_hs = 0;
		s->nhs--;
		fair_nhs--;
	}
	fair_hs_active(s, before);
	if (sl->stage < FAIR_ST_APPROVAL)
		fair_set_stage(sl, FAIR_ST_LATE);
	fair_hs_dispatch();
}

void
fair_release(struct fair_slot *sl)
{
	struct fair_src	*s;

	if (sl == NULL)
		return;
	fair_hs_end(sl);
	s = sl->src;
	if (sl->stage == FAIR_ST_VERSION)
		s->nsilent--;
	TAILQ_REMOVE(&s->slots, sl, entry);
	s->nslots--;
	fair_nslots--;
	free(sl);
	fair_src_put(s);
}

void
fair_count(const struct sockaddr *sa, enum fair_reason r)
{
	struct fair_tally *t = &fair_tally[r];
	struct fair_key	 a, b;

	fair_counted[r]++;	/* the worker reports it; the authority counts */
	t->n++;
	fair_key_of(sa, &a);
	if (t->votes > 0)
		fair_key_of((struct sockaddr *)&t->cand, &b);
	if (t->votes == 0) {
		memcpy(&t->cand, sa, sa->sa_family == AF_INET6 ?
		    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
		t->votes = 1;
	} else if (memcmp(&a, &b, sizeof(a)) == 0)
		t->votes++;
	else
		t->votes--;
}

void
fair_log_flush(uint64_t now)
{
	char		 src[INET6_ADDRSTRLEN + 8];
	size_t		 r;
	double		 secs = (double)(now - fair_iv_start) / 1000.0;

	for (r = 0; r < FAIR_R__COUNT; r++) {
		if (fair_tally[r].n == 0)
			continue;
		fair_source_format((struct sockaddr *)&fair_tally[r].cand, src,
		    sizeof(src));
		log_info("%s %llu connections reason=%s over %.1fs, top source %s",
		    r == FAIR_R_EVICTED ? "evicted" : "refused",
		    (unsigned long long)fair_tally[r].n, fair_reason_names[r],
		    secs, src);
		memset(&fair_tally[r], 0, sizeof(fair_tally[r]));
	}
	fair_iv_start = now;
}

size_t
fair_report(struct msg_share *e, size_t max)
{
	struct fair_src	*s;
	size_t		 n = 0, i, c;

	/* The busiest max, kept sorted (max is small). */
	TAILQ_FOREACH(s, &fair_all, all) {
		c = s->nslots + s->nwait;
		if (c == 0 || (n == max && c <= e[n - 1].count))
			continue;
		if (c > MSG_SHARE_COUNT_MAX)
			c = MSG_SHARE_COUNT_MAX;
		i = n < max ? n++ : n - 1;
		for (; i > 0 && e[i - 1].count < c; i--)
			e[i] = e[i - 1];
		e[i].family = s->key.family == AF_INET ? 4 : 6;
		memcpy(e[i].addr, s->key.addr, 16);
		e[i].count = (uint32_t)c;
	}
	return (n);
}

void
fair_others(const struct msg_share *e, size_t n)
{
	struct fair_src	*s;
	struct fair_key	 k;
	size_t		 i;

	if (fair_hash == NULL)
		return;
	if (n > MSG_SHARES_MAX)
		n = MSG_SHARES_MAX;
	memcpy(fair_oth, e, n * sizeof(*e));
	fair_noth = n;
	TAILQ_FOREACH(s, &fair_all, all)
		s->others = 0;
	/* Kept in fair_oth too: a source gone here and back meanwhile
	 * gets its count again (fair_src_get). */
	for (i = 0; i < n; i++) {
		memset(&k, 0, sizeof(k));
		k.family = e[i].family == 4 ? AF_INET : AF_INET6;
		memcpy(k.addr, e[i].addr, 16);
		if ((s = fair_src_find(&k)) != NULL)
			s->others = e[i].count;
	}
}

void
fair_source_format(const struct sockaddr *sa, char *buf, size_t len)
{
	struct fair_key	 k;
	char		 a[INET6_ADDRSTRLEN];

	fair_key_of(sa, &k);
	if (inet_ntop(k.family, k.addr, a, sizeof(a)) == NULL)
		snprintf(a, sizeof(a), "?");
	snprintf(buf, len, "%s/%u", a, k.family == AF_INET ? fair_cf.prefix4 :
	    fair_cf.prefix6);
}

size_t
fair_source_slots(const struct sockaddr *sa)
{
	struct fair_src	*s = fair_hash ? fair_src_get(sa, 0) : NULL;

	return (s != NULL ? s->nslots : 0);
}

size_t
fair_source_handshakes(const struct sockaddr *sa)
{
	struct fair_src	*s = fair_hash ? fair_src_get(sa, 0) : NULL;

	return (s != NULL ? s->nhs : 0);
}

size_t
fair_sources(void)
{
	return (fair_nsrc);
}

size_t
fair_waiting(void)
{
	return (fair_nroom);
}

size_t
fair_free(void)
{
	return (fair_nslots < fair_cf.max_slots ?
	    fair_cf.max_slots - fair_nslots : 0);
}

size_t
fair_room_size(void)
{
	return (fair_roomcap);
}
