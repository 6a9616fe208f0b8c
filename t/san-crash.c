/*
 * san-crash.c: a program with one deliberate defect per mode, for
 * t/san-selftest.sh (sanitizer build only): proves that t/sanitize.sh fails
 * a test on a report from a forked child that nobody waits for.
 *   none       exit 0
 *   overflow   a forked child writes past a heap block, 0.1 s later
 *   leak       a forked child leaks a block and exits
 *   ubsan      a forked child overflows a signed int
 * The parent always exits 0 at once.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *volatile leak;

int
main(int argc, char **argv)
{
	const char	*mode = argc > 1 ? argv[1] : "none";
	volatile int	 big = INT_MAX;
	volatile size_t	 past = 8;	/* the compiler must not see it */
	char		*p;
	int		 i;

	if (strcmp(mode, "none") == 0)
		return (0);
	if (fork() != 0)
		return (0);
	usleep(100000);
	if (strcmp(mode, "overflow") == 0) {
		p = malloc(8);
		p[past] = 1;
		free(p);
	} else if (strcmp(mode, "leak") == 0) {
		/* volatile: not optimised away; all but the last unreachable */
		for (i = 0; i < 100; i++)
			leak = malloc(64);
	} else if (strcmp(mode, "ubsan") == 0)
		printf("%d\n", big + 1);
	return (0);
}
