/*
 * fuzz_duration.c: durations from clients.json, clients.conf and the
 * control socket (lib/duration.c). Oracle: what parses, formats to an RFC
 * 3339 string that parses back to the same value.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const char	*err = NULL;
	char		*s, buf[64];
	uint64_t	 ms, back;

	s = malloc(len + 1);
	memcpy(s, data, len);
	s[len] = '\0';
	if (duration_parse(s, &ms, &err) == 0) {
		duration_format(ms, buf, sizeof(buf));
		if (duration_parse(buf, &back, &err) == -1 || back != ms)
			abort();
	} else if (err == NULL)
		abort();	/* an error must say why */
	free(s);
	return (0);
}
