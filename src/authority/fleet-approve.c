/*
 * fleet-approve.c: approvals across a fleet of servers (see
 * fleet-approve.h). A decision is one key, PREFIX/approvals/NAME, whose
 * value is {"approved": bool, "server": ID, "time": ms, "duration_ms": N},
 * put under a fresh lease of ceil(approval_duration) seconds (etcd may
 * raise it to its minimum TTL), so a decision vanishes by itself.
 *
 * Every server applies each PUT it sees with client_approve: it answers
 * the connections of that client waiting here (notifier -> park.c) and,
 * as a local approval does, covers new requests for approval_duration
 * from the moment this server heard of it. The server that wrote the
 * decision applies it when etcd confirms the write and skips its own
 * event (by revision), so an operator's reply means "recorded and in
 * force here". DELETE events (the lease ran out) change nothing: each
 * server's own approval_duration timer ends the decision.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "client.h"
#include "fleet-approve.h"
#include "log.h"
#include "store-etcd.h"
#include "xmalloc.h"

#define FAPPROVE_OWN	64	/* revisions of our own writes remembered */

/* One operator request over one or more names. */
struct fapprove_req {
	size_t		 left;		/* names not finished */
	char		*err;		/* first failure */
	int		 approve;
	ctl_done_fn	 done;
	void		*ctx;
};

/* One name's decision on its way to etcd: lease, then put. */
struct fapprove_op {
	struct fapprove_req *req;
	char		*name;
	char		*key;
	char		*val;
};

static struct etcd	*fa_etcd;
static struct etcd_watch *fa_watch;
static char		*fa_id;
static char		*fa_dir;		/* PREFIX/approvals/ */
static int		(*fa_up)(void);
static int64_t		 fa_own[FAPPROVE_OWN];	/* ring of our revisions */
static size_t		 fa_nown;
static int		 fa_broken;		/* the watch is reconnecting */

static void	 fapprove_apply(const struct etcd_kv *);

/* Whether rev is one of our own recent writes. */
static int
fapprove_is_own(int64_t rev)
{
	size_t	 i;

	for (i = 0; i < FAPPROVE_OWN; i++)
		if (fa_own[i] == rev && rev != 0)
			return (1);
	return (0);
}

/* Drop one reference to req; the last answers the operator. */
static void
fapprove_req_unref(struct fapprove_req *req)
{
	if (--req->left > 0)
		return;
	req->done(req->ctx, req->err);
	free(req->err);
	free(req);
}

/* One name finished (err NULL: recorded and applied). */
static void
fapprove_op_done(struct fapprove_op *op, const char *err)
{
	struct fapprove_req	*req = op->req;

	if (err != NULL && req->err == NULL)
		xasprintf(&req->err, "%s of %s not recorded in the store: %s",
		    req->approve ? "approval" : "denial", op->name, err);
	free(op->name);
	free(op->key);
	free(op->val);
	free(op);
	fapprove_req_unref(req);
}

static void
fapprove_put_cb(struct etcd_result *r, void *arg)
{
	struct fapprove_op	*op = arg;
	struct client_rt	*rt;

	if (r->err != NULL) {
		log_warnx("fleet: %s of client %s not recorded: %s",
		    op->req->approve ? "approval" : "denial", op->name, r->err);
		fapprove_op_done(op, r->err);
		etcd_result_free(r);
		return;
	}
	fa_own[fa_nown++ % FAPPROVE_OWN] = r->revision;
	if ((rt = client_find(op->name)) != NULL)
		client_approve(rt, op->req->approve);
	log_info("fleet: client %s %s for the fleet (revision %lld)", op->name,
	    op->req->approve ? "approved" : "denied", (long long)r->revision);
	fapprove_op_done(op, NULL);
	etcd_result_free(r);
}

static void
fapprove_lease_cb(struct etcd_result *r, void *arg)
{
	struct fapprove_op	*op = arg;

	if (r->err != NULL || fa_etcd == NULL) {
		fapprove_op_done(op, r->err != NULL ? r->err :
		    "the server is stopping");
		etcd_result_free(r);
		return;
	}
	if (etcd_put(fa_etcd, op->key, op->val, strlen(op->val), r->lease_id,
	    fapprove_put_cb, op) == -1)
		fapprove_op_done(op, "cannot queue the request");
	etcd_result_free(r);
}

void
fapprove_decide(json_t *names, int approve, ctl_done_fn done, void *ctx)
{
	struct fapprove_req	*req;
	struct fapprove_op	*op;
	struct client_rt	*rt;
	json_t			*v, *j;
	const char		*name;
	uint64_t		 dur;
	size_t			 i;

	if (fa_up != NULL && !fa_up()) {
		done(ctx, "the store (etcd) is unreachable or has no quorum: "
		    "the decision was not recorded for the fleet; try again "
		    "when it is back");
		return;
	}
	json_array_foreach(names, i, v)
		if (strchr(json_string_value(v), '/') != NULL) {
			done(ctx, "a client name with '/' cannot be decided for "
			    "the fleet");
			return;
		}
	req = xcalloc(1, sizeof(*req));
	req->approve = approve;
	req->done = done;
	req->ctx = ctx;
	req->left = 1;		/* held until every name is queued */
	json_array_foreach(names, i, v) {
		name = json_string_value(v);
		if ((rt = client_find(name)) == NULL)
			continue;
		dur = client_approval_duration_ms(rt);
		op = xcalloc(1, sizeof(*op));
		op->req = req;
		op->name = xstrdup(name);
		xasprintf(&op->key, "%s%s", fa_dir, name);
		j = json_pack("{s:b,s:s,s:I,s:I}", "approved", approve,
		    "server", fa_id, "time", (json_int_t)client_now_ms(),
		    "duration_ms", (json_int_t)dur);
		op->val = j != NULL ? json_dumps(j, JSON_COMPACT |
		    JSON_SORT_KEYS) : NULL;
		json_decref(j);
		req->left++;
		/* Whole seconds, at least 1: etcd's unit. */
		if (op->val == NULL || etcd_lease_grant(fa_etcd,
		    (int64_t)((dur + 999) / 1000 > 0 ? (dur + 999) / 1000 : 1),
		    fapprove_lease_cb, op) == -1)
			fapprove_op_done(op, "cannot queue the request");
	}
	fapprove_req_unref(req);	/* the hold: may answer now */
}

/* Apply one decision seen in the store (not one of ours). */
static void
fapprove_apply(const struct etcd_kv *kv)
{
	struct client_rt	*rt;
	json_error_t		 jerr;
	json_t			*j;
	const char		*name = kv->key + strlen(fa_dir), *by = "?";
	int			 approved;

	if (fapprove_is_own(kv->mod_rev))
		return;
	if ((j = json_loadb((const char *)kv->val, kv->vlen, 0, &jerr)) ==
	    NULL || !json_is_boolean(json_object_get(j, "approved"))) {
		log_warnx("fleet: %s: not a decision (%s); ignored", kv->key,
		    j == NULL ? jerr.text : "no \"approved\"");
		json_decref(j);
		return;
	}
	approved = json_is_true(json_object_get(j, "approved"));
	if (json_is_string(json_object_get(j, "server")))
		by = json_string_value(json_object_get(j, "server"));
	if ((rt = client_find(name)) == NULL)
		log_debug("fleet: decision for unknown client %s ignored", name);
	else {
		log_info("fleet: client %s %s on server %s", name, approved ?
		    "approved" : "denied", by);
		client_approve(rt, approved);
	}
	json_decref(j);
}

static void
fapprove_watch_cb(const struct etcd_watch_msg *m, void *arg)
{
	size_t	 i;

	if (m->err != NULL) {
		if (!fa_broken)
			log_warnx("fleet: approvals watch: %s; reconnecting",
			    m->err);
		fa_broken = 1;
		return;
	}
	if (m->created && fa_broken) {
		log_info("fleet: approvals watch back at revision %lld",
		    (long long)m->revision);
		fa_broken = 0;
	}
	for (i = 0; i < m->nev; i++)
		if (m->ev[i].type == ETCD_PUT &&
		    strncmp(m->ev[i].kv.key, fa_dir, strlen(fa_dir)) == 0)
			fapprove_apply(&m->ev[i].kv);
}

/* Decisions in force when we start: applied, then watched from there. */
static void
fapprove_range_cb(struct etcd_result *r, void *arg)
{
	size_t	 i;

	if (fa_etcd == NULL) {		/* shut down meanwhile */
		etcd_result_free(r);
		return;
	}
	if (r->err != NULL)
		log_warnx("fleet: cannot read the approvals in force: %s; "
		    "watching from now", r->err);
	for (i = 0; r->err == NULL && i < r->nkvs; i++)
		fapprove_apply(&r->kvs[i]);
	fa_watch = etcd_watch(fa_etcd, fa_dir, 1, r->err == NULL ?
	    r->revision + 1 : 0, fapprove_watch_cb, NULL);
	if (fa_watch == NULL)
		log_warnx("fleet: cannot watch %s: out of memory", fa_dir);
	etcd_result_free(r);
}

int
fapprove_init(struct event_base *base, struct etcd *e, const char *id,
    int (*store_up)(void), char **errstr)
{
	fa_etcd = e;
	fa_id = xstrdup(id);
	fa_up = store_up;
	xasprintf(&fa_dir, "%s/approvals/", etcd_prefix(e));
	if (etcd_range(e, fa_dir, 1, fapprove_range_cb, NULL) == -1) {
		xasprintf(errstr, "fleet: cannot read %s", fa_dir);
		return (-1);
	}
	return (0);
}

void
fapprove_shutdown(void)
{
	etcd_watch_cancel(fa_watch);
	fa_watch = NULL;
	fa_etcd = NULL;
	free(fa_id);
	free(fa_dir);
	fa_id = fa_dir = NULL;
}
