/*
 * check_etcds.c: the store client over etcds:// with a client certificate
 * and a user (t/fleet/tls.sh sets $STORE, $STORE_CA, $STORE_CERT,
 * $STORE_KEY, $STORE_AUTH; the cluster's tokens live 2 s). A watch on
 * PREFIX/audit/ must see the three operator lines that the audit sink
 * (audit_store_init) puts; after 3 s of silence the token has expired, and
 * a range must still succeed by authenticating again (etcd_auth_count 2).
 * Prints one line per step; exit 0 pass, 1 fail.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "audit.h"
#include "store-etcd.h"

static struct event_base *base;
static struct etcd	*e;
static char		 key[600];
static int		 seen, failed;
static struct event	*quiet;

static void
die(const char *what, const char *why)
{
	printf("FAIL: %s: %s\n", what, why != NULL ? why : "?");
	failed = 1;
	event_base_loopbreak(base);
}

static void
range_cb(struct etcd_result *r, void *arg)
{
	size_t	 i;
	json_t	*j;

	if (r->err != NULL) {
		die("range after the token expired", r->err);
		etcd_result_free(r);
		return;
	}
	if (r->nkvs != 3) {
		die("range", "not 3 audit lines");
		etcd_result_free(r);
		return;
	}
	for (i = 0; i < r->nkvs; i++) {
		j = json_loads((const char *)r->kvs[i].val, 0, NULL);
		if (j == NULL || strcmp(json_string_value(json_object_get(j,
		    "type")), "operator") != 0 || json_integer_value(
		    json_object_get(j, "uid")) != 4242) {
			die("range", "an audit line is not the operator line put");
			json_decref(j);
			etcd_result_free(r);
			return;
		}
		json_decref(j);
	}
	etcd_result_free(r);
	printf("ok: range after 3 s idle: 3 lines, authentications %lu\n",
	    etcd_auth_count(e));
	if (etcd_auth_count(e) != 2)
		die("re-authentication", "the expired token was not renewed");
	event_base_loopbreak(base);
}

static void
quiet_cb(evutil_socket_t fd, short ev, void *arg)
{
	if (etcd_range(e, key, 1, range_cb, NULL) == -1)
		die("range", "cannot queue");
}

static void
watch_cb(const struct etcd_watch_msg *m, void *arg)
{
	struct audit_peer	 p = { 4242, 4243, 4244 };
	struct timeval		 three = { 3, 0 };
	size_t			 i;

	if (m->err != NULL) {
		printf("  watch: %s\n", m->err);
		return;
	}
	if (m->created) {
		printf("ok: watch over TLS created, authentications %lu\n",
		    etcd_auth_count(e));
		audit_operator(&p, "disable", "a", NULL, NULL);
		audit_operator(&p, "enable", "a", NULL, NULL);
		audit_operator(&p, "set", "b", json_pack("{ss}", "attr",
		    "host"), "no such client: b");
	}
	for (i = 0; i < m->nev; i++)
		if (m->ev[i].type == ETCD_PUT)
			seen++;
	if (seen == 3 && m->nev > 0) {
		printf("ok: the watch saw the 3 audit lines the sink put\n");
		if (etcd_auth_count(e) != 1)
			die("authentication", "not exactly one token so far");
		evtimer_add(quiet, &three);
	}
}

static void
guard_cb(evutil_socket_t fd, short ev, void *arg)
{
	event_base_loopbreak(base);
}

int
main(void)
{
	struct etcd_tls_opts	 o = { getenv("STORE_CA"), getenv("STORE_CERT"),
				    getenv("STORE_KEY"), getenv("STORE_AUTH") };
	struct etcd_watch	*w;
	struct timeval		 guard = { 20, 0 };
	struct event		*g;
	const char		*url = getenv("STORE");
	char			*err = NULL;

	if (url == NULL) {
		printf("FAIL: no $STORE\n");
		return (1);
	}
	base = event_base_new();
	if ((e = etcd_new_opts(base, url, &o, &err)) == NULL) {
		printf("FAIL: %s\n", err);
		return (1);
	}
	snprintf(key, sizeof(key), "%s/audit/", etcd_prefix(e));
	audit_set_server_id("check-etcds");
	audit_store_init(e, etcd_prefix(e));
	quiet = evtimer_new(base, quiet_cb, NULL);
	g = evtimer_new(base, guard_cb, NULL);
	if ((w = etcd_watch(e, key, 1, 0, watch_cb, NULL)) == NULL) {
		printf("FAIL: watch\n");
		return (1);
	}
	evtimer_add(g, &guard);
	event_base_dispatch(base);
	if (!failed && etcd_auth_count(e) != 2) {
		printf("FAIL: did not finish within 20 s\n");
		failed = 1;
	}
	etcd_watch_cancel(w);
	event_free(quiet);
	event_free(g);
	audit_close();
	return (failed);
}
