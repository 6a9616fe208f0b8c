/* keyid.c: parse and print key IDs; GnuTLS does the hex. */
#include "config.h"

#include <ctype.h>
#include <string.h>

#include <gnutls/gnutls.h>

#include "keyid.h"

/* SHA-256 of nothing: a peer without a key must never match a client. */
static const uint8_t keyid_empty[KEYID_LEN] = {
	0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8,
	0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
	0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
};

int
keyid_parse(const char *s, uint8_t id[KEYID_LEN], const char **errstr)
{
	char		 hex[KEYID_HEXLEN + 1];
	size_t		 n = 0, idlen = KEYID_LEN;
	gnutls_datum_t	 d;

	for (; *s != '\0'; s++) {
		if (isspace((unsigned char)*s))
			continue;
		if (!isxdigit((unsigned char)*s)) {
			*errstr = "not a hex digit";
			return (-1);
		}
		if (n == KEYID_HEXLEN) {
			*errstr = "more than 64 hex digits";
			return (-1);
		}
		hex[n++] = (char)tolower((unsigned char)*s);
	}
	if (n != KEYID_HEXLEN) {
		*errstr = "fewer than 64 hex digits";
		return (-1);
	}
	hex[n] = '\0';
	d.data = (unsigned char *)hex;
	d.size = KEYID_HEXLEN;
	if (gnutls_hex_decode(&d, id, &idlen) < 0 || idlen != KEYID_LEN) {
		*errstr = "bad hex";
		return (-1);
	}
	return (0);
}

void
keyid_format(const uint8_t id[KEYID_LEN], char *buf)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t	 i;

	for (i = 0; i < KEYID_LEN; i++) {
		buf[2 * i] = digits[id[i] >> 4];
		buf[2 * i + 1] = digits[id[i] & 0xf];
	}
	buf[KEYID_HEXLEN] = '\0';
}

int
keyid_is_empty_key(const uint8_t id[KEYID_LEN])
{
	return (memcmp(id, keyid_empty, KEYID_LEN) == 0);
}
