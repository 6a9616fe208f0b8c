/*
 * secmem.c: secrets pass through jansson (the table, "set secret") and
 * libevent (the control socket's buffers) on their way into our own wiped
 * copies; what those libraries free is wiped here too, whatever it held,
 * so that no copy outlives its use. And no core dumps: not dumpable (which
 * also keeps other users out of /proc/PID/mem), RLIMIT_CORE 0. Secrets live
 * in small malloc'd blocks, so MADV_DONTDUMP (whole pages) is not used: with
 * no dump at all it would add nothing. Base64 secrets are decoded here and
 * not by gnutls_base64_decode2, which copies the text into a buffer of its
 * own and frees it unwiped (found by t/harden/secret-wipe.sh under ASan,
 * whose allocator does not reuse the block at once as glibc's does).
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
#include "xmalloc.h"

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

/* The value of a base64 digit, or -1. */
static int
secmem_b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return (c - 'A');
	if (c >= 'a' && c <= 'z')
		return (c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (c - '0' + 52);
	if (c == '+')
		return (62);
	if (c == '/')
		return (63);
	return (-1);
}

int
secmem_base64(const char *text, size_t len, uint8_t **out, size_t *outlen,
    const char **why)
{
	uint8_t		*o;
	uint32_t	 acc = 0;
	size_t		 i, n = 0, digits = 0, pad = 0;
	int		 v;

	o = xmalloc(len / 4 * 3 + 3);
	for (i = 0; i < len; i++) {
		if (text[i] == ' ' || text[i] == '\n' || text[i] == '\t' ||
		    text[i] == '\r')
			continue;
		if (text[i] == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || (v = secmem_b64val((unsigned char)text[i])) < 0)
			goto bad;	/* a digit after padding, or no digit */
		acc = acc << 6 | (uint32_t)v;
		if (++digits % 4 == 0) {
			o[n++] = (uint8_t)(acc >> 16);
			o[n++] = (uint8_t)(acc >> 8);
			o[n++] = (uint8_t)acc;
			acc = 0;
		}
	}
	/* Whole quanta of four, padding included, as RFC 4648 says. */
	if (digits == 0 || pad > 2 || (digits + pad) % 4 != 0 ||
	    (pad > 0 && digits % 4 != 4 - pad))
		goto bad;
	if (digits % 4 == 2)
		o[n++] = (uint8_t)(acc >> 4);
	else if (digits % 4 == 3) {
		o[n++] = (uint8_t)(acc >> 10);
		o[n++] = (uint8_t)(acc >> 2);
	}
	acc = 0;
	*out = o;
	*outlen = n;
	return (0);
bad:
	explicit_bzero(o, len / 4 * 3 + 3);
	free(o);
	explicit_bzero(&acc, sizeof(acc));
	*why = "not valid base64";
	return (-1);
}
