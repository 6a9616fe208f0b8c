/*
 * secmem.c: secrets pass through jansson (the table, "set secret") and
 * libevent (the control socket's buffers) on their way into our own wiped
 * copies; what those libraries free is wiped here too, whatever it held,
 * so that no copy outlives its use. And no core dumps: not dumpable (which
 * also keeps other users out of /proc/PID/mem), RLIMIT_CORE 0. Secrets live
 * in small malloc'd blocks, so MADV_DONTDUMP (whole pages) is not used: with
 * no dump at all it would add nothing.
 */
#include "config.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <event2/event.h>
#include <jansson.h>

#include "log.h"
#include "secmem.h"

/* Wipe the whole block (its usable size, not just what was asked). */
static void
secmem_free(void *p)
{
	if (p == NULL)
		return;
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

/* realloc would free the old block unwiped: move by hand. */
static void *
secmem_realloc(void *p, size_t n)
{
	void	*q;
	size_t	 old;

	if (p == NULL)
		return (malloc(n));
	if (n == 0) {
		secmem_free(p);
		return (NULL);
	}
	old = malloc_usable_size(p);
	if (n <= old)
		return (p);
	if ((q = malloc(n)) == NULL)
		return (NULL);
	memcpy(q, p, old);
	secmem_free(p);
	return (q);
}

void
secmem_nodump(void)
{
	struct rlimit	 rl = { 0, 0 };

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		log_warn("prctl(PR_SET_DUMPABLE)");
	if (setrlimit(RLIMIT_CORE, &rl) == -1)
		log_warn("setrlimit(RLIMIT_CORE)");
}

void
secmem_init(void)
{
	json_set_alloc_funcs(malloc, secmem_free);
	event_set_mem_functions(malloc, secmem_realloc, secmem_free);
	secmem_nodump();
}
