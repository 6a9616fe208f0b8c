/*
 * check_store.c: the store client's asynchronous API against a real etcd
 * (the endpoints come from $STORE, set by t/fleet/lease.sh). One event
 * loop drives a watch, a lease grant, a put under the lease, keepalives
 * that must hold the key past its TTL, then silence that must let etcd
 * expire it: the watch must report the lease's DELETE. Before that, the
 * multi-key CAS txn (etcd_cas_put_many): three creates in one txn, then
 * one stale revision among three that must fail the whole txn, write
 * nothing and bring back every current record, then the current revisions
 * that must succeed, and the bounds refused. Prints one line per step;
 * exit 0 pass, 1 fail.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/event.h>

#include "store-etcd.h"

static struct event_base *base;
static struct etcd	*e;
static char		 key[600];
static int64_t		 lease;
static int		 keepalives, deleted, failed;
static struct timeval	 t_silent;
static struct event	*tick;

static double
since(const struct timeval *t0)
{
	struct timeval	 now, d;

	gettimeofday(&now, NULL);
	timersub(&now, t0, &d);
	return (d.tv_sec + d.tv_usec / 1e6);
}

static void
die(const char *what, struct etcd_result *r)
{
	printf("FAIL: %s: %s\n", what, r != NULL && r->err != NULL ? r->err :
	    "no answer");
	failed = 1;
	event_base_loopbreak(base);
}

static void
on_watch(const struct etcd_watch_msg *m, void *arg)
{
	size_t	 i;

	if (m->err != NULL)
		printf("  watch: %s\n", m->err);
	for (i = 0; i < m->nev; i++) {
		if (strcmp(m->ev[i].kv.key, key) != 0)
			continue;
		if (m->ev[i].type == ETCD_PUT)
			printf("  watch: put %s\n", m->ev[i].kv.val);
		else {
			printf("ok: the lease expired %.1f s after the last "
			    "keepalive; the watch saw the DELETE\n",
			    since(&t_silent));
			deleted = 1;
			event_base_loopbreak(base);
		}
	}
}

static void
on_keepalive(struct etcd_result *r, void *arg)
{
	if (r->err != NULL) {
		die("keepalive", r);
	} else if (++keepalives == 4) {
		printf("ok: 4 keepalives (ttl %lld), holding the key past its "
		    "TTL\n", (long long)r->ttl);
		gettimeofday(&t_silent, NULL);
		event_del(tick);	/* go silent: etcd must expire it */
	}
	etcd_result_free(r);
}

static void
on_tick(evutil_socket_t fd, short ev, void *arg)
{
	if (etcd_lease_keepalive(e, lease, on_keepalive, NULL) == -1)
		die("keepalive queue", NULL);
}

static void
on_check(struct etcd_result *r, void *arg)
{
	/* After 4 keepalives at 0.8 s (3.2 s > TTL 2 s), the key is there. */
	if (r->err != NULL || r->nkvs != 1)
		die("the key vanished while its lease was kept alive", r);
	else
		printf("ok: the key outlived its TTL while kept alive\n");
	etcd_result_free(r);
}

static void
on_check_tick(evutil_socket_t fd, short ev, void *arg)
{
	etcd_range(e, key, 0, on_check, NULL);
}

static void
on_put(struct etcd_result *r, void *arg)
{
	struct timeval	 iv = { 0, 800000 }, chk = { 3, 300000 };

	if (r->err != NULL) {
		die("put with lease", r);
		etcd_result_free(r);
		return;
	}
	printf("ok: put %s under lease %lld at revision %lld\n", key,
	    (long long)lease, (long long)r->revision);
	etcd_result_free(r);
	tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
	event_add(tick, &iv);
	event_base_once(base, -1, EV_TIMEOUT, on_check_tick, NULL, &chk);
}

static void
on_grant(struct etcd_result *r, void *arg)
{
	if (r->err != NULL || r->lease_id == 0 || r->ttl != 2) {
		die("lease grant", r);
		etcd_result_free(r);
		return;
	}
	lease = r->lease_id;
	printf("ok: lease %lld granted, ttl %lld\n", (long long)lease,
	    (long long)r->ttl);
	etcd_result_free(r);
	if (etcd_put(e, key, "alive", 5, lease, on_put, NULL) == -1)
		die("put queue", NULL);
}

static void
on_created(const struct etcd_watch_msg *m, void *arg)
{
	static int	 started;

	if (m->created && !started) {
		started = 1;
		if (etcd_lease_grant(e, 2, on_grant, NULL) == -1)
			die("grant queue", NULL);
	}
	on_watch(m, arg);
}

static void
on_deadline(evutil_socket_t fd, short ev, void *arg)
{
	printf("FAIL: no DELETE from the expired lease within 20 s "
	    "(keepalives=%d)\n", keepalives);
	failed = 1;
	event_base_loopbreak(base);
}

/* One synchronous call's answer; NULL (and a FAIL line) if not queued. */
static struct etcd_result *
txn(const struct etcd_cas_op *ops, size_t n)
{
	struct etcd_result	*r = NULL;

	if (etcd_cas_put_many(e, ops, n, etcd_sync_cb, &r) == -1) {
		printf("FAIL: etcd_cas_put_many refused %zu ops\n", n);
		return (NULL);
	}
	return (etcd_sync_wait(e, &r));
}

static const struct etcd_kv *
kv_of(const struct etcd_result *r, const char *k)
{
	size_t	 i;

	for (i = 0; r != NULL && i < r->nkvs; i++)
		if (strcmp(r->kvs[i].key, k) == 0)
			return (&r->kvs[i]);
	return (NULL);
}

/*
 * An op's need key: absent, the txn fails, writes nothing, and its answer
 * holds the record but not the need; present, the same txn holds.
 */
static int
check_txn_need(const char *pre)
{
	struct etcd_cas_op	 op;
	struct etcd_result	*r, *cur = NULL;
	const struct etcd_kv	*kv;
	char			 rec[720], need[720];
	int			 bad = 0;

	snprintf(rec, sizeof(rec), "%sneed-rec", pre);
	snprintf(need, sizeof(need), "%sneed-entry", pre);
	op = (struct etcd_cas_op){ rec, "r1", 2, 0, need };
	r = txn(&op, 1);
	if (r == NULL || r->err != NULL || r->succeeded || r->nkvs != 0) {
		printf("FAIL: a put needing an absent key: succeeded %d, "
		    "%zu kvs back\n", r != NULL ? r->succeeded : -1,
		    r != NULL ? r->nkvs : 0);
		bad = 1;
	}
	etcd_result_free(r);
	if (!bad && (etcd_range(e, rec, 0, etcd_sync_cb, &cur) == -1 ||
	    etcd_sync_wait(e, &cur) == NULL || cur->nkvs != 0)) {
		printf("FAIL: the txn needing an absent key wrote its record\n");
		bad = 1;
	}
	etcd_result_free(cur);
	cur = NULL;
	if (bad)
		return (-1);
	printf("ok: a put whose need key is absent fails and writes nothing\n");
	if (etcd_put(e, need, "e", 1, 0, etcd_sync_cb, &cur) == -1 ||
	    etcd_sync_wait(e, &cur) == NULL || cur->err != NULL) {
		die("put the need key", cur);
		return (-1);
	}
	etcd_result_free(cur);
	r = txn(&op, 1);
	if (r == NULL || r->err != NULL || !r->succeeded) {
		printf("FAIL: a put whose need key exists did not hold\n");
		etcd_result_free(r);
		return (-1);
	}
	etcd_result_free(r);
	/* Stale revision, need present: the answer holds both. */
	r = txn(&op, 1);
	if (r == NULL || r->err != NULL || r->succeeded || r->nkvs != 2 ||
	    (kv = kv_of(r, need)) == NULL || kv->vlen != 1 ||
	    kv_of(r, rec) == NULL) {
		printf("FAIL: a stale put with its need present: succeeded %d, "
		    "%zu kvs back\n", r != NULL ? r->succeeded : -1,
		    r != NULL ? r->nkvs : 0);
		bad = 1;
	} else
		printf("ok: with its need key present the put holds; a stale "
		    "one fails with the record and the need key read back\n");
	etcd_result_free(r);
	return (bad ? -1 : 0);
}

static int
check_txn(void)
{
	struct etcd_cas_op	 ops[ETCD_TXN_MAX_OPS + 1];
	struct etcd_result	*r, *cur = NULL;
	const struct etcd_kv	*kv;
	char			 k[3][720], pre[700];
	char			*big;
	size_t			 i;
	int			 bad = 0;

	snprintf(pre, sizeof(pre), "%s/check-txn/", etcd_prefix(e));
	for (i = 0; i < 3; i++) {
		snprintf(k[i], sizeof(k[i]), "%sk%zu", pre, i);
		ops[i] = (struct etcd_cas_op){ k[i], "one", 3, 0, NULL };
	}
	r = txn(ops, 3);
	if (r == NULL || r->err != NULL || !r->succeeded) {
		die("three creates in one txn", r);
		return (-1);
	}
	etcd_result_free(r);
	if (etcd_range(e, pre, 1, etcd_sync_cb, &cur) == -1 ||
	    etcd_sync_wait(e, &cur) == NULL || cur->nkvs != 3) {
		die("range after the txn: not 3 keys", cur);
		return (-1);
	}
	printf("ok: one txn created 3 keys\n");

	/* k1's revision stale: nothing may be written, all 3 come back. */
	for (i = 0; i < 3; i++) {
		kv = kv_of(cur, k[i]);
		ops[i] = (struct etcd_cas_op){ k[i], "two", 3,
		    kv != NULL ? kv->mod_rev - (i == 1) : -1, NULL };
	}
	r = txn(ops, 3);
	if (r == NULL || r->err != NULL || r->succeeded || r->nkvs != 3 ||
	    (kv = kv_of(r, k[1])) == NULL || strcmp((char *)kv->val, "one") ||
	    kv->mod_rev != kv_of(cur, k[1])->mod_rev) {
		printf("FAIL: a stale revision: succeeded %d, %zu kvs back\n",
		    r != NULL ? r->succeeded : -1, r != NULL ? r->nkvs : 0);
		bad = 1;
	} else
		printf("ok: one stale revision failed the txn; its answer "
		    "holds the 3 current records\n");
	etcd_result_free(r);
	etcd_result_free(cur);
	cur = NULL;
	if (etcd_range(e, pre, 1, etcd_sync_cb, &cur) == -1 ||
	    etcd_sync_wait(e, &cur) == NULL || cur->nkvs != 3)
		bad = 1;
	for (i = 0; !bad && i < 3; i++)
		if (strcmp((char *)cur->kvs[i].val, "one") != 0) {
			printf("FAIL: the failed txn wrote %s\n",
			    cur->kvs[i].key);
			bad = 1;
		}
	if (!bad)
		printf("ok: the failed txn wrote none of the 3\n");

	/* With the revisions it returned, the same txn succeeds. */
	for (i = 0; !bad && i < 3; i++)
		ops[i].rev = kv_of(cur, k[i])->mod_rev;
	r = bad ? NULL : txn(ops, 3);
	if (!bad && (r == NULL || r->err != NULL || !r->succeeded)) {
		printf("FAIL: the txn with current revisions did not hold\n");
		bad = 1;
	} else if (!bad)
		printf("ok: the retry with the current revisions wrote all 3\n");
	etcd_result_free(r);
	etcd_result_free(cur);
	if (!bad && check_txn_need(pre) == -1)
		bad = 1;

	/* The bounds: 129 ops, or a body past ETCD_TXN_MAX_BYTES. */
	for (i = 0; i <= ETCD_TXN_MAX_OPS; i++)
		ops[i] = (struct etcd_cas_op){ k[0], "x", 1, 0, NULL };
	r = NULL;
	if (etcd_cas_put_many(e, ops, ETCD_TXN_MAX_OPS + 1, etcd_sync_cb,
	    &r) != -1) {
		printf("FAIL: a txn of %d ops was queued\n",
		    ETCD_TXN_MAX_OPS + 1);
		etcd_result_free(etcd_sync_wait(e, &r));
		bad = 1;
	}
	big = calloc(1, ETCD_TXN_MAX_BYTES);
	memset(big, 'b', ETCD_TXN_MAX_BYTES - 1);
	ops[0] = (struct etcd_cas_op){ k[0], big, ETCD_TXN_MAX_BYTES - 1, 0,
	    NULL };
	r = NULL;
	if (etcd_cas_put_many(e, ops, 1, etcd_sync_cb, &r) != -1) {
		printf("FAIL: a txn past %u bytes was queued\n",
		    ETCD_TXN_MAX_BYTES);
		etcd_result_free(etcd_sync_wait(e, &r));
		bad = 1;
	} else if (!bad)
		printf("ok: %d ops and %u bytes are refused before sending\n",
		    ETCD_TXN_MAX_OPS + 1, ETCD_TXN_MAX_BYTES);
	/* 65 ops with a need each: 130 compares. */
	for (i = 0; i <= ETCD_TXN_MAX_OPS / 2; i++)
		ops[i] = (struct etcd_cas_op){ k[0], "x", 1, 0, k[1] };
	r = NULL;
	if (etcd_cas_put_many(e, ops, ETCD_TXN_MAX_OPS / 2 + 1, etcd_sync_cb,
	    &r) != -1) {
		printf("FAIL: a txn of %d ops with needs was queued\n",
		    ETCD_TXN_MAX_OPS / 2 + 1);
		etcd_result_free(etcd_sync_wait(e, &r));
		bad = 1;
	} else if (!bad)
		printf("ok: %d ops with a need each are refused before "
		    "sending\n", ETCD_TXN_MAX_OPS / 2 + 1);
	free(big);
	return (bad ? -1 : 0);
}

int
main(void)
{
	struct etcd_watch	*w;
	struct timeval		 dl = { 20, 0 };
	const char		*url = getenv("STORE");
	char			*err = NULL;

	if (url == NULL) {
		printf("FAIL: no $STORE\n");
		return (1);
	}
	base = event_base_new();
	if ((e = etcd_new(base, url, &err)) == NULL) {
		printf("FAIL: %s\n", err);
		return (1);
	}
	if (check_txn() == -1)
		return (1);
	snprintf(key, sizeof(key), "%s/servers/check-store", etcd_prefix(e));
	if ((w = etcd_watch(e, key, 0, 0, on_created, NULL)) == NULL) {
		printf("FAIL: watch\n");
		return (1);
	}
	event_base_once(base, -1, EV_TIMEOUT, on_deadline, NULL, &dl);
	event_base_dispatch(base);
	etcd_watch_cancel(w);
	if (tick != NULL)
		event_free(tick);
	etcd_free(e);
	event_base_free(base);
	return (failed || !deleted || keepalives < 4);
}
