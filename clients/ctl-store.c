/*
 * ctl-store.c: mandosctl's side of the fleet store. --push loads a
 * clients.json (or a reference clients.conf) into etcd under PREFIX, one
 * key per client plus the defaults, each write a compare-and-swap on the
 * key's mod_revision; --pull prints the store's table as clients.json.
 * A push is a field-level patch against what it read: when another push
 * wins the race on a key, we re-read it and re-apply only our own changes,
 * so neither push's update is lost.
 */
#include "config.h"

#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "ctl-store.h"
#include "store-etcd.h"
#ifdef HAVE_IMPORT
#include "import.h"
#endif

#define CAS_TRIES	20		/* retries of one key under contention */
#define SECFILE_MAX	(1u << 20)	/* as mandosd: a secret is <= 1 MiB */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static struct etcd_tls_opts store_opts;	/* --store-ca ... --store-auth */

void
ctl_store_set_opt(const char *name, const char *val)
{
	etcd_tls_opt(&store_opts, name, val);
}

struct store {
	struct event_base *base;
	struct etcd	*e;
	char		 kdef[600], kcli[600];	/* PREFIX/defaults, PREFIX/clients/ */
};

static int
store_open(struct store *s, const char *url)
{
	char	*err = NULL;

	if ((s->base = event_base_new()) == NULL) {
		fprintf(stderr, "mandosctl: cannot create event base\n");
		return (-1);
	}
	if ((s->e = etcd_new_opts(s->base, url, &store_opts, &err)) == NULL) {
		fprintf(stderr, "mandosctl: %s%s\n", err != NULL &&
		    strncmp(err, "--store-", 8) == 0 ? "" : "--store ",
		    err != NULL ? err : "out of memory");
		free(err);
		event_base_free(s->base);
		return (-1);
	}
	/* An operator waits: fail well before a person would give up. */
	etcd_set_timeouts(s->e, 3000, 1000);
	snprintf(s->kdef, sizeof(s->kdef), "%s/defaults", etcd_prefix(s->e));
	snprintf(s->kcli, sizeof(s->kcli), "%s/clients/", etcd_prefix(s->e));
	return (0);
}

static void
store_close(struct store *s)
{
	etcd_free(s->e);
	event_base_free(s->base);
}

/* Wait for one answer; NULL (error printed) if it failed. */
static struct etcd_result *
store_wait(struct store *s, struct etcd_result **slot, const char *what)
{
	struct etcd_result *r = etcd_sync_wait(s->e, slot);

	if (r == NULL || r->err != NULL) {
		fprintf(stderr, "mandosctl: store %s: %s\n", what,
		    r != NULL ? r->err : "event loop failed");
		etcd_result_free(r);
		return (NULL);
	}
	return (r);
}

static struct etcd_result *
store_get(struct store *s, const char *key, int prefix)
{
	struct etcd_result *r = NULL;

	if (etcd_range(s->e, key, prefix, etcd_sync_cb, &r) == -1) {
		fprintf(stderr, "mandosctl: out of memory\n");
		return (NULL);
	}
	return (store_wait(s, &r, "read"));
}

/* A stored value as a JSON object; NULL with a message naming the key. */
static json_t *
kv_object(const struct etcd_kv *kv)
{
	json_error_t	 jerr;
	json_t		*j;

	j = json_loadb((const char *)kv->val, kv->vlen, JSON_REJECT_DUPLICATES,
	    &jerr);
	if (!json_is_object(j)) {
		fprintf(stderr, "mandosctl: store key %s: not a JSON object%s%s\n",
		    kv->key, j == NULL ? ": " : "", j == NULL ? jerr.text : "");
		json_decref(j);
		return (NULL);
	}
	return (j);
}

/*
 * The store's table: {"defaults": {...}, "clients": {...}} plus, in revs,
 * each key's mod_revision ("defaults" and client names). NULL on error.
 */
static json_t *
store_table(struct store *s, json_t **revs)
{
	struct etcd_result *rd, *rc;
	json_t		*t, *clients, *o;
	size_t		 i, plen = strlen(s->kcli);

	if ((rd = store_get(s, s->kdef, 0)) == NULL)
		return (NULL);
	if ((rc = store_get(s, s->kcli, 1)) == NULL) {
		etcd_result_free(rd);
		return (NULL);
	}
	t = json_object();
	clients = json_object();
	*revs = json_object();
	if (rd->nkvs == 1) {
		if ((o = kv_object(&rd->kvs[0])) == NULL)
			goto bad;
		json_object_set_new(t, "defaults", o);
		json_object_set_new(*revs, "defaults",
		    json_integer(rd->kvs[0].mod_rev));
	}
	for (i = 0; i < rc->nkvs; i++) {
		if ((o = kv_object(&rc->kvs[i])) == NULL)
			goto bad;
		json_object_set_new(clients, rc->kvs[i].key + plen, o);
		json_object_set_new(*revs, rc->kvs[i].key + plen,
		    json_integer(rc->kvs[i].mod_rev));
	}
	json_object_set_new(t, "clients", clients);
	etcd_result_free(rd);
	etcd_result_free(rc);
	return (t);
bad:
	json_decref(t);
	json_decref(clients);
	json_decref(*revs);
	etcd_result_free(rd);
	etcd_result_free(rc);
	return (NULL);
}

int
ctl_store_pull(const char *url)
{
	struct store	 s;
	json_t		*t, *revs;

	if (store_open(&s, url) == -1)
		return (1);
	if ((t = store_table(&s, &revs)) == NULL) {
		store_close(&s);
		return (1);
	}
	json_dumpf(t, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	putchar('\n');
	json_decref(t);
	json_decref(revs);
	store_close(&s);
	return (fflush(stdout) == 0 ? 0 : 1);
}

/* Base64 of a file's bytes (for "secfile": the store holds the blob). */
static char *
read_secfile(const char *dir, const char *path)
{
	char		 full[4096], *out, *o;
	unsigned char	*buf;
	FILE		*f;
	size_t		 n, i;
	uint32_t	 v;

	if (path[0] == '/')
		snprintf(full, sizeof(full), "%s", path);
	else
		snprintf(full, sizeof(full), "%s/%s", dir, path);
	if ((f = fopen(full, "rb")) == NULL) {
		fprintf(stderr, "mandosctl: secfile %s: %s\n", full,
		    strerror(errno));
		return (NULL);
	}
	buf = malloc(SECFILE_MAX + 1);
	n = buf != NULL ? fread(buf, 1, SECFILE_MAX + 1, f) : 0;
	fclose(f);
	if (buf == NULL || n == 0 || n > SECFILE_MAX) {
		fprintf(stderr, "mandosctl: secfile %s: empty or over 1 MiB\n",
		    full);
		free(buf);
		return (NULL);
	}
	if ((out = malloc(n / 3 * 4 + 5)) == NULL) {
		free(buf);
		return (NULL);
	}
	for (o = out, i = 0; i < n; i += 3) {
		v = (uint32_t)buf[i] << 16 |
		    (i + 1 < n ? (uint32_t)buf[i + 1] << 8 : 0) |
		    (i + 2 < n ? buf[i + 2] : 0);
		*o++ = b64[v >> 18];
		*o++ = b64[(v >> 12) & 63];
		*o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
		*o++ = i + 2 < n ? b64[v & 63] : '=';
	}
	*o = '\0';
	free(buf);
	return (out);
}

/*
 * Read the table to push: clients.json, or clients.conf through the
 * importer. Each secfile becomes an inline secret (the store serves many
 * servers; a path on this machine means nothing there).
 */
static json_t *
load_table(const char *file, int is_conf)
{
	json_error_t	 jerr;
	json_t		*t, *clients, *c, *sf;
	const char	*k, *name;
	char		*dircopy, *dir, *sec;
	void		*tmp;

	if (is_conf) {
#ifdef HAVE_IMPORT
		char	*buf = NULL, *err = NULL;
		size_t	 len = 0;
		FILE	*m = open_memstream(&buf, &len);

		if (m == NULL || import_clients_conf(file, m, &err) == -1) {
			fprintf(stderr, "mandosctl: %s\n", err != NULL ? err :
			    "out of memory");
			if (m != NULL)
				fclose(m);
			free(buf);
			free(err);
			return (NULL);
		}
		fclose(m);
		t = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
		free(buf);
#else
		fprintf(stderr, "mandosctl: --import %s: this build has no "
		    "importer (libinih missing)\n", file);
		return (NULL);
#endif
	} else
		t = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
	if (t == NULL) {
		fprintf(stderr, "mandosctl: %s:%d: %s\n", file, jerr.line,
		    jerr.text);
		return (NULL);
	}
	json_object_foreach(t, k, c)
		if (strcmp(k, "defaults") != 0 && strcmp(k, "clients") != 0) {
			fprintf(stderr, "mandosctl: %s: unknown member \"%s\" "
			    "(want defaults and clients)\n", file, k);
			goto bad;
		}
	c = json_object_get(t, "defaults");
	clients = json_object_get(t, "clients");
	if (!json_is_object(t) || (c != NULL && !json_is_object(c)) ||
	    !json_is_object(clients)) {
		fprintf(stderr, "mandosctl: %s: want an object with a "
		    "\"clients\" object and optional \"defaults\"\n", file);
		goto bad;
	}
	dircopy = strdup(file);
	dir = dircopy != NULL ? dirname(dircopy) : ".";
	json_object_foreach_safe(clients, tmp, name, c) {
		if (!json_is_object(c) || name[0] == '\0' ||
		    strchr(name, '/') != NULL) {
			fprintf(stderr, "mandosctl: %s: client \"%s\": want an "
			    "object and a name without '/'\n", file, name);
			free(dircopy);
			goto bad;
		}
		if ((sf = json_object_get(c, "secfile")) == NULL)
			continue;
		if (!json_is_string(sf) || (sec = read_secfile(dir,
		    json_string_value(sf))) == NULL) {
			fprintf(stderr, "mandosctl: %s: client \"%s\": bad "
			    "secfile\n", file, name);
			free(dircopy);
			goto bad;
		}
		json_object_del(c, "secfile");
		json_object_set_new(c, "secret", json_string(sec));
		free(sec);
	}
	free(dircopy);
	return (t);
bad:
	json_decref(t);
	return (NULL);
}

/* What this push changes in one entry: fields to set, fields to drop. */
static json_t *
make_patch(json_t *base, json_t *want)
{
	json_t		*set = json_object(), *drop = json_array(), *v;
	const char	*k;

	json_object_foreach(want, k, v)
		if (!json_equal(json_object_get(base, k), v))
			json_object_set(set, k, v);
	json_object_foreach(base, k, v)
		if (json_object_get(want, k) == NULL)
			json_array_append_new(drop, json_string(k));
	return (json_pack("{soso}", "set", set, "drop", drop));
}

static json_t *
apply_patch(json_t *cur, json_t *patch)
{
	json_t	*n = json_deep_copy(cur), *v;
	size_t	 i;

	json_object_update(n, json_object_get(patch, "set"));
	json_array_foreach(json_object_get(patch, "drop"), i, v)
		json_object_del(n, json_string_value(v));
	return (n);
}

/*
 * Write one entry (want NULL: remove it, and the keys of also with it, in
 * the same txn) with compare-and-swap from rev. On a lost race, re-read
 * and re-apply our patch to what won. Returns 1 written, 0 nothing to do
 * after all, -1 error (printed).
 */
static int
cas_entry(struct store *s, const char *key, const char *name, json_t *base,
    json_t *want, int64_t rev, const char *const *also, size_t nalso)
{
	struct etcd_result *r;
	json_t		*patch = want != NULL ? make_patch(base, want) : NULL;
	json_t		*cur = json_incref(base), *next;
	char		*val;
	int		 try, rc = -1, wrote = 0;

	for (try = 0; try < CAS_TRIES; try++) {
		r = NULL;
		if (want == NULL) {
			if (cur == NULL) {
				rc = wrote;
				break;
			}
			next = NULL;
			etcd_cas_delete_also(s->e, key, rev, also, nalso,
			    etcd_sync_cb, &r);
		} else {
			/* Gone meanwhile: we still want it, whole. */
			next = cur != NULL ? apply_patch(cur, patch) :
			    json_incref(want);
			if (cur != NULL && json_equal(cur, next)) {
				json_decref(next);
				rc = wrote;
				break;
			}
			val = json_dumps(next, JSON_COMPACT | JSON_SORT_KEYS);
			etcd_cas_put(s->e, key, val, strlen(val), rev,
			    etcd_sync_cb, &r);
			free(val);
			json_decref(next);
		}
		if ((r = store_wait(s, &r, want != NULL ? "write" :
		    "delete")) == NULL)
			break;
		if (r->succeeded) {
			etcd_result_free(r);
			rc = 1;
			break;
		}
		/* Lost the race: r holds the key as it is now. */
		fprintf(stderr, "mandosctl: %s changed concurrently; "
		    "re-applying this push's changes (try %d)\n", name, try + 2);
		json_decref(cur);
		cur = NULL;
		rev = 0;
		if (r->nkvs == 1) {
			if ((cur = kv_object(&r->kvs[0])) == NULL) {
				etcd_result_free(r);
				break;
			}
			rev = r->kvs[0].mod_rev;
		}
		etcd_result_free(r);
	}
	if (try == CAS_TRIES)
		fprintf(stderr, "mandosctl: %s: gave up after %d concurrent "
		    "changes\n", name, CAS_TRIES);
	json_decref(cur);
	json_decref(patch);
	return (rc);
}

/* Push one entry and print what it did; -1 on error. */
static int
push_entry(struct store *s, const char *key, const char *name, json_t *base,
    json_t *want, json_t *revs, int *counts)
{
	const char	*what;
	char		 keys[ETCD_CLIENT_RECORDS][ETCD_RECORD_KEY_MAX];
	const char	*also[ETCD_CLIENT_RECORDS];
	size_t		 i;
	int		 rc;

	if (base != NULL && want != NULL && json_equal(base, want))
		return (0);
	/*
	 * A removed client's runtime state, pending approval and checker
	 * result go with its entry: a client added later under that name
	 * (the same machine again) must start enabled, with nothing sent.
	 */
	etcd_client_records(etcd_prefix(s->e), name, keys);
	for (i = 0; i < ETCD_CLIENT_RECORDS; i++)
		also[i] = keys[i];
	rc = cas_entry(s, key, name, base, want,
	    json_integer_value(json_object_get(revs, name)), also,
	    counts != NULL ? ETCD_CLIENT_RECORDS : 0);
	if (rc <= 0)
		return (rc);
	what = base == NULL ? "added" : want == NULL ? "removed" : "changed";
	if (counts != NULL)	/* clients only, not the defaults */
		counts[base == NULL ? 0 : want == NULL ? 2 : 1]++;
	printf("%s %s\n", what, name);
	return (0);
}

int
ctl_store_push(const char *url, const char *file, int is_conf)
{
	struct store	 s;
	json_t		*want, *have, *revs, *wc, *hc, *names, *v;
	const char	*name;
	char		 key[1200];
	int		 counts[3] = { 0, 0, 0 }, rc = 0;
	size_t		 i;

	if ((want = load_table(file, is_conf)) == NULL)
		return (1);
	if (store_open(&s, url) == -1) {
		json_decref(want);
		return (1);
	}
	if ((have = store_table(&s, &revs)) == NULL) {
		json_decref(want);
		store_close(&s);
		return (1);
	}
	/* Test hook: widen the read-to-write window to force a CAS race. */
	if (getenv("MANDOSCTL_TEST_PUSH_DELAY_MS") != NULL) {
		long ms = atol(getenv("MANDOSCTL_TEST_PUSH_DELAY_MS"));
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
		nanosleep(&ts, NULL);
	}
	if (push_entry(&s, s.kdef, "defaults", json_object_get(have,
	    "defaults"), json_object_get(want, "defaults"), revs, NULL) == -1)
		rc = 1;
	/* Every name in either table, in order, so the output is stable. */
	wc = json_object_get(want, "clients");
	hc = json_object_get(have, "clients");
	names = json_array();
	json_object_foreach(wc, name, v)
		json_array_append_new(names, json_string(name));
	json_object_foreach(hc, name, v)
		if (json_object_get(wc, name) == NULL)
			json_array_append_new(names, json_string(name));
	{
		size_t	 n = json_array_size(names), j;
		json_t	*tmp;

		for (i = 1; i < n; i++)	/* insertion sort: tables are small */
			for (j = i; j > 0 && strcmp(json_string_value(
			    json_array_get(names, j - 1)), json_string_value(
			    json_array_get(names, j))) > 0; j--) {
				tmp = json_incref(json_array_get(names, j));
				json_array_set(names, j, json_array_get(names,
				    j - 1));
				json_array_set_new(names, j - 1, tmp);
			}
	}
	/* The first failure stops the push: the store is failing, and each
	 * further entry would wait out its own deadline. */
	json_array_foreach(names, i, v) {
		if (rc != 0)
			break;
		name = json_string_value(v);
		snprintf(key, sizeof(key), "%s%s", s.kcli, name);
		if (push_entry(&s, key, name, json_object_get(hc, name),
		    json_object_get(wc, name), revs, counts) == -1)
			rc = 1;
	}
	printf("clients: %d added, %d changed, %d removed%s\n", counts[0],
	    counts[1], counts[2], rc ? "; push stopped at the error above" : "");
	json_decref(names);
	json_decref(want);
	json_decref(have);
	json_decref(revs);
	store_close(&s);
	return (rc);
}

static void
watch_cb(const struct etcd_watch_msg *m, void *arg)
{
	size_t	 i;

	if (m->err != NULL)
		fprintf(stderr, "mandosctl: watch: %s\n", m->err);
	if (m->created)
		printf("watching from revision %lld\n", (long long)m->revision);
	for (i = 0; i < m->nev; i++)
		if (m->ev[i].type == ETCD_PUT)
			printf("put %s rev=%lld %s\n", m->ev[i].kv.key,
			    (long long)m->ev[i].kv.mod_rev,
			    (const char *)m->ev[i].kv.val);
		else
			printf("delete %s rev=%lld\n", m->ev[i].kv.key,
			    (long long)m->ev[i].kv.mod_rev);
	fflush(stdout);
}

/* Debug: print every change under PREFIX/ until killed. */
int
ctl_store_watch(const char *url)
{
	struct store		 s;
	struct etcd_watch	*w;
	char			 key[600];

	if (store_open(&s, url) == -1)
		return (1);
	snprintf(key, sizeof(key), "%s/", etcd_prefix(s.e));
	if ((w = etcd_watch(s.e, key, 1, 0, watch_cb, NULL)) == NULL) {
		fprintf(stderr, "mandosctl: cannot start watch\n");
		store_close(&s);
		return (1);
	}
	event_base_dispatch(s.base);
	etcd_watch_cancel(w);
	store_close(&s);
	return (0);
}
