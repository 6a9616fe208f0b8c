/* secmem.h: memory that may have held a secret is wiped when freed, and
 * the server never dumps core. */
#ifndef MANDOSD_SECMEM_H
#define MANDOSD_SECMEM_H

/* First thing in main: jansson's and libevent's frees wipe, no core dumps. */
void	 secmem_init(void);
/* Again after a change of credentials (which resets "dumpable"). */
void	 secmem_nodump(void);

#endif
