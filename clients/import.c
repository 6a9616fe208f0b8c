/*
 * import.c: the reference server's clients.conf (Python configparser INI)
 * into mandosd's clients.json. libinih parses; this file adds what inih and
 * configparser disagree on: long lines, multi-line values, duplicate
 * sections and options, %(name)s interpolation and the [DEFAULT] section.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <ini.h>
#include <jansson.h>

#include "duration.h"
#include "import.h"
#include "keyid.h"
#include "xmalloc.h"

#define IMP_MAXFILE	(16 * 1024 * 1024)
#define IMP_CHUNK	150	/* longest line handed to inih (it reads 199) */
#define IMP_MAXDEPTH	10	/* configparser's MAX_INTERPOLATION_DEPTH */
/* Nested "%(x)s" grows exponentially: bound each value and the work. */
#define IMP_MAXVAL	(1024 * 1024)
#define IMP_MAXSUBST	10000

enum imp_type { T_DUR, T_BOOL, T_STR, T_CHECKER, T_SECRET, T_SECFILE,
	T_KEYID, T_IGNORE };

/* Settings of the reference; client_only ones never go to "defaults". */
static const struct imp_setting {
	const char	*name;
	enum imp_type	 type;
	int		 client_only;
	const char	*builtin;	/* the reference's built-in default */
} imp_settings[] = {
	{ "key_id",		T_KEYID,	1, NULL },
	{ "secret",		T_SECRET,	1, NULL },
	{ "secfile",		T_SECFILE,	1, NULL },
	{ "host",		T_STR,		1, "" },
	{ "enabled",		T_BOOL,		0, "True" },
	{ "timeout",		T_DUR,		0, "PT5M" },
	{ "interval",		T_DUR,		0, "PT2M" },
	{ "extended_timeout",	T_DUR,		0, "PT15M" },
	{ "checker",		T_CHECKER,	0, "fping -q -- %%(host)s" },
	{ "approved_by_default", T_BOOL,	0, "True" },
	{ "approval_delay",	T_DUR,		0, "PT0S" },
	{ "approval_duration",	T_DUR,		0, "PT1S" },
	{ "fingerprint",	T_IGNORE,	1, NULL },
};
#define IMP_NSETTINGS	(sizeof(imp_settings) / sizeof(imp_settings[0]))

struct imp_kv {
	char	*key;
	char	*val;
	int	 line;
};

struct imp_sec {
	char		*name;
	struct imp_kv	*kv;
	size_t		 nkv;
	int		 line;
};

struct imp {
	const char	*path;
	struct imp_sec	*secs;		/* secs[0] is [DEFAULT] */
	size_t		 nsecs;
	struct imp_sec	*cur;
	int		*entry_cont;	/* per value line: 0 key, 1 cont, 2 split */
	int		*entry_line;	/* per value line: line in the file */
	size_t		 nentries, entry;
	int		*tline;		/* transformed line -> file line */
	size_t		 ntlines;
	char		*err;
	char		**hdrs;		/* section headers seen */
	size_t		 nhdrs;
};

static int	 imp_fail(struct imp *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	 imp_warn(struct imp *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static char	*imp_prepare(struct imp *, const char *, size_t);
static int	 imp_section_seen(struct imp *, const char *, size_t, int);
static int	 imp_handler(void *, const char *, const char *, const char *);
static struct imp_kv *imp_find(struct imp_sec *, const char *);
static const char *imp_raw(struct imp *, struct imp_sec *, const char *,
		    int *);
static char	*imp_interp(struct imp *, struct imp_sec *, const char *,
		    const char *, int, int);
static json_t	*imp_convert(struct imp *, const struct imp_setting *,
		    const char *, const char *, int);
static char	*imp_checker(struct imp *, const char *, const char *, int);
static void	 imp_free(struct imp *);

/* Record the first error (file:line: message); returns -1. */
static int
imp_fail(struct imp *im, int line, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	if (im->err != NULL)
		return (-1);
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		msg = NULL;
	va_end(ap);
	if (line > 0)
		xasprintf(&im->err, "%s:%d: %s", im->path, line,
		    msg ? msg : "error");
	else
		xasprintf(&im->err, "%s: %s", im->path, msg ? msg : "error");
	free(msg);
	return (-1);
}

/* One warning line on stderr: file:line: message. */
static void
imp_warn(struct imp *im, int line, const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "import: %s:%d: warning: ", im->path, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Note a "[name]" header; -1 with im->err if name came before. */
static int
imp_section_seen(struct imp *im, const char *s, size_t len, int line)
{
	const char	*e;
	char		*name;
	size_t		 i;

	if ((e = memchr(s, ']', len)) == NULL)
		return (0);		/* inih reports the syntax error */
	name = xmalloc((size_t)(e - s));
	memcpy(name, s + 1, (size_t)(e - s - 1));
	name[e - s - 1] = '\0';
	for (i = 0; i < im->nhdrs; i++)
		if (strcmp(im->hdrs[i], name) == 0) {
			imp_fail(im, line, "section [%s] appears twice", name);
			free(name);
			return (-1);
		}
	im->hdrs = xreallocarray(im->hdrs, im->nhdrs + 1, sizeof(char *));
	im->hdrs[im->nhdrs++] = name;
	return (0);
}

/*
 * Rewrite the file for inih: lines it would cut are split into continuation
 * lines it joins back without a separator; note which value line is which.
 * NULL with im->err on what inih cannot read as configparser does.
 */
static char *
imp_prepare(struct imp *im, const char *buf, size_t len)
{
	const char	*p = buf, *end = buf + len, *nl, *s;
	char		*out, *o;
	size_t		 ll, cap, i, n, start;
	int		 line = 0, prev_name = 0, cont;

	cap = len * 2 + 64;
	o = out = xmalloc(cap);
	while (p < end) {
		line++;
		nl = memchr(p, '\n', (size_t)(end - p));
		ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		for (i = 0; i < ll && isspace((unsigned char)p[i]); i++)
			;
		s = p + i;
		if (memchr(p, '\0', ll) != NULL) {
			imp_fail(im, line, "NUL byte");
			free(out);
			return (NULL);
		}
		if (i == ll || *s == '#' || *s == ';')
			cont = -1;		/* blank or comment */
		else if (prev_name && i > 0)
			cont = 1;
		else if (*s == '[') {
			cont = -1;
			prev_name = 0;
			if (imp_section_seen(im, s, ll - i, line) == -1) {
				free(out);
				return (NULL);
			}
		} else {
			cont = 0;
			prev_name = 1;
		}
		if (cont >= 0) {
			for (n = i + 1; n < ll; n++)
				if (p[n] == ';' &&
				    isspace((unsigned char)p[n - 1])) {
					imp_fail(im, line, "\" ;\" in a value: "
					    "the INI parser would cut the value "
					    "there, the reference would not");
					free(out);
					return (NULL);
				}
		}
		/* Split long value lines at spots inih cannot blur. */
		start = 0;
		while (cont >= 0 && ll - start > IMP_CHUNK) {
			size_t min = start + 1;

			if (start == 0 && cont == 0) {
				const char *eq = strpbrk(p, "=:");
				min = eq && eq < p + ll ? (size_t)(eq - p) + 2 : 1;
			}
			for (n = start + IMP_CHUNK; n > min; n--)
				if (!isspace((unsigned char)p[n - 1]) &&
				    !isspace((unsigned char)p[n]) &&
				    p[n] != ';' && p[n] != '#')
					break;
			if (n <= min)
				break;
			if (start > 0)
				*o++ = ' ';
			memcpy(o, p + start, n - start);
			o += n - start;
			*o++ = '\n';
			im->tline = xreallocarray(im->tline, im->ntlines + 1,
			    sizeof(int));
			im->tline[im->ntlines++] = line;
			im->entry_cont = xreallocarray(im->entry_cont,
			    im->nentries + 1, sizeof(int));
			im->entry_line = xreallocarray(im->entry_line,
			    im->nentries + 1, sizeof(int));
			im->entry_cont[im->nentries] = start > 0 ? 2 : cont;
			im->entry_line[im->nentries++] = line;
			start = n;
		}
		if (cont >= 0 && ll - start > IMP_CHUNK) {
			imp_fail(im, line, "line too long for the INI parser "
			    "and no place to split it");
			free(out);
			return (NULL);
		}
		if (start > 0)
			*o++ = ' ';
		memcpy(o, p + start, ll - start);
		o += ll - start;
		*o++ = '\n';
		im->tline = xreallocarray(im->tline, im->ntlines + 1,
		    sizeof(int));
		im->tline[im->ntlines++] = line;
		if (cont >= 0) {
			im->entry_cont = xreallocarray(im->entry_cont,
			    im->nentries + 1, sizeof(int));
			im->entry_line = xreallocarray(im->entry_line,
			    im->nentries + 1, sizeof(int));
			im->entry_cont[im->nentries] = start > 0 ? 2 : cont;
			im->entry_line[im->nentries++] = line;
		}
		p = nl ? nl + 1 : end;
	}
	*o = '\0';
	return (out);
}

/* The setting key of section sec, or NULL. */
static struct imp_kv *
imp_find(struct imp_sec *sec, const char *key)
{
	size_t	 i;

	for (i = 0; i < sec->nkv; i++)
		if (strcmp(sec->kv[i].key, key) == 0)
			return (&sec->kv[i]);
	return (NULL);
}

/* inih callback: one value line; sections, options, continuations. */
static int
imp_handler(void *arg, const char *section, const char *name,
    const char *value)
{
	struct imp	*im = arg;
	struct imp_kv	*kv;
	char		*key, *nv;
	size_t		 i;
	int		 line, cont;

	if (im->err != NULL)
		return (0);
	if (im->entry >= im->nentries)
		return (imp_fail(im, 0, "internal: value lines out of step"),
		    0);
	line = im->entry_line[im->entry];
	cont = im->entry_cont[im->entry++];
	if (*section == '\0')
		return (imp_fail(im, line, "setting before any [section]"), 0);
	if (im->cur == NULL || strcmp(im->cur->name, section) != 0) {
		for (i = 0; i < im->nsecs; i++)
			if (strcmp(im->secs[i].name, section) == 0)
				break;
		if (i < im->nsecs && (i > 0 || im->secs[0].nkv > 0))
			return (imp_fail(im, line, "section [%s] appears twice",
			    section), 0);
		if (i == im->nsecs) {
			im->secs = xreallocarray(im->secs, im->nsecs + 1,
			    sizeof(*im->secs));
			memset(&im->secs[im->nsecs], 0, sizeof(*im->secs));
			im->secs[im->nsecs].name = xstrdup(section);
			im->secs[im->nsecs].line = line;
			im->nsecs++;
		}
		im->cur = &im->secs[i];
	}
	if (cont > 0) {
		if (im->cur->nkv == 0)
			return (imp_fail(im, line, "continuation line without "
			    "a setting"), 0);
		kv = &im->cur->kv[im->cur->nkv - 1];
		xasprintf(&nv, "%s%s%s", kv->val, cont == 1 ? "\n" : "", value);
		free(kv->val);
		kv->val = nv;
		return (1);
	}
	key = xstrdup(name);
	for (i = 0; key[i] != '\0'; i++)
		key[i] = (char)tolower((unsigned char)key[i]);
	if (imp_find(im->cur, key) != NULL) {
		imp_fail(im, line, "setting \"%s\" appears twice in [%s]", key,
		    section);
		free(key);
		return (0);
	}
	im->cur->kv = xreallocarray(im->cur->kv, im->cur->nkv + 1,
	    sizeof(*im->cur->kv));
	kv = &im->cur->kv[im->cur->nkv++];
	kv->key = key;
	kv->val = xstrdup(value);
	kv->line = line;
	return (1);
}

/* The raw value of key as section sec sees it (then DEFAULT, built-ins). */
static const char *
imp_raw(struct imp *im, struct imp_sec *sec, const char *key, int *line)
{
	struct imp_kv	*kv;
	size_t		 i;

	if ((kv = imp_find(sec, key)) != NULL ||
	    (kv = imp_find(&im->secs[0], key)) != NULL) {
		if (line != NULL)
			*line = kv->line;
		return (kv->val);
	}
	for (i = 0; i < IMP_NSETTINGS; i++)
		if (strcmp(imp_settings[i].name, key) == 0)
			return (imp_settings[i].builtin);
	return (NULL);
}

/*
 * configparser's BasicInterpolation of raw (the value of key) in section
 * sec: "%%" is "%", "%(name)s" the interpolated value of name. NULL with
 * im->err on error (unless quiet: then NULL and no error).
 */
static char *
imp_interp(struct imp *im, struct imp_sec *sec, const char *key,
    const char *raw, int line, int quiet)
{
	char		*out, *sub, name[128];
	const char	*p, *e, *ref;
	size_t		 len = 0, cap, n;
	static int	 depth;
	static size_t	 nsubst;

	if (depth == 0)
		nsubst = 0;
	if (depth >= IMP_MAXDEPTH) {
		if (!quiet)
			imp_fail(im, line, "[%s]: interpolation too deep",
			    sec->name);
		return (NULL);
	}
	cap = strlen(raw) + 1;
	out = xmalloc(cap);
	for (p = raw; *p != '\0'; p++) {
		sub = NULL;
		if (*p == '%' && p[1] == '%') {
			p++;
		} else if (*p == '%' && p[1] == '(' &&
		    (e = strchr(p + 2, ')')) != NULL && e[1] == 's' &&
		    (n = (size_t)(e - p - 2)) < sizeof(name)) {
			memcpy(name, p + 2, n);
			name[n] = '\0';
			for (n = 0; name[n] != '\0'; n++)
				name[n] = (char)tolower((unsigned char)name[n]);
			if ((ref = imp_raw(im, sec, name, NULL)) == NULL) {
				if (!quiet)
					imp_fail(im, line, "[%s]: %%(%s)s refers "
					    "to no setting", sec->name, name);
				free(out);
				return (NULL);
			}
			if (++nsubst > IMP_MAXSUBST) {
				if (!quiet)
					imp_fail(im, line, "[%s]: %s: too many "
					    "%%(name)s substitutions (over %d)",
					    sec->name, key, IMP_MAXSUBST);
				free(out);
				return (NULL);
			}
			depth++;
			sub = imp_interp(im, sec, key, ref, line, quiet);
			depth--;
			if (sub == NULL) {
				free(out);
				return (NULL);
			}
			if (cap + strlen(sub) > IMP_MAXVAL) {
				if (!quiet)
					imp_fail(im, line, "[%s]: %s: value too "
					    "long after interpolation (over %d "
					    "bytes)", sec->name, key, IMP_MAXVAL);
				explicit_bzero(sub, strlen(sub));
				free(sub);
				free(out);
				return (NULL);
			}
			cap += strlen(sub);
			out = xreallocarray(out, cap, 1);
			memcpy(out + len, sub, strlen(sub));
			len += strlen(sub);
			free(sub);
			p = e + 1;
			continue;
		} else if (*p == '%') {
			if (!quiet)
				imp_fail(im, line, "[%s]: \"%%\" must be followed "
				    "by \"%%\" or \"(name)s\"", sec->name);
			free(out);
			return (NULL);
		}
		out[len++] = *p;
	}
	out[len] = '\0';
	return (out);
}

/*
 * The reference expands "%(name)s" in a checker when it runs (Python "%"
 * formatting); mandosd's form is "%{name}". Literal "%%" becomes "%".
 */
static char *
imp_checker(struct imp *im, const char *s, const char *client, int line)
{
	char		*out;
	const char	*p, *e;
	size_t		 len = 0;

	out = xmalloc(strlen(s) + 1);
	for (p = s; *p != '\0'; p++) {
		if (p[0] == '%' && p[1] == '(' && (e = strchr(p + 2, ')')) !=
		    NULL && e[1] == 's') {
			out[len++] = '%';
			out[len++] = '{';
			memcpy(out + len, p + 2, (size_t)(e - p - 2));
			len += (size_t)(e - p - 2);
			out[len++] = '}';
			p = e + 1;
			continue;
		}
		if (p[0] == '%' && p[1] == '%') {
			p++;
			if (p[1] == '{' || p[1] == '(')
				imp_warn(im, line, "%s: checker: literal "
				    "\"%%%c\" would read as a substitution in "
				    "mandosd", client, p[1]);
		} else if (p[0] == '%')
			imp_warn(im, line, "%s: checker: lone \"%%\" (the "
			    "reference would fail to run it); kept as is",
			    client);
		out[len++] = *p;
	}
	out[len] = '\0';
	return (out);
}

/* The JSON value of setting st from its interpolated value v; NULL: error. */
static json_t *
imp_convert(struct imp *im, const struct imp_setting *st, const char *v,
    const char *client, int line)
{
	uint8_t		 id[KEYID_LEN];
	char		 buf[KEYID_HEXLEN + 1], *s, *o;
	const char	*errstr;
	uint64_t	 ms;
	json_t		*j;
	gnutls_datum_t	 in, dec;
	size_t		 i, n;

	switch (st->type) {
	case T_DUR:
		if (duration_parse(v, &ms, &errstr) == -1) {
			imp_fail(im, line, "%s: %s: bad duration \"%s\": %s",
			    client, st->name, v, errstr);
			return (NULL);
		}
		duration_format(ms, buf, sizeof(buf));
		return (json_string(buf));
	case T_BOOL:
		if (strcasecmp(v, "1") == 0 || strcasecmp(v, "yes") == 0 ||
		    strcasecmp(v, "true") == 0 || strcasecmp(v, "on") == 0)
			return (json_true());
		if (strcasecmp(v, "0") == 0 || strcasecmp(v, "no") == 0 ||
		    strcasecmp(v, "false") == 0 || strcasecmp(v, "off") == 0)
			return (json_false());
		imp_fail(im, line, "%s: %s: not a boolean: \"%s\"", client,
		    st->name, v);
		return (NULL);
	case T_CHECKER:
		s = imp_checker(im, v, client, line);
		j = json_string(s);
		free(s);
		if (j == NULL)
			imp_fail(im, line, "%s: checker is not UTF-8", client);
		return (j);
	case T_SECRET:
		o = s = xmalloc(strlen(v) + 1);
		for (i = 0; v[i] != '\0'; i++) {
			if (isspace((unsigned char)v[i]))
				continue;
			if (!isalnum((unsigned char)v[i]) && v[i] != '+' &&
			    v[i] != '/' && v[i] != '=') {
				imp_fail(im, line, "%s: secret is not base64 "
				    "(character '%c')", client, v[i]);
				free(s);
				return (NULL);
			}
			*o++ = v[i];
		}
		*o = '\0';
		n = strlen(s);
		if (n == 0 || n % 4 == 1) {
			imp_fail(im, line, "%s: secret is %s", client, n == 0 ?
			    "empty" : "truncated base64");
			free(s);
			return (NULL);
		}
		/* The reference's armor body may lack "=" padding. */
		while (n % 4 != 0) {
			s = xreallocarray(s, n + 2, 1);
			s[n++] = '=';
			s[n] = '\0';
		}
		/* mandosd decodes with GnuTLS, which refuses "=" inside and
		 * stray bits before the padding: refuse what it would refuse. */
		in.data = (unsigned char *)s;
		in.size = (unsigned)n;
		if (gnutls_base64_decode2(&in, &dec) < 0) {
			imp_fail(im, line, "%s: secret is not valid base64",
			    client);
			free(s);
			return (NULL);
		}
		explicit_bzero(dec.data, dec.size);
		gnutls_free(dec.data);
		j = json_string(s);
		free(s);
		return (j);
	case T_KEYID:
		if (keyid_parse(v, id, &errstr) == -1) {
			imp_fail(im, line, "%s: bad key_id \"%s\": %s", client,
			    v, errstr);
			return (NULL);
		}
		if (keyid_is_empty_key(id))
			imp_warn(im, line, "%s: key_id is the ID of the empty "
			    "key and will never match", client);
		keyid_format(id, buf);
		return (json_string(buf));
	case T_SECFILE:
		if (v[0] != '/' || strpbrk(v, "$~") != NULL)
			imp_warn(im, line, "%s: secfile \"%s\" is not a plain "
			    "absolute path; mandosd does not expand ~ or $VARS",
			    client, v);
		if ((j = json_string(v)) == NULL)
			imp_fail(im, line, "%s: secfile is not UTF-8", client);
		return (j);
	case T_STR:
		if ((j = json_string(v)) == NULL)
			imp_fail(im, line, "%s: %s is not UTF-8", client,
			    st->name);
		return (j);
	case T_IGNORE:
		break;
	}
	return (NULL);
}

/* Free the parsed file. */
static void
imp_free(struct imp *im)
{
	size_t	 i, k;

	for (i = 0; i < im->nsecs; i++) {
		for (k = 0; k < im->secs[i].nkv; k++) {
			free(im->secs[i].kv[k].key);
			if (im->secs[i].kv[k].val != NULL)
				explicit_bzero(im->secs[i].kv[k].val,
				    strlen(im->secs[i].kv[k].val));
			free(im->secs[i].kv[k].val);
		}
		free(im->secs[i].kv);
		free(im->secs[i].name);
	}
	free(im->secs);
	for (i = 0; i < im->nhdrs; i++)
		free(im->hdrs[i]);
	free(im->hdrs);
	free(im->entry_cont);
	free(im->entry_line);
	free(im->tline);
}

/*
 * Read the reference clients.conf at path and write the equivalent
 * clients.json to out. Settings mandosd does not know are dropped with one
 * warning each on stderr. 0 on success; -1 with *errstr on error.
 */
int
import_clients_conf(const char *path, FILE *out, char **errstr)
{
	struct imp		 im;
	const struct imp_setting *st;
	struct imp_sec		*sec, *def;
	struct imp_kv		*kv;
	FILE			*f;
	char			*buf = NULL, *text = NULL, *v, *vd;
	const char		*raw;
	json_t			*root, *defaults, *clients, *obj, *j, *jd;
	size_t			 len = 0, i, k, s;
	int			 r, line, ret = -1;

	memset(&im, 0, sizeof(im));
	im.path = path;
	root = json_object();
	defaults = json_object();
	clients = json_object();
	json_object_set_new(root, "defaults", defaults);
	json_object_set_new(root, "clients", clients);

	if ((f = fopen(path, "r")) == NULL) {
		imp_fail(&im, 0, "%s", strerror(errno));
		goto done;
	}
	buf = xmalloc(IMP_MAXFILE + 1);
	len = fread(buf, 1, IMP_MAXFILE + 1, f);
	r = ferror(f);
	fclose(f);
	if (r) {
		imp_fail(&im, 0, "read error");
		goto done;
	}
	if (len > IMP_MAXFILE) {
		imp_fail(&im, 0, "larger than %d bytes", IMP_MAXFILE);
		goto done;
	}
	buf[len] = '\0';
	if ((text = imp_prepare(&im, buf, len)) == NULL)
		goto done;

	im.secs = xcalloc(1, sizeof(*im.secs));
	im.secs[0].name = xstrdup("DEFAULT");
	im.nsecs = 1;
	r = ini_parse_string(text, imp_handler, &im);
	if (im.err != NULL)
		goto done;
	if (r != 0) {
		imp_fail(&im, r > 0 && (size_t)r <= im.ntlines ?
		    im.tline[r - 1] : r, "syntax error (want NAME = VALUE)");
		goto done;
	}
	def = &im.secs[0];

	/* Warn once for each setting mandosd will not see. */
	for (s = 0; s < im.nsecs; s++) {
		sec = &im.secs[s];
		for (k = 0; k < sec->nkv; k++) {
			kv = &sec->kv[k];
			for (i = 0; i < IMP_NSETTINGS; i++)
				if (strcmp(imp_settings[i].name, kv->key) == 0)
					break;
			if (i == IMP_NSETTINGS)
				imp_warn(&im, kv->line, "[%s]: setting \"%s\" "
				    "dropped: mandosd has no such setting%s",
				    sec->name, kv->key,
				    s == 0 ? " (still used for %(...)s)" : "");
			else if (s == 0 && imp_settings[i].client_only &&
			    imp_settings[i].type != T_IGNORE)
				imp_warn(&im, kv->line, "[DEFAULT]: \"%s\" is "
				    "copied into every client", kv->key);
		}
	}

	/* "defaults": [DEFAULT] as configparser sees it in DEFAULT. */
	for (i = 0; i < IMP_NSETTINGS; i++) {
		st = &imp_settings[i];
		if (st->client_only || (kv = imp_find(def, st->name)) == NULL)
			continue;
		if ((v = imp_interp(&im, def, kv->key, kv->val, kv->line,
		    1)) == NULL)
			continue;	/* depends on each client */
		j = imp_convert(&im, st, v, "[DEFAULT]", kv->line);
		free(v);
		if (j == NULL)
			goto done;
		json_object_set_new(defaults, st->name, j);
	}

	for (s = 1; s < im.nsecs; s++) {
		sec = &im.secs[s];
		obj = json_object();
		json_object_set_new(clients, sec->name, obj);
		if (imp_raw(&im, sec, "key_id", NULL) == NULL) {
			imp_fail(&im, sec->line, "client [%s] has no key_id "
			    "(mandosd finds clients by key_id only)",
			    sec->name);
			goto done;
		}
		if (imp_find(sec, "secret") == NULL &&
		    imp_find(def, "secret") == NULL &&
		    imp_find(sec, "secfile") == NULL &&
		    imp_find(def, "secfile") == NULL) {
			imp_fail(&im, sec->line, "client [%s] has neither "
			    "secret nor secfile", sec->name);
			goto done;
		}
		for (i = 0; i < IMP_NSETTINGS; i++) {
			st = &imp_settings[i];
			if (st->type == T_IGNORE)
				continue;
			line = sec->line;
			if (st->client_only) {
				if ((kv = imp_find(sec, st->name)) == NULL &&
				    (kv = imp_find(def, st->name)) == NULL)
					continue;
				if (strcmp(st->name, "secfile") == 0 &&
				    json_object_get(obj, "secret") != NULL) {
					imp_warn(&im, kv->line, "[%s]: secfile "
					    "dropped: secret wins, as in the "
					    "reference", sec->name);
					continue;
				}
				raw = kv->val;
				line = kv->line;
			} else if ((kv = imp_find(sec, st->name)) != NULL) {
				raw = kv->val;
				line = kv->line;
			} else if ((kv = imp_find(def, st->name)) != NULL) {
				/* Inherited: only if it reads otherwise here. */
				raw = kv->val;
				line = kv->line;
				if ((v = imp_interp(&im, sec, st->name, raw,
				    line, 0)) == NULL)
					goto done;
				if ((vd = imp_interp(&im, def, st->name, raw,
				    line, 1)) != NULL && strcmp(v, vd) == 0) {
					free(v);
					free(vd);
					continue;
				}
				free(v);
				free(vd);
			} else
				continue;
			if ((v = imp_interp(&im, sec, st->name, raw, line,
			    0)) == NULL)
				goto done;
			j = imp_convert(&im, st, v, sec->name, line);
			explicit_bzero(v, strlen(v));
			free(v);
			if (j == NULL)
				goto done;
			if (!st->client_only &&
			    (jd = json_object_get(defaults, st->name)) != NULL &&
			    json_equal(j, jd) && imp_find(sec, st->name) == NULL) {
				json_decref(j);
				continue;
			}
			json_object_set_new(obj, st->name, j);
		}
	}
	if (json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == -1 ||
	    fputc('\n', out) == EOF || fflush(out) == EOF) {
		imp_fail(&im, 0, "cannot write the output");
		goto done;
	}
	ret = 0;
done:
	if (ret == -1 && errstr != NULL) {
		*errstr = im.err;
		im.err = NULL;
	}
	free(im.err);
	imp_free(&im);
	if (text != NULL) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
	if (buf != NULL) {
		explicit_bzero(buf, len);
		free(buf);
	}
	json_decref(root);
	return (ret);
}
