/* import-driver.c: run import_clients_conf() on a file, as mandosctl --import would. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import.h"

int
main(int argc, char *argv[])
{
	char	*errstr = NULL;

	if (argc != 2 || strcmp(argv[1], "--help") == 0) {
		fprintf(stderr, "usage: import-driver CLIENTS.CONF\n"
		    "Writes the equivalent clients.json to stdout.\n");
		return (argc == 2 ? 0 : 1);
	}
	if (import_clients_conf(argv[1], stdout, &errstr) == -1) {
		fprintf(stderr, "import-driver: %s\n", errstr);
		free(errstr);
		return (1);
	}
	return (0);
}
