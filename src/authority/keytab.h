/* keytab.h: the client table (clients.json): key ID -> client, hashed. */
#ifndef MANDOSD_KEYTAB_H
#define MANDOSD_KEYTAB_H

#include <stddef.h>
#include <stdint.h>

#include "keyid.h"

/* One configured client; everything read from clients.json. */
struct client {
	char		*name;
	uint8_t		 keyid[KEYID_LEN];
	uint8_t		*secret;		/* the OpenPGP blob sent as-is */
	size_t		 secret_len;
	char		*host;
	char		*checker;
	int		 enabled;
	int		 approved_by_default;
	uint64_t	 timeout_ms;
	uint64_t	 interval_ms;
	uint64_t	 extended_timeout_ms;
	uint64_t	 approval_delay_ms;
	uint64_t	 approval_duration_ms;
};

struct keytab;

/* Load and validate path; NULL with *errstr (malloc'd, names file and client). */
struct keytab	*keytab_load(const char *path, char **errstr);
/* Constant-time lookup by binary key ID; NULL when unknown. */
const struct client *keytab_lookup(const struct keytab *, const uint8_t id[KEYID_LEN]);
size_t		 keytab_count(const struct keytab *);
/* The i-th client in file order (i < keytab_count). */
const struct client *keytab_client(const struct keytab *, size_t i);
/* Free the table and wipe its secrets. */
void		 keytab_free(struct keytab *);

#endif
