/* check_keyid.c: unit tests of lib/keyid.c (parse, format, the empty-key ID). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "keyid.h"

#define EMPTY_HEX \
	"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
#define SAMPLE_HEX \
	"0123456789ABCDEFFEDCBA98765432100011223344556677F00DFACEC0FFEE01"

static const uint8_t sample[KEYID_LEN] = {
	0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
	0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
	0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
	0xf0, 0x0d, 0xfa, 0xce, 0xc0, 0xff, 0xee, 0x01,
};

/* Spellings of SAMPLE_HEX that must all parse to sample. */
static const char *const good[] = {
	SAMPLE_HEX,
	"0123456789abcdeffedcba98765432100011223344556677f00dfacec0ffee01",
	"0123456789aBcDeFfEdCbA98765432100011223344556677F00dFaCeC0FfEe01",
	"01234567 89ABCDEF FEDCBA98 76543210 00112233 44556677 F00DFACE C0FFEE01",
	"  0123456789ABCDEFFEDCBA98765432100011223344556677F00DFACEC0FFEE01  ",
	"0 1 2 3 4 5 6 7 8 9 A B C D E F F E D C B A 9 8 7 6 5 4 3 2 1 0 "
	    "0 0 1 1 2 2 3 3 4 4 5 5 6 6 7 7 F 0 0 D F A C E C 0 F F E E 0 1",
	"0123456789ABCDEF\tFEDCBA9876543210\n0011223344556677\r\nF00DFACEC0FFEE01",
};

static const struct {
	const char	*in;
	const char	*why;
} bad[] = {
	{ "", "fewer" },
	{ "     ", "fewer" },
	/* 63 digits */
	{ "0123456789ABCDEFFEDCBA98765432100011223344556677F00DFACEC0FFEE0", "fewer" },
	/* 65 digits */
	{ "0123456789ABCDEFFEDCBA98765432100011223344556677F00DFACEC0FFEE012", "more" },
	/* 128 digits */
	{ SAMPLE_HEX SAMPLE_HEX, "more" },
	/* non-hex in the middle, at the end, at the start */
	{ "0123456789ABCDEFFEDCBA98765432100011223344556677F00DFACEC0FFEG01", "hex digit" },
	{ "0123456789ABCDEFFEDCBA98765432100011223344556677F00DFACEC0FFEE01x", "hex digit" },
	{ "x0123456789ABCDEFFEDCBA98765432100011223344556677F00DFACEC0FFEE01", "hex digit" },
	{ "0x0123456789ABCDEFFEDCBA98765432100011223344556677F00DFACEC0FFEE0", "hex digit" },
	{ "01234567:89ABCDEF:FEDCBA98:76543210:00112233:44556677:F00DFACE:C0FFEE01", "hex digit" },
	{ "01234567-89ABCDEF-FEDCBA98-76543210-00112233-44556677-F00DFACE-C0FFEE01", "hex digit" },
	{ "0123456789ABCDEFFEDCBA98765432100011223344556677F00DFACEC0FFEE0\xc3\xa9", "hex digit" },
};

START_TEST(test_parse_good)
{
	uint8_t		 id[KEYID_LEN];
	const char	*why = NULL;

	memset(id, 0xaa, sizeof(id));
	ck_assert_msg(keyid_parse(good[_i], id, &why) == 0, "\"%s\": %s",
	    good[_i], why ? why : "(null)");
	ck_assert_mem_eq(id, sample, KEYID_LEN);
}
END_TEST

START_TEST(test_parse_bad)
{
	uint8_t		 id[KEYID_LEN];
	const char	*why = NULL;

	ck_assert_msg(keyid_parse(bad[_i].in, id, &why) == -1,
	    "\"%s\" accepted", bad[_i].in);
	ck_assert_ptr_nonnull(why);
	ck_assert_msg(strstr(why, bad[_i].why) != NULL,
	    "\"%s\": errstr \"%s\" lacks \"%s\"", bad[_i].in, why, bad[_i].why);
}
END_TEST

START_TEST(test_format)
{
	char	 buf[KEYID_HEXLEN + 2];

	memset(buf, 'X', sizeof(buf));
	keyid_format(sample, buf);
	ck_assert_str_eq(buf, SAMPLE_HEX);
	ck_assert_int_eq(buf[KEYID_HEXLEN + 1], 'X');	/* exactly 65 bytes written */
}
END_TEST

/* Every byte value survives format -> parse, in every position. */
START_TEST(test_round_trip)
{
	uint8_t		 id[KEYID_LEN], back[KEYID_LEN];
	char		 buf[KEYID_HEXLEN + 1];
	const char	*why;
	unsigned	 v, i;

	for (v = 0; v < 256; v++) {
		for (i = 0; i < KEYID_LEN; i++)
			id[i] = (uint8_t)(v + i * 37);
		keyid_format(id, buf);
		ck_assert_uint_eq(strlen(buf), KEYID_HEXLEN);
		ck_assert_int_eq(keyid_parse(buf, back, &why), 0);
		ck_assert_mem_eq(id, back, KEYID_LEN);
	}
}
END_TEST

START_TEST(test_empty_key)
{
	uint8_t		 id[KEYID_LEN];
	const char	*why;
	unsigned	 i;

	/* The README spelling: groups of eight, upper case. */
	ck_assert_int_eq(keyid_parse("E3B0C442 98FC1C14 9AFBF4C8 996FB924 "
	    "27AE41E4 649B934C A495991B 7852B855", id, &why), 0);
	ck_assert(keyid_is_empty_key(id));
	ck_assert_int_eq(keyid_parse(EMPTY_HEX, id, &why), 0);
	ck_assert(keyid_is_empty_key(id));
	ck_assert_int_eq(keyid_parse("e3b0c44298fc1c149afbf4c8996fb92427ae41e4"
	    "649b934ca495991b7852b855", id, &why), 0);
	ck_assert(keyid_is_empty_key(id));

	/* Any single bit off is a real key. */
	for (i = 0; i < KEYID_LEN * 8; i++) {
		id[i / 8] ^= (uint8_t)(1u << (i % 8));
		ck_assert_msg(!keyid_is_empty_key(id), "bit %u", i);
		id[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	ck_assert(keyid_is_empty_key(id));
	ck_assert(!keyid_is_empty_key(sample));
	memset(id, 0, sizeof(id));
	ck_assert(!keyid_is_empty_key(id));
}
END_TEST

static Suite *
keyid_suite(void)
{
	Suite	*s = suite_create("keyid");
	TCase	*tc = tcase_create("keyid");

	tcase_add_loop_test(tc, test_parse_good, 0, sizeof(good) / sizeof(good[0]));
	tcase_add_loop_test(tc, test_parse_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_format);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_empty_key);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr = srunner_create(keyid_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
