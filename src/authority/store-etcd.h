/*
 * store-etcd.h: a small asynchronous etcd v3 client for the authority,
 * over etcd's JSON gRPC gateway (/v3/kv/range, put, deleterange, txn,
 * /v3/watch, /v3/lease/grant, /v3/lease/keepalive) with libevent's evhttp.
 * Every request has a deadline and fails over across the URL's endpoints;
 * every response has a size bound. Requests reuse kept-alive connections
 * (store-etcd-pool.c). Keys are full keys (the caller adds
 * the prefix); values are bytes. etcds:// speaks TLS (OpenSSL through
 * libevent's bufferevent_openssl), verifying etcd's certificate against a
 * CA and the endpoint's name or IP, optionally with a client certificate;
 * a user and password (from a file) get a token from /v3/auth/authenticate
 * that goes with every request and is renewed when etcd says it expired.
 */
#ifndef MANDOS_STORE_ETCD_H
#define MANDOS_STORE_ETCD_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct etcd;
struct etcd_watch;

#define ETCD_MAX_EP	16		/* endpoints in one URL */
#define ETCD_MAX_BODY	(64u << 20)	/* one unary response */
#define ETCD_MAX_LINE	(16u << 20)	/* one watch message */

/* etcd://HOST:PORT[,HOST:PORT...]/PREFIX, parsed. */
struct etcd_url {
	struct {
		char	 host[256];
		uint16_t port;
	}		 ep[ETCD_MAX_EP];
	size_t		 nep;
	int		 tls;		/* etcds:// */
	char		 prefix[512];	/* "/mandos": leading '/', no trailing '/' */
};

struct etcd_kv {
	char		*key;
	unsigned char	*val;		/* NUL-terminated for convenience */
	size_t		 vlen;
	int64_t		 create_rev, mod_rev, version;
};

/* One answer, owned by the callback (free with etcd_result_free). */
struct etcd_result {
	char		*err;		/* NULL on success, else why */
	int64_t		 revision;	/* the store's revision (header) */
	int		 succeeded;	/* txn: the compare held */
	struct etcd_kv	*kvs;		/* range; failed CAS: the current kv */
	size_t		 nkvs;
	int64_t		 lease_id, ttl;	/* lease grant / keepalive */
};

typedef void	(*etcd_cb)(struct etcd_result *, void *);

enum etcd_ev_type { ETCD_PUT, ETCD_DELETE };
struct etcd_event {
	enum etcd_ev_type type;
	struct etcd_kv	 kv;
};
/* One watch message: created (the watch is live), events, or an error. */
struct etcd_watch_msg {
	int		 created;
	int64_t		 revision;
	const struct etcd_event *ev;
	size_t		 nev;
	const char	*err;		/* the stream broke; it reconnects */
};
typedef void	(*etcd_watch_cb)(const struct etcd_watch_msg *, void *);

/* How to reach a secured etcd; every field may be NULL. */
struct etcd_tls_opts {
	const char	*ca;	/* PEM CA(s) for etcd's certificate (NULL: the system's) */
	const char	*cert;	/* PEM client certificate (chain) */
	const char	*key;	/* its PEM private key (NULL: in cert) */
	const char	*auth;	/* file with "user:password" on one line, not world-readable */
};

int	 etcd_url_parse(const char *, struct etcd_url *, char **errstr);

/* The options --store-ca, --store-cert, --store-key, --store-auth (name
 * without the dashes) into o, for mandosctl and mandosd alike: 0, or -1
 * when name is none of them. */
int	 etcd_tls_opt(struct etcd_tls_opts *o, const char *name, const char *val);

struct etcd *etcd_new(struct event_base *, const char *url, char **errstr);
/* The same with TLS and authentication options (opts may be NULL). The
 * files are read here: a bad one is an error now, not at the first request. */
struct etcd *etcd_new_opts(struct event_base *, const char *url,
	    const struct etcd_tls_opts *opts, char **errstr);
/*
 * With base NULL the handle only holds what the files gave (TLS context,
 * credentials): made while privileged, used after the drop once
 * etcd_attach gives it its loop (a server's key is root's to read).
 */
int	 etcd_attach(struct etcd *, struct event_base *, char **errstr);
/* How many times a token was obtained (re-authentications included). */
unsigned long etcd_auth_count(const struct etcd *);
/* HTTP connections opened to etcd (requests share kept-alive ones; each
 * watch has its own): the cost of the store on etcd's side. */
unsigned long etcd_connections(const struct etcd *);
/* Requests whose callback is still owed: etcd_free wants none. */
size_t	 etcd_inflight(const struct etcd *);
void	 etcd_free(struct etcd *);
const char *etcd_prefix(const struct etcd *);
/* Whole-operation deadline and per-attempt timeout, in ms (4000, 1500). */
void	 etcd_set_timeouts(struct etcd *, int total_ms, int attempt_ms);

/* Asynchronous calls: 0 once queued (cb is then called exactly once). */
int	 etcd_range(struct etcd *, const char *key, int prefix, etcd_cb, void *);
int	 etcd_put(struct etcd *, const char *key, const void *, size_t,
	    int64_t lease, etcd_cb, void *);
/* Put or delete only if the key's mod_revision is rev (0: absent). */
int	 etcd_cas_put(struct etcd *, const char *key, const void *, size_t,
	    int64_t rev, etcd_cb, void *);
int	 etcd_cas_delete(struct etcd *, const char *key, int64_t rev,
	    etcd_cb, void *);
/*
 * Delete key if its mod_revision is rev, and with it every key of also
 * (absent ones are no-ops) in the same txn: all go or none. A failed
 * compare answers key's current kv. At most ETCD_TXN_MAX_OPS - 1 others.
 */
int	 etcd_cas_delete_also(struct etcd *, const char *key, int64_t rev,
	    const char *const *also, size_t nalso, etcd_cb, void *);
/*
 * A client's records beside its entry under prefix (no trailing slash):
 * PREFIX/state/NAME, approvals/NAME, checks/NAME (doc/fleet.md). Its
 * removal deletes them in the same txn, by mandosctl --push and mandosd.
 */
#define ETCD_CLIENT_RECORDS	3
#define ETCD_RECORD_KEY_MAX	1200
void	 etcd_client_records(const char *prefix, const char *name,
	    char keys[ETCD_CLIENT_RECORDS][ETCD_RECORD_KEY_MAX]);
/*
 * Many CAS puts in one txn: all hold or none is written; an op's need key,
 * if set, must exist too. On a failed compare the answer's kvs are the
 * current values of those keys and need keys that exist (absent keys are
 * missing from it). At most ETCD_TXN_MAX_OPS ops and needs together
 * (etcd's default --max-txn-ops) and ETCD_TXN_MAX_BYTES of request body
 * (etcd's default request limit is 1.5 MiB): -1 beyond either.
 */
#define ETCD_TXN_MAX_OPS	128
#define ETCD_TXN_MAX_BYTES	(512u << 10)
struct etcd_cas_op {
	const char	*key;
	const void	*val;
	size_t		 len;
	int64_t		 rev;		/* mod_revision expected (0: absent) */
	const char	*need;		/* a key that must exist, or NULL; the
					 * failure branch reads it too */
};
int	 etcd_cas_put_many(struct etcd *, const struct etcd_cas_op *, size_t n,
	    etcd_cb, void *);
int	 etcd_lease_grant(struct etcd *, int64_t ttl, etcd_cb, void *);
int	 etcd_lease_keepalive(struct etcd *, int64_t id, etcd_cb, void *);

/* Watch key (or the prefix) from rev (0: now); reconnects by itself. */
struct etcd_watch *etcd_watch(struct etcd *, const char *key, int prefix,
	    int64_t rev, etcd_watch_cb, void *);
void	 etcd_watch_cancel(struct etcd_watch *);

void	 etcd_result_free(struct etcd_result *);

/* Synchronous use (mandosctl): pass etcd_sync_cb with &slot, then wait. */
void	 etcd_sync_cb(struct etcd_result *, void *slot);
struct etcd_result *etcd_sync_wait(struct etcd *, struct etcd_result **slot);

#endif
