/* import.h: convert the reference server's clients.conf into clients.json. */
#ifndef MANDOS_IMPORT_H
#define MANDOS_IMPORT_H

#include <stdio.h>

/*
 * Read the reference clients.conf at path and write the equivalent
 * clients.json to out. Settings mandosd does not know are dropped with one
 * warning each on stderr. 0 on success; -1 with *errstr (to free) on error,
 * and then nothing is written to out.
 */
int	 import_clients_conf(const char *path, FILE *out, char **errstr);

#endif
