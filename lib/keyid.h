/* keyid.h: Mandos key IDs: SHA-256 of the client's DER SubjectPublicKeyInfo. */
#ifndef MANDOS_KEYID_H
#define MANDOS_KEYID_H

#include <stddef.h>
#include <stdint.h>

#define KEYID_LEN	32
#define KEYID_HEXLEN	64

/* Parse 64 hex digits, case- and space-insensitive; -1 with *errstr on error. */
int	 keyid_parse(const char *s, uint8_t id[KEYID_LEN], const char **errstr);
/* Upper-case hex, NUL-terminated: buf needs KEYID_HEXLEN + 1 bytes. */
void	 keyid_format(const uint8_t id[KEYID_LEN], char *buf);
/* Whether id is the ID of the empty key, which must never match. */
int	 keyid_is_empty_key(const uint8_t id[KEYID_LEN]);

#endif
