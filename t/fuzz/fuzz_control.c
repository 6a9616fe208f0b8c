/*
 * fuzz_control.c: whole request lines through the real control dispatcher
 * (src/control.c ctl_request), as a peer on the control socket sends them.
 * The first byte picks the peer's rights (admin or read-only); the rest is
 * one or more lines, dispatched in order on a fresh table, so a sequence
 * ("set" then "start-checker" then "remove") replays alone. Oracle: each
 * non-empty line gets exactly one reply line, a JSON object with a
 * boolean "ok"; an empty line gets none.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "control.h"
#include "ctlproto.h"
#include "fuzz_table.h"

#define FZ_MAXLINES	8

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* One line in, its reply checked. */
static void
fz_line(const char *line, size_t len, int admin)
{
	json_error_t	 jerr;
	json_t		*j;
	char		*reply, *nl;

	reply = ctl_request(line, len, admin);
	if (len == 0) {
		if (reply[0] != '\0')
			abort();
		free(reply);
		return;
	}
	if ((nl = strchr(reply, '\n')) == NULL || nl[1] != '\0' ||
	    (j = json_loadb(reply, (size_t)(nl - reply), 0, &jerr)) == NULL ||
	    !json_is_boolean(json_object_get(j, "ok"))) {
		fprintf(stderr, "fuzz_control: request %.*s\nreply %s\n",
		    (int)len, line, reply);
		abort();
	}
	json_decref(j);
	free(reply);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const char	*p, *end, *nl;
	int		 admin, n = 0;

	fuzz_table_init();
	if (len < 1)
		return (0);
	fuzz_table_reset();
	admin = data[0] & 1;
	p = (const char *)data + 1;
	end = (const char *)data + len;
	while (p < end && n++ < FZ_MAXLINES) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		/* control.c refuses longer lines before dispatching. */
		if ((size_t)(nl - p) <= CTL_MAXLINE)
			fz_line(p, (size_t)(nl - p), admin);
		p = nl + 1;
	}
	return (0);
}
