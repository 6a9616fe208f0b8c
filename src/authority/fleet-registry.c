/*
 * fleet-registry.c: the live servers of a fleet and who checks which
 * client (see fleet-registry.h).
 *
 * Registry. PREFIX/servers/ID holds {"id", "pid", "start" (ms), "version"}
 * under a lease of TTL seconds, renewed every TTL/3; if the lease was
 * lost (we could not reach etcd for a TTL), a new one is granted and the
 * key put again. The live set is the keys under PREFIX/servers/ (read
 * once, then watched; re-read when the watch had to restart), always
 * with ourselves in it. While our lease cannot be renewed (etcd down or
 * without quorum), or the results watch is broken, we check every client
 * ourselves, as a server without a store does.
 *
 * Checkers. Client NAME is checked by the live server with the highest
 * fregistry_hash(server id, NAME) (rendezvous hashing: when a server
 * joins or leaves, only the clients it wins or held move). The others
 * skip their scheduled runs (client.c asks fregistry_mine). The owner
 * puts each result to PREFIX/checks/NAME as {"server", "time", "status",
 * "signal", "ok"}; every other server applies it (client_check_result),
 * so expires moves the same way everywhere.
 *
 * Takeover. When a server leaves the live set, every client it checked
 * gets expires >= now + interval + 1 s on every server, and the new owner
 * runs its checker at once: nobody is disabled because its checker
 * vanished, only because a check failed. The gap before that (the dead
 * server's lease running out, at most TTL; or, when etcd goes, our
 * renewal failing: TTL/3 + 4 s) is covered only if the client's timeout
 * exceeds interval + that; we warn at start if not.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "client.h"
#include "fleet-registry.h"
#include "log.h"
#include "store-etcd.h"
#include "xmalloc.h"

#define FREG_MAX_SERVERS	1024	/* bound on the live set */
#define FREG_RETRY_MS		1000	/* re-read after a failed read */
#define FREG_TAKEOVER_MARGIN_MS	1000	/* the result's trip through etcd */
#define FREG_MAX_CHECK_PUTS	256	/* result writes in flight */

struct freg_set {
	char		**id;		/* sorted */
	size_t		 n;
};

static struct event_base *rg_base;
static struct etcd	*rg_etcd;
static char		*rg_id;
static char		*rg_key;		/* PREFIX/servers/ID */
static char		*rg_dir;		/* PREFIX/servers/ */
static char		*rg_checks;		/* PREFIX/checks/ */
static char		*rg_val;		/* our registry value */
static int64_t		 rg_ttl_s;
static uint64_t		 rg_tick_ms;
static struct event	*rg_tick_ev;		/* keepalive */
static struct event	*rg_reload_ev;		/* re-read the set */
static int64_t		 rg_lease;		/* 0: none */
static int64_t		 rg_put_rev;		/* our key's mod_revision */
static int		 rg_busy;		/* a lease request in flight */
static int		 rg_up = 1;		/* optimistic until shown */
static int		 rg_loaded;		/* the live set was read */
static int		 rg_load_failed;	/* ... and could not be */
static int		 rg_reading;		/* a range in flight */
static int		 rg_stopping;		/* fregistry_shutdown runs */
static int64_t		 rg_snap_rev;		/* the set's read revision */
static struct freg_set	 rg_live;
static struct etcd_watch *rg_watch, *rg_cwatch;
static int		 rg_wbroken, rg_cbroken;
static int		 rg_check_err;		/* a result put failed */
static size_t		 rg_check_puts;		/* result writes in flight */
static uint64_t		 rg_check_dropped;	/* not shared: store down */

static void	 freg_register(void);
static void	 freg_read(void);

uint64_t
fregistry_hash(const char *server, const char *client)
{
	uint64_t	 h = 1469598103934665603ULL;

	for (; *server != '\0'; server++)
		h = (h ^ (uint8_t)*server) * 1099511628211ULL;
	h = (h ^ 0) * 1099511628211ULL;
	for (; *client != '\0'; client++)
		h = (h ^ (uint8_t)*client) * 1099511628211ULL;
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return (h);
}

/* The owner of name in set s (NULL if s is empty). */
static const char *
freg_owner_in(const struct freg_set *s, const char *name)
{
	const char	*best = NULL;
	uint64_t	 h, bh = 0;
	size_t		 i;

	for (i = 0; i < s->n; i++) {
		h = fregistry_hash(s->id[i], name);
		if (best == NULL || h > bh || (h == bh &&
		    strcmp(s->id[i], best) > 0)) {
			best = s->id[i];
			bh = h;
		}
	}
	return (best);
}

static int
freg_in(const struct freg_set *s, const char *id)
{
	size_t	 i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->id[i], id) == 0)
			return (1);
	return (0);
}

static int
freg_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

static void
freg_add(struct freg_set *s, const char *id)
{
	if (freg_in(s, id) || s->n >= FREG_MAX_SERVERS)
		return;
	s->id = xreallocarray(s->id, s->n + 1, sizeof(*s->id));
	s->id[s->n++] = xstrdup(id);
	qsort(s->id, s->n, sizeof(*s->id), freg_cmp);
}

static void
freg_del(struct freg_set *s, const char *id)
{
	size_t	 i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->id[i], id) == 0) {
			free(s->id[i]);
			memmove(&s->id[i], &s->id[i + 1], (s->n - i - 1) *
			    sizeof(*s->id));
			s->n--;
			return;
		}
}

static void
freg_clear(struct freg_set *s)
{
	size_t	 i;

	for (i = 0; i < s->n; i++)
		free(s->id[i]);
	free(s->id);
	s->id = NULL;
	s->n = 0;
}

static void
freg_copy(struct freg_set *dst, const struct freg_set *src)
{
	size_t	 i;

	memset(dst, 0, sizeof(*dst));
	for (i = 0; i < src->n; i++)
		freg_add(dst, src->id[i]);
}

/* The server id in a key under PREFIX/servers/, or NULL. */
static const char *
freg_key_id(const char *key)
{
	size_t	 n = strlen(rg_dir);

	if (strncmp(key, rg_dir, n) != 0 || key[n] == '\0' ||
	    strchr(key + n, '/') != NULL)
		return (NULL);
	return (key + n);
}

const char *
fregistry_owner(const char *name)
{
	return (freg_owner_in(&rg_live, name));
}

size_t
fregistry_live(void)
{
	return (rg_live.n);
}

int
fregistry_up(void)
{
	return (rg_up);
}

/*
 * client.c's question: do we run name's scheduled checker? While the
 * store is away (our lease not renewed) or we cannot hear the others'
 * results, every server checks every client itself, as without a store:
 * otherwise each would expire the clients whose results it no longer
 * hears. Until the live set is known, nobody's, unless it cannot be read.
 */
static int
freg_mine(const char *name)
{
	const char	*o;

	if (!rg_up || rg_cbroken || (!rg_loaded && rg_load_failed))
		return (1);
	if (!rg_loaded)
		return (0);
	return ((o = freg_owner_in(&rg_live, name)) != NULL &&
	    strcmp(o, rg_id) == 0);
}

static void
freg_set_up(int up, const char *why)
{
	if (up && !rg_up)
		log_info("fleet: the store answers again; registered as %s; "
		    "checking only the clients this server owns", rg_id);
	else if (!up && rg_up)
		log_warnx("fleet: cannot renew this server's registration: "
		    "%s; checking every client here until the store is back",
		    why);
	rg_up = up;
}

/*
 * The live set changed from old to rg_live: move checkers. Clients whose
 * owner left are extended on every server; the new owner checks at once.
 */
static void
freg_changed(const struct freg_set *old, int initial)
{
	struct client_rt	*rt;
	const char		*was, *now, *name;
	int64_t			 t = client_now_ms();
	size_t			 i, mine = 0, took = 0, moved = 0;

	for (i = 0; (rt = client_nth(i)) != NULL; i++) {
		name = client_name(rt);
		now = freg_owner_in(&rg_live, name);
		if (now != NULL && strcmp(now, rg_id) == 0)
			mine++;
		if (initial)
			continue;
		was = freg_owner_in(old, name);
		if (was == NULL || now == NULL || strcmp(was, now) == 0)
			continue;
		moved++;
		if (!freg_in(&rg_live, was))
			client_extend(rt, t + (int64_t)client_interval_ms(rt) +
			    FREG_TAKEOVER_MARGIN_MS);
		if (strcmp(now, rg_id) == 0 && client_enabled(rt)) {
			took++;
			client_start_checker(rt);
		}
	}
	log_info("fleet: %zu live server%s; this one (%s) checks %zu of %zu "
	    "clients%s", rg_live.n, rg_live.n == 1 ? "" : "s", rg_id, mine,
	    client_count(), initial ? "" : "");
	if (moved > 0)
		log_info("fleet: %zu client%s changed checker, %zu taken over "
		    "here", moved, moved == 1 ? "" : "s", took);
}

/*
 * Warn once about clients a takeover could come too late for: the time
 * before the others know is the TTL (a dead server's lease running out)
 * or, when etcd goes, TTL/3 plus the store client's 4 s deadline (our
 * renewal failing); the next run is up to an interval after that.
 */
static void
freg_warn_timeouts(void)
{
	struct client_rt	*rt;
	size_t			 i, n = 0;
	const char		*first = NULL;
	uint64_t		 ttl = (uint64_t)rg_ttl_s * 1000;
	uint64_t		 blind = ttl > rg_tick_ms + 4000 ? ttl :
				    rg_tick_ms + 4000;

	for (i = 0; (rt = client_nth(i)) != NULL; i++)
		if (client_timeout_ms(rt) <= client_interval_ms(rt) + blind) {
			if (first == NULL)
				first = client_name(rt);
			n++;
		}
	if (n > 0)
		log_warnx("fleet: %zu client%s (first %s) with timeout <= "
		    "interval + %llu ms (store TTL %lld s): if its checking "
		    "server or the store goes away it may expire before "
		    "another server checks it", n, n == 1 ? "" : "s", first,
		    (unsigned long long)blind, (long long)rg_ttl_s);
}

/* ---- the live set ---- */

static void
freg_watch_cb(const struct etcd_watch_msg *m, void *arg)
{
	struct freg_set	 old;
	const char	*id;
	size_t		 i;
	int		 changed = 0;

	if (m->err != NULL) {
		if (!rg_wbroken)
			log_warnx("fleet: registry watch: %s; reconnecting",
			    m->err);
		rg_wbroken = 1;
		return;
	}
	if (m->created && rg_wbroken) {
		/* Events may be lost (compaction): read the set again. */
		rg_wbroken = 0;
		freg_read();
	}
	freg_copy(&old, &rg_live);
	for (i = 0; i < m->nev; i++) {
		if ((id = freg_key_id(m->ev[i].kv.key)) == NULL ||
		    m->ev[i].kv.mod_rev <= rg_snap_rev)
			continue;
		if (m->ev[i].type == ETCD_PUT && !freg_in(&rg_live, id)) {
			freg_add(&rg_live, id);
			log_info("fleet: server %s joined", id);
			changed = 1;
		} else if (m->ev[i].type == ETCD_DELETE &&
		    strcmp(id, rg_id) != 0 && freg_in(&rg_live, id)) {
			freg_del(&rg_live, id);
			log_info("fleet: server %s left (its lease ended)", id);
			changed = 1;
		}
	}
	if (changed && rg_loaded)
		freg_changed(&old, 0);
	freg_clear(&old);
}

static void
freg_read_cb(struct etcd_result *r, void *arg)
{
	struct freg_set	 old;
	const char	*id;
	size_t		 i;
	struct timeval	 tv = { FREG_RETRY_MS / 1000,
	    (FREG_RETRY_MS % 1000) * 1000 };

	rg_reading = 0;
	if (rg_etcd == NULL || rg_stopping) {
		etcd_result_free(r);
		return;
	}
	if (r->err != NULL) {
		if (!rg_load_failed)
			log_warnx("fleet: cannot read the live servers: %s; "
			    "checking every client here until it can", r->err);
		rg_load_failed = 1;
		evtimer_add(rg_reload_ev, &tv);
		etcd_result_free(r);
		return;
	}
	freg_copy(&old, &rg_live);
	freg_clear(&rg_live);
	freg_add(&rg_live, rg_id);
	for (i = 0; i < r->nkvs; i++)
		if ((id = freg_key_id(r->kvs[i].key)) != NULL)
			freg_add(&rg_live, id);
	rg_snap_rev = r->revision;
	if (rg_watch == NULL)
		rg_watch = etcd_watch(rg_etcd, rg_dir, 1, r->revision + 1,
		    freg_watch_cb, NULL);
	if (!rg_loaded) {
		rg_loaded = 1;
		freg_changed(&old, !rg_load_failed);
		freg_warn_timeouts();
	} else
		freg_changed(&old, 0);
	freg_clear(&old);
	etcd_result_free(r);
}

static void
freg_read(void)
{
	if (rg_reading)
		return;
	if (etcd_range(rg_etcd, rg_dir, 1, freg_read_cb, NULL) == 0)
		rg_reading = 1;
}

static void
freg_reload_cb(evutil_socket_t fd, short what, void *arg)
{
	freg_read();
}

/* ---- our registration ---- */

static void
freg_put_cb(struct etcd_result *r, void *arg)
{
	rg_busy = 0;
	if (r->err != NULL) {
		freg_set_up(0, r->err);
		rg_lease = 0;	/* grant afresh next time */
	} else {
		rg_put_rev = r->revision;
		freg_set_up(1, NULL);
	}
	etcd_result_free(r);
}

static void
freg_grant_cb(struct etcd_result *r, void *arg)
{
	if (r->err != NULL || rg_stopping) {
		rg_busy = 0;
		if (r->err != NULL)
			freg_set_up(0, r->err);
		etcd_result_free(r);
		return;
	}
	rg_lease = r->lease_id;
	if (etcd_put(rg_etcd, rg_key, rg_val, strlen(rg_val), rg_lease,
	    freg_put_cb, NULL) == -1) {
		rg_busy = 0;
		rg_lease = 0;
	}
	etcd_result_free(r);
}

static void
freg_register(void)
{
	rg_busy = 1;
	if (etcd_lease_grant(rg_etcd, rg_ttl_s, freg_grant_cb, NULL) == -1)
		rg_busy = 0;
}

static void
freg_keepalive_cb(struct etcd_result *r, void *arg)
{
	rg_busy = 0;
	if (rg_stopping) {
		etcd_result_free(r);
		return;
	}
	if (r->err != NULL && strstr(r->err, "lease not found") != NULL) {
		/* Gone (we were away for a TTL): register afresh. */
		log_warnx("fleet: this server's lease ended; registering again");
		rg_lease = 0;
		freg_register();
	} else if (r->err != NULL)
		freg_set_up(0, r->err);
	else
		freg_set_up(1, NULL);
	etcd_result_free(r);
}

static void
freg_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	if (rg_busy)
		return;		/* the last one is still trying */
	if (rg_lease == 0)
		freg_register();
	else {
		rg_busy = 1;
		if (etcd_lease_keepalive(rg_etcd, rg_lease, freg_keepalive_cb,
		    NULL) == -1)
			rg_busy = 0;
	}
}

/* ---- shared checker results ---- */

/* Our checker finished: tell the fleet. */
static void
freg_put_check_cb(struct etcd_result *r, void *arg)
{
	rg_check_puts--;
	if (r->err != NULL && !rg_check_err)
		log_warnx("fleet: cannot share a checker result: %s", r->err);
	else if (r->err == NULL && rg_check_err)
		log_info("fleet: checker results are shared again");
	rg_check_err = r->err != NULL;
	etcd_result_free(r);
}

static void
freg_check_done(struct client_rt *rt, int status, int signo)
{
	json_t	*j;
	char	*key, *val;

	if (rg_etcd == NULL || strchr(client_name(rt), '/') != NULL)
		return;
	/*
	 * With the store away a write could only time out: keep the result
	 * here (meanwhile every server checks every client, freg_mine). A
	 * bound on writes in flight keeps a slow etcd from piling up
	 * connections.
	 */
	if (!rg_up || rg_check_puts >= FREG_MAX_CHECK_PUTS) {
		if (rg_check_dropped++ % 1000 == 0)
			log_warnx("fleet: checker results not shared (store %s); "
			    "%llu so far", !rg_up ? "unreachable" : "slow",
			    (unsigned long long)rg_check_dropped);
		return;
	}
	j = json_pack("{s:s,s:I,s:i,s:i,s:b}", "server", rg_id, "time",
	    (json_int_t)client_now_ms(), "status", status, "signal", signo,
	    "ok", status == 0 && signo == 0);
	val = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(j);
	if (val == NULL)
		return;
	xasprintf(&key, "%s%s", rg_checks, client_name(rt));
	if (etcd_put(rg_etcd, key, val, strlen(val), 0, freg_put_check_cb,
	    NULL) == 0)
		rg_check_puts++;
	free(key);
	free(val);
}

/* Another server's checker result: ours too. */
static void
freg_apply_check(const struct etcd_kv *kv)
{
	struct client_rt	*rt;
	json_t			*j, *srv, *t, *st, *sig;
	const char		*name = kv->key + strlen(rg_checks);

	if ((rt = client_find(name)) == NULL)
		return;
	if ((j = json_loadb((const char *)kv->val, kv->vlen, 0, NULL)) == NULL)
		goto bad;
	srv = json_object_get(j, "server");
	t = json_object_get(j, "time");
	st = json_object_get(j, "status");
	sig = json_object_get(j, "signal");
	if (!json_is_string(srv) || !json_is_integer(t) ||
	    !json_is_integer(st) || !json_is_integer(sig))
		goto bad;
	if (strcmp(json_string_value(srv), rg_id) != 0) {
		log_debug("fleet: client %s checked by %s: status %d",
		    name, json_string_value(srv), (int)json_integer_value(st));
		client_check_result(rt, (int64_t)json_integer_value(t),
		    (int)json_integer_value(st), (int)json_integer_value(sig));
	}
	json_decref(j);
	return;
bad:
	log_warnx("fleet: %s: not a checker result; ignored", kv->key);
	json_decref(j);
}

static void
freg_cwatch_cb(const struct etcd_watch_msg *m, void *arg)
{
	size_t	 i;

	if (m->err != NULL) {
		if (!rg_cbroken)
			log_warnx("fleet: checker results watch: %s; "
			    "reconnecting", m->err);
		rg_cbroken = 1;
		return;
	}
	rg_cbroken = 0;
	for (i = 0; i < m->nev; i++)
		if (m->ev[i].type == ETCD_PUT && strncmp(m->ev[i].kv.key,
		    rg_checks, strlen(rg_checks)) == 0)
			freg_apply_check(&m->ev[i].kv);
}

int
fregistry_init(struct event_base *base, struct etcd *e, const char *id,
    uint64_t ttl_ms, char **errstr)
{
	static const struct client_check_hooks hooks = { freg_mine,
	    freg_check_done };
	struct timeval	 tv;
	json_t		*j;

	if (*id == '\0' || strchr(id, '/') != NULL) {
		xasprintf(errstr, "--store-id \"%s\": must be non-empty, "
		    "without '/'", id);
		return (-1);
	}
	rg_base = base;
	rg_etcd = e;
	rg_id = xstrdup(id);
	rg_ttl_s = (int64_t)((ttl_ms + 999) / 1000);
	if (rg_ttl_s < 1)
		rg_ttl_s = 1;
	rg_tick_ms = (uint64_t)rg_ttl_s * 1000 / 3;
	xasprintf(&rg_dir, "%s/servers/", etcd_prefix(e));
	xasprintf(&rg_key, "%s%s", rg_dir, id);
	xasprintf(&rg_checks, "%s/checks/", etcd_prefix(e));
	j = json_pack("{s:s,s:I,s:I,s:s}", "id", id, "pid", (json_int_t)getpid(),
	    "start", (json_int_t)client_now_ms(), "version", PACKAGE_VERSION);
	rg_val = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	freg_add(&rg_live, id);
	client_set_check_hooks(&hooks);
	rg_tick_ev = event_new(base, -1, EV_PERSIST, freg_tick_cb, NULL);
	rg_reload_ev = evtimer_new(base, freg_reload_cb, NULL);
	tv.tv_sec = (time_t)(rg_tick_ms / 1000);
	tv.tv_usec = (suseconds_t)(rg_tick_ms % 1000) * 1000;
	evtimer_add(rg_tick_ev, &tv);
	freg_register();
	freg_read();
	rg_cwatch = etcd_watch(e, rg_checks, 1, 0, freg_cwatch_cb, NULL);
	log_info("fleet: server %s, lease TTL %lld s, renewed every %llu ms",
	    id, (long long)rg_ttl_s, (unsigned long long)rg_tick_ms);
	return (0);
}

static void
freg_leave_cb(struct etcd_result *r, void *slot)
{
	*(struct etcd_result **)slot = r;
}

void
fregistry_shutdown(void)
{
	struct etcd_result	*r = NULL;

	if (rg_etcd == NULL)
		return;
	rg_stopping = 1;
	client_set_check_hooks(NULL);
	etcd_watch_cancel(rg_watch);
	etcd_watch_cancel(rg_cwatch);
	rg_watch = rg_cwatch = NULL;
	if (rg_tick_ev != NULL)
		event_free(rg_tick_ev);
	if (rg_reload_ev != NULL)
		event_free(rg_reload_ev);
	rg_tick_ev = rg_reload_ev = NULL;
	/* Hand our clients over now rather than after the TTL. */
	if (rg_up && rg_put_rev != 0 && etcd_cas_delete(rg_etcd, rg_key,
	    rg_put_rev, freg_leave_cb, &r) == 0) {
		while (r == NULL)
			if (event_base_loop(rg_base, EVLOOP_ONCE) == -1)
				break;
		if (r != NULL && r->err == NULL && r->succeeded)
			log_info("fleet: left the registry");
		etcd_result_free(r);
	}
	rg_etcd = NULL;
	freg_clear(&rg_live);
	free(rg_id);
	free(rg_key);
	free(rg_dir);
	free(rg_checks);
	free(rg_val);
	rg_id = rg_key = rg_dir = rg_checks = rg_val = NULL;
}
