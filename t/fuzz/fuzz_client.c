/*
 * fuzz_client.c: what mandos-client does with the bytes a server sends
 * after TLS: the blob goes to GPGME (clients/client-pgp.c pgp_decrypt)
 * with the client's keys, here a test key pair (t/fuzz/data/). Covers the
 * plaintext sink and its bound (PGP_MAXPLAIN: a compressed packet may
 * expand to anything) and the blob bound of mandos-client (CL_MAXBLOB).
 * Slow (gpg runs per input): a few dozen inputs a second.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client-pgp.h"

#define FZ_MAXBLOB	(1024 * 1024)	/* mandos-client's CL_MAXBLOB */

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct pgp	 fz_pgp;
static int		 fz_ready;

static void
fz_cleanup(void)
{
	pgp_free(&fz_pgp);
}

/* Once: a private GNUPGHOME with the test keys, as mandos-client makes. */
static void
fz_init(void)
{
	const char	*dir = getenv("FUZZ_DATADIR");
	char		 pub[4096], sec[4096], *err = NULL;

	if (dir == NULL)
		dir = FUZZ_DATADIR;
	snprintf(pub, sizeof(pub), "%s/pubkey.txt", dir);
	snprintf(sec, sizeof(sec), "%s/seckey.txt", dir);
	if (pgp_new(&fz_pgp, NULL, &err) == -1 ||
	    pgp_import_file(&fz_pgp, pub, &err) == -1 ||
	    pgp_import_file(&fz_pgp, sec, &err) == -1 ||
	    !pgp_have_secret(&fz_pgp, NULL)) {
		fprintf(stderr, "fuzz_client: test keys in %s: %s\n", dir,
		    err != NULL ? err : "no secret key");
		exit(1);
	}
	atexit(fz_cleanup);
	fz_ready = 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char	*plain = NULL, *err = NULL;
	size_t	 plainlen = 0;

	if (!fz_ready)
		fz_init();
	if (len == 0 || len > FZ_MAXBLOB)
		return (0);	/* mandos-client never decrypts these */
	if (pgp_decrypt(&fz_pgp, data, len, &plain, &plainlen, &err) == 0) {
		if (plain == NULL && plainlen != 0)
			abort();
		pgp_wipe_free(plain, plainlen);
	} else {
		if (err == NULL || plain != NULL)
			abort();
		free(err);
	}
	return (0);
}
