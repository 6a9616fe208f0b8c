/* proto.h: the clear-text part of the Mandos protocol (the version line). */
#ifndef MANDOSD_PROTO_H
#define MANDOSD_PROTO_H

#include <stddef.h>

#define PROTO_LINE_MAX	64	/* the real client sends "1\r\n"; anything longer is hostile */

/* Judge a complete line (without its '\n'): 0 if its first token is an integer <= 1. */
int	 proto_version_ok(const char *line, size_t len);

#endif
