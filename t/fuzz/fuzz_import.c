/*
 * fuzz_import.c: the reference's clients.conf importer behind
 * "mandosctl --import" (clients/import.c): INI, multi-line secrets,
 * %(name)s interpolation, [DEFAULT]. Oracle: success writes a table
 * that mandosd loads (when it names no secfile, which may be absent here);
 * failure says why and writes nothing.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz_file.h"
#include "import.h"
#include "keytab.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	json_error_t	 jerr;
	json_t		*j;
	struct keytab	*kt;
	char		*err = NULL, *buf = NULL;
	size_t		 n = 0;
	FILE		*out;
	int		 r;

	if ((out = open_memstream(&buf, &n)) == NULL)
		abort();
	r = import_clients_conf(fuzz_file(data, len), out, &err);
	fclose(out);
	if (r == 0) {
		if ((j = json_loadb(buf, n, 0, &jerr)) == NULL)
			abort();
		json_decref(j);
		if (memmem(buf, n, "\"secfile\"", 9) == NULL) {
			if ((kt = keytab_load(fuzz_file((uint8_t *)buf, n),
			    &err)) == NULL) {
				fprintf(stderr, "imported table refused: %s\n",
				    err);
				abort();
			}
			keytab_free(kt);
		}
	} else if (err == NULL || n != 0)
		abort();
	free(err);
	free(buf);
	return (0);
}
