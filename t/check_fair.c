/* check_fair.c: the share arithmetic of fair.c, driven by hand (no loop, no sockets). */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "fair.h"
#include "msg.h"

#define CAP	4

static struct fair_config cf;
static void	*granted[16];
static size_t	 ngranted;

static void
grant(void *owner)
{
	granted[ngranted++] = owner;
}

static void
setup(void)
{
	memset(&cf, 0, sizeof(cf));
	cf.enabled = 1;
	cf.prefix4 = 32;
	cf.prefix6 = 64;
	cf.max_slots = CAP;
	cf.max_handshakes = 4;
	cf.stale_ms = 1000;
	ngranted = 0;
	fair_init(NULL, &cf, grant);
}

static void
teardown(void)
{
	fair_shutdown();
}

/* A socket address from text: "10.0.0.1" or "2001:db8::1". */
static struct sockaddr *
addr(const char *s)
{
	static struct sockaddr_storage	 ss[8];
	static int			 i;
	struct sockaddr_storage		*p = &ss[i++ % 8];

	memset(p, 0, sizeof(*p));
	if (strchr(s, ':') != NULL) {
		((struct sockaddr_in6 *)p)->sin6_family = AF_INET6;
		ck_assert_int_eq(inet_pton(AF_INET6, s,
		    &((struct sockaddr_in6 *)p)->sin6_addr), 1);
	} else {
		((struct sockaddr_in *)p)->sin_family = AF_INET;
		ck_assert_int_eq(inet_pton(AF_INET, s,
		    &((struct sockaddr_in *)p)->sin_addr), 1);
	}
	return ((struct sockaddr *)p);
}

#define SALEN	((socklen_t)sizeof(struct sockaddr_in6))

/* Admit from a, taking the slot as owner; returns the verdict. */
static enum fair_verdict
arrive(const char *a, void *owner, uint64_t now, struct fair_slot **slot,
    void **victim)
{
	enum fair_verdict v = fair_admit(addr(a), SALEN, -1, now, victim);

	if (v == FAIR_ADMIT || v == FAIR_EVICT)
		*slot = fair_take(addr(a), owner, now);
	return (v);
}

START_TEST(test_lone_source_gets_all)
{
	struct fair_slot *sl[CAP];
	int		 own[CAP + 1];
	void		*victim;
	size_t		 i;

	for (i = 0; i < CAP; i++)
		ck_assert_int_eq(arrive("10.0.0.1", &own[i], 0, &sl[i], &victim),
		    FAIR_ADMIT);
	ck_assert_uint_eq(fair_source_slots(addr("10.0.0.1")), CAP);
	/* At the cap, alone: it waits (as in the backlog), it is not refused. */
	ck_assert_int_eq(fair_admit(addr("10.0.0.1"), SALEN, -1, 10, &victim),
	    FAIR_QUEUED);
	ck_assert_uint_eq(fair_counted[FAIR_R_SOURCE_SHARE], 0);
	/* With the room full of its own, the listener stops looking: the
	 * kernel's backlog holds the rest, nothing is refused. */
	ck_assert_int_eq(fair_accepting(), 1);
	for (i = 1; i < FAIR_ROOM; i++)
		ck_assert_int_eq(fair_admit(addr("10.0.0.1"), SALEN, -1, 10,
		    &victim), FAIR_QUEUED);
	ck_assert_int_eq(fair_accepting(), 0);
	ck_assert_uint_eq(fair_counted[FAIR_R_SOURCE_SHARE], 0);
	/* Its handshakes are not held back either. */
	for (i = 0; i < CAP; i++)
		ck_assert_int_eq(fair_hs_begin(sl[i]), 1);
	fair_release(sl[0]);
	{
		struct sockaddr_storage	 ss;
		socklen_t		 len;
		int			 fd;

		ck_assert_int_eq(fair_next(20, &fd, &ss, &len, &victim), 1);
		ck_assert_ptr_null(victim);
	}
	ck_assert_int_eq(fair_accepting(), 1);	/* a place again */
	fair_room_close();
	for (i = 1; i < CAP; i++)
		fair_release(sl[i]);
	ck_assert_uint_eq(fair_sources(), 0);
}
END_TEST

START_TEST(test_two_sources_split)
{
	struct fair_slot *a[CAP], *b[CAP];
	int		 oa[CAP], ob[CAP];
	void		*victim;
	size_t		 i;

	for (i = 0; i < CAP; i++)
		ck_assert_int_eq(arrive("10.0.0.1", &oa[i], 0, &a[i], &victim),
		    FAIR_ADMIT);
	fair_stage(a[3], FAIR_ST_HANDSHAKE);	/* busier than a[1], a[2] */
	fair_stage(a[0], FAIR_ST_HANDSHAKE);
	/* A new source under its share (CAP/2) takes a slot from the busy one:
	 * the oldest connection still silent before its version line. */
	ck_assert_int_eq(fair_admit(addr("10.0.0.2"), SALEN, -1, 5, &victim),
	    FAIR_EVICT);
	ck_assert_ptr_eq(victim, &oa[1]);
	fair_release(a[1]);
	b[0] = fair_take(addr("10.0.0.2"), &ob[0], 5);
	ck_assert_int_eq(fair_admit(addr("10.0.0.2"), SALEN, -1, 6, &victim),
	    FAIR_EVICT);
	ck_assert_ptr_eq(victim, &oa[2]);
	fair_release(a[2]);
	b[1] = fair_take(addr("10.0.0.2"), &ob[1], 6);
	ck_assert_uint_eq(fair_source_slots(addr("10.0.0.1")), 2);
	ck_assert_uint_eq(fair_source_slots(addr("10.0.0.2")), 2);
	/* Both at their share: the next ones wait, up to a full room ... */
	for (i = 0; i < FAIR_ROOM; i++)
		ck_assert_int_eq(fair_admit(addr("10.0.0.2"), SALEN, -1, 7,
		    &victim), FAIR_QUEUED);
	ck_assert_uint_eq(fair_counted[FAIR_R_SOURCE_SHARE], 0);
	/* ... then the source with most waiters gives way: another source's
	 * newcomer takes the place of its newest waiter ... */
	ck_assert_int_eq(fair_admit(addr("10.0.0.1"), SALEN, -1, 8, &victim),
	    FAIR_QUEUED);
	ck_assert_uint_eq(fair_counted[FAIR_R_SOURCE_SHARE], 1);
	/* ... and its own newcomers are refused at once. */
	ck_assert_int_eq(fair_admit(addr("10.0.0.2"), SALEN, -1, 8, &victim),
	    FAIR_REFUSE);
	ck_assert_uint_eq(fair_counted[FAIR_R_SOURCE_SHARE], 2);
	ck_assert_int_eq(fair_waiting(), FAIR_ROOM);
	/* A third source gets in: share 4/3 = 1, the sources at 2 give way. */
	ck_assert_int_eq(fair_admit(addr("10.0.0.3"), SALEN, -1, 9, &victim),
	    FAIR_EVICT);
	ck_assert_ptr_nonnull(victim);
	fair_room_close();
	fair_release(a[0]);
	fair_release(a[3]);
	fair_release(b[0]);
	fair_release(b[1]);
}
END_TEST

START_TEST(test_never_evict_late)
{
	struct fair_slot *a[CAP];
	int		 oa[CAP];
	void		*victim;
	size_t		 i;

	for (i = 0; i < CAP; i++) {
		ck_assert_int_eq(arrive("10.0.0.1", &oa[i], 0, &a[i], &victim),
		    FAIR_ADMIT);
		fair_stage(a[i], FAIR_ST_LATE);		/* all sending secrets */
	}
	ck_assert_int_eq(fair_admit(addr("10.0.0.2"), SALEN, -1, 5, &victim),
	    FAIR_QUEUED);
	fair_room_close();
	for (i = 0; i < CAP; i++)
		fair_release(a[i]);
}
END_TEST

START_TEST(test_stale_replaced)
{
	struct fair_slot *a[CAP];
	int		 oa[CAP];
	void		*victim;
	struct sockaddr_storage ss;
	socklen_t	 len;
	int		 fd;
	size_t		 i;

	for (i = 0; i < CAP; i++)
		ck_assert_int_eq(arrive("10.0.0.1", &oa[i], i, &a[i], &victim),
		    FAIR_ADMIT);
	/* Lone and silent: the newcomer waits, then replaces the oldest. */
	ck_assert_int_eq(fair_admit(addr("10.0.0.1"), SALEN, 7, 100, &victim),
	    FAIR_QUEUED);
	ck_assert_int_eq(fair_next(500, &fd, &ss, &len, &victim), 0);
	ck_assert_uint_eq(fair_next_stale_ms(500), 500);
	ck_assert_int_eq(fair_next(1000, &fd, &ss, &len, &victim), 1);
	ck_assert_int_eq(fd, 7);
	ck_assert_ptr_eq(victim, &oa[0]);
	for (i = 0; i < CAP; i++)
		fair_release(a[i]);
}
END_TEST

START_TEST(test_ipv6_prefix)
{
	char		 buf[64];

	struct fair_slot *x = fair_take(addr("2001:db8::1"), &buf[0], 0);
	struct fair_slot *y = fair_take(addr("2001:db8::ffff:2"), &buf[1], 0);
	struct fair_slot *z = fair_take(addr("2001:db8:0:1::1"), &buf[2], 0);
	struct fair_slot *m = fair_take(addr("::ffff:10.0.0.9"), &buf[3], 0);

	ck_assert_uint_eq(fair_source_slots(addr("2001:db8::77")), 2);
	ck_assert_uint_eq(fair_source_slots(addr("2001:db8:0:1::2")), 1);
	ck_assert_uint_eq(fair_source_slots(addr("10.0.0.9")), 1);	/* mapped */
	ck_assert_uint_eq(fair_sources(), 3);
	fair_source_format(addr("2001:db8::1"), buf, sizeof(buf));
	ck_assert_str_eq(buf, "2001:db8::/64");
	fair_release(x);
	fair_release(y);
	fair_release(z);
	fair_release(m);
	ck_assert_uint_eq(fair_sources(), 0);
}
END_TEST

START_TEST(test_prefix_options)
{
	char		 buf[64];
	struct fair_slot *x, *y, *z;

	fair_shutdown();
	cf.prefix4 = 24;
	cf.prefix6 = 48;
	fair_init(NULL, &cf, grant);
	x = fair_take(addr("10.0.0.1"), &buf[0], 0);
	y = fair_take(addr("10.0.0.200"), &buf[1], 0);
	z = fair_take(addr("2001:db8:0:5::1"), &buf[2], 0);
	ck_assert_uint_eq(fair_source_slots(addr("10.0.0.7")), 2);
	ck_assert_uint_eq(fair_source_slots(addr("10.0.1.1")), 0);
	ck_assert_uint_eq(fair_source_slots(addr("2001:db8:0:9::9")), 1);
	fair_source_format(addr("10.0.0.200"), buf, sizeof(buf));
	ck_assert_str_eq(buf, "10.0.0.0/24");
	fair_source_format(addr("2001:db8:0:5::1"), buf, sizeof(buf));
	ck_assert_str_eq(buf, "2001:db8::/48");
	fair_release(x);
	fair_release(y);
	fair_release(z);
}
END_TEST

START_TEST(test_handshake_round_robin)
{
	struct fair_slot *a[6], *b[3];
	int		 oa[6], ob[3];
	size_t		 i;

	fair_shutdown();
	cf.max_slots = 100;
	fair_init(NULL, &cf, grant);
	for (i = 0; i < 6; i++)
		a[i] = fair_take(addr("10.0.0.4"), &oa[i], 0);
	for (i = 0; i < 3; i++)
		b[i] = fair_take(addr("10.0.0.2"), &ob[i], 0);
	/* Alone, the hammering source may use every turn (4). */
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(fair_hs_begin(a[i]), 1);
	ck_assert_int_eq(fair_hs_begin(a[4]), 0);
	ck_assert_int_eq(fair_hs_begin(a[5]), 0);
	/* The honest source queues behind the full turns ... */
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(fair_hs_begin(b[i]), 0);
	/* ... and gets each freed turn until it holds its share (2), although
	 * the hammering source queued first; then they alternate. */
	fair_hs_end(a[0]);
	ck_assert_uint_eq(ngranted, 1);
	ck_assert_ptr_eq(granted[0], &ob[0]);
	fair_hs_end(a[1]);
	ck_assert_ptr_eq(granted[1], &ob[1]);
	fair_hs_end(a[2]);	/* b at its share, a under it now */
	ck_assert_ptr_eq(granted[2], &oa[4]);
	fair_hs_end(a[3]);	/* a runs 1, b 2: a is under its share */
	ck_assert_ptr_eq(granted[3], &oa[5]);
	ck_assert_uint_eq(fair_source_handshakes(addr("10.0.0.2")), 2);
	for (i = 0; i < 6; i++)
		fair_release(a[i]);	/* a[4]'s turn goes to b's last */
	ck_assert_uint_eq(ngranted, 5);
	ck_assert_ptr_eq(granted[4], &ob[2]);
	for (i = 0; i < 3; i++)
		fair_release(b[i]);
	ck_assert_uint_eq(fair_sources(), 0);
}
END_TEST

/* With several workers a source may be over cap / A in one of them and
 * still hold far fewer than the flooder there: it takes slots from the
 * biggest source until the two are level (max-min), not only while under
 * cap / A. Two equal sources do not take from each other. */
START_TEST(test_maxmin_across_workers)
{
	struct fair_slot *a[12], *b[12], *c;
	int		 oa[12], ob[12], oc;
	void		*victim;
	size_t		 i, na = 8, nb = 3;

	fair_shutdown();
	cf.max_slots = 12;
	fair_init(NULL, &cf, grant);
	for (i = 0; i < na; i++)
		a[i] = fair_take(addr("10.0.0.3"), &oa[i], 0);
	for (i = 0; i < nb; i++)
		b[i] = fair_take(addr("10.0.0.2"), &ob[i], 0);
	c = fair_take(addr("10.0.0.4"), &oc, 0);
	/* Three sources: cap / A = 4. b holds 3, then 4, 5: over cap / A,
	 * yet still under a's count, so each newcomer of b takes a's slot. */
	while (fair_source_slots(addr("10.0.0.2")) + 1 <
	    fair_source_slots(addr("10.0.0.3"))) {
		ck_assert_int_eq(fair_admit(addr("10.0.0.2"), SALEN, -1, 5,
		    &victim), FAIR_EVICT);
		ck_assert_ptr_eq(victim, &oa[8 - na]);	/* a's oldest */
		fair_release(a[8 - na]);
		na--;
		b[nb] = fair_take(addr("10.0.0.2"), &ob[nb], 5);
		nb++;
	}
	ck_assert_uint_eq(nb, 5);
	ck_assert_uint_eq(na, 6);
	/* Nearly level (5 and 6): b's next one waits, a's is not evicted. */
	ck_assert_int_eq(fair_admit(addr("10.0.0.2"), SALEN, -1, 6, &victim),
	    FAIR_QUEUED);
	/* a's newcomer does not take from b either. */
	ck_assert_int_eq(fair_admit(addr("10.0.0.3"), SALEN, -1, 6, &victim),
	    FAIR_QUEUED);
	fair_room_close();
	for (i = 8 - na; i < 8; i++)
		fair_release(a[i]);
	for (i = 0; i < nb; i++)
		fair_release(b[i]);
	fair_release(c);
	ck_assert_uint_eq(fair_sources(), 0);
}
END_TEST

/* The room grows with the cap (a quarter), never under FAIR_ROOM, and
 * never past the descriptors the worker has for it (max_room). */
START_TEST(test_room_sized_with_cap)
{
	ck_assert_uint_eq(fair_room_size(), FAIR_ROOM);	/* CAP 4 */
	fair_shutdown();
	cf.max_slots = 500;
	fair_init(NULL, &cf, grant);
	ck_assert_uint_eq(fair_room_size(), 125);
	fair_shutdown();
	cf.max_room = 40;
	fair_init(NULL, &cf, grant);
	ck_assert_uint_eq(fair_room_size(), 40);
	fair_shutdown();
	cf.max_room = 1;
	fair_init(NULL, &cf, grant);
	ck_assert_uint_eq(fair_room_size(), FAIR_ROOM);
}
END_TEST

/* A full room: the source that weighs most (its waiters and its slots
 * silent past silent_ms) gives way, not the one with most waiters. b (the
 * flooder) holds 44 silent slots, a holds 20 busy ones (a burst that goes
 * through) and 10 waiters: under "most waiters" b's newcomer would push
 * out a's waiter; once b's slots are old it is refused (and a's newcomer
 * takes one of them). */
START_TEST(test_full_room_most_over_share)
{
	struct fair_slot *a[20], *b[44];
	int		 oa[20], ob[44];
	void		*victim;
	size_t		 i, room;

	fair_shutdown();
	cf.max_slots = 64;
	cf.max_room = 16;
	cf.silent_ms = 500;	/* from 500 on, b's slots are silent and old
				 * (and not stale, replaceable, before 1000) */
	fair_init(NULL, &cf, grant);
	room = fair_room_size();
	ck_assert_uint_eq(room, 16);
	for (i = 0; i < 20; i++) {	/* nothing to evict: all sending */
		a[i] = fair_take(addr("10.0.0.2"), &oa[i], 0);
		fair_stage(a[i], FAIR_ST_LATE);
	}
	for (i = 0; i < 44; i++)
		b[i] = fair_take(addr("10.0.0.3"), &ob[i], 0);
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(fair_admit(addr("10.0.0.2"), SALEN, -1, 2,
		    &victim), FAIR_QUEUED);
	for (i = 10; i < room; i++)
		ck_assert_int_eq(fair_admit(addr("10.0.0.3"), SALEN, -1, 2,
		    &victim), FAIR_QUEUED);
	ck_assert_int_eq(fair_waiting(), room);
	/* Young, b's slots weigh nothing yet: its waiters (6) against a's
	 * (10): b's newcomer takes the place of a's newest waiter. */
	ck_assert_int_eq(fair_admit(addr("10.0.0.3"), SALEN, -1, 2, &victim),
	    FAIR_QUEUED);
	ck_assert_uint_eq(fair_counted[FAIR_R_SOURCE_SHARE], 1);
	/* Old (silent past silent_ms): b weighs 44 + 7; its newcomer is
	 * refused, and a's newcomers take the places of b's waiters. */
	ck_assert_int_eq(fair_admit(addr("10.0.0.3"), SALEN, -1, 700, &victim),
	    FAIR_REFUSE);
	ck_assert_uint_eq(fair_counted[FAIR_R_SOURCE_SHARE], 2);
	/* And a's newcomer, under b by far, takes b's oldest silent slot. */
	ck_assert_int_eq(fair_admit(addr("10.0.0.2"), SALEN, -1, 700, &victim),
	    FAIR_EVICT);
	ck_assert_ptr_eq(victim, &ob[0]);
	fair_room_close();
	for (i = 0; i < 20; i++)
		fair_release(a[i]);
	for (i = 0; i < 44; i++)
		fair_release(b[i]);
	ck_assert_uint_eq(fair_sources(), 0);
}
END_TEST

/* A connection younger than grace_ms is not evicted for another source:
 * a burst bigger than the flooder in one worker keeps what it took, and
 * the newcomer waits instead. */
START_TEST(test_grace_protects_young)
{
	struct fair_slot *a[CAP];
	int		 oa[CAP];
	void		*victim;
	size_t		 i;

	fair_shutdown();
	cf.silent_ms = 10;
	cf.grace_ms = 100;
	fair_init(NULL, &cf, grant);
	for (i = 0; i < CAP; i++) {
		a[i] = fair_take(addr("10.0.0.2"), &oa[i], i < 2 ? 0 : 50);
		fair_stage(a[i], FAIR_ST_HANDSHAKE);	/* past the version line */
	}
	fair_stage(a[3], FAIR_ST_VERSION);	/* silent since 50 */
	ck_assert_int_eq(fair_admit(addr("10.0.0.4"), SALEN, -1, 55, &victim),
	    FAIR_QUEUED);
	fair_room_close();
	/* At 90 the silent one is past silent_ms, the others not past grace. */
	ck_assert_int_eq(fair_admit(addr("10.0.0.4"), SALEN, -1, 90, &victim),
	    FAIR_EVICT);
	ck_assert_ptr_eq(victim, &oa[3]);
	fair_stage(a[3], FAIR_ST_LATE);		/* as if it were gone */
	ck_assert_int_eq(fair_admit(addr("10.0.0.4"), SALEN, -1, 95, &victim),
	    FAIR_QUEUED);
	fair_room_close();
	/* At 120 the two oldest are past the grace: the oldest goes. */
	ck_assert_int_eq(fair_admit(addr("10.0.0.4"), SALEN, -1, 120, &victim),
	    FAIR_EVICT);
	ck_assert_ptr_eq(victim, &oa[0]);
	for (i = 0; i < CAP; i++)
		fair_release(a[i]);
}
END_TEST

/* A full room of an honest burst's waiters, level in slots with a holder of
 * silent ones: the holder weighs more (its old silent slots), so the
 * burst's newcomer takes one of its slots instead of being refused. */
START_TEST(test_full_room_takes_silent_slot)
{
	struct fair_slot *a[32], *b[32];
	int		 oa[32], ob[32];
	void		*victim;
	size_t		 i;

	fair_shutdown();
	cf.max_slots = 64;
	cf.max_room = 16;
	cf.silent_ms = 500;
	fair_init(NULL, &cf, grant);
	for (i = 0; i < 32; i++) {
		a[i] = fair_take(addr("10.0.0.2"), &oa[i], 0);
		fair_stage(a[i], FAIR_ST_LATE);		/* busy, going through */
		b[i] = fair_take(addr("10.0.0.3"), &ob[i], 0);	/* silent */
	}
	for (i = 0; i < fair_room_size(); i++)
		ck_assert_int_eq(fair_admit(addr("10.0.0.2"), SALEN, -1, 700,
		    &victim), FAIR_QUEUED);
	ck_assert_int_eq(fair_admit(addr("10.0.0.2"), SALEN, -1, 700, &victim),
	    FAIR_EVICT);
	ck_assert_ptr_eq(victim, &ob[0]);
	ck_assert_uint_eq(fair_counted[FAIR_R_SOURCE_SHARE], 0);
	fair_room_close();
	for (i = 0; i < 32; i++) {
		fair_release(a[i]);
		fair_release(b[i]);
	}
	ck_assert_uint_eq(fair_sources(), 0);
}
END_TEST

/* The source that gives way at a full room is the one that weighs most by
 * its real weight: a holder's young silent slots weigh nothing, so the
 * hammer with more waiters gives way (t/core/fair.sh's case). */
START_TEST(test_full_room_heaviest_by_real_weight)
{
	struct fair_slot *h[8];
	int		 oh[8];
	void		*victim;
	size_t		 i;

	fair_shutdown();
	cf.max_slots = 8;	/* room 16 */
	cf.silent_ms = cf.grace_ms = 1000;
	fair_init(NULL, &cf, grant);
	for (i = 0; i < 8; i++)
		h[i] = fair_take(addr("10.0.0.3"), &oh[i], 0);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(fair_admit(addr("10.0.0.3"), SALEN, -1, 600,
		    &victim), FAIR_QUEUED);
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(fair_admit(addr("10.0.0.4"), SALEN, -1, 600,
		    &victim), FAIR_QUEUED);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(fair_admit(addr("10.0.0.2"), SALEN, -1, 600,
		    &victim), FAIR_QUEUED);
	ck_assert_int_eq(fair_waiting(), 16);
	/* holder: 8 + 4 at most, 4 really; hammer 8; honest 4 + 1. */
	ck_assert_int_eq(fair_admit(addr("10.0.0.2"), SALEN, -1, 600, &victim),
	    FAIR_QUEUED);
	ck_assert_uint_eq(fair_counted[FAIR_R_SOURCE_SHARE], 1);
	ck_assert_uint_eq(fair_source_slots(addr("10.0.0.4")), 0);
	fair_room_close();
	for (i = 0; i < 8; i++)
		fair_release(h[i]);
	ck_assert_uint_eq(fair_sources(), 0);
}
END_TEST

START_TEST(test_disabled_admits_all)
{
	void		*victim;
	struct fair_slot *s[CAP + 2];
	int		 o[CAP + 2];
	size_t		 i;

	fair_shutdown();
	cf.enabled = 0;
	fair_init(NULL, &cf, grant);
	for (i = 0; i < CAP + 2; i++) {
		ck_assert_int_eq(arrive("10.0.0.1", &o[i], 0, &s[i], &victim),
		    FAIR_ADMIT);
		ck_assert_int_eq(fair_hs_begin(s[i]), 1);
	}
	for (i = 0; i < CAP + 2; i++)
		fair_release(s[i]);
}
END_TEST

/* A worker's busiest sources, for the authority: sorted, bounded, masked. */
START_TEST(test_report_busiest)
{
	struct fair_slot *a[3], *b[1], *c[2];
	struct msg_share e[2];
	int		 o[6];
	size_t		 i;

	for (i = 0; i < 3; i++)
		a[i] = fair_take(addr("10.0.0.2"), &o[i], 0);
	b[0] = fair_take(addr("10.0.0.3"), &o[3], 0);
	for (i = 0; i < 2; i++)
		c[i] = fair_take(addr("2001:db8::1"), &o[4 + i], 0);
	ck_assert_uint_eq(fair_report(e, 2), 2);
	ck_assert_uint_eq(e[0].family, 4);
	ck_assert_uint_eq(e[0].count, 3);
	ck_assert_uint_eq(e[0].addr[3], 2);
	ck_assert_uint_eq(e[1].family, 6);
	ck_assert_uint_eq(e[1].count, 2);
	ck_assert_uint_eq(e[1].addr[15], 0);	/* a /64 */
	for (i = 0; i < 3; i++)
		fair_release(a[i]);
	fair_release(b[0]);
	for (i = 0; i < 2; i++)
		fair_release(c[i]);
	ck_assert_uint_eq(fair_report(e, 2), 0);
}
END_TEST

/*
 * hostile.sh's lost secrets: an honest burst lands mostly on one worker,
 * its connections wait for handshake turns (young, not evictable) and fill
 * the room, while the hammer's, as many here, are young too. Alone, this
 * worker sees the burst as the heaviest: its newcomer is refused and the
 * hammer's newcomer closes the burst's waiter. Told that the hammer holds
 * 300 more in the other workers, the burst's newcomer takes one of the
 * hammer's slots (young: the hammer is bigger everywhere), and the
 * hammer's newcomer is refused instead.
 */
START_TEST(test_others_decide)
{
	struct fair_slot *h[24], *k[40];
	int		 oh[24], ok[40];
	struct msg_share e;
	void		*victim;
	size_t		 i;

	fair_shutdown();
	cf.max_slots = 64;
	cf.max_room = 16;
	cf.silent_ms = cf.grace_ms = 1000;
	fair_init(NULL, &cf, grant);
	for (i = 0; i < 24; i++) {
		h[i] = fair_take(addr("10.0.0.2"), &oh[i], 50);
		fair_stage(h[i], FAIR_ST_HSWAIT);
	}
	for (i = 0; i < 40; i++) {
		k[i] = fair_take(addr("10.0.0.4"), &ok[i], 50);
		fair_stage(k[i], i < 20 ? FAIR_ST_HANDSHAKE : FAIR_ST_HSWAIT);
	}
	for (i = 0; i < fair_room_size(); i++)
		ck_assert_int_eq(fair_admit(addr("10.0.0.2"), SALEN, -1, 100,
		    &victim), FAIR_QUEUED);
	/* This worker's view alone. */
	ck_assert_int_eq(fair_admit(addr("10.0.0.2"), SALEN, -1, 100, &victim),
	    FAIR_REFUSE);
	ck_assert_int_eq(fair_admit(addr("10.0.0.4"), SALEN, -1, 100, &victim),
	    FAIR_QUEUED);		/* in place of the burst's newest waiter */
	ck_assert_uint_eq(fair_counted[FAIR_R_SOURCE_SHARE], 2);
	/* The authority's sums: the hammer is big elsewhere too. */
	memset(&e, 0, sizeof(e));
	e.family = 4;
	e.addr[0] = 10;
	e.addr[3] = 4;
	e.count = 300;
	fair_others(&e, 1);
	ck_assert_int_eq(fair_admit(addr("10.0.0.2"), SALEN, -1, 100, &victim),
	    FAIR_EVICT);
	ck_assert_ptr_eq(victim, &ok[20]);	/* the oldest queued for a turn */
	fair_stage(k[20], FAIR_ST_LATE);	/* as if it were gone */
	ck_assert_int_eq(fair_admit(addr("10.0.0.4"), SALEN, -1, 100, &victim),
	    FAIR_REFUSE);
	ck_assert_uint_eq(fair_counted[FAIR_R_SOURCE_SHARE], 3);
	fair_room_close();
	for (i = 0; i < 24; i++)
		fair_release(h[i]);
	for (i = 0; i < 40; i++)
		fair_release(k[i]);
	ck_assert_uint_eq(fair_sources(), 0);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("fair");
	TCase	*tc = tcase_create("shares");
	SRunner	*sr;
	int	 failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_lone_source_gets_all);
	tcase_add_test(tc, test_two_sources_split);
	tcase_add_test(tc, test_never_evict_late);
	tcase_add_test(tc, test_stale_replaced);
	tcase_add_test(tc, test_ipv6_prefix);
	tcase_add_test(tc, test_prefix_options);
	tcase_add_test(tc, test_handshake_round_robin);
	tcase_add_test(tc, test_maxmin_across_workers);
	tcase_add_test(tc, test_room_sized_with_cap);
	tcase_add_test(tc, test_full_room_most_over_share);
	tcase_add_test(tc, test_grace_protects_young);
	tcase_add_test(tc, test_full_room_takes_silent_slot);
	tcase_add_test(tc, test_full_room_heaviest_by_real_weight);
	tcase_add_test(tc, test_disabled_admits_all);
	tcase_add_test(tc, test_report_busiest);
	tcase_add_test(tc, test_others_decide);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
