/*
 * mandos-keygen.c: makes a Mandos client's key set (a raw TLS key pair
 * through GnuTLS, an OpenPGP key pair through GPGME) in the same files and
 * formats as the reference mandos-keygen, and encrypts a secret to that key,
 * printing a ready clients.json entry or a clients.conf section.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "client-pgp.h"
#include "keyid.h"
#include "log.h"
#include "xmalloc.h"

#define KG_MAXSECRET	(1024 * 1024)

static struct {
	const char	*dir;
	const char	*type, *subtype;
	unsigned	 length, sublength;
	const char	*name, *email, *comment, *expire;
	const char	*tls_keytype;
	const char	*host;
	const char	*passfile;
	int		 force, password, conf;
} kg = {
	.type = "RSA", .subtype = "RSA", .length = 4096, .sublength = 4096,
	.expire = "0", .tls_keytype = "ed25519",
};

static char	 kg_paths[4][PATH_MAX];	/* seckey, pubkey, tls-priv, tls-pub */
static char	 kg_tmp[4][PATH_MAX + 8];	/* staged new files */

static __attribute__((noreturn)) void kg_usage(int);
static unsigned	 kg_bits(const char *, const char *);
static void	 kg_stage(int, const void *, size_t);
static void	 kg_unstage(void);
static void	 kg_commit(void);
static void	 kg_tls(void);
static void	 kg_pgp(void);
static void	 kg_keyid(char *);
static char	*kg_base64(const unsigned char *, size_t);
static char	*kg_read_secret(size_t *);
static char	*kg_read_tty_line(FILE *, FILE *, const char *, int);
static void	 kg_json_string(const char *);
static void	 kg_encrypt(void);

/* Print usage and exit with status. */
static void
kg_usage(int status)
{
	FILE	*f = status == 0 ? stdout : stderr;

	fprintf(f,
"usage: mandos-keygen [options]                 make a key set\n"
"       mandos-keygen -p|-F FILE [--conf] [...]  encrypt a secret, print entry\n"
"  -d, --dir DIR         key directory (/etc/keys/mandos)\n"
"  -t, --type TYPE       OpenPGP key type: RSA (default), DSA, ed25519\n"
"  -l, --length BITS     OpenPGP key length (4096)\n"
"  -s, --subtype TYPE    OpenPGP subkey type: RSA (default), ELG, cv25519\n"
"  -L, --sublength BITS  OpenPGP subkey length (4096)\n"
"  -n, --name NAME       key and client name (default: this host's name)\n"
"  -e, --email ADDRESS   e-mail of the OpenPGP key\n"
"  -c, --comment TEXT    comment of the OpenPGP key\n"
"  -x, --expire TIME     OpenPGP key expiry, as gpg(1) takes it (0: never)\n"
"  -T, --tls-keytype T   TLS key type: ed25519 (default), ed448, rsa\n"
"  -f, --force           overwrite existing key files\n"
"  -p, --password        prompt for the secret (no echo) and encrypt it\n"
"  -F, --passfile FILE   encrypt the contents of FILE\n"
"      --conf            print a reference clients.conf section, not JSON\n"
"      --host HOST       the client's host for its checker (default: NAME)\n"
"  -S, --no-ssh          accepted for compatibility (no SSH checker is made)\n"
"  -h, --help            this help\n"
"  -v, -V, --version     print the version\n");
	exit(status);
}

/* Parse a key length in bits for option opt, or exit. */
static unsigned
kg_bits(const char *opt, const char *s)
{
	char		*end;
	unsigned long	 v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 512 || v > 16384)
		fatalx("bad --%s \"%s\": want bits in 512..16384", opt, s);
	return ((unsigned)v);
}

/* Write data for key file i to a 0600 temporary file next to it. */
static void
kg_stage(int i, const void *data, size_t len)
{
	int	 fd;

	snprintf(kg_tmp[i], sizeof(kg_tmp[i]), "%s.XXXXXX", kg_paths[i]);
	if ((fd = mkstemp(kg_tmp[i])) == -1) {
		kg_tmp[i][0] = '\0';
		fatal("cannot create a file next to %s", kg_paths[i]);
	}
	if (fchmod(fd, 0600) == -1 || write(fd, data, len) != (ssize_t)len ||
	    fsync(fd) == -1)
		fatal("cannot write %s", kg_tmp[i]);
	close(fd);
}

/* Remove staged files that never made it (at exit, also after fatal). */
static void
kg_unstage(void)
{
	int	 i;

	for (i = 0; i < 4; i++)
		if (kg_tmp[i][0] != '\0') {
			unlink(kg_tmp[i]);
			kg_tmp[i][0] = '\0';
		}
}

/* Move old key files to FILE.~N~ (as the reference does), staged ones in. */
static void
kg_commit(void)
{
	char	 bak[PATH_MAX + 16];
	int	 i, n;

	for (i = 0; i < 4; i++) {
		if (access(kg_paths[i], F_OK) == 0) {
			for (n = 1; n < 10000; n++) {
				if ((size_t)snprintf(bak, sizeof(bak),
				    "%s.~%d~", kg_paths[i], n) >= sizeof(bak))
					fatalx("path too long: %s", kg_paths[i]);
				if (access(bak, F_OK) == -1)
					break;
			}
			if (rename(kg_paths[i], bak) == -1)
				fatal("cannot back up %s", kg_paths[i]);
		}
		if (rename(kg_tmp[i], kg_paths[i]) == -1)
			fatal("cannot rename %s to %s", kg_tmp[i], kg_paths[i]);
		kg_tmp[i][0] = '\0';
	}
	/* Make the renames durable. */
	if ((n = open(kg.dir, O_RDONLY | O_DIRECTORY)) != -1) {
		fsync(n);
		close(n);
	}
}

/* Make the TLS key pair; stage tls-privkey.pem and tls-pubkey.pem. */
static void
kg_tls(void)
{
	gnutls_x509_privkey_t	 x;
	gnutls_privkey_t	 priv;
	gnutls_pubkey_t		 pub;
	gnutls_datum_t		 d;
	gnutls_pk_algorithm_t	 alg;
	unsigned		 bits;
	int			 r;

	if (strcasecmp(kg.tls_keytype, "ed25519") == 0) {
		alg = GNUTLS_PK_EDDSA_ED25519;
		bits = GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_ED25519);
	} else if (strcasecmp(kg.tls_keytype, "ed448") == 0) {
		alg = GNUTLS_PK_EDDSA_ED448;
		bits = GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_ED448);
	} else if (strcasecmp(kg.tls_keytype, "rsa") == 0) {
		alg = GNUTLS_PK_RSA;
		bits = 3072;
	} else
		fatalx("unknown --tls-keytype \"%s\"", kg.tls_keytype);

	if ((r = gnutls_x509_privkey_init(&x)) != 0 ||
	    (r = gnutls_x509_privkey_generate(x, alg, bits, 0)) != 0)
		fatalx("TLS key generation: %s", gnutls_strerror(r));
	if ((r = gnutls_x509_privkey_export2_pkcs8(x, GNUTLS_X509_FMT_PEM, NULL,
	    GNUTLS_PKCS_PLAIN, &d)) != 0)
		fatalx("TLS key export: %s", gnutls_strerror(r));
	kg_stage(2, d.data, d.size);
	gnutls_memset(d.data, 0, d.size);
	gnutls_free(d.data);

	if ((r = gnutls_privkey_init(&priv)) != 0 ||
	    (r = gnutls_privkey_import_x509(priv, x, 0)) != 0 ||
	    (r = gnutls_pubkey_init(&pub)) != 0 ||
	    (r = gnutls_pubkey_import_privkey(pub, priv, 0, 0)) != 0 ||
	    (r = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_PEM, &d)) != 0)
		fatalx("TLS public key: %s", gnutls_strerror(r));
	kg_stage(3, d.data, d.size);
	gnutls_free(d.data);
	gnutls_pubkey_deinit(pub);
	gnutls_privkey_deinit(priv);
	gnutls_x509_privkey_deinit(x);
}

/* Make the OpenPGP key pair; stage seckey.txt and pubkey.txt. */
static void
kg_pgp(void)
{
	struct pgp		 p;
	gpgme_genkey_result_t	 res;
	gpgme_data_t		 d;
	gpgme_error_t		 e;
	char			*params, *errstr, *buf, *fpr, ctl[512];
	const char		*ktype, *stype;
	char			 kline[128], sline[128];
	size_t			 len;
	int			 ed;

	/* Control characters would inject gpg batch parameters. */
	snprintf(ctl, sizeof(ctl), "%s%s%s", kg.name, kg.email ? kg.email : "",
	    kg.comment ? kg.comment : "");
	if (strpbrk(ctl, "\n\r<>") != NULL || strpbrk(kg.expire, "\n\r<>"))
		fatalx("name, e-mail, comment and expiry must be one line "
		    "without < or >");
	ed = strcasecmp(kg.type, "ed25519") == 0 ||
	    strcasecmp(kg.type, "eddsa") == 0;
	ktype = ed ? "EDDSA" : kg.type;
	stype = kg.subtype;
	if (ed && strcasecmp(stype, "RSA") == 0)
		stype = "cv25519";
	if (ed)
		snprintf(kline, sizeof(kline), "Key-Type: EDDSA\n"
		    "Key-Curve: ed25519\n");
	else
		snprintf(kline, sizeof(kline), "Key-Type: %s\nKey-Length: %u\n",
		    ktype, kg.length);
	if (strcasecmp(stype, "cv25519") == 0 || strcasecmp(stype, "ecdh") == 0)
		snprintf(sline, sizeof(sline), "Subkey-Type: ECDH\n"
		    "Subkey-Curve: cv25519\n");
	else
		snprintf(sline, sizeof(sline), "Subkey-Type: %s\n"
		    "Subkey-Length: %u\n", stype, kg.sublength);
	xasprintf(&params, "<GnupgKeyParms format=\"internal\">\n"
	    "%sKey-Usage: sign,auth\n%sSubkey-Usage: encrypt\n"
	    "Name-Real: %s\n%s%s%s%s%s%sExpire-Date: %s\n%%no-protection\n"
	    "</GnupgKeyParms>\n", kline, sline, kg.name,
	    kg.comment ? "Name-Comment: " : "", kg.comment ? kg.comment : "",
	    kg.comment ? "\n" : "", kg.email ? "Name-Email: " : "",
	    kg.email ? kg.email : "", kg.email ? "\n" : "", kg.expire);

	if (pgp_new(&p, NULL, &errstr) == -1)
		fatalx("%s", errstr);
	if ((e = gpgme_op_genkey(p.ctx, params, NULL, NULL)) != 0) {
		pgp_free(&p);
		fatalx("OpenPGP key generation: %s", gpgme_strerror(e));
	}
	free(params);
	res = gpgme_op_genkey_result(p.ctx);
	if (res == NULL || res->fpr == NULL) {
		pgp_free(&p);
		fatalx("OpenPGP key generation gave no key");
	}
	fpr = xstrdup(res->fpr);
	gpgme_set_armor(p.ctx, 1);

	if ((e = gpgme_data_new(&d)) != 0 ||
	    (e = gpgme_op_export(p.ctx, fpr, GPGME_EXPORT_MODE_SECRET |
	    GPGME_EXPORT_MODE_MINIMAL, d)) != 0) {
		pgp_free(&p);
		fatalx("OpenPGP secret key export: %s", gpgme_strerror(e));
	}
	buf = gpgme_data_release_and_get_mem(d, &len);
	if (buf == NULL || len == 0) {
		pgp_free(&p);
		fatalx("OpenPGP secret key export gave nothing");
	}
	kg_stage(0, buf, len);
	explicit_bzero(buf, len);
	gpgme_free(buf);

	if ((e = gpgme_data_new(&d)) != 0 ||
	    (e = gpgme_op_export(p.ctx, fpr, GPGME_EXPORT_MODE_MINIMAL, d)) != 0) {
		pgp_free(&p);
		fatalx("OpenPGP public key export: %s", gpgme_strerror(e));
	}
	buf = gpgme_data_release_and_get_mem(d, &len);
	if (buf == NULL || len == 0) {
		pgp_free(&p);
		fatalx("OpenPGP public key export gave nothing");
	}
	kg_stage(1, buf, len);
	gpgme_free(buf);
	free(fpr);
	pgp_free(&p);
}

/* The key ID of tls-pubkey.pem into buf (KEYID_HEXLEN + 1 bytes), or exit. */
static void
kg_keyid(char *buf)
{
	gnutls_pubkey_t	 pub;
	gnutls_datum_t	 d;
	uint8_t		 id[KEYID_LEN];
	size_t		 idlen = sizeof(id);
	int		 r;

	if ((r = gnutls_load_file(kg_paths[3], &d)) != 0)
		fatalx("cannot read %s: %s", kg_paths[3], gnutls_strerror(r));
	if ((r = gnutls_pubkey_init(&pub)) != 0 ||
	    (r = gnutls_pubkey_import(pub, &d, GNUTLS_X509_FMT_PEM)) != 0 ||
	    (r = gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA256, id,
	    &idlen)) != 0)
		fatalx("bad TLS public key %s: %s", kg_paths[3],
		    gnutls_strerror(r));
	gnutls_free(d.data);
	gnutls_pubkey_deinit(pub);
	keyid_format(id, buf);
}

/* Base64 of buf (no line breaks), newly allocated. */
static char *
kg_base64(const unsigned char *buf, size_t len)
{
	static const char	 tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	char			*out, *o;
	size_t			 i;
	uint32_t		 v;

	o = out = xmalloc((len + 2) / 3 * 4 + 1);
	for (i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)buf[i] << 16 | (uint32_t)buf[i + 1] << 8 | buf[i + 2];
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = tab[(v >> 6) & 63];
		*o++ = tab[v & 63];
	}
	if (i < len) {
		v = (uint32_t)buf[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)buf[i + 1] << 8;
		*o++ = tab[v >> 18];
		*o++ = tab[(v >> 12) & 63];
		*o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return (out);
}

/* Prompt on out and read one line from in, echo off if echo is 0. */
static char *
kg_read_tty_line(FILE *in, FILE *out, const char *prompt, int echo)
{
	struct termios	 t, saved;
	char		*line = NULL;
	size_t		 cap = 0;
	ssize_t		 n;
	int		 restore = 0;

	if (out != NULL) {
		fputs(prompt, out);
		fflush(out);
	}
	if (!echo && tcgetattr(fileno(in), &saved) == 0) {
		t = saved;
		t.c_lflag &= ~(tcflag_t)ECHO;
		if (tcsetattr(fileno(in), TCSAFLUSH, &t) == 0)
			restore = 1;
	}
	n = getline(&line, &cap, in);
	if (restore) {
		tcsetattr(fileno(in), TCSAFLUSH, &saved);
		if (out != NULL)
			fputc('\n', out);
	}
	if (n == -1) {
		free(line);
		return (NULL);
	}
	if (n > 0 && line[n - 1] == '\n')
		line[n - 1] = '\0';
	return (line);
}

/* The secret to encrypt: --passfile contents or a twice-typed passphrase. */
static char *
kg_read_secret(size_t *len)
{
	FILE	*f, *tty;
	char	*buf, *a, *b;
	size_t	 n;

	if (kg.passfile != NULL) {
		if ((f = fopen(kg.passfile, "r")) == NULL)
			fatal("cannot read %s", kg.passfile);
		buf = xmalloc(KG_MAXSECRET + 1);
		n = fread(buf, 1, KG_MAXSECRET + 1, f);
		if (ferror(f))
			fatal("cannot read %s", kg.passfile);
		fclose(f);
		if (n > KG_MAXSECRET)
			fatalx("%s is larger than %d bytes", kg.passfile,
			    KG_MAXSECRET);
		if (n == 0)
			fatalx("%s is empty", kg.passfile);
		*len = n;
		return (buf);
	}
	if ((tty = fopen("/dev/tty", "r+")) != NULL) {
		a = kg_read_tty_line(tty, tty, "Enter passphrase: ", 0);
		b = a ? kg_read_tty_line(tty, tty, "Repeat passphrase: ", 0) :
		    NULL;
		fclose(tty);
	} else {
		a = kg_read_tty_line(stdin, NULL, "", 1);
		b = a ? kg_read_tty_line(stdin, NULL, "", 1) : NULL;
	}
	if (a == NULL || b == NULL)
		fatalx("no passphrase given");
	if (strcmp(a, b) != 0)
		fatalx("passphrase mismatch");
	if (*a == '\0')
		fatalx("empty passphrase");
	pgp_wipe_free(b, strlen(b));
	*len = strlen(a);
	return (a);
}

/* Print s as a JSON string literal. */
static void
kg_json_string(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

/* Encrypt (and sign) the secret to the key set; print the table entry. */
static void
kg_encrypt(void)
{
	struct pgp	 p;
	gpgme_key_t	 keys[2] = { NULL, NULL };
	gpgme_data_t	 in, out;
	gpgme_error_t	 e;
	char		*errstr, *fpr = NULL, *secret, *blob, *b64;
	char		 keyid[KEYID_HEXLEN + 1];
	size_t		 slen, blen, i;

	kg_keyid(keyid);
	if (pgp_new(&p, NULL, &errstr) == -1)
		fatalx("%s", errstr);
	if (pgp_import_file(&p, kg_paths[1], &errstr) == -1 ||
	    pgp_import_file(&p, kg_paths[0], &errstr) == -1) {
		pgp_free(&p);
		fatalx("%s", errstr);
	}
	if (!pgp_have_secret(&p, &fpr)) {
		pgp_free(&p);
		fatalx("no OpenPGP secret key in %s", kg_paths[0]);
	}
	if ((e = gpgme_get_key(p.ctx, fpr, &keys[0], 0)) != 0) {
		pgp_free(&p);
		fatalx("OpenPGP key %s: %s", fpr, gpgme_strerror(e));
	}
	secret = kg_read_secret(&slen);
	if ((e = gpgme_data_new_from_mem(&in, secret, slen, 0)) != 0 ||
	    (e = gpgme_data_new(&out)) != 0 ||
	    (e = gpgme_op_encrypt_sign(p.ctx, keys, GPGME_ENCRYPT_ALWAYS_TRUST,
	    in, out)) != 0) {
		pgp_free(&p);
		fatalx("cannot encrypt the secret: %s", gpgme_strerror(e));
	}
	gpgme_data_release(in);
	pgp_wipe_free(secret, slen);
	blob = gpgme_data_release_and_get_mem(out, &blen);
	if (blob == NULL || blen == 0) {
		pgp_free(&p);
		fatalx("encryption gave nothing");
	}
	b64 = kg_base64((unsigned char *)blob, blen);
	gpgme_free(blob);
	gpgme_key_unref(keys[0]);
	pgp_free(&p);

	if (kg.conf) {
		for (i = 0; keyid[i] != '\0'; i++)
			if (keyid[i] >= 'A' && keyid[i] <= 'F')
				keyid[i] = (char)(keyid[i] - 'A' + 'a');
		printf("[%s]\nhost = %s\nkey_id = %s\nfingerprint = %s\n"
		    "secret =\n", kg.name, kg.host, keyid, fpr);
		for (i = 0; i < strlen(b64); i += 64)
			printf("    %.64s\n", b64 + i);
	} else {
		kg_json_string(kg.name);
		printf(": {\n  \"key_id\": \"%s\",\n  \"secret\": \"%s\",\n"
		    "  \"host\": ", keyid, b64);
		kg_json_string(kg.host);
		printf("\n}\n");
	}
	free(b64);
	free(fpr);
	if (fflush(stdout) == EOF || ferror(stdout))
		fatal("stdout");
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "dir",	required_argument, NULL, 'd' },
		{ "type",	required_argument, NULL, 't' },
		{ "length",	required_argument, NULL, 'l' },
		{ "subtype",	required_argument, NULL, 's' },
		{ "sublength",	required_argument, NULL, 'L' },
		{ "name",	required_argument, NULL, 'n' },
		{ "email",	required_argument, NULL, 'e' },
		{ "comment",	required_argument, NULL, 'c' },
		{ "expire",	required_argument, NULL, 'x' },
		{ "tls-keytype", required_argument, NULL, 'T' },
		{ "force",	no_argument,	   NULL, 'f' },
		{ "password",	no_argument,	   NULL, 'p' },
		{ "passfile",	required_argument, NULL, 'F' },
		{ "no-ssh",	no_argument,	   NULL, 'S' },
		{ "conf",	no_argument,	   NULL, 1 },
		{ "host",	required_argument, NULL, 2 },
		{ "help",	no_argument,	   NULL, 'h' },
		{ "version",	no_argument,	   NULL, 'V' },
		{ NULL,		0,		   NULL, 0 }
	};
	static const char *files[4] = { "seckey.txt", "pubkey.txt",
	    "tls-privkey.pem", "tls-pubkey.pem" };
	struct stat	 sb;
	char		 host[256], keyid[KEYID_HEXLEN + 1];
	int		 ch, i, exists = 0;

	log_init("mandos-keygen", 1, 0);
	while ((ch = getopt_long(argc, argv, "d:t:l:s:L:n:e:c:x:T:fpF:ShvV",
	    opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			kg.dir = optarg;
			break;
		case 't':
			kg.type = optarg;
			break;
		case 'l':
			kg.length = kg_bits("length", optarg);
			break;
		case 's':
			kg.subtype = optarg;
			break;
		case 'L':
			kg.sublength = kg_bits("sublength", optarg);
			break;
		case 'n':
			kg.name = optarg;
			break;
		case 'e':
			kg.email = *optarg ? optarg : NULL;
			break;
		case 'c':
			kg.comment = *optarg ? optarg : NULL;
			break;
		case 'x':
			kg.expire = optarg;
			break;
		case 'T':
			kg.tls_keytype = optarg;
			break;
		case 'f':
			kg.force = 1;
			break;
		case 'p':
			kg.password = 1;
			break;
		case 'F':
			kg.passfile = optarg;
			kg.password = 1;
			break;
		case 'S':
			break;
		case 1:
			kg.conf = 1;
			break;
		case 2:
			kg.host = optarg;
			break;
		case 'h':
			kg_usage(0);
		case 'v':
		case 'V':
			printf("mandos-keygen (%s) %s\n", PACKAGE_NAME,
			    PACKAGE_VERSION);
			return (0);
		default:
			kg_usage(1);
		}
	}
	if (optind != argc)
		kg_usage(1);
	if (kg.dir == NULL) {
		kg.dir = "/etc/keys/mandos";
		if (stat(kg.dir, &sb) == -1 || !S_ISDIR(sb.st_mode))
			kg.dir = "/etc/mandos/keys";
	}
	if (stat(kg.dir, &sb) == -1 || !S_ISDIR(sb.st_mode))
		fatalx("%s is not a directory", kg.dir);
	if (kg.name == NULL) {
		if (gethostname(host, sizeof(host)) == -1)
			fatal("gethostname");
		host[sizeof(host) - 1] = '\0';
		kg.name = host;
	}
	if (*kg.name == '\0')
		fatalx("empty --name");
	if (kg.host == NULL)
		kg.host = kg.name;
	if (strpbrk(kg.name, "[]\n\r") != NULL || strpbrk(kg.host, "\n\r"))
		fatalx("name and host must be one line (and no [ ] in name)");
	for (i = 0; i < 4; i++) {
		if ((size_t)snprintf(kg_paths[i], sizeof(kg_paths[i]), "%s/%s",
		    kg.dir, files[i]) >= sizeof(kg_paths[i]))
			fatalx("path too long: %s", kg.dir);
		if (access(kg_paths[i], F_OK) == 0)
			exists = 1;
	}
	umask(077);
	if ((i = gnutls_global_init()) != 0)
		fatalx("gnutls_global_init: %s", gnutls_strerror(i));

	if (kg.password) {
		kg_encrypt();
		return (0);
	}
	if (access(kg.dir, W_OK) == -1)
		fatal("cannot write to %s", kg.dir);
	if (exists && !kg.force)
		fatalx("refusing to overwrite key files in %s; use --force",
		    kg.dir);
	atexit(kg_unstage);
	kg_tls();
	kg_pgp();
	kg_commit();
	kg_keyid(keyid);
	printf("%s\n", keyid);
	return (0);
}
