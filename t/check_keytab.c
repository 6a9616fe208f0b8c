/* check_keytab.c: unit tests of src/keytab.c (clients.json loading and lookup). */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <check.h>

#include "keyid.h"
#include "keytab.h"
#include "secmem.h"

#define KA	"0123456789ABCDEFFEDCBA98765432100011223344556677F00DFACEC0FFEE01"
#define KA_LOWER_SPACED \
	"01234567 89abcdef fedcba98 76543210 00112233 44556677 f00dface c0ffee01"
#define KB	"1111111111111111111111111111111111111111111111111111111111111111"
#define KC	"2222222222222222222222222222222222222222222222222222222222222222"
#define KEMPTY	"E3B0C442 98FC1C14 9AFBF4C8 996FB924 27AE41E4 649B934C A495991B 7852B855"
#define HELLO64	"aGVsbG8gd29ybGQ="		/* "hello world" */

#define MS_S	1000ULL
#define MS_M	(60 * MS_S)
#define MS_H	(60 * MS_M)
#define MS_D	(24 * MS_H)

/*
 * Each test works in its own directory under one base directory. main()
 * removes the base whatever happens: a failed test skips its teardown (the
 * forked child just exits), so per-test cleanup alone would leave litter.
 */
static char	 base[PATH_MAX];
static char	 tdir[PATH_MAX + 16];
static char	 table[PATH_MAX + 32];
static char	*err;
static struct keytab *kt;

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return (remove(path) == -1 ? -1 : 0);
}

/* Remove dir and everything in it. */
static void
rm_tree(const char *dir)
{
	if (dir[0] != '\0')
		nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void
setup(void)
{
	snprintf(tdir, sizeof(tdir), "%s/t.XXXXXX", base);
	ck_assert_msg(mkdtemp(tdir) != NULL, "mkdtemp %s: %s", tdir,
	    strerror(errno));
	snprintf(table, sizeof(table), "%s/clients.json", tdir);
	err = NULL;
	kt = NULL;
}

static void
teardown(void)
{
	keytab_free(kt);
	kt = NULL;
	free(err);
	err = NULL;
	rm_tree(tdir);
}

/* Write len bytes to name inside the temp directory; returns the full path. */
static const char *
put_file(const char *name, const void *data, size_t len)
{
	static char	 p[PATH_MAX + 300];
	FILE		*f;

	snprintf(p, sizeof(p), "%s/%s", tdir, name);
	ck_assert_msg((f = fopen(p, "wb")) != NULL, "%s: %s", p, strerror(errno));
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	return (p);
}

/* Write json as the table and load it. */
static struct keytab *
load(const char *json)
{
	put_file("clients.json", json, strlen(json));
	keytab_free(kt);
	free(err);
	err = NULL;
	return (kt = keytab_load(table, &err));
}

static struct keytab *
load_ok(const char *json)
{
	ck_assert_msg(load(json) != NULL, "rejected: %s", err ? err : "(null)");
	return (kt);
}

/*
 * The table must be refused, with an error naming the file and containing
 * every string of the NULL-terminated list (client, field, reason).
 */
static void
load_bad(const char *json, ...)
{
	va_list		 ap;
	const char	*want;

	ck_assert_msg(load(json) == NULL, "accepted: %s", json);
	ck_assert_msg(err != NULL, "no error string");
	ck_assert_msg(strstr(err, table) != NULL, "\"%s\" does not name %s",
	    err, table);
	va_start(ap, json);
	while ((want = va_arg(ap, const char *)) != NULL)
		ck_assert_msg(strstr(err, want) != NULL, "\"%s\" lacks \"%s\"",
		    err, want);
	va_end(ap);
}

static void
id_of(const char *hex, uint8_t id[KEYID_LEN])
{
	const char	*why;

	ck_assert_int_eq(keyid_parse(hex, id, &why), 0);
}

static const struct client *
find(const char *hex)
{
	uint8_t	 id[KEYID_LEN];

	id_of(hex, id);
	return (keytab_lookup(kt, id));
}

/* ---- good tables ---- */

START_TEST(test_builtin_defaults)
{
	const struct client *c;

	load_ok("{\"clients\": {\"a\": {\"key_id\": \"" KA "\", "
	    "\"secret\": \"" HELLO64 "\"}}}");
	ck_assert_uint_eq(keytab_count(kt), 1);
	c = find(KA);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_eq(c, keytab_client(kt, 0));
	ck_assert_str_eq(c->name, "a");
	ck_assert_uint_eq(c->secret_len, 11);
	ck_assert_mem_eq(c->secret, "hello world", 11);
	ck_assert_int_eq(c->enabled, 1);
	ck_assert_int_eq(c->approved_by_default, 1);
	ck_assert_uint_eq(c->timeout_ms, 5 * MS_M);
	ck_assert_uint_eq(c->interval_ms, 2 * MS_M);
	ck_assert_uint_eq(c->extended_timeout_ms, 15 * MS_M);
	ck_assert_uint_eq(c->approval_delay_ms, 0);
	ck_assert_uint_eq(c->approval_duration_ms, MS_S);
	ck_assert_str_eq(c->checker, "fping -q -- %{host}");
	ck_assert_ptr_null(c->host);
	ck_assert_ptr_null(find(KB));
}
END_TEST

START_TEST(test_defaults_overridden)
{
	const struct client *a, *b;

	load_ok("{\n"
	    "  \"defaults\": {\n"
	    "    \"timeout\": \"PT10M\", \"interval\": \"1m 30s\",\n"
	    "    \"extended_timeout\": \"P1DT2H\", \"approval_delay\": \"PT0.5S\",\n"
	    "    \"approval_duration\": \"2s\", \"enabled\": false,\n"
	    "    \"approved_by_default\": false, \"checker\": \"true\",\n"
	    "    \"host\": \"default.example\"\n"
	    "  },\n"
	    "  \"clients\": {\n"
	    "    \"a\": {\"key_id\": \"" KA "\", \"secret\": \"" HELLO64 "\"},\n"
	    "    \"b\": {\"key_id\": \"" KB "\", \"secret\": \"" HELLO64 "\",\n"
	    "      \"timeout\": \"1w\", \"interval\": \"PT1H\",\n"
	    "      \"extended_timeout\": \"2d 3h\", \"approval_delay\": \"10s\",\n"
	    "      \"approval_duration\": \"PT0S\", \"enabled\": true,\n"
	    "      \"approved_by_default\": true, \"checker\": \"ping -c1 %{host}\",\n"
	    "      \"host\": \"b.example\"}\n"
	    "  }\n"
	    "}\n");
	ck_assert_uint_eq(keytab_count(kt), 2);
	a = find(KA);
	b = find(KB);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);

	/* a takes every setting from "defaults" */
	ck_assert_str_eq(a->name, "a");
	ck_assert_uint_eq(a->timeout_ms, 10 * MS_M);
	ck_assert_uint_eq(a->interval_ms, 90 * MS_S);
	ck_assert_uint_eq(a->extended_timeout_ms, MS_D + 2 * MS_H);
	ck_assert_uint_eq(a->approval_delay_ms, 500);
	ck_assert_uint_eq(a->approval_duration_ms, 2 * MS_S);
	ck_assert_int_eq(a->enabled, 0);
	ck_assert_int_eq(a->approved_by_default, 0);
	ck_assert_str_eq(a->checker, "true");
	ck_assert_str_eq(a->host, "default.example");

	/* b overrides every one of them */
	ck_assert_str_eq(b->name, "b");
	ck_assert_uint_eq(b->timeout_ms, 7 * MS_D);
	ck_assert_uint_eq(b->interval_ms, MS_H);
	ck_assert_uint_eq(b->extended_timeout_ms, 2 * MS_D + 3 * MS_H);
	ck_assert_uint_eq(b->approval_delay_ms, 10 * MS_S);
	ck_assert_uint_eq(b->approval_duration_ms, 0);
	ck_assert_int_eq(b->enabled, 1);
	ck_assert_int_eq(b->approved_by_default, 1);
	ck_assert_str_eq(b->checker, "ping -c1 %{host}");
	ck_assert_str_eq(b->host, "b.example");
}
END_TEST

/* Partial defaults leave the other built-in values alone. */
START_TEST(test_partial_defaults)
{
	const struct client *c;

	load_ok("{\"defaults\": {\"timeout\": \"PT1M\"}, \"clients\": {"
	    "\"a\": {\"key_id\": \"" KA "\", \"secret\": \"" HELLO64 "\","
	    " \"interval\": \"5s\"}}}");
	c = find(KA);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->timeout_ms, MS_M);
	ck_assert_uint_eq(c->interval_ms, 5 * MS_S);
	ck_assert_uint_eq(c->extended_timeout_ms, 15 * MS_M);
	ck_assert_uint_eq(c->approval_duration_ms, MS_S);
	ck_assert_str_eq(c->checker, "fping -q -- %{host}");
	ck_assert_int_eq(c->enabled, 1);
}
END_TEST

START_TEST(test_secret_whitespace)
{
	const struct client *c;

	load_ok("{\"clients\": {\"a\": {\"key_id\": \"" KA "\", "
	    "\"secret\": \"  aGVs bG8g\\nd29y\\r\\n\\tbGQ= \\n\"}}}");
	c = find(KA);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->secret_len, 11);
	ck_assert_mem_eq(c->secret, "hello world", 11);
}
END_TEST

/* A secret with every byte value, including NUL, arrives intact. */
START_TEST(test_secret_binary)
{
	static const char b64[] =
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v"
	    "MDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5f"
	    "YGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6P"
	    "kJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5uru8vb6/"
	    "wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v"
	    "8PHy8/T19vf4+fr7/P3+/w==";
	char		 json[1024];
	uint8_t		 want[256];
	const struct client *c;
	int		 i;

	for (i = 0; i < 256; i++)
		want[i] = (uint8_t)i;
	snprintf(json, sizeof(json), "{\"clients\": {\"a\": {\"key_id\": \""
	    KA "\", \"secret\": \"%s\"}}}", b64);
	load_ok(json);
	c = find(KA);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->secret_len, 256);
	ck_assert_mem_eq(c->secret, want, 256);
}
END_TEST

START_TEST(test_secfile_relative)
{
	static const uint8_t blob[] = { 0x85, 0x01, 0x0c, 0x00, 0xff, 'x', 0 };
	char		 cwd[PATH_MAX];
	const struct client *c;

	put_file("a.gpg", blob, sizeof(blob));
	/* Relative to the table's directory, not to the working directory. */
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(chdir("/"), 0);
	load("{\"clients\": {\"a\": {\"key_id\": \"" KA "\", "
	    "\"secfile\": \"a.gpg\"}}}");
	ck_assert_int_eq(chdir(cwd), 0);
	ck_assert_msg(kt != NULL, "rejected: %s", err);
	c = find(KA);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->secret_len, sizeof(blob));
	ck_assert_mem_eq(c->secret, blob, sizeof(blob));
}
END_TEST

/* A table given by a bare file name: its directory is ".". */
START_TEST(test_secfile_bare_table_name)
{
	char		 cwd[PATH_MAX];
	const struct client *c;

	put_file("a.gpg", "SECRET", 6);
	put_file("clients.json", "{\"clients\": {\"a\": {\"key_id\": \"" KA
	    "\", \"secfile\": \"a.gpg\"}}}", strlen("{\"clients\": {\"a\": "
	    "{\"key_id\": \"" KA "\", \"secfile\": \"a.gpg\"}}}"));
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(chdir(tdir), 0);
	kt = keytab_load("clients.json", &err);
	ck_assert_int_eq(chdir(cwd), 0);
	ck_assert_msg(kt != NULL, "rejected: %s", err);
	c = find(KA);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->secret_len, 6);
	ck_assert_mem_eq(c->secret, "SECRET", 6);
}
END_TEST

START_TEST(test_secfile_absolute)
{
	char		 json[PATH_MAX + 256];
	const char	*p;
	const struct client *c;

	p = put_file("abs.gpg", "ABSOLUTE", 8);
	snprintf(json, sizeof(json), "{\"clients\": {\"a\": {\"key_id\": \""
	    KA "\", \"secfile\": \"%s\"}}}", p);
	load_ok(json);
	c = find(KA);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->secret_len, 8);
	ck_assert_mem_eq(c->secret, "ABSOLUTE", 8);
}
END_TEST

START_TEST(test_keyid_spellings)
{
	const struct client *c;
	uint8_t		 id[KEYID_LEN];

	load_ok("{\"clients\": {"
	    "\"a\": {\"key_id\": \"" KA_LOWER_SPACED "\", \"secret\": \"" HELLO64 "\"},"
	    "\"b\": {\"key_id\": \" 11111111\\t11111111 1111111111111111"
	    "11111111111111111111111111111111 \", \"secret\": \"" HELLO64 "\"}}}");
	c = find(KA);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->name, "a");
	c = find(KB);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(c->name, "b");
	/* the stored binary ID is the parsed one */
	id_of(KA, id);
	ck_assert_mem_eq(find(KA)->keyid, id, KEYID_LEN);
	ck_assert_ptr_null(find(KC));
	id_of(KEMPTY, id);
	ck_assert_ptr_null(keytab_lookup(kt, id));
}
END_TEST

/* keytab_client walks the clients in file order (not name or hash order). */
START_TEST(test_file_order)
{
	load_ok("{\"clients\": {"
	    "\"zulu\": {\"key_id\": \"" KC "\", \"secret\": \"" HELLO64 "\"},"
	    "\"alpha\": {\"key_id\": \"" KA "\", \"secret\": \"" HELLO64 "\"},"
	    "\"mike\": {\"key_id\": \"" KB "\", \"secret\": \"" HELLO64 "\"}}}");
	ck_assert_uint_eq(keytab_count(kt), 3);
	ck_assert_str_eq(keytab_client(kt, 0)->name, "zulu");
	ck_assert_str_eq(keytab_client(kt, 1)->name, "alpha");
	ck_assert_str_eq(keytab_client(kt, 2)->name, "mike");
	ck_assert_ptr_null(keytab_client(kt, 3));
	ck_assert_ptr_eq(find(KC), keytab_client(kt, 0));
	ck_assert_ptr_eq(find(KA), keytab_client(kt, 1));
	ck_assert_ptr_eq(find(KB), keytab_client(kt, 2));
}
END_TEST

START_TEST(test_no_clients)
{
	uint8_t	 id[KEYID_LEN];

	load_ok("{\"clients\": {}}");
	ck_assert_uint_eq(keytab_count(kt), 0);
	ck_assert_ptr_null(keytab_client(kt, 0));
	ck_assert_ptr_null(find(KA));
	memset(id, 0, sizeof(id));
	ck_assert_ptr_null(keytab_lookup(kt, id));
	/* and the NULL table (nothing loaded yet) */
	ck_assert_ptr_null(keytab_lookup(NULL, id));
	ck_assert_uint_eq(keytab_count(NULL), 0);
	keytab_free(NULL);
}
END_TEST

/* ---- bad tables: NULL, and an error naming file, client and field ---- */

#define CL(body)	"{\"clients\": {\"a\": {" body "}}}"
#define KEYSEC		"\"key_id\": \"" KA "\", \"secret\": \"" HELLO64 "\""

START_TEST(test_bad_json_syntax)
{
	int	 line = 0, col = 0;
	char	*p;

	load_bad("{\n  \"clients\": {\n    \"a\": {\"key_id\": ,}\n  }\n}\n", NULL);
	/* "<path>:<line>:<column>: ..." */
	p = err + strlen(table);
	ck_assert_msg(strncmp(err, table, strlen(table)) == 0 &&
	    sscanf(p, ":%d:%d:", &line, &col) == 2, "no line:column in \"%s\"", err);
	ck_assert_int_eq(line, 3);
	ck_assert_msg(col == 21, "column %d in \"%s\"", col, err);	/* the ',' */
}
END_TEST

START_TEST(test_bad_json_truncated)
{
	load_bad("{\"clients\": {\"a\": {" KEYSEC, NULL);
}
END_TEST

START_TEST(test_bad_json_empty_file)
{
	load_bad("", NULL);
}
END_TEST

START_TEST(test_missing_table)
{
	ck_assert_ptr_null(kt = keytab_load(table, &err));	/* never written */
	ck_assert_ptr_nonnull(err);
	ck_assert_msg(strstr(err, table) != NULL, "\"%s\"", err);
}
END_TEST

START_TEST(test_bad_top_level)
{
	load_bad("[]", "top level", NULL);
}
END_TEST

START_TEST(test_unknown_top_member)
{
	load_bad("{\"client\": {\"a\": {" KEYSEC "}}}", "\"client\"", NULL);
}
END_TEST

START_TEST(test_unknown_top_member_beside_clients)
{
	load_bad("{\"clients\": {\"a\": {" KEYSEC "}}, \"default\": {}}",
	    "\"default\"", NULL);
}
END_TEST

START_TEST(test_missing_clients)
{
	load_bad("{\"defaults\": {}}", "clients", NULL);
	load_bad("{}", "clients", NULL);
}
END_TEST

START_TEST(test_clients_not_object)
{
	load_bad("{\"clients\": [{" KEYSEC "}]}", "clients", NULL);
	load_bad("{\"clients\": null}", "clients", NULL);
}
END_TEST

START_TEST(test_defaults_not_object)
{
	load_bad("{\"defaults\": [], \"clients\": {}}", "defaults", NULL);
}
END_TEST

START_TEST(test_client_not_object)
{
	load_bad("{\"clients\": {\"a\": \"" KA "\"}}", "client \"a\"", "object",
	    NULL);
}
END_TEST

START_TEST(test_unknown_setting)
{
	load_bad(CL(KEYSEC ", \"timout\": \"PT5M\""), "client \"a\"",
	    "\"timout\"", NULL);
}
END_TEST

START_TEST(test_unknown_setting_in_defaults)
{
	load_bad("{\"defaults\": {\"intervall\": \"1m\"}, \"clients\": {}}",
	    "defaults", "\"intervall\"", NULL);
}
END_TEST

/* Per-client members make no sense as defaults. */
START_TEST(test_client_only_in_defaults)
{
	load_bad("{\"defaults\": {\"secret\": \"" HELLO64 "\"}, \"clients\": {}}",
	    "defaults", "\"secret\"", NULL);
	load_bad("{\"defaults\": {\"key_id\": \"" KA "\"}, \"clients\": {}}",
	    "defaults", "\"key_id\"", NULL);
	load_bad("{\"defaults\": {\"secfile\": \"x\"}, \"clients\": {}}",
	    "defaults", "\"secfile\"", NULL);
}
END_TEST

START_TEST(test_missing_key_id)
{
	load_bad(CL("\"secret\": \"" HELLO64 "\""), "client \"a\"", "key_id",
	    NULL);
}
END_TEST

START_TEST(test_key_id_wrong_type)
{
	load_bad(CL("\"key_id\": 12345, \"secret\": \"" HELLO64 "\""),
	    "client \"a\"", "key_id", NULL);
	load_bad(CL("\"key_id\": [\"" KA "\"], \"secret\": \"" HELLO64 "\""),
	    "client \"a\"", "key_id", NULL);
}
END_TEST

START_TEST(test_bad_key_id)
{
	/* 63 digits, 65 digits, a non-hex digit */
	load_bad(CL("\"key_id\": \"0123456789ABCDEFFEDCBA98765432100011223344556677"
	    "F00DFACEC0FFEE0\", \"secret\": \"" HELLO64 "\""),
	    "client \"a\"", "key_id", NULL);
	load_bad(CL("\"key_id\": \"" KA "0\", \"secret\": \"" HELLO64 "\""),
	    "client \"a\"", "key_id", NULL);
	load_bad(CL("\"key_id\": \"0123456789ABCDEFFEDCBA98765432100011223344556677"
	    "F00DFACEC0FFEEZZ\", \"secret\": \"" HELLO64 "\""),
	    "client \"a\"", "key_id", NULL);
	load_bad(CL("\"key_id\": \"\", \"secret\": \"" HELLO64 "\""),
	    "client \"a\"", "key_id", NULL);
}
END_TEST

START_TEST(test_empty_key_id)
{
	load_bad(CL("\"key_id\": \"" KEMPTY "\", \"secret\": \"" HELLO64 "\""),
	    "client \"a\"", "key_id", "empty key", NULL);
	load_bad(CL("\"key_id\": \"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934c"
	    "a495991b7852b855\", \"secret\": \"" HELLO64 "\""),
	    "client \"a\"", "key_id", "empty key", NULL);
}
END_TEST

START_TEST(test_secret_and_secfile)
{
	put_file("a.gpg", "x", 1);
	load_bad(CL(KEYSEC ", \"secfile\": \"a.gpg\""), "client \"a\"",
	    "secret", "secfile", NULL);
}
END_TEST

START_TEST(test_neither_secret_nor_secfile)
{
	load_bad(CL("\"key_id\": \"" KA "\""), "client \"a\"", "secret",
	    "secfile", NULL);
}
END_TEST

START_TEST(test_bad_base64)
{
	load_bad(CL("\"key_id\": \"" KA "\", \"secret\": \"!!!!\""),
	    "client \"a\"", "secret", "base64", NULL);
	load_bad(CL("\"key_id\": \"" KA "\", \"secret\": \"aGVsbG8gd29ybGQ\""),
	    "client \"a\"", "secret", "base64", NULL);	/* missing padding */
	load_bad(CL("\"key_id\": \"" KA "\", \"secret\": \"aGVs*bG8=\""),
	    "client \"a\"", "secret", "base64", NULL);
	load_bad(CL("\"key_id\": \"" KA "\", \"secret\": \"\""),
	    "client \"a\"", "secret", NULL);
	load_bad(CL("\"key_id\": \"" KA "\", \"secret\": \" \\n \""),
	    "client \"a\"", "secret", NULL);
}
END_TEST

/* The wiping decoder (secmem.c) against what RFC 4648 and python say. */
START_TEST(test_secmem_base64)
{
	static const struct { const char *in, *out; } good[] = {
		{ "aGVsbG8=", "hello" }, { "aGVsbA==", "hell" },
		{ "aGVs", "hel" }, { " aG\nVs\tbG8g\r\nd29y bGQ= ", "hello world" },
		{ "+/+/", "\xfb\xff\xbf" },
	};
	static const char *const bad[] = { "", " ", "aGVsbG8", "aGVsbA=",
	    "aGVsbA===", "aGVs=bG8=", "a===", "aGVsbG8=aGVs", "aGV*", "====" };
	uint8_t		*o;
	size_t		 i, n;
	const char	*why;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_int_eq(secmem_base64(good[i].in, strlen(good[i].in),
		    &o, &n, &why), 0);
		ck_assert_uint_eq(n, strlen(good[i].out));
		ck_assert(memcmp(o, good[i].out, n) == 0);
		free(o);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		ck_assert_msg(secmem_base64(bad[i], strlen(bad[i]), &o, &n,
		    &why) == -1, "accepted \"%s\"", bad[i]);
		ck_assert_ptr_nonnull(why);
	}
}
END_TEST

START_TEST(test_secret_wrong_type)
{
	load_bad(CL("\"key_id\": \"" KA "\", \"secret\": 42"), "client \"a\"",
	    "secret", "string", NULL);
	load_bad(CL("\"key_id\": \"" KA "\", \"secret\": null"), "client \"a\"",
	    "secret", NULL);
	load_bad(CL("\"key_id\": \"" KA "\", \"secfile\": 42"), "client \"a\"",
	    "secfile", "string", NULL);
}
END_TEST

START_TEST(test_secret_too_large)
{
	size_t	 n = (1024 * 1024 / 3 + 2) * 4;	/* decodes to just over 1 MiB */
	size_t	 pre, i;
	char	*json;
	static const char head[] = "{\"clients\": {\"a\": {\"key_id\": \"" KA
	    "\", \"secret\": \"";

	pre = strlen(head);
	json = malloc(pre + n + 16);
	ck_assert_ptr_nonnull(json);
	memcpy(json, head, pre);
	for (i = 0; i < n; i++)
		json[pre + i] = 'A';
	strcpy(json + pre + n, "\"}}}");
	load_bad(json, "client \"a\"", "secret", "1 MiB", NULL);
	free(json);
}
END_TEST

START_TEST(test_bad_duration)
{
	load_bad(CL(KEYSEC ", \"timeout\": \"5x\""), "client \"a\"", "timeout",
	    "5x", NULL);
	load_bad(CL(KEYSEC ", \"interval\": \"P1M\""), "client \"a\"",
	    "interval", "P1M", NULL);
	load_bad(CL(KEYSEC ", \"extended_timeout\": \"PT1H1H\""), "client \"a\"",
	    "extended_timeout", NULL);
	load_bad(CL(KEYSEC ", \"approval_delay\": \"\""), "client \"a\"",
	    "approval_delay", NULL);
	load_bad(CL(KEYSEC ", \"approval_duration\": \"99999999999999999999s\""),
	    "client \"a\"", "approval_duration", NULL);
	load_bad("{\"defaults\": {\"interval\": \"2 minutes\"}, \"clients\": {}}",
	    "defaults", "interval", "2 minutes", NULL);
}
END_TEST

START_TEST(test_wrong_types)
{
	load_bad(CL(KEYSEC ", \"timeout\": 300"), "client \"a\"", "timeout",
	    "duration", NULL);
	load_bad(CL(KEYSEC ", \"interval\": null"), "client \"a\"", "interval",
	    NULL);
	load_bad(CL(KEYSEC ", \"enabled\": \"yes\""), "client \"a\"", "enabled",
	    NULL);
	load_bad(CL(KEYSEC ", \"enabled\": 1"), "client \"a\"", "enabled", NULL);
	load_bad(CL(KEYSEC ", \"approved_by_default\": 0"), "client \"a\"",
	    "approved_by_default", NULL);
	load_bad(CL(KEYSEC ", \"checker\": 5"), "client \"a\"", "checker", NULL);
	load_bad(CL(KEYSEC ", \"checker\": false"), "client \"a\"", "checker",
	    NULL);
	load_bad(CL(KEYSEC ", \"host\": [\"a.example\"]"), "client \"a\"", "host",
	    NULL);
	load_bad("{\"defaults\": {\"enabled\": \"no\"}, \"clients\": {}}",
	    "defaults", "enabled", NULL);
}
END_TEST

START_TEST(test_duplicate_names)
{
	load_bad("{\"clients\": {\n"
	    "\"a\": {\"key_id\": \"" KA "\", \"secret\": \"" HELLO64 "\"},\n"
	    "\"a\": {\"key_id\": \"" KB "\", \"secret\": \"" HELLO64 "\"}}}\n",
	    "duplicate", NULL);
	ck_assert_msg(strstr(err, ":3:") != NULL, "no line 3 in \"%s\"", err);
}
END_TEST

START_TEST(test_duplicate_key_ids)
{
	/* the same ID, spelt differently, for two clients apart in the file */
	load_bad("{\"clients\": {"
	    "\"first\": {\"key_id\": \"" KA "\", \"secret\": \"" HELLO64 "\"},"
	    "\"middle\": {\"key_id\": \"" KB "\", \"secret\": \"" HELLO64 "\"},"
	    "\"second\": {\"key_id\": \"" KA_LOWER_SPACED "\", \"secret\": \""
	    HELLO64 "\"}}}", "\"first\"", "\"second\"", "key_id", NULL);
}
END_TEST

START_TEST(test_missing_secfile)
{
	load_bad(CL("\"key_id\": \"" KA "\", \"secfile\": \"nonexistent.gpg\""),
	    "client \"a\"", "secfile", "nonexistent.gpg", strerror(ENOENT), NULL);
	/* and the path in the message is the one tried: under the table's dir */
	ck_assert_msg(strstr(err, tdir) != NULL, "\"%s\"", err);
}
END_TEST

START_TEST(test_empty_secfile)
{
	put_file("empty.gpg", "", 0);
	load_bad(CL("\"key_id\": \"" KA "\", \"secfile\": \"empty.gpg\""),
	    "client \"a\"", "secfile", "empty", NULL);
}
END_TEST

START_TEST(test_huge_secfile)
{
	const char	*p;

	p = put_file("huge.gpg", "", 0);
	ck_assert_int_eq(truncate(p, 1024 * 1024 + 1), 0);	/* sparse */
	load_bad(CL("\"key_id\": \"" KA "\", \"secfile\": \"huge.gpg\""),
	    "client \"a\"", "secfile", "1 MiB", NULL);
	/* exactly 1 MiB is allowed */
	p = put_file("huge.gpg", "", 0);
	ck_assert_int_eq(truncate(p, 1024 * 1024), 0);
	load_ok(CL("\"key_id\": \"" KA "\", \"secfile\": \"huge.gpg\""));
	ck_assert_uint_eq(find(KA)->secret_len, 1024 * 1024);
}
END_TEST

/* A failure after good clients were built frees them (see valgrind). */
START_TEST(test_error_after_good_clients)
{
	load_bad("{\"defaults\": {\"host\": \"h\", \"checker\": \"c\"}, \"clients\": {"
	    "\"a\": {\"key_id\": \"" KA "\", \"secret\": \"" HELLO64 "\"},"
	    "\"b\": {\"key_id\": \"" KB "\", \"secret\": \"" HELLO64 "\","
	    " \"host\": \"b\", \"checker\": \"cb\"},"
	    "\"c\": {\"key_id\": \"" KC "\", \"secret\": \"" HELLO64 "\","
	    " \"host\": \"c\", \"timeout\": \"never\"}}}",
	    "client \"c\"", "timeout", "never", NULL);
}
END_TEST

/* ---- the hash index ---- */

static uint64_t rng = 0x243f6a8885a308d3ULL;

static uint64_t
next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (rng);
}

static void
random_id(uint8_t id[KEYID_LEN])
{
	uint64_t	 x;
	int		 i;

	for (i = 0; i < KEYID_LEN; i += 8) {
		x = next();
		memcpy(id + i, &x, 8);
	}
}

#define NBIG	100000

START_TEST(test_100k_clients)
{
	static uint8_t	 ids[NBIG][KEYID_LEN];
	char		 hex[KEYID_HEXLEN + 1], name[32];
	uint8_t		 id[KEYID_LEN];
	const struct client *c;
	struct timeval	 t0, t1;
	FILE		*f;
	size_t		 i;

	ck_assert_ptr_nonnull(f = fopen(table, "w"));
	fputs("{\"defaults\": {\"timeout\": \"PT1M\"},\n\"clients\": {\n", f);
	for (i = 0; i < NBIG; i++) {
		random_id(ids[i]);
		keyid_format(ids[i], hex);
		fprintf(f, "%s\"c%zu\": {\"key_id\": \"%s\", \"secret\": \"%s\"}\n",
		    i == 0 ? "" : ",", i, hex, HELLO64);
	}
	fputs("}}\n", f);
	ck_assert_int_eq(fclose(f), 0);

	gettimeofday(&t0, NULL);
	kt = keytab_load(table, &err);
	gettimeofday(&t1, NULL);
	ck_assert_msg(kt != NULL, "rejected: %s", err);
	fprintf(stderr, "check_keytab: loaded %d clients in %.3f s\n", NBIG,
	    (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_usec - t0.tv_usec) / 1e6);
	ck_assert_uint_eq(keytab_count(kt), NBIG);

	for (i = 0; i < NBIG; i++) {
		snprintf(name, sizeof(name), "c%zu", i);
		c = keytab_lookup(kt, ids[i]);
		ck_assert_msg(c != NULL, "%s not found", name);
		ck_assert_str_eq(c->name, name);
		ck_assert_mem_eq(c->keyid, ids[i], KEYID_LEN);
		ck_assert_ptr_eq(c, keytab_client(kt, i));
		ck_assert_uint_eq(c->timeout_ms, MS_M);
	}
	for (i = 0; i < NBIG; i++) {
		random_id(id);		/* the stream continues: never a loaded ID */
		ck_assert_ptr_null(keytab_lookup(kt, id));
	}
	/* near misses: each loaded ID with its last bit flipped */
	for (i = 0; i < NBIG; i++) {
		memcpy(id, ids[i], KEYID_LEN);
		id[KEYID_LEN - 1] ^= 1;
		ck_assert_ptr_null(keytab_lookup(kt, id));
	}
}
END_TEST

/*
 * IDs that share their first eight bytes share a home slot; all-ones puts
 * that slot last, so probing must wrap to slot 0 and still end.
 */
START_TEST(test_probe_collisions)
{
	enum { N = 200 };
	char		 hex[KEYID_HEXLEN + 1];
	uint8_t		 ids[N][KEYID_LEN], id[KEYID_LEN];
	const struct client *c;
	FILE		*f;
	size_t		 i;

	ck_assert_ptr_nonnull(f = fopen(table, "w"));
	fputs("{\"clients\": {\n", f);
	for (i = 0; i < N; i++) {
		random_id(ids[i]);
		memset(ids[i], 0xff, 8);
		keyid_format(ids[i], hex);
		fprintf(f, "%s\"p%zu\": {\"key_id\": \"%s\", \"secret\": \"%s\"}\n",
		    i == 0 ? "" : ",", i, hex, HELLO64);
	}
	fputs("}}\n", f);
	ck_assert_int_eq(fclose(f), 0);
	kt = keytab_load(table, &err);
	ck_assert_msg(kt != NULL, "rejected: %s", err);
	for (i = 0; i < N; i++) {
		c = keytab_lookup(kt, ids[i]);
		ck_assert_ptr_nonnull(c);
		ck_assert_ptr_eq(c, keytab_client(kt, i));
	}
	for (i = 0; i < N; i++) {
		random_id(id);
		memset(id, 0xff, 8);
		ck_assert_ptr_null(keytab_lookup(kt, id));
	}
}
END_TEST

static Suite *
keytab_suite(void)
{
	Suite	*s = suite_create("keytab");
	TCase	*tc;

	tc = tcase_create("good");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_builtin_defaults);
	tcase_add_test(tc, test_defaults_overridden);
	tcase_add_test(tc, test_partial_defaults);
	tcase_add_test(tc, test_secret_whitespace);
	tcase_add_test(tc, test_secret_binary);
	tcase_add_test(tc, test_secfile_relative);
	tcase_add_test(tc, test_secfile_bare_table_name);
	tcase_add_test(tc, test_secfile_absolute);
	tcase_add_test(tc, test_keyid_spellings);
	tcase_add_test(tc, test_file_order);
	tcase_add_test(tc, test_no_clients);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_bad_json_syntax);
	tcase_add_test(tc, test_bad_json_truncated);
	tcase_add_test(tc, test_bad_json_empty_file);
	tcase_add_test(tc, test_missing_table);
	tcase_add_test(tc, test_bad_top_level);
	tcase_add_test(tc, test_unknown_top_member);
	tcase_add_test(tc, test_unknown_top_member_beside_clients);
	tcase_add_test(tc, test_missing_clients);
	tcase_add_test(tc, test_clients_not_object);
	tcase_add_test(tc, test_defaults_not_object);
	tcase_add_test(tc, test_client_not_object);
	tcase_add_test(tc, test_unknown_setting);
	tcase_add_test(tc, test_unknown_setting_in_defaults);
	tcase_add_test(tc, test_client_only_in_defaults);
	tcase_add_test(tc, test_missing_key_id);
	tcase_add_test(tc, test_key_id_wrong_type);
	tcase_add_test(tc, test_bad_key_id);
	tcase_add_test(tc, test_empty_key_id);
	tcase_add_test(tc, test_secret_and_secfile);
	tcase_add_test(tc, test_neither_secret_nor_secfile);
	tcase_add_test(tc, test_bad_base64);
	tcase_add_test(tc, test_secmem_base64);
	tcase_add_test(tc, test_secret_wrong_type);
	tcase_add_test(tc, test_secret_too_large);
	tcase_add_test(tc, test_bad_duration);
	tcase_add_test(tc, test_wrong_types);
	tcase_add_test(tc, test_duplicate_names);
	tcase_add_test(tc, test_duplicate_key_ids);
	tcase_add_test(tc, test_missing_secfile);
	tcase_add_test(tc, test_empty_secfile);
	tcase_add_test(tc, test_huge_secfile);
	tcase_add_test(tc, test_error_after_good_clients);
	suite_add_tcase(s, tc);

	tc = tcase_create("index");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_probe_collisions);
	tcase_add_test(tc, test_100k_clients);
	tcase_set_timeout(tc, 60);	/* 100k under valgrind; ~1 s natively */
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	SRunner	*sr;
	const char *tmp = getenv("TMPDIR");
	int	 failed;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(base, sizeof(base), "%s/check_keytab.XXXXXX", tmp);
	if (mkdtemp(base) == NULL) {
		perror(base);
		return (EXIT_FAILURE);
	}
	sr = srunner_create(keytab_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	rm_tree(base);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
