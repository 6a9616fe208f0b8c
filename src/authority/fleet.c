/*
 * fleet.c: mandosd --store. The authority's copy of PREFIX/defaults,
 * PREFIX/clients/ and PREFIX/state/ (key -> value, mod_revision), read
 * whole at start and kept current by one watch on PREFIX/ that resumes
 * from the last revision after a break. The table part is written as a
 * clients.json into the state directory (0600, atomic) and loaded by the
 * ordinary reload path, so a bad entry is refused by the same validation
 * as a file and a restart without etcd serves the saved copy. Events are
 * coalesced (one reload per FLEET_COALESCE_MS). A probe once a second
 * says whether the store answers, and restarts a watch that went quiet
 * while the store moved on (a member stopped without closing). Operator
 * writes are CAS transactions answered once etcd answered; per-client
 * runtime changes (secrets sent, checker results) are merged into
 * PREFIX/state/NAME at most once per client per second, up to 128 clients
 * in one multi-key CAS txn.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "client.h"
#include "control.h"
#include "duration.h"
#include "fleet.h"
#include "keytab.h"
#include "log.h"
#include "metrics.h"
#include "store-etcd.h"
#include "xmalloc.h"

#define FLEET_COALESCE_MS	50	/* events to one reload */
#define FLEET_PROBE_MS		1000	/* is the store there? */
#define FLEET_FLUSH_MS		1000	/* batched state writes */
#define FLEET_STALE_PROBES	3	/* quiet watch behind the store: restart */
#define FLEET_CAS_TRIES		20	/* one operator write under contention */
#define FLEET_FLUSH_INFLIGHT	16	/* state txns in flight at once */
#define FLEET_UNSURE_MAX	8	/* one client's writes of unknown outcome */
#define FLEET_WSEQ_MAX		256	/* server ids in a record's "wseq" */
#define FLEET_TOTAL_MS		2000	/* an operator waits at most this */
#define FLEET_ATTEMPT_MS	1000
#define FLEET_OP_MS		3000	/* one operator request, every retry */
#define FLEET_SAVED		"store-clients.json"
#define FLEET_EMPTY		"store-empty.json"

static char		*fl_url, *fl_id_opt, *fl_id;
static const struct etcd_tls_opts *fl_tls;	/* --store-ca ... (NULL: none) */
static struct etcd	*fl_pre;	/* made privileged, attached at start */
static int		 fl_refuse_mode;	/* --store-offline refuse */
static struct event_base *fl_base;
static struct etcd	*fl_etcd;
static struct etcd_watch *fl_watch;
static char		*fl_statedir, *fl_saved, *fl_prefix;
static json_t		*fl_kv;		/* "clients/x" -> {"v": value, "r": rev} */
static json_t		*fl_gone;	/* "clients/x" -> rev of our own delete,
					 * until the watch has passed it */
static json_t		*fl_table;	/* the table last written */
static int64_t		 fl_rev;	/* revision of the copy (read, watched, written) */
static int64_t		 fl_wrev;	/* the watch resumes after this one */
static int64_t		 fl_wseen;	/* ... and has promised up to this one */
static int		 fl_read;	/* the copy came from the store since start */
static int		 fl_isup;
static int		 fl_reading;	/* a full read in flight */
static int		 fl_probing, fl_stale;
static time_t		 fl_restart_logged;
static int		 fl_refusing_logged;
static struct event	*fl_coalesce_ev, *fl_probe_ev, *fl_flush_ev;
static int		 fl_table_dirty;
static json_t		*fl_dirty;	/* names with unwritten runtime changes */
static json_t		*fl_flying;	/* names in a state txn in flight */
static json_t		*fl_unsure;	/* name -> [[tok, delta, rev]...]: see fl_settle */
static int64_t		 fl_wtok;	/* the token of our last state write */
static size_t		 fl_inflight;
static int		 (*fl_load)(const char *, char **);
static size_t		 fl_pending;	/* requests whose callback is to come */
static int		 fl_stopping;	/* fleet_stop: start nothing new */

static void	 fl_read_all(void);
static void	 fl_watch_start(void);

int
fleet_enabled(void)
{
	return (fl_url != NULL);
}

int
fleet_up(void)
{
	return (fl_isup);
}

struct etcd *
fleet_etcd(void)
{
	return (fl_etcd);
}

const char *
fleet_server_id(void)
{
	return (fl_id != NULL ? fl_id : "");
}

int
fleet_refusing(void)
{
	int	 r = fl_url != NULL && fl_refuse_mode && (!fl_isup || !fl_read);

	if (r)
		metric_inc(M_STORE_REFUSED);
	return (r);
}

/* For mandos_store_connections_total: the start-up read's own handle's
 * and the long-lived one's. */
static unsigned long	 fl_start_conns;

static unsigned long
fl_connections(void)
{
	return (fl_start_conns + etcd_connections(fl_etcd));
}

/* Count one request to etcd (every call below goes through these). */
static void
fl_count(void)
{
	metric_inc(M_STORE_REQUESTS);
}

/* rc of an etcd_* call on fl_etcd: one more callback to come if queued. */
static int
fl_sent(int rc)
{
	if (rc == 0)
		fl_pending++;
	return (rc);
}

/* Log up/down once per change; the gauge follows. */
static void
fl_set_up(int up, const char *why)
{
	metric_store_up = up;
	if (up == fl_isup)
		return;
	fl_isup = up;
	if (up)
		log_info("store %s is answering again (revision %lld)", fl_url,
		    (long long)fl_rev);
	else
		log_warnx("store %s is down: %s; %s", fl_url, why,
		    fl_refuse_mode ? "refusing every client (--store-offline "
		    "refuse)" : "serving from the local copy");
	ctl_event(up ? "store_up" : "store_down", json_pack("{s:s}", "store",
	    fl_url));
}

int
fleet_configure(const char *url, const char *id, const char *offline,
    const struct etcd_tls_opts *tls, char **errstr)
{
	struct etcd_url	 u;

	if (etcd_url_parse(url, &u, errstr) == -1)
		return (-1);
	if (offline != NULL && strcmp(offline, "serve") != 0 &&
	    strcmp(offline, "refuse") != 0) {
		xasprintf(errstr, "--store-offline \"%s\": want serve or refuse",
		    offline);
		return (-1);
	}
	fl_url = xstrdup(url);
	fl_tls = tls;
	fl_id_opt = id != NULL ? xstrdup(id) : NULL;
	fl_refuse_mode = offline != NULL && strcmp(offline, "refuse") == 0;
	xasprintf(&fl_prefix, "%s/", u.prefix);
	fl_kv = json_object();
	fl_gone = json_object();
	fl_dirty = json_object();
	fl_flying = json_object();
	fl_unsure = json_object();
	metric_store_enabled = 1;
	return (0);
}

/* ---- the local copy ---- */

/* "PREFIX/clients/x" -> "clients/x", or NULL if outside ours. */
static const char *
fl_suffix(const char *key)
{
	size_t	 n = strlen(fl_prefix);

	if (strncmp(key, fl_prefix, n) != 0)
		return (NULL);
	key += n;
	if (strcmp(key, "defaults") == 0 || (strncmp(key, "clients/", 8) == 0 &&
	    key[8] != '\0') || (strncmp(key, "state/", 6) == 0 &&
	    key[6] != '\0'))
		return (key);
	return (NULL);	/* approvals/, servers/, audit/: the others' */
}

static int64_t
fl_kv_rev(const char *sfx)
{
	return ((int64_t)json_integer_value(json_object_get(json_object_get(
	    fl_kv, sfx), "r")));
}

static json_t *
fl_kv_val(const char *sfx)
{
	return (json_object_get(json_object_get(fl_kv, sfx), "v"));
}

/* Record a value (NULL: deleted); a value that is not JSON is kept as
 * null and skipped, with one line. */
static void
fl_kv_set(const char *sfx, const unsigned char *val, size_t len, int64_t rev)
{
	json_error_t	 jerr;
	json_t		*v;

	if (val == NULL) {
		json_object_del(fl_kv, sfx);
		return;
	}
	if ((v = json_loadb((const char *)val, len, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL) {
		log_warnx("store: %s%s is not JSON (%s); skipped", fl_prefix,
		    sfx, jerr.text);
		v = json_null();
	}
	json_object_set_new(fl_kv, sfx, json_pack("{s:o,s:I}", "v", v, "r",
	    (json_int_t)rev));
}

/* The table part of the copy as a clients.json value. */
static json_t *
fl_table_json(void)
{
	json_t		*t, *clients, *v;
	const char	*k;

	clients = json_object();
	json_object_foreach(fl_kv, k, v) {
		if (strncmp(k, "clients/", 8) != 0)
			continue;
		if (!json_is_object(json_object_get(v, "v"))) {
			log_warnx("store: %s%s is not an object; skipped",
			    fl_prefix, k);
			continue;
		}
		json_object_set(clients, k + 8, json_object_get(v, "v"));
	}
	t = json_pack("{s:o}", "clients", clients);
	if (json_is_object(fl_kv_val("defaults")))
		json_object_set(t, "defaults", fl_kv_val("defaults"));
	return (t);
}

/* Write path atomically, mode 0600: temp file, fsync, rename, fsync dir. */
static int
fl_write_file(const char *path, const char *s, char **errstr)
{
	char	*tmp;
	size_t	 len = strlen(s), off = 0;
	ssize_t	 n;
	int	 fd, dfd;

	xasprintf(&tmp, "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) ==
	    -1) {
		xasprintf(errstr, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return (-1);
	}
	(void)fchmod(fd, 0600);
	while (off < len) {
		if ((n = write(fd, s + off, len - off)) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (off < len || fsync(fd) == -1) {
		xasprintf(errstr, "%s: %s", tmp, off < len ? "short write" :
		    strerror(errno));
		(void)close(fd);
		unlink(tmp);
		free(tmp);
		return (-1);
	}
	if (close(fd) == -1) {
		xasprintf(errstr, "%s: %s", tmp, strerror(errno));
		unlink(tmp);
		free(tmp);
		return (-1);
	}
	if (rename(tmp, path) == -1) {
		xasprintf(errstr, "rename %s: %s", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return (-1);
	}
	free(tmp);
	if ((dfd = open(fl_statedir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) !=
	    -1) {
		(void)fsync(dfd);
		close(dfd);
	}
	return (0);
}

/* Save the table part if it changed; 1 saved, 0 unchanged, -1 failed. */
static int
fl_save(char **errstr)
{
	json_t	*t = fl_table_json();
	char	*s;
	int	 rc;

	if (fl_table != NULL && json_equal(t, fl_table)) {
		json_decref(t);
		return (0);
	}
	s = json_dumps(t, JSON_INDENT(1) | JSON_SORT_KEYS);
	rc = s != NULL ? fl_write_file(fl_saved, s, errstr) : -1;
	if (s == NULL)
		*errstr = xstrdup("cannot encode the table");
	if (s != NULL)
		explicit_bzero(s, strlen(s));	/* holds every secret */
	free(s);
	if (rc == -1) {
		json_decref(t);
		return (-1);
	}
	json_decref(fl_table);
	fl_table = t;
	return (1);
}

/* Apply every state record to the clients in force (after a load). */
static void
fl_apply_states(void)
{
	struct client_rt *rt;
	const char	*k;
	json_t		*v;

	json_object_foreach(fl_kv, k, v)
		if (strncmp(k, "state/", 6) == 0 && json_is_object(
		    json_object_get(v, "v")) && (rt = client_find(k + 6)) != NULL)
			client_store_apply(rt, json_object_get(v, "v"));
}

/* The table part changed: save it and load it; the table in force stays
 * if the new one is refused. */
static void
fl_reload(void)
{
	char	*err = NULL;
	int	 rc;

	fl_table_dirty = 0;
	if ((rc = fl_save(&err)) == -1) {
		log_warnx("store: cannot save the table (%s); keeping the "
		    "table in force", err);
		free(err);
		return;
	}
	if (rc == 1 && fl_load(fl_saved, &err) == -1) {
		log_warnx("store: the table at revision %lld is refused (%s); "
		    "keeping the table in force", (long long)fl_rev, err);
		free(err);
		json_decref(fl_table);	/* try again on the next change */
		fl_table = NULL;
		return;
	}
	fl_apply_states();
}

static void
fl_coalesce_cb(evutil_socket_t fd, short what, void *arg)
{
	fl_reload();
}

/* Test hook: MANDOSD_TEST_COALESCE_MS holds a watched change back that
 * long before the reload (t/fleet/remove.sh widens a race with it). */
static long
fl_coalesce_ms(void)
{
	const char	*s = getenv("MANDOSD_TEST_COALESCE_MS");
	long		 ms;

	if (s == NULL || (ms = strtol(s, NULL, 10)) <= 0 || ms > 60000)
		return (FLEET_COALESCE_MS);
	return (ms);
}

static void
fl_table_changed(void)
{
	long		 ms = fl_coalesce_ms();
	struct timeval	 tv = { ms / 1000, ms % 1000 * 1000 };

	if (fl_table_dirty)
		return;
	fl_table_dirty = 1;
	evtimer_add(fl_coalesce_ev, &tv);
}

/* Forget our own deletes up to rev: nothing older can come any more. */
static void
fl_gone_prune(int64_t rev)
{
	const char	*sfx;
	json_t		*v;
	void		*tmp;

	json_object_foreach_safe(fl_gone, tmp, sfx, v)
		if (json_integer_value(v) <= rev)
			json_object_del(fl_gone, sfx);
}

/* One key's new value from the watch or a write of ours. */
static void
fl_key_changed(const char *sfx, const unsigned char *val, size_t len,
    int64_t rev)
{
	struct client_rt *rt;

	if (rev <= fl_kv_rev(sfx) && json_object_get(fl_kv, sfx) != NULL)
		return;		/* applied already (our own write) */
	/* An event the watch brings late, from before our own delete of
	 * the key: the copy would have the key back until the delete's
	 * own event came. */
	if (rev <= json_integer_value(json_object_get(fl_gone, sfx)))
		return;
	if (rev > fl_rev)
		fl_rev = rev;
	metric_store_revision = fl_rev;
	if (val == NULL && json_object_get(fl_kv, sfx) == NULL)
		return;		/* gone already (our own removal) */
	if (val == NULL && rev > fl_wrev)	/* ours, ahead of the watch */
		json_object_set_new(fl_gone, sfx, json_integer(rev));
	fl_kv_set(sfx, val, len, rev);
	if (strncmp(sfx, "state/", 6) != 0) {
		fl_table_changed();
		return;
	}
	if ((rt = client_find(sfx + 6)) != NULL && json_is_object(
	    fl_kv_val(sfx)))
		client_store_apply(rt, fl_kv_val(sfx));
}

/* ---- start-up ---- */

/* Fill the copy from a range answer. */
static void
fl_fill(struct etcd_result *r)
{
	const char	*sfx;
	size_t		 i;

	json_object_clear(fl_kv);
	fl_gone_prune(r->revision);	/* the read holds those deletes */
	for (i = 0; i < r->nkvs; i++)
		if ((sfx = fl_suffix(r->kvs[i].key)) != NULL)
			fl_kv_set(sfx, r->kvs[i].val, r->kvs[i].vlen,
			    r->kvs[i].mod_rev);
	fl_rev = fl_wrev = fl_wseen = r->revision;
	metric_store_revision = fl_rev;
	fl_read = 1;
}

/*
 * Start-up: save the table just read only if it loads, so that a bad
 * entry in the store leaves the saved copy (or the fallback) in force
 * instead of stopping the server; the next change tries again.
 */
static void
fl_save_checked(void)
{
	struct keytab	*kt;
	char		*good = fl_saved, *err = NULL;
	int		 rc;

	xasprintf(&fl_saved, "%s.new", good);
	rc = fl_save(&err);
	free(fl_saved);
	fl_saved = good;
	if (rc == -1) {
		log_warnx("store: cannot save the table: %s", err);
		free(err);
		return;
	}
	xasprintf(&good, "%s.new", fl_saved);
	if ((kt = keytab_load(good, &err)) == NULL) {
		log_warnx("store: the table at revision %lld is refused (%s); "
		    "keeping the saved copy or the fallback", (long long)fl_rev,
		    err);
		free(err);
		unlink(good);
		json_decref(fl_table);
		fl_table = NULL;
	} else if (rename(good, fl_saved) == -1) {
		log_warn("store: rename %s", good);
		keytab_free(kt);
		unlink(good);
		json_decref(fl_table);
		fl_table = NULL;
	} else {
		keytab_free(kt);
		log_info("store %s: revision %lld, table saved in %s", fl_url,
		    (long long)fl_rev, fl_saved);
	}
	free(good);
}

char *
fleet_initial_table(const char *statedir, const char *fallback,
    char **errstr)
{
	struct event_base	*base;
	struct etcd		*e;
	struct etcd_result	*r = NULL, *slot = NULL;
	char			*path;

	if (statedir == NULL || statedir[0] == '\0') {
		*errstr = xstrdup("--store needs a state directory (--statedir) "
		    "for its saved copy");
		return (NULL);
	}
	fl_statedir = xstrdup(statedir);
	xasprintf(&fl_saved, "%s/%s", statedir, FLEET_SAVED);
	(void)mkdir(statedir, 0700);
	if ((base = event_base_new()) == NULL || (e = etcd_new_opts(base, fl_url,
	    fl_tls, errstr)) == NULL) {
		if (base != NULL)
			event_base_free(base);
		return (NULL);
	}
	etcd_set_timeouts(e, 3000, FLEET_ATTEMPT_MS);
	fl_count();
	if (etcd_range(e, fl_prefix, 1, etcd_sync_cb, &slot) == 0)
		r = etcd_sync_wait(e, &slot);
	if (r != NULL && r->err == NULL) {
		fl_fill(r);
		fl_isup = 1;
		metric_store_up = 1;
		fl_save_checked();
	} else
		log_warnx("store %s did not answer at start (%s)", fl_url,
		    r != NULL ? r->err : "cannot send");
	etcd_result_free(r);
	fl_start_conns = etcd_connections(e);
	etcd_free(e);
	event_base_free(base);
	/* The long-lived handle, while we may still read the key files. */
	if ((fl_pre = etcd_new_opts(NULL, fl_url, fl_tls, errstr)) == NULL)
		return (NULL);
	if (access(fl_saved, R_OK) == 0) {
		if (!fl_read)
			log_warnx("store: serving the saved copy %s until the "
			    "store answers", fl_saved);
		return (xstrdup(fl_saved));
	}
	if (fallback != NULL) {
		log_warnx("store: no saved copy in %s; serving %s until the "
		    "store answers", statedir, fallback);
		return (xstrdup(fallback));
	}
	log_warnx("store: no saved copy in %s and no --clients file: an empty "
	    "table until the store answers", statedir);
	xasprintf(&path, "%s/%s", statedir, FLEET_EMPTY);
	if (fl_write_file(path, "{\"clients\": {}}\n", errstr) == -1) {
		free(path);
		return (NULL);
	}
	return (path);
}

/* ---- the watch ---- */

static void
fl_watch_cb(const struct etcd_watch_msg *m, void *arg)
{
	const char	*sfx;
	size_t		 i;

	if (m->err != NULL) {
		log_debug("store watch: %s", m->err);
		if (strstr(m->err, "compacted") != NULL) {
			/* History gone: only a full read is exact. */
			log_warnx("store: watch history compacted; reading the "
			    "whole store again");
			etcd_watch_cancel(fl_watch);
			fl_watch = NULL;
			fl_read_all();
		}
		return;
	}
	fl_stale = 0;
	/* Created: every event up to the header's revision is on its way. */
	if (m->created && m->revision > fl_wseen)
		fl_wseen = m->revision;
	for (i = 0; i < m->nev; i++) {
		if (m->ev[i].kv.mod_rev > fl_wrev)
			fl_wrev = m->ev[i].kv.mod_rev;
		if (fl_wrev > fl_wseen)
			fl_wseen = fl_wrev;
		if ((sfx = fl_suffix(m->ev[i].kv.key)) == NULL)
			continue;
		fl_key_changed(sfx, m->ev[i].type == ETCD_DELETE ? NULL :
		    m->ev[i].kv.val, m->ev[i].kv.vlen, m->ev[i].kv.mod_rev);
	}
	fl_gone_prune(fl_wrev);	/* the watch has passed them */
}

static void
fl_watch_start(void)
{
	etcd_watch_cancel(fl_watch);
	fl_count();
	fl_stale = 0;
	/* From the watch's own events: our writes may have gone ahead. */
	if ((fl_watch = etcd_watch(fl_etcd, fl_prefix, 1, fl_wrev + 1,
	    fl_watch_cb, NULL)) == NULL)
		log_warnx("store: cannot start the watch (out of memory)");
}

/*
 * The start of a read's or a probe's answer: clear its in-flight flag;
 * -1 (r freed) when stopping, or on an error, which marks the store down.
 */
static int
fl_answer_begin(struct etcd_result *r, int *inflight)
{
	fl_pending--;
	*inflight = 0;
	if (fl_stopping) {
		etcd_result_free(r);
		return (-1);
	}
	if (r->err != NULL) {
		fl_set_up(0, r->err);
		etcd_result_free(r);
		return (-1);
	}
	return (0);
}

/* A full read: replace the copy, load it, then watch from there. */
static void
fl_read_cb(struct etcd_result *r, void *arg)
{
	if (fl_answer_begin(r, &fl_reading) == -1)
		return;		/* on an error, the probe tries again */
	fl_fill(r);
	etcd_result_free(r);
	fl_set_up(1, NULL);
	log_info("store: read the whole store at revision %lld",
	    (long long)fl_rev);
	fl_reload();
	fl_watch_start();
}

static void
fl_read_all(void)
{
	if (fl_reading)
		return;
	fl_count();
	if (fl_sent(etcd_range(fl_etcd, fl_prefix, 1, fl_read_cb, NULL)) == 0)
		fl_reading = 1;
}

void
fleet_reread(void)
{
	if (fl_etcd == NULL)
		return;
	etcd_watch_cancel(fl_watch);
	fl_watch = NULL;
	fl_read_all();
}

/* ---- the probe ---- */

static void
fl_probe_done(struct etcd_result *r, void *arg)
{
	if (fl_answer_begin(r, &fl_probing) == -1)
		return;
	fl_set_up(1, NULL);
	/*
	 * The store moved on and our watch said nothing for a while: it may
	 * hang on a member that stopped without closing. Resuming from our
	 * revision loses nothing; writes to other prefixes of the cluster
	 * cause at most one needless restart per FLEET_STALE_PROBES s.
	 */
	if (r->revision > fl_wseen && fl_watch != NULL &&
	    ++fl_stale >= FLEET_STALE_PROBES) {
		/* Writes elsewhere in the cluster can cause this too: said
		 * at most once a minute. */
		if (time(NULL) - fl_restart_logged >= 60) {
			log_info("store: the watch is quiet at revision %lld "
			    "while the store is at %lld: restarting it",
			    (long long)fl_wseen, (long long)r->revision);
			fl_restart_logged = time(NULL);
		}
		fl_watch_start();
	} else if (r->revision <= fl_wseen)
		fl_stale = 0;
	etcd_result_free(r);
	if (!fl_read)
		fl_read_all();
	else if (fl_watch == NULL)
		fl_read_all();
	if (fl_refuse_mode && fl_refusing_logged && fl_read) {
		log_info("store: confirmed again; serving clients");
		fl_refusing_logged = 0;
	}
}

static void
fl_probe_cb(evutil_socket_t fd, short what, void *arg)
{
	char	 key[600];

	if (fl_refuse_mode && (!fl_isup || !fl_read) && !fl_refusing_logged) {
		log_warnx("store: cannot confirm the fleet's state: refusing "
		    "every client (--store-offline refuse)");
		fl_refusing_logged = 1;
	}
	if (fl_probing)
		return;
	snprintf(key, sizeof(key), "%sdefaults", fl_prefix);
	fl_count();
	if (fl_sent(etcd_range(fl_etcd, key, 0, fl_probe_done, NULL)) == 0)
		fl_probing = 1;
}

/* ---- batched runtime state ---- */

void
fleet_note(const char *name)
{
	if (fl_url == NULL || fl_dirty == NULL)
		return;
	json_object_set_new(fl_dirty, name, json_true());
}

/*
 * A flush writes up to ETCD_TXN_MAX_OPS dirty clients' state in one txn
 * whose compare holds every key's revision: all are written or none.
 * When one compare fails (another server wrote that client), etcd's answer
 * carries the current records; each client is merged again into what is
 * there and the same batch goes again, a few times at most. A client's
 * delta (secrets sent) is forgotten only once the txn that held it
 * succeeded; one in a batch in flight waits for the next tick, so its
 * delta is never counted by two writes at once.
 */
struct fl_item {
	char		*name;
	char		*key;		/* PREFIX/state/NAME */
	char		*need;		/* PREFIX/clients/NAME: must exist */
	uint64_t	 delta;
	int64_t		 rev;
	int64_t		 tok;		/* val's wseq[our id] */
	char		*val;
};

/* Each item takes two compares and two reads: its record and its entry. */
#define FL_BATCH_MAX	(ETCD_TXN_MAX_OPS / 2)
struct fl_batch {
	struct fl_item	 it[FL_BATCH_MAX];
	size_t		 n;
	size_t		 bytes;		/* the values' lengths, about */
	int		 tries;
};

/* An item leaves its batch: no longer in flight. */
static void
fl_item_clear(struct fl_item *it)
{
	json_object_del(fl_flying, it->name);
	free(it->name);
	free(it->key);
	free(it->need);
	free(it->val);
}

static void
fl_batch_free(struct fl_batch *b)
{
	size_t	 i;

	for (i = 0; i < b->n; i++)
		fl_item_clear(&b->it[i]);
	free(b);
	fl_inflight--;
}

/* Give every client of the batch back to the next tick. */
static void
fl_batch_later(struct fl_batch *b)
{
	size_t	 i;

	for (i = 0; i < b->n; i++)
		fleet_note(b->it[i].name);
	fl_batch_free(b);
}

/*
 * Can a state write count a delta twice? A txn whose answer is lost (a
 * timeout, a connection closed after etcd committed) is retried, by
 * store-etcd within its deadline or by us at the next tick; the retry's
 * compare then fails on the revision our first attempt made, and the
 * merge would add the same secrets sent to a count that holds them
 * already. So every write carries a token in the record, wseq[our id],
 * and each write whose outcome we do not know is remembered (tok, the
 * delta it added, the revision it was based on) until a record read
 * back settles it: the record carries its token, it committed and its
 * delta is the store's; the record is newer than its base, it never
 * will (its compare failed for good). t/fleet/lost-answer.sh.
 */
static void
fl_unsure_add(const struct fl_item *it)
{
	json_t	*a = json_object_get(fl_unsure, it->name);

	if (a == NULL) {
		a = json_array();
		json_object_set_new(fl_unsure, it->name, a);
	}
	if (json_array_size(a) >= FLEET_UNSURE_MAX) {
		log_warnx("store: %s: %d state writes of unknown outcome; "
		    "forgetting the oldest (its count may be doubled)",
		    it->name, FLEET_UNSURE_MAX);
		json_array_remove(a, 0);
	}
	json_array_append_new(a, json_pack("[I,I,I]", (json_int_t)it->tok,
	    (json_int_t)it->delta, (json_int_t)it->rev));
}

/* Settle name's unsure writes, and also (an attempt just answered with a
 * failed compare, maybe after a retry of it committed), against cur at
 * rev; see above. */
static void
fl_settle(struct client_rt *rt, const char *name, json_t *cur, int64_t rev,
    const struct fl_item *also)
{
	json_t	*a = json_object_get(fl_unsure, name), *w;
	int64_t	 mine = json_integer_value(json_object_get(json_object_get(cur,
		    "wseq"), fleet_server_id()));
	size_t	 i;

	if (mine == 0)
		goto prune;
	if (also != NULL && also->tok == mine) {
		client_store_flushed(rt, also->delta);
		json_object_del(fl_unsure, name);
		log_debug("store: %s: a retried state write had committed",
		    name);
		return;
	}
	json_array_foreach(a, i, w)
		if (json_integer_value(json_array_get(w, 0)) == mine) {
			client_store_flushed(rt,
			    (uint64_t)json_integer_value(json_array_get(w, 1)));
			json_object_del(fl_unsure, name);
			log_debug("store: %s: a state write whose answer was "
			    "lost had committed", name);
			return;
		}
prune:
	for (i = 0; a != NULL && i < json_array_size(a);)
		if (json_integer_value(json_array_get(json_array_get(a, i),
		    2)) < rev)
			json_array_remove(a, i);
		else
			i++;
	if (a != NULL && json_array_size(a) == 0)
		json_object_del(fl_unsure, name);
}

/* Our token in a state record: the others' stay as they were. */
static void
fl_wseq_set(json_t *st, int64_t tok)
{
	json_t	*w = json_object_get(st, "wseq");

	if (!json_is_object(w)) {
		w = json_object();
		json_object_set_new(st, "wseq", w);
	}
	if (json_object_get(w, fleet_server_id()) == NULL &&
	    json_object_size(w) >= FLEET_WSEQ_MAX)
		json_object_clear(w);	/* ids of servers long gone */
	json_object_set_new(w, fleet_server_id(), json_integer(tok));
}

/* Merge a client into cur (the record at rev): its value to write. */
static int
fl_item_merge(struct fl_item *it, json_t *cur, int64_t rev,
    const struct fl_item *also)
{
	struct client_rt *rt = client_find(it->name);
	json_t		*st;

	free(it->val);
	it->val = NULL;
	if (rt == NULL) {
		json_object_del(fl_unsure, it->name);
		return (-1);
	}
	fl_settle(rt, it->name, cur, rev, also);
	if ((st = client_store_merge(rt, cur, fleet_server_id(),
	    &it->delta)) == NULL)
		return (-1);
	it->tok = ++fl_wtok & INT64_MAX;
	fl_wseq_set(st, it->tok);
	it->val = json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(st);
	it->rev = rev;
	return (it->val != NULL ? 0 : -1);
}

static void	 fl_batch_send(struct fl_batch *);

/* key's record in a txn's answer, or NULL: absent. */
static const struct etcd_kv *
fl_answer_kv(const struct etcd_result *r, const char *key)
{
	size_t	 k;

	for (k = 0; k < r->nkvs; k++)
		if (strcmp(r->kvs[k].key, key) == 0)
			return (&r->kvs[k]);
	return (NULL);
}

static void
fl_batch_cb(struct etcd_result *r, void *arg)
{
	struct fl_batch	*b = arg;
	struct fl_item	 prev;
	struct client_rt *rt;
	const struct etcd_kv *kv, *kv_entry;
	json_t		*cur;
	json_error_t	 jerr;
	size_t		 i;

	fl_pending--;
	if (r->err == NULL && r->succeeded) {
		/* Every earlier write of these is settled: their compares
		 * can no longer hold. */
		for (i = 0; i < b->n; i++) {
			json_object_del(fl_unsure, b->it[i].name);
			if ((rt = client_find(b->it[i].name)) != NULL)
				client_store_flushed(rt, b->it[i].delta);
		}
		fl_batch_free(b);
	} else if (r->err == NULL && ++b->tries < 5 && !fl_stopping) {
		/* Someone wrote first: merge each into what is there now
		 * (a key missing from the answer is absent). */
		for (i = 0; i < b->n; i++) {
			cur = NULL;
			kv_entry = fl_answer_kv(r, b->it[i].need);
			if ((kv = fl_answer_kv(r, b->it[i].key)) != NULL)
				cur = json_loadb((const char *)kv->val,
				    kv->vlen, 0, &jerr);
			prev = b->it[i];
			if (kv_entry == NULL || fl_item_merge(&b->it[i], cur,
			    kv != NULL ? kv->mod_rev : 0, &prev) == -1) {
				/* Removed from the store or gone from the
				 * table: drop it from the txn. */
				if (kv_entry == NULL)
					json_object_del(fl_unsure,
					    b->it[i].name);
				fl_item_clear(&b->it[i]);
				b->it[i] = b->it[--b->n];
				i--;
			}
			json_decref(cur);
		}
		if (b->n == 0)
			fl_batch_free(b);
		else
			fl_batch_send(b);
	} else {
		/* No answer, or not ours to read: it may have committed. */
		for (i = 0; r->err != NULL && i < b->n; i++)
			fl_unsure_add(&b->it[i]);
		fl_batch_later(b);
	}
	etcd_result_free(r);
}

static void
fl_batch_send(struct fl_batch *b)
{
	struct etcd_cas_op ops[ETCD_TXN_MAX_OPS];
	size_t		 i;

	for (i = 0; i < b->n; i++) {
		ops[i].key = b->it[i].key;
		ops[i].val = b->it[i].val;
		ops[i].len = strlen(b->it[i].val);
		ops[i].rev = b->it[i].rev;
		/* Never a record for a client removed meanwhile, though
		 * this server's table may hold it for a moment yet. */
		ops[i].need = b->it[i].need;
	}
	fl_count();
	if (fl_sent(etcd_cas_put_many(fl_etcd, ops, b->n, fl_batch_cb, b)) ==
	    -1)
		fl_batch_later(b);
}

/* Keys and values are base64 in the body (4/3): a batch stops at a third
 * of the txn's byte bound, so even a full one is well under it. */
#define FL_BATCH_BYTES	(ETCD_TXN_MAX_BYTES / 3)

static void
fl_flush_tick(evutil_socket_t fd, short what, void *arg)
{
	struct fl_batch	*b = NULL;
	struct fl_item	*it;
	const char	*name;
	json_t		*v, *todo;
	void		*tmp;
	char		 sfx[600];

	if (!fl_isup || json_object_size(fl_dirty) == 0)
		return;
	todo = fl_dirty;
	fl_dirty = json_object();
	json_object_foreach_safe(todo, tmp, name, v) {
		if (json_object_get(fl_flying, name) != NULL ||
		    (b == NULL && fl_inflight >= FLEET_FLUSH_INFLIGHT)) {
			fleet_note(name);	/* the next second */
			continue;
		}
		if (b == NULL) {
			b = xcalloc(1, sizeof(*b));
			fl_inflight++;
		}
		it = &b->it[b->n];
		snprintf(sfx, sizeof(sfx), "state/%s", name);
		it->name = xstrdup(name);
		if (fl_item_merge(it, fl_kv_val(sfx), fl_kv_rev(sfx), NULL) == -1) {
			free(it->name);	/* no longer in the table */
			it->name = NULL;
			continue;
		}
		xasprintf(&it->key, "%s%s", fl_prefix, sfx);
		xasprintf(&it->need, "%sclients/%s", fl_prefix, name);
		json_object_set_new(fl_flying, name, json_true());
		/* The key goes in thrice (compare, put, range), the entry's
		 * twice (compare, range), ~100 bytes of JSON around each. */
		b->bytes += strlen(it->val) + 5 * strlen(it->key) + 200;
		if (++b->n == FL_BATCH_MAX || b->bytes >= FL_BATCH_BYTES) {
			fl_batch_send(b);
			b = NULL;
		}
	}
	if (b != NULL && b->n > 0)
		fl_batch_send(b);
	else if (b != NULL)
		fl_batch_free(b);
	json_decref(todo);
}

/* ---- operator writes ---- */

struct fl_op {
	char		*cmd;
	json_t		*names;
	char		*attr;
	json_t		*value;
	fleet_done_fn	 done;
	void		*arg;
	size_t		 idx;
	int		 tries;
	json_t		*cur;		/* after a lost race: the winner's */
	int64_t		 rev;
	int		 have_cur;
	char		*sfx;		/* key written now */
	char		*val;		/* value written now (NULL: delete) */
	struct timeval	 t0;		/* the operator waits FLEET_OP_MS at most */
	int		 sync;		/* inside fleet_op: answer from the loop */
	char		*err;		/* the answer, when deferred */
};

static void	 fl_op_step(struct fl_op *);

/* mandosctl's names for the entry's fields (clients.json keys). */
static const struct {
	const char	*key, *prop;
	char		 type;		/* d duration, b bool, s string */
} fl_attrs[] = {
	{ "timeout", "Timeout", 'd' }, { "interval", "Interval", 'd' },
	{ "extended_timeout", "ExtendedTimeout", 'd' },
	{ "approval_delay", "ApprovalDelay", 'd' },
	{ "approval_duration", "ApprovalDuration", 'd' },
	{ "approved_by_default", "ApprovedByDefault", 'b' },
	{ "host", "Host", 's' }, { "checker", "Checker", 's' },
	{ "secret", "Secret", 's' },
};

static void	 fl_op_finish(struct fl_op *, const char *);

/* A deferred answer (see fl_op_finish). */
static void
fl_op_later(evutil_socket_t fd, short what, void *arg)
{
	struct fl_op	*op = arg;

	fl_pending--;
	op->sync = 0;
	fl_op_finish(op, op->err);
}

/* Answer the operator, never from inside fleet_op: its caller must see
 * the request queued before the answer comes. */
static void
fl_op_finish(struct fl_op *op, const char *err)
{
	struct timeval	 zero = { 0, 0 };

	if (op->sync) {
		op->err = err != NULL ? xstrdup(err) : NULL;
		if (event_base_once(fl_base, -1, EV_TIMEOUT, fl_op_later, op,
		    &zero) == 0) {
			fl_pending++;
			return;
		}
		log_warnx("store: cannot defer an answer; answering now");
	}
	op->done(op->arg, err);
	free(op->err);
	json_decref(op->names);
	json_decref(op->value);
	json_decref(op->cur);
	free(op->cmd);
	free(op->attr);
	free(op->sfx);
	free(op->val);
	free(op);
}

/* The entry with attribute set, or NULL with *why. */
static json_t *
fl_entry_set(json_t *cur, const char *attr, json_t *v, const char **why)
{
	json_t		*n;
	uint64_t	 ms;
	size_t		 i;
	char		 buf[64];

	for (i = 0; i < sizeof(fl_attrs) / sizeof(fl_attrs[0]); i++)
		if (strcmp(attr, fl_attrs[i].key) == 0 ||
		    strcmp(attr, fl_attrs[i].prop) == 0)
			break;
	if (i == sizeof(fl_attrs) / sizeof(fl_attrs[0]))
		return (*why = "unknown attribute", NULL);
	n = json_deep_copy(cur);
	switch (fl_attrs[i].type) {
	case 'd':
		if (json_is_integer(v) && json_integer_value(v) >= 0 &&
		    (uint64_t)json_integer_value(v) <= DURATION_MAX_MS)
			ms = (uint64_t)json_integer_value(v);
		else if (!json_is_string(v) || duration_parse(
		    json_string_value(v), &ms, why) == -1) {
			if (!json_is_string(v))
				*why = "must be milliseconds or a duration "
				    "string";
			json_decref(n);
			return (NULL);
		}
		snprintf(buf, sizeof(buf), "PT%llu.%03lluS",
		    (unsigned long long)(ms / 1000),
		    (unsigned long long)(ms % 1000));
		json_object_set_new(n, fl_attrs[i].key, json_string(buf));
		break;
	case 'b':
		if (!json_is_boolean(v)) {
			json_decref(n);
			return (*why = "must be true or false", NULL);
		}
		json_object_set(n, fl_attrs[i].key, v);
		break;
	default:
		if (!json_is_string(v)) {
			json_decref(n);
			return (*why = "must be a string", NULL);
		}
		json_object_set(n, fl_attrs[i].key, v);
		if (strcmp(fl_attrs[i].key, "secret") == 0)
			json_object_del(n, "secfile");
	}
	return (n);
}

static long
fl_elapsed_ms(const struct timeval *t0)
{
	struct timeval	 now, d;

	evutil_gettimeofday(&now, NULL);
	evutil_timersub(&now, t0, &d);
	return ((long)d.tv_sec * 1000 + d.tv_usec / 1000);
}

static void
fl_op_cb(struct etcd_result *r, void *arg)
{
	struct fl_op	*op = arg;
	json_error_t	 jerr;
	char		 msg[600], sfx[600];

	fl_pending--;
	op->sync = 0;		/* out of fleet_op: answer directly */
	if (r->err != NULL) {
		snprintf(msg, sizeof(msg), "%s: the store did not take the "
		    "change (nothing was changed on this server): %s",
		    json_string_value(json_array_get(op->names, op->idx)),
		    r->err);
		fl_set_up(0, r->err);
		etcd_result_free(r);
		fl_op_finish(op, msg);
		return;
	}
	if (!r->succeeded) {
		/* Lost a race: redo just this change on the winner's value. */
		if (++op->tries >= FLEET_CAS_TRIES || fl_elapsed_ms(&op->t0) >
		    FLEET_OP_MS) {
			etcd_result_free(r);
			fl_op_finish(op, "the store: too many concurrent "
			    "writers on this client; try again");
			return;
		}
		json_decref(op->cur);
		op->cur = r->nkvs > 0 ? json_loadb((const char *)r->kvs[0].val,
		    r->kvs[0].vlen, 0, &jerr) : NULL;
		op->rev = r->nkvs > 0 ? r->kvs[0].mod_rev : 0;
		op->have_cur = 1;
		etcd_result_free(r);
		fl_op_step(op);
		return;
	}
	/* Ours now: apply it here at once; the watch skips this revision. */
	fl_key_changed(op->sfx, (const unsigned char *)op->val, op->val !=
	    NULL ? strlen(op->val) : 0, r->revision);
	if (strcmp(op->cmd, "remove") == 0) {
		/* The state record went in the same txn (fl_op_remove). */
		snprintf(sfx, sizeof(sfx), "state/%s", json_string_value(
		    json_array_get(op->names, op->idx)));
		fl_key_changed(sfx, NULL, 0, r->revision);
	}
	if (fl_table_dirty)
		fl_reload();	/* the operator sees the change on return */
	etcd_result_free(r);
	json_decref(op->cur);
	op->cur = NULL;
	op->have_cur = 0;
	op->tries = 0;
	op->idx++;
	fl_op_step(op);
}

/*
 * Remove name: its entry if still at rev, and in the same txn its state
 * record, its approval decision and its last checker result, so that
 * nothing of it survives a lost store between two steps and the same
 * machine added again later starts as the table says (enabled, nothing
 * sent), as after mandosctl --push.
 */
static int
fl_op_remove(struct fl_op *op, const char *key, const char *name,
    int64_t rev)
{
	char		 also[ETCD_CLIENT_RECORDS][ETCD_RECORD_KEY_MAX];
	const char	*alsop[ETCD_CLIENT_RECORDS];
	size_t		 i;

	etcd_client_records(etcd_prefix(fl_etcd), name, also);
	for (i = 0; i < ETCD_CLIENT_RECORDS; i++)
		alsop[i] = also[i];
	fl_count();
	return (fl_sent(etcd_cas_delete_also(fl_etcd, key, rev, alsop,
	    ETCD_CLIENT_RECORDS, fl_op_cb, op)));
}

static void
fl_op_step(struct fl_op *op)
{
	struct client_rt *rt;
	const char	*name, *why = NULL;
	json_t		*cur, *n = NULL;
	int64_t		 rev;
	char		 key[1200], msg[600];
	int		 rc, enable;

	if (op->idx >= json_array_size(op->names)) {
		fl_op_finish(op, NULL);
		return;
	}
	if (fl_stopping) {
		fl_op_finish(op, "the server is stopping");
		return;
	}
	name = json_string_value(json_array_get(op->names, op->idx));
	free(op->sfx);
	xasprintf(&op->sfx, "%s/%s", (strcmp(op->cmd, "set") == 0 &&
	    strcasecmp(op->attr, "enabled") != 0) || strcmp(op->cmd,
	    "remove") == 0 ? "clients" : "state", name);
	cur = op->have_cur ? op->cur : fl_kv_val(op->sfx);
	rev = op->have_cur ? op->rev : fl_kv_rev(op->sfx);
	free(op->val);
	op->val = NULL;
	snprintf(key, sizeof(key), "%s%s", fl_prefix, op->sfx);
	if (strcmp(op->cmd, "remove") == 0) {
		/* have_cur: our delete lost a race to another's; without
		 * it, a file may have given the client or the watch may
		 * have brought a removal the table has not seen yet. */
		if (rev == 0) {
			snprintf(msg, sizeof(msg), op->have_cur ? "%s was "
			    "removed meanwhile by another server or operator" :
			    "%s is not in the store (given by a file, or "
			    "removed meanwhile)", name);
			fl_op_finish(op, msg);
			return;
		}
		rc = fl_op_remove(op, key, name, rev);
	} else {
		if (strcmp(op->cmd, "set") == 0 && strcasecmp(op->attr,
		    "enabled") != 0) {
			if (!json_is_object(cur)) {
				snprintf(msg, sizeof(msg), "%s is not in the "
				    "store", name);
				fl_op_finish(op, msg);
				return;
			}
			if ((n = fl_entry_set(cur, op->attr, op->value,
			    &why)) == NULL) {
				snprintf(msg, sizeof(msg), "set %s on %s: %s",
				    op->attr, name, why);
				fl_op_finish(op, msg);
				return;
			}
		} else {
			if ((rt = client_find(name)) == NULL) {
				snprintf(msg, sizeof(msg), "no such client: %s",
				    name);
				fl_op_finish(op, msg);
				return;
			}
			enable = strcmp(op->cmd, "enable") == 0 ||
			    (strcmp(op->cmd, "set") == 0 &&
			    json_is_true(op->value));
			n = client_store_op(rt, json_is_object(cur) ? cur : NULL,
			    strcmp(op->cmd, "bump-timeout") == 0 ? "checked" :
			    enable ? "enable" : "disable", fleet_server_id());
		}
		op->val = json_dumps(n, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(n);
		if (op->val == NULL) {
			fl_op_finish(op, "cannot encode the change");
			return;
		}
		fl_count();
		rc = fl_sent(etcd_cas_put(fl_etcd, key, op->val,
		    strlen(op->val), rev, fl_op_cb, op));
	}
	if (rc == -1)
		fl_op_finish(op, "the store: cannot send the request");
}

int
fleet_op(const char *cmd, json_t *names, const char *attr, json_t *value,
    fleet_done_fn done, void *arg)
{
	static const char *const ops[] = { "enable", "disable", "bump-timeout",
	    "set", "remove", NULL };
	struct fl_op	*op;
	size_t		 i;

	if (fl_etcd == NULL)
		return (-1);
	for (i = 0; ops[i] != NULL; i++)
		if (strcmp(cmd, ops[i]) == 0)
			break;
	if (ops[i] == NULL)
		return (-1);
	op = xcalloc(1, sizeof(*op));
	op->cmd = xstrdup(cmd);
	op->names = json_incref(names);
	op->attr = attr != NULL ? xstrdup(attr) : xstrdup("");
	op->value = json_incref(value);
	op->done = done;
	op->arg = arg;
	evutil_gettimeofday(&op->t0, NULL);
	op->sync = 1;		/* cleared by the first answer from the loop */
	fl_op_step(op);
	return (0);
}

/* ---- life ---- */

void
fleet_start(struct event_base *base, int port,
    int (*load)(const char *, char **))
{
	struct timeval	 probe = { FLEET_PROBE_MS / 1000, 0 };
	struct timeval	 flush = { FLEET_FLUSH_MS / 1000, 0 };
	char		 host[256], *err = NULL;

	if (fl_url == NULL)
		return;
	fl_base = base;
	fl_load = load;
	/* Tokens differ across restarts: a record's wseq from our last
	 * life never matches a write of this one. */
	if (getrandom(&fl_wtok, sizeof(fl_wtok), 0) != sizeof(fl_wtok))
		fl_wtok = (int64_t)time(NULL) << 20;
	fl_wtok &= INT64_MAX >> 1;
	if (fl_id_opt != NULL)
		fl_id = xstrdup(fl_id_opt);
	else {
		if (gethostname(host, sizeof(host)) == -1)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		xasprintf(&fl_id, "%s:%d", host, port);
	}
	if (fl_pre == NULL || etcd_attach(fl_pre, base, &err) == -1)
		fatalx("--store: %s", err != NULL ? err : "no store handle");
	fl_etcd = fl_pre;
	fl_pre = NULL;
	metric_store_connections = fl_connections;
	etcd_set_timeouts(fl_etcd, FLEET_TOTAL_MS, FLEET_ATTEMPT_MS);
	fl_coalesce_ev = evtimer_new(base, fl_coalesce_cb, NULL);
	fl_probe_ev = event_new(base, -1, EV_PERSIST, fl_probe_cb, NULL);
	fl_flush_ev = event_new(base, -1, EV_PERSIST, fl_flush_tick, NULL);
	evtimer_add(fl_probe_ev, &probe);
	evtimer_add(fl_flush_ev, &flush);
	log_info("store %s: server id %s, offline mode %s", fl_url, fl_id,
	    fl_refuse_mode ? "refuse" : "serve");
	if (fl_read) {
		/* Read at start: the state records win over the state file. */
		fl_apply_states();
		fl_watch_start();
	} else
		fl_read_all();
}

/*
 * Stop: nothing new is started, and the requests in flight are let finish
 * (each has its deadline, 2 s at most) before the client is freed, which
 * needs them done. Called after the control socket closed, so an
 * operator's write that is cut short has nobody left to answer.
 */
void
fleet_stop(void)
{
	struct timeval	 t0;

	if (fl_url == NULL)
		return;
	fl_stopping = 1;
	etcd_watch_cancel(fl_watch);
	fl_watch = NULL;
	if (fl_coalesce_ev != NULL)
		event_free(fl_coalesce_ev);
	if (fl_probe_ev != NULL)
		event_free(fl_probe_ev);
	if (fl_flush_ev != NULL)
		event_free(fl_flush_ev);
	fl_coalesce_ev = fl_probe_ev = fl_flush_ev = NULL;
	evutil_gettimeofday(&t0, NULL);
	/* Ours, and the registry's, approvals' and audit's on the handle. */
	while ((fl_pending > 0 || etcd_inflight(fl_etcd) > 0) &&
	    fl_base != NULL &&
	    fl_elapsed_ms(&t0) < FLEET_TOTAL_MS + 500)
		if (event_base_loop(fl_base, EVLOOP_ONCE) == -1)
			break;
	if (etcd_inflight(fl_etcd) > 0)
		log_warnx("store: %zu requests still in flight at exit",
		    etcd_inflight(fl_etcd));
	metric_store_connections = NULL;
	etcd_free(fl_etcd);
	fl_etcd = NULL;
	json_decref(fl_kv);
	json_decref(fl_gone);
	json_decref(fl_table);
	json_decref(fl_dirty);
	json_decref(fl_flying);
	json_decref(fl_unsure);
	fl_kv = fl_table = fl_dirty = fl_flying = fl_unsure = NULL;
	free(fl_url);
	free(fl_id_opt);
	free(fl_id);
	free(fl_statedir);
	free(fl_saved);
	free(fl_prefix);
	fl_url = fl_id_opt = fl_id = NULL;
}
