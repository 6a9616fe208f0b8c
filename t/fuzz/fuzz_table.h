/*
 * fuzz_table.h: the client table behind the harnesses that need runtime
 * state (fuzz_control, fuzz_state): three clients that cover the states a
 * request or a state file can touch (plain, approval wait, disabled).
 */
#ifndef MANDOS_FUZZ_TABLE_H
#define MANDOS_FUZZ_TABLE_H

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "client.h"
#include "fuzz_file.h"
#include "keytab.h"
#include "log.h"

static const char fuzz_table_json[] =
"{\"defaults\": {\"timeout\": \"PT5M\", \"interval\": \"PT2M\",\n"
"  \"checker\": \"fping -q -- %{host}\"},\n"
" \"clients\": {\n"
"  \"foo\": {\"key_id\": \"F33FCBED11ED5E5D3E4A1DA9B2E6BB6E7A8A1F3C4B35C5E2D2B2F0E4C6B1A9D8\",\n"
"          \"secret\": \"c2VjcmV0\", \"host\": \"foo.example.org\"},\n"
"  \"bar\": {\"key_id\": \"0D442B1C7A3F55E69C108F7E2D4A61B395C8E2F10A7B3C6D4E5F6A7B8C9D0E1F\",\n"
"          \"secret\": \"c2VjcmV0\", \"approval_delay\": \"30s\",\n"
"          \"approved_by_default\": false},\n"
"  \"baz\": {\"key_id\": \"1111111111111111111111111111111111111111111111111111111111111111\",\n"
"          \"secret\": \"c2VjcmV0\", \"enabled\": false}\n"
" }}\n";

static const char fuzz_empty_json[] = "{\"clients\": {}}";
static struct event_base *fuzz_base;
static struct keytab *fuzz_kt, *fuzz_empty;

/* Once: a loop (never run), the runtime table; logs on stderr, which
 * fuzz.sh closes (-close_fd_mask=2) while fuzzing. */
static void
fuzz_table_init(void)
{
	char	*err = NULL;

	if (fuzz_base != NULL)
		return;
	log_init("fuzz", 1, getenv("FUZZ_VERBOSE") != NULL);
	if ((fuzz_base = event_base_new()) == NULL)
		abort();
	fuzz_kt = keytab_load(fuzz_file((const uint8_t *)fuzz_table_json,
	    strlen(fuzz_table_json)), &err);
	if (fuzz_kt == NULL)
		abort();
	fuzz_empty = keytab_load(fuzz_file((const uint8_t *)fuzz_empty_json,
	    strlen(fuzz_empty_json)), &err);
	if (fuzz_empty == NULL)
		abort();
	client_init(fuzz_base, 1);
	client_sync(fuzz_kt);
}

/* Fresh runtime state for every client, so that an input replays alone. */
static void
fuzz_table_reset(void)
{
	client_sync(fuzz_empty);
	client_sync(fuzz_kt);
}

#endif
