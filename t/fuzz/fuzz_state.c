/*
 * fuzz_state.c: the state file read at start (src/state.c state_restore,
 * client.c client_state_apply) applied to a live table. Oracle: whatever
 * was restored dumps back to JSON (client_json, client_state_json), and a
 * bad file is renamed aside, never fatal.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "fuzz_table.h"
#include "state.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	 fz_dir[] = "/tmp/fuzz-state.XXXXXX";
static char	 fz_path[sizeof(fz_dir) + 32];

/* At exit: the private state directory goes. */
static void
fz_cleanup(void)
{
	char	 bad[sizeof(fz_path) + 8];

	snprintf(bad, sizeof(bad), "%s.bad", fz_path);
	unlink(bad);
	unlink(fz_path);
	rmdir(fz_dir);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct client_rt *rt;
	json_t		*j;
	FILE		*f;
	char		*s;
	size_t		 i;

	if (fz_path[0] == '\0') {
		fuzz_table_init();
		if (mkdtemp(fz_dir) == NULL)
			abort();
		state_init(fuzz_base, fz_dir);
		snprintf(fz_path, sizeof(fz_path), "%s", state_path());
		atexit(fz_cleanup);
	}
	fuzz_table_reset();
	if ((f = fopen(fz_path, "w")) == NULL)
		abort();
	if (fwrite(data, 1, len, f) != len || fclose(f) != 0)
		abort();
	state_restore();
	for (i = 0; (rt = client_nth(i)) != NULL; i++) {
		j = client_json(rt);
		if ((s = json_dumps(j, 0)) == NULL)
			abort();
		free(s);
		json_decref(j);
		j = client_state_json(rt);
		json_decref(j);
	}
	return (0);
}
