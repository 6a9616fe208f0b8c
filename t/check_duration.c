/* check_duration.c: unit tests of lib/duration.c (both notations, errors, round trip). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "duration.h"

#define S	1000ULL
#define M	(60 * S)
#define H	(60 * M)
#define D	(24 * H)
#define W	(7 * D)
#define MAXMS	(100ULL * 366 * D)	/* the module's documented ceiling */

static const struct {
	const char	*in;
	uint64_t	 ms;
} good[] = {
	/* RFC 3339 */
	{ "PT5M", 5 * M },
	{ "P1DT2H", D + 2 * H },
	{ "P1W", W },
	{ "PT0.5S", 500 },
	{ "PT0S", 0 },
	{ "PT0.250S", 250 },
	{ "PT1,5S", 1500 },
	{ "PT0.0019S", 1 },		/* beyond milliseconds: truncated */
	{ "P2D", 2 * D },
	{ "PT1H2M3S", H + 2 * M + 3 * S },
	{ "PT2H30S", 2 * H + 30 * S },
	{ "P1DT1M", D + M },
	{ "PT90M", 90 * M },		/* no carrying rules: 90 minutes is fine */
	{ "  PT5M", 5 * M },		/* leading space */
	{ "P36600D", MAXMS },		/* exactly the ceiling */
	/* the reference's notation */
	{ "5m 30s", 5 * M + 30 * S },
	{ "1w", W },
	{ "2d 3h", 2 * D + 3 * H },
	{ "10s", 10 * S },
	{ "0s", 0 },
	{ "1.5s", 1500 },
	{ "30s 5m", 5 * M + 30 * S },	/* any order, summed */
	{ "1m 1m", 2 * M },		/* repeats are summed */
	{ "  1h\t2m\n", H + 2 * M },	/* any whitespace */
	{ "36600d", MAXMS },
};

static const struct {
	const char	*in;
	const char	*why;		/* substring of errstr, or NULL for any */
} bad[] = {
	{ "", "empty" },
	{ "   ", "empty" },
	{ "P", "empty" },
	{ "PT", "after 'T'" },
	{ "P1DT", "after 'T'" },
	{ "5", "unit" },
	{ "5x", "unit" },
	{ "5 m", "unit" },
	{ "m", "number" },
	{ "P1Y", "years" },
	{ "P1M", "months" },
	{ "P1W1D", "weeks" },
	{ "P1WT1H", "weeks" },
	{ "P1DT1H1W", NULL },
	{ "P36600DT0.5S", "too long" },
	{ "36600d 0.999s", "too long" },
	{ "P1Y2M", "years" },
	{ "PT1H1H", NULL },		/* repeated unit */
	{ "PT1M1H", NULL },		/* wrong order */
	{ "PT1S1M", NULL },
	{ "P1D1W", NULL },
	{ "P1DT2HT3M", "'T'" },
	{ "PT1D", NULL },		/* days are not in the time part */
	{ "P1H", NULL },		/* hours need the T */
	{ "P1S", NULL },
	{ "P5", NULL },
	{ "P1.5D", NULL },		/* fractions only for seconds */
	{ "PT1.5M", NULL },
	{ "PT.5S", "number" },
	{ "PT1.S", "number" },
	{ "PT5Mx", NULL },		/* garbage after the unit */
	{ "PT5M5", NULL },
	{ "pt5m", NULL },		/* RFC 3339 designators are upper case */
	{ "1.5m", "fraction" },
	{ "5mx", "after unit" },
	{ "5m30s", "after unit" },
	{ "5m,", "after unit" },
	{ "5M", "unit" },		/* reference units are lower case */
	{ "-5s", "number" },
	{ "+5s", "number" },
	{ "99999999999999999999s", NULL },	/* overflows uint64_t */
	{ "18446744073709551616s", NULL },	/* 2^64 */
	{ "18446744073709551615s", NULL },	/* UINT64_MAX */
	{ "PT99999999999999999999S", NULL },
	{ "P99999999999999999999D", NULL },
	{ "36601d", "too long" },	/* past the ceiling */
	{ "36600d 1m", "too long" },	/* the sum passes the ceiling */
	{ "P36601D", "too long" },
	{ "P5229W", "too long" },	/* 36603 days */
	{ "5s x", "number" },
};

START_TEST(test_parse_good)
{
	uint64_t	 ms = 12345;
	const char	*why = NULL;

	ck_assert_msg(duration_parse(good[_i].in, &ms, &why) == 0,
	    "\"%s\" rejected: %s", good[_i].in, why ? why : "(null)");
	ck_assert_msg(ms == good[_i].ms, "\"%s\" gave %llu ms, want %llu",
	    good[_i].in, (unsigned long long)ms,
	    (unsigned long long)good[_i].ms);
}
END_TEST

START_TEST(test_parse_bad)
{
	uint64_t	 ms = 12345;
	const char	*why = NULL;

	ck_assert_msg(duration_parse(bad[_i].in, &ms, &why) == -1,
	    "\"%s\" accepted as %llu ms", bad[_i].in, (unsigned long long)ms);
	ck_assert_msg(why != NULL && *why != '\0', "\"%s\": no errstr",
	    bad[_i].in);
	if (bad[_i].why != NULL)
		ck_assert_msg(strstr(why, bad[_i].why) != NULL,
		    "\"%s\": errstr \"%s\" lacks \"%s\"", bad[_i].in, why,
		    bad[_i].why);
}
END_TEST

static const struct {
	uint64_t	 ms;
	const char	*out;
} fmt[] = {
	{ 0, "PT0S" },
	{ 5 * M, "PT5M" },
	{ D + 2 * H, "P1DT2H" },
	{ 250, "PT0.250S" },
	{ 1500, "PT1.500S" },
	{ 1, "PT0.001S" },
	{ W, "P7D" },
	{ D, "P1D" },
	{ H + 2 * M + 3 * S, "PT1H2M3S" },
	{ D + 1, "P1DT0.001S" },
	{ D + M, "P1DT1M" },
	{ 2 * H + 30 * S, "PT2H0M30S" },
	{ MAXMS, "P36600D" },
};

START_TEST(test_format)
{
	char	 buf[64];

	memset(buf, 'X', sizeof(buf));
	duration_format(fmt[_i].ms, buf, sizeof(buf));
	ck_assert_str_eq(buf, fmt[_i].out);
}
END_TEST

/* A short buffer is truncated, never overrun, and always terminated. */
START_TEST(test_format_short_buffer)
{
	char	 buf[16];
	size_t	 len;

	for (len = 1; len < 12; len++) {
		memset(buf, 'X', sizeof(buf));
		duration_format(D + H + M + S + 1, buf, len);	/* P1DT1H1M1.001S */
		ck_assert_msg(memchr(buf, '\0', len) != NULL,
		    "len %zu: not terminated", len);
		ck_assert_msg(strncmp("P1DT1H1M1.001S", buf, strlen(buf)) == 0,
		    "len %zu: \"%s\" is not a prefix", len, buf);
		ck_assert_msg(buf[len] == 'X', "len %zu: wrote past the end", len);
	}
	memset(buf, 'X', sizeof(buf));
	duration_format(5 * M, buf, 0);
	ck_assert_int_eq(buf[0], 'X');
}
END_TEST

/* format -> parse gives the same value, for chosen and pseudo-random values. */
static void
round_trip(uint64_t ms)
{
	char		 buf[64];
	uint64_t	 back = ~0ULL;
	const char	*why = NULL;

	duration_format(ms, buf, sizeof(buf));
	ck_assert_msg(duration_parse(buf, &back, &why) == 0,
	    "%llu -> \"%s\" rejected: %s", (unsigned long long)ms, buf, why);
	ck_assert_msg(back == ms, "%llu -> \"%s\" -> %llu",
	    (unsigned long long)ms, buf, (unsigned long long)back);
}

START_TEST(test_round_trip)
{
	static const uint64_t fixed[] = {
		0, 1, 999, 1000, 1001, 59999, M, H - 1, H, D - 1, D, D + 1,
		W, W + 1, 30 * D + 12 * H + 34 * M + 56 * S + 789, MAXMS - 1,
		MAXMS,
	};
	uint64_t	 x = 0x9e3779b97f4a7c15ULL;
	size_t		 i;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		round_trip(fixed[i]);
	for (i = 0; i < 20000; i++) {
		x ^= x << 13;			/* xorshift64 */
		x ^= x >> 7;
		x ^= x << 17;
		round_trip(x % (MAXMS + 1));
		round_trip(x % (2 * D));	/* dense in the everyday range */
	}
}
END_TEST

/* Reference notation and RFC 3339 agree. */
START_TEST(test_notations_agree)
{
	static const char *const pairs[][2] = {
		{ "PT5M30S", "5m 30s" },
		{ "P2DT3H", "2d 3h" },
		{ "P1W", "7d" },
		{ "PT0.5S", "0.5s" },
		{ "P1DT1H1M1S", "1s 1m 1h 1d" },
	};
	uint64_t	 a, b;
	const char	*why;
	size_t		 i;

	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		ck_assert_int_eq(duration_parse(pairs[i][0], &a, &why), 0);
		ck_assert_int_eq(duration_parse(pairs[i][1], &b, &why), 0);
		ck_assert_msg(a == b, "\"%s\" %llu != \"%s\" %llu", pairs[i][0],
		    (unsigned long long)a, pairs[i][1], (unsigned long long)b);
	}
}
END_TEST

static Suite *
duration_suite(void)
{
	Suite	*s = suite_create("duration");
	TCase	*tc;

	tc = tcase_create("parse");
	tcase_add_loop_test(tc, test_parse_good, 0, sizeof(good) / sizeof(good[0]));
	tcase_add_loop_test(tc, test_parse_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_notations_agree);
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_add_loop_test(tc, test_format, 0, sizeof(fmt) / sizeof(fmt[0]));
	tcase_add_test(tc, test_format_short_buffer);
	tcase_add_test(tc, test_round_trip);
	tcase_set_timeout(tc, 20);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(duration_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
