/*
 * keytab.c: loads clients.json into an array of clients plus an open-
 * addressing hash index on the binary key ID. A table is immutable once
 * built: reload builds a new one beside the old and the caller swaps.
 */
#include "config.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "duration.h"
#include "keytab.h"
#include "secmem.h"
#include "xmalloc.h"

#define KEYTAB_MAX_SECRET	(1024 * 1024)	/* a blob is a few KiB; refuse files that are not */
#define KEYTAB_MAX_TABLE	(256 * 1024 * 1024)	/* 100,000 clients is ~30 MiB */

struct keytab {
	struct client	*clients;
	size_t		 nclients;
	uint32_t	*slots;		/* 0 = empty, else index + 1 into clients */
	size_t		 nslots;	/* power of two, at least twice nclients */
};

/* Reference defaults (mandos-clients.conf(5)). */
static const struct client keytab_builtin = {
	.enabled = 1,
	.approved_by_default = 1,
	.timeout_ms = 5 * 60 * 1000,
	.interval_ms = 2 * 60 * 1000,
	.extended_timeout_ms = 15 * 60 * 1000,
	.approval_delay_ms = 0,
	.approval_duration_ms = 1000,
};
static const char keytab_default_checker[] = "fping -q -- %{host}";

static int	 keytab_err(char **, const char *, ...) __attribute__((format(printf, 2, 3)));

/* Set *errstr to a formatted message; always returns -1. */
static int
keytab_err(char **errstr, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	if (vasprintf(errstr, fmt, ap) == -1)
		*errstr = NULL;
	va_end(ap);
	return (-1);
}

/* Home slot of a key ID: its first bytes are already uniformly distributed. */
static size_t
keytab_hash(const uint8_t id[KEYID_LEN], size_t nslots)
{
	uint64_t	 h;

	memcpy(&h, id, sizeof(h));
	return ((size_t)h & (nslots - 1));
}

const struct client *
keytab_lookup(const struct keytab *kt, const uint8_t id[KEYID_LEN])
{
	size_t		 i;
	uint32_t	 s;

	if (kt == NULL || kt->nslots == 0)
		return (NULL);
	for (i = keytab_hash(id, kt->nslots);; i = (i + 1) & (kt->nslots - 1)) {
		if ((s = kt->slots[i]) == 0)
			return (NULL);
		if (memcmp(kt->clients[s - 1].keyid, id, KEYID_LEN) == 0)
			return (&kt->clients[s - 1]);
	}
}

size_t
keytab_count(const struct keytab *kt)
{
	return (kt == NULL ? 0 : kt->nclients);
}

const struct client *
keytab_client(const struct keytab *kt, size_t i)
{
	return (kt != NULL && i < kt->nclients ? &kt->clients[i] : NULL);
}

/* Free one client's strings and wipe its secret. */
static void
keytab_client_clear(struct client *c)
{
	free(c->name);
	free(c->host);
	free(c->checker);
	if (c->secret != NULL) {
		explicit_bzero(c->secret, c->secret_len);
		free(c->secret);
	}
}

void
keytab_free(struct keytab *kt)
{
	size_t	 i;

	if (kt == NULL)
		return;
	for (i = 0; i < kt->nclients; i++)
		keytab_client_clear(&kt->clients[i]);
	free(kt->clients);
	free(kt->slots);
	free(kt);
}

/* Decode base64 text (whitespace ignored, as in multi-line config secrets). */
static int
keytab_base64(const char *text, uint8_t **out, size_t *outlen, const char **why)
{
	if (secmem_base64(text, strlen(text), out, outlen, why) == -1)
		return (-1);
	if (*outlen > KEYTAB_MAX_SECRET) {
		explicit_bzero(*out, *outlen);
		free(*out);
		*out = NULL;
		*why = "larger than 1 MiB";
		return (-1);
	}
	return (0);
}

/*
 * Read all of path (at most max bytes) into a buffer of our own, with
 * read(2): stdio would leave a copy of secrets in its freed buffer. The
 * caller wipes it. -1 with *why on error (wiped: nothing half-read stays).
 */
static int
keytab_slurp(const char *path, size_t max, uint8_t **out, size_t *outlen,
    const char **why)
{
	struct stat	 st;
	uint8_t		*buf;
	size_t		 n = 0;
	ssize_t		 r;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		*why = strerror(errno);
		return (-1);
	}
	if (fstat(fd, &st) == -1 || st.st_size <= 0 ||
	    (uint64_t)st.st_size > max) {
		*why = st.st_size == 0 ? "empty" : st.st_size > 0 ?
		    "too large" : strerror(errno);
		close(fd);
		return (-1);
	}
	buf = xmalloc((size_t)st.st_size);
	while (n < (size_t)st.st_size) {
		r = read(fd, buf + n, (size_t)st.st_size - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n != (size_t)st.st_size) {
		explicit_bzero(buf, n);
		free(buf);
		*why = "short read";
		return (-1);
	}
	*out = buf;
	*outlen = n;
	return (0);
}

/* Read a secret file (relative paths are relative to the table's directory). */
static int
keytab_secfile(const char *dir, const char *path, uint8_t **out, size_t *outlen,
    char **errstr, const char *file, const char *name)
{
	char		*full = NULL;
	const char	*why;
	int		 r;

	if (path[0] != '/')
		xasprintf(&full, "%s/%s", dir, path);
	r = keytab_slurp(full != NULL ? full : path, KEYTAB_MAX_SECRET, out,
	    outlen, &why);
	if (r == -1)
		keytab_err(errstr, "%s: client \"%s\": secfile %s: %s", file,
		    name, full != NULL ? full : path, strcmp(why, "too large") ==
		    0 ? "larger than 1 MiB" : why);
	free(full);
	return (r);
}

/* Apply the settings in obj (defaults or one client) over c. */
static int
keytab_settings(json_t *obj, struct client *c, const char *file,
    const char *name, char **errstr)
{
	static const struct {
		const char	*key;
		size_t		 off;
	} durations[] = {
		{ "timeout", offsetof(struct client, timeout_ms) },
		{ "interval", offsetof(struct client, interval_ms) },
		{ "extended_timeout", offsetof(struct client, extended_timeout_ms) },
		{ "approval_delay", offsetof(struct client, approval_delay_ms) },
		{ "approval_duration", offsetof(struct client, approval_duration_ms) },
	};
	json_t		*v;
	const char	*why;
	size_t		 i;

	for (i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		if ((v = json_object_get(obj, durations[i].key)) == NULL)
			continue;
		if (!json_is_string(v))
			return (keytab_err(errstr, "%s: %s: %s: must be a duration "
			    "string like \"PT5M\" or \"5m\"", file, name,
			    durations[i].key));
		if (duration_parse(json_string_value(v),
		    (uint64_t *)((char *)c + durations[i].off), &why) == -1)
			return (keytab_err(errstr, "%s: %s: %s: \"%s\": %s", file,
			    name, durations[i].key, json_string_value(v), why));
	}
	if ((v = json_object_get(obj, "enabled")) != NULL) {
		if (!json_is_boolean(v))
			return (keytab_err(errstr, "%s: %s: enabled: must be true "
			    "or false", file, name));
		c->enabled = json_is_true(v);
	}
	if ((v = json_object_get(obj, "approved_by_default")) != NULL) {
		if (!json_is_boolean(v))
			return (keytab_err(errstr, "%s: %s: approved_by_default: "
			    "must be true or false", file, name));
		c->approved_by_default = json_is_true(v);
	}
	if ((v = json_object_get(obj, "checker")) != NULL) {
		if (!json_is_string(v))
			return (keytab_err(errstr, "%s: %s: checker: must be a "
			    "string", file, name));
		free(c->checker);
		c->checker = xstrdup(json_string_value(v));
	}
	if ((v = json_object_get(obj, "host")) != NULL) {
		if (!json_is_string(v))
			return (keytab_err(errstr, "%s: %s: host: must be a string",
			    file, name));
		free(c->host);
		c->host = xstrdup(json_string_value(v));
	}
	return (0);
}

/* Reject members that are not settings: a typo must not pass silently. */
static int
keytab_check_keys(json_t *obj, int is_client, const char *file,
    const char *name, char **errstr)
{
	static const char *const known[] = {
		"timeout", "interval", "extended_timeout", "approval_delay",
		"approval_duration", "enabled", "approved_by_default", "checker",
		"host", "key_id", "secret", "secfile", NULL,
	};
	const char	*key;
	json_t		*v;
	size_t		 i;

	json_object_foreach(obj, key, v) {
		for (i = 0; known[i] != NULL; i++)
			if (strcmp(key, known[i]) == 0)
				break;
		if (known[i] == NULL || (!is_client && i >= 9))
			return (keytab_err(errstr, "%s: %s: unknown setting \"%s\"",
			    file, name, key));
	}
	return (0);
}

static int	 keytab_client_fill(struct client *, const struct client *,
		    const char *, const char *, json_t *, const char *,
		    const char *, char **);

/* Build one client from its object, starting from the defaults. */
static int
keytab_client_load(struct client *c, const struct client *defaults,
    const char *name, json_t *obj, const char *file, const char *dir,
    char **errstr)
{
	char		*where;
	int		 ret;

	xasprintf(&where, "client \"%s\"", name);
	ret = keytab_client_fill(c, defaults, name, where, obj, file, dir, errstr);
	free(where);
	return (ret);
}

/* The body of keytab_client_load; where names the client in messages. */
static int
keytab_client_fill(struct client *c, const struct client *defaults,
    const char *name, const char *where, json_t *obj, const char *file,
    const char *dir, char **errstr)
{
	json_t		*kid, *secret, *secfile;
	const char	*why;

	*c = *defaults;
	c->name = xstrdup(name);
	c->host = defaults->host ? xstrdup(defaults->host) : NULL;
	c->checker = xstrdup(defaults->checker);
	c->secret = NULL;
	if (!json_is_object(obj))
		return (keytab_err(errstr, "%s: %s: must be an object", file, where));
	if (keytab_check_keys(obj, 1, file, where, errstr) == -1 ||
	    keytab_settings(obj, c, file, where, errstr) == -1)
		return (-1);
	if ((kid = json_object_get(obj, "key_id")) == NULL)
		return (keytab_err(errstr, "%s: %s: key_id: missing (64 hex "
		    "digits)", file, where));
	if (!json_is_string(kid))
		return (keytab_err(errstr, "%s: %s: key_id: must be a string of "
		    "64 hex digits", file, where));
	if (keyid_parse(json_string_value(kid), c->keyid, &why) == -1)
		return (keytab_err(errstr, "%s: %s: key_id: %s", file, where, why));
	if (keyid_is_empty_key(c->keyid))
		return (keytab_err(errstr, "%s: %s: key_id: the ID of an empty "
		    "key can never match", file, where));
	secret = json_object_get(obj, "secret");
	secfile = json_object_get(obj, "secfile");
	if ((secret == NULL) == (secfile == NULL))
		return (keytab_err(errstr, "%s: %s: needs exactly one of secret "
		    "and secfile", file, where));
	if (secret != NULL) {
		if (!json_is_string(secret) || keytab_base64(json_string_value(secret),
		    &c->secret, &c->secret_len, &why) == -1)
			return (keytab_err(errstr, "%s: %s: secret: %s", file,
			    where, json_is_string(secret) ? why : "must be a string"));
	} else {
		if (!json_is_string(secfile))
			return (keytab_err(errstr, "%s: %s: secfile: must be a "
			    "string", file, where));
		if (keytab_secfile(dir, json_string_value(secfile), &c->secret,
		    &c->secret_len, errstr, file, name) == -1)
			return (-1);
	}
	return (0);
}

/* Index every client; a key ID used twice is an error. */
static int
keytab_index(struct keytab *kt, const char *file, char **errstr)
{
	size_t		 i, j;
	uint32_t	 s;

	for (kt->nslots = 16; kt->nslots < 2 * kt->nclients; kt->nslots *= 2)
		;
	kt->slots = xcalloc(kt->nslots, sizeof(*kt->slots));
	for (i = 0; i < kt->nclients; i++) {
		for (j = keytab_hash(kt->clients[i].keyid, kt->nslots);
		    (s = kt->slots[j]) != 0; j = (j + 1) & (kt->nslots - 1))
			if (memcmp(kt->clients[s - 1].keyid, kt->clients[i].keyid,
			    KEYID_LEN) == 0)
				return (keytab_err(errstr, "%s: clients \"%s\" and "
				    "\"%s\" have the same key_id", file,
				    kt->clients[s - 1].name, kt->clients[i].name));
		kt->slots[j] = (uint32_t)(i + 1);
	}
	return (0);
}

struct keytab *
keytab_load(const char *path, char **errstr)
{
	json_error_t	 jerr;
	json_t		*root, *defaults, *clients, *obj;
	struct keytab	*kt;
	struct client	 def = keytab_builtin;
	const char	*name, *key;
	char		*pathcopy, *dir;
	const char	*why;
	uint8_t		*text;
	size_t		 i = 0, textlen;
	int		 ok = -1;

	*errstr = NULL;
	/* Our buffer, wiped after parsing; jansson's own copies are wiped by
	 * the free that mandosd gives it (json_set_alloc_funcs). */
	if (keytab_slurp(path, KEYTAB_MAX_TABLE, &text, &textlen, &why) == -1) {
		keytab_err(errstr, "%s: %s", path, why);
		return (NULL);
	}
	root = json_loadb((const char *)text, textlen, JSON_REJECT_DUPLICATES,
	    &jerr);
	explicit_bzero(text, textlen);
	free(text);
	if (root == NULL) {
		if (jerr.line > 0)
			keytab_err(errstr, "%s:%d:%d: %s", path, jerr.line,
			    jerr.column, jerr.text);
		else
			keytab_err(errstr, "%s: %s", path, jerr.text);
		return (NULL);
	}
	kt = xcalloc(1, sizeof(*kt));
	pathcopy = xstrdup(path);
	dir = dirname(pathcopy);
	def.checker = xstrdup(keytab_default_checker);
	if (!json_is_object(root)) {
		keytab_err(errstr, "%s: the top level must be an object with "
		    "\"clients\"", path);
		goto out;
	}
	json_object_foreach(root, key, obj) {
		if (strcmp(key, "defaults") != 0 && strcmp(key, "clients") != 0) {
			keytab_err(errstr, "%s: unknown top-level member \"%s\" "
			    "(expected \"defaults\" and \"clients\")", path, key);
			goto out;
		}
	}
	if ((defaults = json_object_get(root, "defaults")) != NULL) {
		if (!json_is_object(defaults)) {
			keytab_err(errstr, "%s: defaults: must be an object", path);
			goto out;
		}
		if (keytab_check_keys(defaults, 0, path, "defaults", errstr) == -1 ||
		    keytab_settings(defaults, &def, path, "defaults", errstr) == -1)
			goto out;
	}
	clients = json_object_get(root, "clients");
	if (clients == NULL || !json_is_object(clients)) {
		keytab_err(errstr, "%s: \"clients\" must be an object of "
		    "name: {key_id, secret}", path);
		goto out;
	}
	kt->clients = xcalloc(json_object_size(clients), sizeof(*kt->clients));
	json_object_foreach(clients, name, obj) {
		kt->nclients = i + 1;
		if (keytab_client_load(&kt->clients[i++], &def, name, obj, path,
		    dir, errstr) == -1)
			goto out;
	}
	ok = keytab_index(kt, path, errstr);
out:
	free(def.checker);
	free(def.host);
	free(pathcopy);
	json_decref(root);
	if (ok == -1) {
		if (*errstr == NULL)
			*errstr = xstrdup("out of memory");
		keytab_free(kt);
		return (NULL);
	}
	return (kt);
}
