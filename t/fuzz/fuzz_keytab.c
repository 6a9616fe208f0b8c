/*
 * fuzz_keytab.c: the clients.json loader (src/keytab.c), as at start and
 * on reload. Oracle: every loaded client is found by its own key ID.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_file.h"
#include "keytab.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct keytab		*kt;
	const struct client	*c;
	char			*err = NULL;
	size_t			 i;

	if ((kt = keytab_load(fuzz_file(data, len), &err)) == NULL) {
		if (err == NULL || *err == '\0')
			abort();	/* a bad file gets a clear error */
		free(err);
		return (0);
	}
	for (i = 0; i < keytab_count(kt); i++) {
		c = keytab_client(kt, i);
		if (c->name == NULL || keytab_lookup(kt, c->keyid) != c)
			abort();
	}
	keytab_free(kt);
	return (0);
}
