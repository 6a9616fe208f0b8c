/*
 * proctitle.c: a minimal process title. The kernel shows the memory that
 * held argv as /proc/PID/cmdline; we move argv's strings to the heap and
 * write the title there. The command name (comm) stays "mandosd", which
 * pgrep and the tests look for. (The sandbox work brings the full version, which
 * also reclaims the environment's space.)
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proctitle.h"
#include "xmalloc.h"

static char	*pt_start;
static size_t	 pt_len;

void
proctitle_init(int argc, char **argv)
{
	int	 i;

	if (argc < 1 || argv[0] == NULL)
		return;
	pt_start = argv[0];
	for (i = 0; i < argc; i++) {
		/* Only a contiguous run of strings is ours to overwrite. */
		if (argv[i] == pt_start + pt_len || i == 0)
			pt_len = (size_t)(argv[i] - pt_start) + strlen(argv[i]) + 1;
		argv[i] = xstrdup(argv[i]);
	}
}

void
proctitle_set(const char *fmt, ...)
{
	char	 buf[256];
	va_list	 ap;
	size_t	 n;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (pt_start == NULL || pt_len < 2)
		return;
	n = strlen(buf);
	if (n > pt_len - 1)
		n = pt_len - 1;
	memset(pt_start, '\0', pt_len);
	memcpy(pt_start, buf, n);
}
