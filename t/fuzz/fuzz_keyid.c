/*
 * fuzz_keyid.c: key IDs from clients.json, clients.conf and the control
 * socket (lib/keyid.c). Oracle: a parsed ID formats to 64 upper-case hex
 * digits that parse back to the same bytes.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyid.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const char	*err = NULL;
	char		*s, hex[KEYID_HEXLEN + 1];
	uint8_t		 id[KEYID_LEN], back[KEYID_LEN];

	s = malloc(len + 1);
	memcpy(s, data, len);
	s[len] = '\0';
	if (keyid_parse(s, id, &err) == 0) {
		keyid_format(id, hex);
		if (strlen(hex) != KEYID_HEXLEN ||
		    keyid_parse(hex, back, &err) == -1 ||
		    memcmp(id, back, KEYID_LEN) != 0)
			abort();
		(void)keyid_is_empty_key(id);
	} else if (err == NULL)
		abort();
	free(s);
	return (0);
}
