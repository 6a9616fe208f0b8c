/*
 * proto.c: the version line. The reference accepts any line whose first
 * whitespace-separated token is an integer no greater than 1 (so "0",
 * "-3", "+1" and "001" pass); everything else is closed before TLS.
 */
#include "config.h"

#include <ctype.h>

#include "proto.h"

int
proto_version_ok(const char *line, size_t len)
{
	size_t	 i = 0, start;
	int	 negative = 0;
	unsigned long value = 0;

	while (i < len && isspace((unsigned char)line[i]))
		i++;
	if (i < len && (line[i] == '+' || line[i] == '-'))
		negative = line[i++] == '-';
	start = i;
	for (; i < len && isdigit((unsigned char)line[i]); i++)
		if (value <= 1)		/* stop growing: only "<= 1" matters */
			value = value * 10 + (unsigned long)(line[i] - '0');
	if (i == start || (i < len && !isspace((unsigned char)line[i])))
		return (-1);
	return (negative || value <= 1 ? 0 : -1);
}
