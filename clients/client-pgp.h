/* client-pgp.h: OpenPGP through GPGME in a private, temporary home directory. */
#ifndef MANDOS_CLIENT_PGP_H
#define MANDOS_CLIENT_PGP_H

#include <stddef.h>

#include <gpgme.h>

struct pgp {
	char		*home;		/* temporary GNUPGHOME, removed by pgp_free */
	gpgme_ctx_t	 ctx;
};

/* Make a temporary home under tmpdir (NULL: $TMPDIR or /tmp) and a context. */
int	 pgp_new(struct pgp *, const char *tmpdir, char **errstr);
/* Stop the agent of the home, remove the home and release the context. */
void	 pgp_free(struct pgp *);
/* Import an (armored or binary) key file; -1 with a one-line *errstr. */
int	 pgp_import_file(struct pgp *, const char *path, char **errstr);
/* Whether the keyring holds a secret key; its fingerprint in *fpr if wanted. */
int	 pgp_have_secret(struct pgp *, char **fpr);
/* Decrypt in[0..len) into a new buffer; -1 with *errstr on failure. */
int	 pgp_decrypt(struct pgp *, const void *in, size_t len, char **out,
	    size_t *outlen, char **errstr);
/* Overwrite and free a buffer that held secret data. */
void	 pgp_wipe_free(void *, size_t);

#endif
