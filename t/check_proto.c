/* check_proto.c: unit tests of src/proto.c (the clear-text version line). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "proto.h"

/*
 * Lines as received, without the '\n'; len is explicit so that NUL bytes
 * count. The reference accepts a line when int(first token) <= 1.
 */
#define L(s)	{ s, sizeof(s) - 1 }
static const struct line {
	const char	*s;
	size_t		 len;
} accept[] = {
	L("1"),
	L("1\r"),			/* what the real client sends, minus '\n' */
	L("0"),
	L("-3"),
	L("+1"),
	L("001"),
	L("-0"),
	L(" 1 extra tokens"),
	L("\t1\tx"),
	L("1 2"),			/* only the first token counts */
	L("1 \0garbage"),		/* NUL after the first token */
	L("-99999999999999999999999999999999"),	/* Python ints are unbounded */
	L("00000000000000000000000000000001"),
	L("1\v"),
	L("1\f"),
}, reject[] = {
	L("2"),
	L("10"),
	L("11"),
	L("100"),
	L("+2"),
	L("1x"),
	L("1.0"),
	L("0x1"),
	L(""),
	L("   "),
	L("\r"),
	L("abc"),
	L("+"),
	L("-"),
	L("+-1"),
	L("- 1"),
	L("99999999999999999999999999999999"),	/* no wrap-around to small */
	L("18446744073709551617"),		/* 2^64 + 1 */
	L("4294967297"),			/* 2^32 + 1 */
	L("1\0"),			/* NUL right after the digit */
	L("\0"),
	L("\0001"),
	L("1\0\r"),
	L(" \0 1"),
	L("\xef\xbc\x91"),		/* FULLWIDTH DIGIT ONE: not ASCII */
	L("2 1"),
};

START_TEST(test_accept)
{
	ck_assert_msg(proto_version_ok(accept[_i].s, accept[_i].len) == 0,
	    "accept[%d] rejected", _i);
}
END_TEST

START_TEST(test_reject)
{
	ck_assert_msg(proto_version_ok(reject[_i].s, reject[_i].len) == -1,
	    "reject[%d] accepted", _i);
}
END_TEST

/* len, not a NUL, bounds the line: nothing past len is read or judged. */
START_TEST(test_len_bounds)
{
	char	 buf[8];

	memcpy(buf, "12", 2);
	ck_assert_int_eq(proto_version_ok(buf, 1), 0);		/* "1" */
	ck_assert_int_eq(proto_version_ok(buf, 2), -1);		/* "12" */
	memcpy(buf, "1x", 2);
	ck_assert_int_eq(proto_version_ok(buf, 1), 0);
	ck_assert_int_eq(proto_version_ok(buf, 0), -1);
	memcpy(buf, " 0 ", 3);
	ck_assert_int_eq(proto_version_ok(buf, 2), 0);
	ck_assert_int_eq(proto_version_ok(buf, 1), -1);		/* " " */
	ck_assert_int_eq(proto_version_ok("", 0), -1);
}
END_TEST

/* The largest line the server reads: accepted or not by its first token only. */
START_TEST(test_long_line)
{
	char	 buf[PROTO_LINE_MAX];

	memset(buf, ' ', sizeof(buf));
	buf[0] = '1';
	ck_assert_int_eq(proto_version_ok(buf, sizeof(buf)), 0);
	memset(buf, '0', sizeof(buf));
	ck_assert_int_eq(proto_version_ok(buf, sizeof(buf)), 0);	/* 000...0 */
	buf[sizeof(buf) - 1] = '1';
	ck_assert_int_eq(proto_version_ok(buf, sizeof(buf)), 0);	/* 000...1 */
	buf[sizeof(buf) - 2] = '1';
	ck_assert_int_eq(proto_version_ok(buf, sizeof(buf)), -1);	/* 000...11 */
	memset(buf, ' ', sizeof(buf));
	ck_assert_int_eq(proto_version_ok(buf, sizeof(buf)), -1);
}
END_TEST

static Suite *
proto_suite(void)
{
	Suite	*s = suite_create("proto");
	TCase	*tc = tcase_create("version line");

	tcase_add_loop_test(tc, test_accept, 0, sizeof(accept) / sizeof(accept[0]));
	tcase_add_loop_test(tc, test_reject, 0, sizeof(reject) / sizeof(reject[0]));
	tcase_add_test(tc, test_len_bounds);
	tcase_add_test(tc, test_long_line);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(proto_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
