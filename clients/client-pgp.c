/*
 * client-pgp.c: the OpenPGP side of mandos-client and mandos-keygen: a
 * throw-away GnuPG home, key import, decryption and the agent's end.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gpgme.h>

#include "client-pgp.h"
#include "xmalloc.h"

#define PGP_MAXPLAIN	(1024 * 1024)

static void	 pgp_rmtree(const char *);
static void	 pgp_kill_agent(const char *);
static int	 pgp_fail(char **, const char *, gpgme_error_t);
static void	 pgp_atexit(void);
static ssize_t	 pgp_sink_write(void *, const void *, size_t);

#define PGP_MAXLIVE	4
static struct pgp	*pgp_live[PGP_MAXLIVE];	/* homes to remove at exit */

/* At exit (also after fatal()), remove the homes still in use. */
static void
pgp_atexit(void)
{
	int	 i;

	for (i = 0; i < PGP_MAXLIVE; i++)
		if (pgp_live[i] != NULL)
			pgp_free(pgp_live[i]);
}

/* Set *errstr to "what: gpgme error" and return -1. */
static int
pgp_fail(char **errstr, const char *what, gpgme_error_t e)
{
	if (errstr != NULL)
		xasprintf(errstr, "%s: %s", what, gpgme_strerror(e));
	return (-1);
}

/* Make a temporary home under tmpdir (NULL: $TMPDIR or /tmp) and a context. */
int
pgp_new(struct pgp *p, const char *tmpdir, char **errstr)
{
	static int	 registered;
	gpgme_error_t	 e;
	char		*t;
	int		 i;

	memset(p, 0, sizeof(*p));
	if (tmpdir == NULL && (tmpdir = getenv("TMPDIR")) == NULL)
		tmpdir = "/tmp";
	xasprintf(&t, "%s/mandos-gpg.XXXXXX", tmpdir);
	if (mkdtemp(t) == NULL) {
		xasprintf(errstr, "cannot make a temporary directory in %s: %s",
		    tmpdir, strerror(errno));
		free(t);
		return (-1);
	}
	p->home = t;
	for (i = 0; i < PGP_MAXLIVE; i++)
		if (pgp_live[i] == NULL) {
			pgp_live[i] = p;
			break;
		}
	if (!registered) {
		atexit(pgp_atexit);
		registered = 1;
	}
	gpgme_check_version(NULL);
	setlocale(LC_CTYPE, "");
	gpgme_set_locale(NULL, LC_CTYPE, setlocale(LC_CTYPE, NULL));
	if ((e = gpgme_engine_check_version(GPGME_PROTOCOL_OpenPGP)) != 0) {
		pgp_free(p);
		return (pgp_fail(errstr, "no usable gpg", e));
	}
	if ((e = gpgme_new(&p->ctx)) != 0) {
		pgp_free(p);
		return (pgp_fail(errstr, "gpgme_new", e));
	}
	if ((e = gpgme_ctx_set_engine_info(p->ctx, GPGME_PROTOCOL_OpenPGP,
	    NULL, p->home)) != 0) {
		pgp_free(p);
		return (pgp_fail(errstr, "cannot set the GnuPG home", e));
	}
	gpgme_set_pinentry_mode(p->ctx, GPGME_PINENTRY_MODE_LOOPBACK);
	gpgme_set_offline(p->ctx, 1);
	return (0);
}

/* Run "gpgconf --homedir HOME --kill gpg-agent" if gpgconf exists. */
static void
pgp_kill_agent(const char *home)
{
	const char	*gpgconf;
	pid_t		 pid;
	int		 fd, st;

	gpgconf = gpgme_get_dirinfo("gpgconf-name");
	if (gpgconf == NULL || access(gpgconf, X_OK) == -1)
		return;
	if ((pid = fork()) == -1)
		return;
	if (pid == 0) {
		if ((fd = open("/dev/null", O_RDWR)) != -1) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(gpgconf, "gpgconf", "--homedir", home, "--kill",
		    "gpg-agent", (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
}

/* Remove a directory tree of plain files and directories. */
static void
pgp_rmtree(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 sb;
	char		 path[PATH_MAX];

	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
			    de->d_name) >= sizeof(path))
				continue;
			if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
				pgp_rmtree(path);
			else
				unlink(path);
		}
		closedir(d);
	}
	rmdir(dir);
}

/* Stop the agent of the home, remove the home and release the context. */
void
pgp_free(struct pgp *p)
{
	int	 i;

	for (i = 0; i < PGP_MAXLIVE; i++)
		if (pgp_live[i] == p)
			pgp_live[i] = NULL;
	if (p->ctx != NULL)
		gpgme_release(p->ctx);
	p->ctx = NULL;
	if (p->home != NULL) {
		pgp_kill_agent(p->home);
		pgp_rmtree(p->home);
		free(p->home);
	}
	p->home = NULL;
}

/* Import an (armored or binary) key file; -1 with a one-line *errstr. */
int
pgp_import_file(struct pgp *p, const char *path, char **errstr)
{
	gpgme_data_t		 d;
	gpgme_import_result_t	 r;
	gpgme_error_t		 e;
	FILE			*f;

	if ((f = fopen(path, "r")) == NULL) {
		xasprintf(errstr, "cannot read %s: %s", path, strerror(errno));
		return (-1);
	}
	if ((e = gpgme_data_new_from_stream(&d, f)) != 0) {
		fclose(f);
		return (pgp_fail(errstr, path, e));
	}
	e = gpgme_op_import(p->ctx, d);
	gpgme_data_release(d);
	fclose(f);
	if (e != 0) {
		xasprintf(errstr, "cannot import OpenPGP key %s: %s", path,
		    gpgme_strerror(e));
		return (-1);
	}
	r = gpgme_op_import_result(p->ctx);
	if (r == NULL || r->considered == 0) {
		xasprintf(errstr, "no OpenPGP key in %s", path);
		return (-1);
	}
	return (0);
}

/* Whether the keyring holds a secret key; its fingerprint in *fpr if wanted. */
int
pgp_have_secret(struct pgp *p, char **fpr)
{
	gpgme_key_t	 key;
	int		 found = 0;

	if (gpgme_op_keylist_start(p->ctx, NULL, 1) != 0)
		return (0);
	while (gpgme_op_keylist_next(p->ctx, &key) == 0) {
		if (!found && fpr != NULL && key->fpr != NULL)
			*fpr = xstrdup(key->fpr);
		found = 1;
		gpgme_key_unref(key);
	}
	gpgme_op_keylist_end(p->ctx);
	return (found);
}

/* Overwrite and free a buffer that held secret data. */
void
pgp_wipe_free(void *buf, size_t len)
{
	if (buf == NULL)
		return;
	explicit_bzero(buf, len);
	free(buf);
}

/* Plaintext sink: our own buffer, bounded, wiped when it grows. */
struct pgp_sink {
	char	*buf;
	size_t	 len, cap;
	int	 overflow;
};

/* GPGME write callback: append to the sink or refuse past PGP_MAXPLAIN. */
static ssize_t
pgp_sink_write(void *arg, const void *data, size_t size)
{
	struct pgp_sink	*k = arg;
	char		*nb;
	size_t		 ncap;

	if (size > PGP_MAXPLAIN - k->len) {
		k->overflow = 1;
		errno = EFBIG;
		return (-1);
	}
	if (k->len + size > k->cap) {
		ncap = k->cap == 0 ? 4096 : k->cap;
		while (ncap < k->len + size)
			ncap *= 2;
		nb = xmalloc(ncap);
		if (k->len > 0)
			memcpy(nb, k->buf, k->len);
		pgp_wipe_free(k->buf, k->cap);
		k->buf = nb;
		k->cap = ncap;
	}
	memcpy(k->buf + k->len, data, size);
	k->len += size;
	return ((ssize_t)size);
}

/* Decrypt in[0..len) into a new buffer; -1 with *errstr on failure. */
int
pgp_decrypt(struct pgp *p, const void *in, size_t len, char **out,
    size_t *outlen, char **errstr)
{
	static struct gpgme_data_cbs cbs = { NULL, pgp_sink_write, NULL, NULL };
	struct pgp_sink	 sink = { NULL, 0, 0, 0 };
	gpgme_data_t	 din = NULL, dout = NULL;
	gpgme_error_t	 e;
	int		 ret = -1;

	*out = NULL;
	*outlen = 0;
	if ((e = gpgme_data_new_from_mem(&din, in, len, 0)) != 0 ||
	    (e = gpgme_data_new_from_cbs(&dout, &cbs, &sink)) != 0) {
		pgp_fail(errstr, "gpgme_data_new", e);
		goto done;
	}
	e = gpgme_op_decrypt(p->ctx, din, dout);
	if (sink.overflow) {
		xasprintf(errstr, "decrypted secret larger than %d bytes",
		    PGP_MAXPLAIN);
		goto done;
	}
	if (e != 0) {
		xasprintf(errstr, "cannot decrypt the secret: %s",
		    gpgme_strerror(e));
		goto done;
	}
	*out = sink.buf;
	*outlen = sink.len;
	sink.buf = NULL;
	ret = 0;
done:
	pgp_wipe_free(sink.buf, sink.cap);
	if (din != NULL)
		gpgme_data_release(din);
	if (dout != NULL)
		gpgme_data_release(dout);
	return (ret);
}
