/* secmem.h: memory that may have held a secret is wiped when freed, and
 * the server never dumps core. */
#ifndef MANDOSD_SECMEM_H
#define MANDOSD_SECMEM_H

#include <stddef.h>
#include <stdint.h>

/* First thing in main: jansson's and libevent's frees wipe, no core dumps. */
void	 secmem_init(void);
/* Again after a change of credentials (which resets "dumpable"). */
void	 secmem_nodump(void);
/* Decode base64 text (whitespace ignored) into a new block, with no
 * unwiped copy left behind: 0, or -1 with *why. */
int	 secmem_base64(const char *, size_t, uint8_t **, size_t *,
	    const char **why);

#endif
