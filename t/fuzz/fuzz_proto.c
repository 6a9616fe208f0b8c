/* fuzz_proto.c: the version line a peer sends before TLS (src/proto.c). */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char	*copy;
	int	 r;

	/* As conn.c calls it: a bounded line, not NUL-terminated. */
	if (len > PROTO_LINE_MAX)
		return (0);
	r = proto_version_ok((const char *)data, len);
	if (r != 0 && r != -1)
		abort();
	/* Bytes past len must not change the verdict. */
	copy = malloc(len + 2);
	memcpy(copy, data, len);
	copy[len] = '7';
	copy[len + 1] = '\0';
	if (proto_version_ok(copy, len) != r)
		abort();
	free(copy);
	return (0);
}
