/*
 * store-etcd.c: the etcd v3 client of the authority. It owns the endpoint
 * list, the per-request deadline and failover, the JSON/base64 encoding of
 * etcd's gateway, the watch streams, TLS to etcd and its auth token; the
 * connections are store-etcd-pool.c's, which keeps them alive between
 * requests.
 * Nothing here blocks: each call queues an HTTP request on the caller's
 * event base and reports once.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "store-etcd.h"
#include "store-etcd-pool.h"

#define ETCD_PAUSE_MS	150	/* between rounds over all endpoints */
#define WATCH_RETRY_MS	300	/* before a broken watch reconnects */
#define AUTH_MAX_FILE	1024	/* the user:password file */

struct etcd_req;
TAILQ_HEAD(etcd_reqs, etcd_req);

struct etcd {
	struct event_base *base;
	size_t		 inflight;	/* requests whose callback is owed */
	struct etcd_url	 url;
	size_t		 cur;		/* endpoint that answered last */
	int		 total_ms, attempt_ms;
	struct etcd_pool *pool;		/* the connections, kept alive */
	SSL_CTX		*ssl;		/* etcds:// */
	int		 has_cert;	/* we present a client certificate */
	char		*user, *pass;	/* --store-auth */
	char		*token;		/* from /v3/auth/authenticate */
	unsigned long	 tgen;		/* which token (nauth when it came) */
	char		*autherr;	/* why the last authentication failed */
	int		 authing;	/* an authenticate request is out */
	unsigned long	 nauth;
	struct etcd_reqs auth_wait;	/* requests waiting for a token */
};

enum req_kind { R_RANGE, R_PUT, R_TXN, R_LEASE, R_KEEPALIVE, R_AUTH };

/* One logical request: retried across endpoints until its deadline. */
struct etcd_req {
	struct etcd	*e;
	enum req_kind	 kind;
	const char	*path;
	char		*body;
	etcd_cb		 cb;
	void		*arg;
	struct timeval	 deadline;
	size_t		 ep, tries;
	char		*lasterr;
	char		*liveerr;	/* from an endpoint that was up (5xx, timeout) */
	struct timeval	 t_attempt;
	struct event	*timer;
	struct etcd_conn *conn;
	int		 fresh;		/* the next attempt opens a connection */
	struct evbuffer	*chunks;	/* keepalive: the first streamed message */
	int		 reauthed;	/* already retried with a new token */
	unsigned long	 tgen;		/* the token this attempt carried */
	TAILQ_ENTRY(etcd_req) wait;	/* in auth_wait */
};

struct etcd_watch {
	struct etcd	*e;
	char		*key, *end;	/* base64 */
	int64_t		 rev;		/* next revision wanted (0: now) */
	etcd_watch_cb	 cb;
	void		*arg;
	size_t		 ep;
	struct etcd_conn *conn;		/* its own, never pooled */
	struct evhttp_request *hreq;
	struct evbuffer	*line;
	struct event	*timer;
	int		 broken;	/* waiting for the timer to reconnect */
	unsigned long	 tgen;		/* the token this stream carried */
};

static void	 req_attempt(struct etcd_req *);
static void	 req_done(struct evhttp_request *, void *);
static void	 watch_connect(struct etcd_watch *);
static void	 auth_start(struct etcd *);
static void	 auth_drop(struct etcd *, unsigned long);

/* --- base64 (RFC 4648, with padding), as protobuf's JSON mapping wants */

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *
b64_encode(const void *data, size_t len)
{
	const unsigned char *p = data;
	char		*out, *o;
	size_t		 i;
	uint32_t	 v;

	if ((out = malloc(len / 3 * 4 + 5)) == NULL)
		return (NULL);
	for (o = out, i = 0; i + 2 < len; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = b64chars[v >> 18];
		*o++ = b64chars[(v >> 12) & 63];
		*o++ = b64chars[(v >> 6) & 63];
		*o++ = b64chars[v & 63];
	}
	if (i < len) {
		v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
		*o++ = b64chars[v >> 18];
		*o++ = b64chars[(v >> 12) & 63];
		*o++ = i + 1 < len ? b64chars[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return (out);
}

/* Decode into a NUL-terminated buffer; -1 on bad input. */
static int
b64_decode(const char *s, unsigned char **out, size_t *outlen)
{
	unsigned char	*o;
	const char	*c;
	uint32_t	 v = 0;
	size_t		 n = 0, len = strlen(s);
	int		 bits = 0;

	if ((o = malloc(len / 4 * 3 + 4)) == NULL)
		return (-1);
	for (; *s != '\0' && *s != '='; s++) {
		if ((c = strchr(b64chars, *s)) == NULL || *s == '\0') {
			free(o);
			return (-1);
		}
		v = v << 6 | (uint32_t)(c - b64chars);
		if ((bits += 6) >= 8) {
			bits -= 8;
			o[n++] = (unsigned char)(v >> bits);
		}
	}
	o[n] = '\0';
	*out = o;
	*outlen = n;
	return (0);
}

/* The range_end that selects every key starting with key (raw bytes). */
static char *
prefix_end_b64(const char *key)
{
	size_t		 len = strlen(key);
	unsigned char	*k;
	char		*r;

	if ((k = malloc(len + 1)) == NULL)
		return (NULL);
	memcpy(k, key, len + 1);
	while (len > 0 && k[len - 1] == 0xff)
		len--;
	if (len == 0) {		/* all keys: "\0" */
		free(k);
		return (strdup("AA=="));
	}
	k[len - 1]++;
	r = b64_encode(k, len);
	free(k);
	return (r);
}

/* --- URL */

static void __attribute__((format(printf, 2, 3)))
errf(char **errstr, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	if (vasprintf(errstr, fmt, ap) == -1)
		*errstr = NULL;
	va_end(ap);
}

int
etcd_url_parse(const char *url, struct etcd_url *u, char **errstr)
{
	const char	*p, *slash, *ep, *colon, *end;
	char		*ep_end;
	size_t		 hl;
	unsigned long	 port;

	memset(u, 0, sizeof(*u));
	if (strncmp(url, "etcd://", 7) == 0)
		p = url + 7;
	else if (strncmp(url, "etcds://", 8) == 0) {
		u->tls = 1;
		p = url + 8;
	} else {
		errf(errstr, "%s: store URL must start with etcd://", url);
		return (-1);
	}
	if ((slash = strchr(p, '/')) == NULL)
		slash = p + strlen(p);
	for (ep = p; ep < slash; ep = end + 1) {
		if ((end = memchr(ep, ',', (size_t)(slash - ep))) == NULL)
			end = slash;
		if (u->nep == ETCD_MAX_EP) {
			errf(errstr, "%s: more than %d endpoints", url,
			    ETCD_MAX_EP);
			return (-1);
		}
		if (*ep == '[') {	/* [v6]:port */
			if ((colon = memchr(ep, ']', (size_t)(end - ep))) == NULL)
				goto bad;
			hl = (size_t)(colon - ep - 1);
			memcpy(u->ep[u->nep].host, ep + 1,
			    hl < 255 ? hl : 255);
			colon++;
			if (colon < end && *colon != ':')
				goto bad;
		} else {
			for (colon = end; colon > ep && colon[-1] != ':'; colon--)
				;
			colon = colon > ep ? colon - 1 : end;
			hl = (size_t)(colon - ep);
			if (hl >= 255)
				goto bad;
			memcpy(u->ep[u->nep].host, ep, hl);
		}
		if (u->ep[u->nep].host[0] == '\0')
			goto bad;
		port = 2379;
		if (colon < end) {
			errno = 0;
			port = strtoul(colon + 1, &ep_end, 10);
			if (ep_end != end || port == 0 || port > 65535 ||
			    colon + 1 == end)
				goto bad;
		}
		u->ep[u->nep++].port = (uint16_t)port;
		if (end == slash)
			break;
	}
	if (u->nep == 0)
		goto bad;
	hl = strlen(slash);
	while (hl > 0 && slash[hl - 1] == '/')
		hl--;
	if (hl <= 1 || hl >= sizeof(u->prefix)) {
		errf(errstr, "%s: the URL needs a /PREFIX (for example "
		    "etcd://127.0.0.1:2379/mandos)", url);
		return (-1);
	}
	memcpy(u->prefix, slash, hl);
	return (0);
bad:
	errf(errstr, "%s: bad endpoint list (want HOST:PORT[,HOST:PORT...])",
	    url);
	return (-1);
}

int
etcd_tls_opt(struct etcd_tls_opts *o, const char *name, const char *val)
{
	if (strcmp(name, "store-ca") == 0)
		o->ca = val;
	else if (strcmp(name, "store-cert") == 0)
		o->cert = val;
	else if (strcmp(name, "store-key") == 0)
		o->key = val;
	else if (strcmp(name, "store-auth") == 0)
		o->auth = val;
	else
		return (-1);
	return (0);
}

/* OpenSSL's first queued error, as text (the queue is cleared). */
static const char *
ssl_err(char *buf, size_t len)
{
	unsigned long	 e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, len, "unknown error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return (buf);
}

/* Where each TLS connection keeps the last alert etcd sent it. */
static int	 ssl_alert_idx = -1;

/* An alert from etcd says why it closed (a write may have failed first). */
static void
ssl_info(const SSL *ssl, int where, int ret)
{
	if ((where & SSL_CB_READ_ALERT) && ssl_alert_idx != -1)
		SSL_set_ex_data((SSL *)(uintptr_t)ssl, ssl_alert_idx,
		    (void *)(uintptr_t)(0x10000 | (ret & 0xffff)));
}

/* The client context of etcds://: verify etcd, maybe present our own. */
static int
tls_setup(struct etcd *e, const struct etcd_tls_opts *o, char **errstr)
{
	const char *const files[][2] = { { "ca", o->ca }, { "cert", o->cert },
	    { "key", o->key } };
	char	 b[256];
	size_t	 i;

	/* OpenSSL's "system lib" says less than the file's errno. */
	for (i = 0; i < 3; i++)
		if (files[i][1] != NULL && access(files[i][1], R_OK) == -1) {
			errf(errstr, "--store-%s %s: %s", files[i][0],
			    files[i][1], strerror(errno));
			return (-1);
		}
	if ((e->ssl = SSL_CTX_new(TLS_client_method())) == NULL) {
		errf(errstr, "TLS: %s", ssl_err(b, sizeof(b)));
		return (-1);
	}
	SSL_CTX_set_min_proto_version(e->ssl, TLS1_2_VERSION);
	SSL_CTX_set_verify(e->ssl, SSL_VERIFY_PEER, NULL);
	if (ssl_alert_idx == -1)
		ssl_alert_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	SSL_CTX_set_info_callback(e->ssl, ssl_info);
	if (o->ca != NULL ?
	    SSL_CTX_load_verify_locations(e->ssl, o->ca, NULL) != 1 :
	    SSL_CTX_set_default_verify_paths(e->ssl) != 1) {
		errf(errstr, "--store-ca %s: %s", o->ca != NULL ? o->ca :
		    "(system CAs)", ssl_err(b, sizeof(b)));
		return (-1);
	}
	if (o->cert == NULL)
		return (0);
	if (SSL_CTX_use_certificate_chain_file(e->ssl, o->cert) != 1) {
		errf(errstr, "--store-cert %s: %s", o->cert,
		    ssl_err(b, sizeof(b)));
		return (-1);
	}
	if (SSL_CTX_use_PrivateKey_file(e->ssl, o->key != NULL ? o->key :
	    o->cert, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(e->ssl) != 1) {
		errf(errstr, "--store-key %s: %s", o->key != NULL ? o->key :
		    o->cert, ssl_err(b, sizeof(b)));
		return (-1);
	}
	e->has_cert = 1;
	return (0);
}

/* Read "user:password" from a file others cannot read. */
static int
auth_read(struct etcd *e, const char *path, char **errstr)
{
	struct stat	 st;
	char		 buf[AUTH_MAX_FILE + 1], *colon, *nl;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1 ||
	    fstat(fd, &st) == -1) {
		errf(errstr, "--store-auth %s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 0007) != 0) {
		errf(errstr, "--store-auth %s: %s (mode %04o); it holds a "
		    "password: chmod o-rwx it", path, S_ISREG(st.st_mode) ?
		    "others may read or write it" : "not a regular file",
		    (unsigned)(st.st_mode & 07777));
		close(fd);
		return (-1);
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0 || n > AUTH_MAX_FILE) {
		errf(errstr, "--store-auth %s: %s", path, n < 0 ?
		    strerror(errno) : "longer than 1024 bytes");
		explicit_bzero(buf, sizeof(buf));
		return (-1);
	}
	buf[n] = '\0';
	if ((nl = strpbrk(buf, "\r\n")) != NULL)
		*nl = '\0';
	if ((colon = strchr(buf, ':')) == NULL || colon == buf ||
	    colon[1] == '\0') {
		errf(errstr, "--store-auth %s: want one line USER:PASSWORD",
		    path);
		explicit_bzero(buf, sizeof(buf));
		return (-1);
	}
	*colon = '\0';
	e->user = strdup(buf);
	e->pass = strdup(colon + 1);
	explicit_bzero(buf, sizeof(buf));
	if (e->user == NULL || e->pass == NULL) {
		*errstr = strdup("out of memory");
		return (-1);
	}
	return (0);
}

struct etcd *
etcd_new_opts(struct event_base *base, const char *url,
    const struct etcd_tls_opts *o, char **errstr)
{
	static const struct etcd_tls_opts none;
	struct etcd	*e;

	if (o == NULL)
		o = &none;
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		*errstr = strdup("out of memory");
		return (NULL);
	}
	TAILQ_INIT(&e->auth_wait);
	if (etcd_url_parse(url, &e->url, errstr) == -1) {
		free(e);
		return (NULL);
	}
	e->base = base;
	e->total_ms = 4000;
	e->attempt_ms = 1500;
	if (!e->url.tls && (o->ca != NULL || o->cert != NULL ||
	    o->key != NULL)) {
		errf(errstr, "%s: --store-ca, --store-cert and --store-key "
		    "need an etcds:// URL", url);
		etcd_free(e);
		return (NULL);
	}
	if (o->key != NULL && o->cert == NULL) {
		errf(errstr, "--store-key needs --store-cert");
		etcd_free(e);
		return (NULL);
	}
	if ((e->url.tls && tls_setup(e, o, errstr) == -1) ||
	    (o->auth != NULL && auth_read(e, o->auth, errstr) == -1)) {
		etcd_free(e);
		return (NULL);
	}
	if (base != NULL && etcd_attach(e, base, errstr) == -1) {
		etcd_free(e);
		return (NULL);
	}
	return (e);
}

int
etcd_attach(struct etcd *e, struct event_base *base, char **errstr)
{
	e->base = base;
	if ((e->pool = etcd_pool_new(base, &e->url, e->ssl)) == NULL) {
		*errstr = strdup("out of memory");
		return (-1);
	}
	return (0);
}

struct etcd *
etcd_new(struct event_base *base, const char *url, char **errstr)
{
	return (etcd_new_opts(base, url, NULL, errstr));
}

unsigned long
etcd_auth_count(const struct etcd *e)
{
	return (e->nauth);
}

unsigned long
etcd_connections(const struct etcd *e)
{
	return (e != NULL ? etcd_pool_opened(e->pool) : 0);
}

/*
 * Why a TLS connection failed, if it was TLS: a certificate etcd's CA did
 * not sign or that names another host, or an alert from etcd (it wants a
 * client certificate, or does not trust ours). These are configuration,
 * not a member being down: *fatal is set. Otherwise NULL.
 */
static const char *
tls_why(struct etcd *e, size_t i, struct evhttp_connection *conn,
    char *buf, size_t len, int *fatal)
{
	struct bufferevent	*bev;
	SSL			*ssl;
	unsigned long		 err, last = 0;
	uintptr_t		 alert;
	long			 v;
	char			 b[256];

	*fatal = 0;
	if (!e->url.tls || conn == NULL ||
	    (bev = evhttp_connection_get_bufferevent(conn)) == NULL ||
	    (ssl = bufferevent_openssl_get_ssl(bev)) == NULL)
		return (NULL);
	while ((err = bufferevent_get_openssl_error(bev)) != 0)
		last = err;
	if ((v = SSL_get_verify_result(ssl)) != X509_V_OK) {
		*fatal = 1;
		snprintf(buf, len, "TLS to etcd at %s:%u: certificate verify "
		    "failed: %s (is --store-ca the CA that signed etcd's "
		    "certificate, for this name or IP?)", e->url.ep[i].host,
		    e->url.ep[i].port, X509_verify_cert_error_string(v));
		return (buf);
	}
	alert = ssl_alert_idx == -1 ? 0 :
	    (uintptr_t)SSL_get_ex_data(ssl, ssl_alert_idx);
	if (alert != 0 && SSL_alert_type_string((int)(alert & 0xffff))[0] ==
	    'F')
		snprintf(b, sizeof(b), "etcd sent the alert \"%s\"",
		    SSL_alert_desc_string_long((int)(alert & 0xffff)));
	else if (last == 0 || ERR_GET_LIB(last) == 0)
		return (NULL);		/* a socket error, not TLS's */
	else
		ERR_error_string_n(last, b, sizeof(b));
	*fatal = strstr(b, "alert") != NULL;
	snprintf(buf, len, "TLS to etcd at %s:%u: %s%s", e->url.ep[i].host,
	    e->url.ep[i].port, b, strstr(b, "certificate") == NULL ? "" :
	    !e->has_cert ? " (etcd wants a client certificate: --store-cert, "
	    "--store-key)" : " (etcd does not accept our client certificate: "
	    "signed by its --trusted-ca-file?)");
	return (buf);
}

/* Requests still in flight must have finished (or the base be gone). */
void
etcd_free(struct etcd *e)
{
	if (e == NULL)
		return;
	etcd_pool_free(e->pool);
	if (e->ssl != NULL)
		SSL_CTX_free(e->ssl);
	if (e->pass != NULL)
		explicit_bzero(e->pass, strlen(e->pass));
	free(e->pass);
	free(e->user);
	free(e->token);
	free(e->autherr);
	free(e);
}

const char *
etcd_prefix(const struct etcd *e)
{
	return (e->url.prefix);
}

void
etcd_set_timeouts(struct etcd *e, int total_ms, int attempt_ms)
{
	e->total_ms = total_ms;
	e->attempt_ms = attempt_ms;
}

void
etcd_result_free(struct etcd_result *r)
{
	size_t	 i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nkvs; i++) {
		free(r->kvs[i].key);
		free(r->kvs[i].val);
	}
	free(r->kvs);
	free(r->err);
	free(r);
}

/* --- JSON answers */

static int64_t
jint(json_t *o, const char *name)
{
	json_t	*v = json_object_get(o, name);

	if (json_is_string(v))
		return (strtoll(json_string_value(v), NULL, 10));
	if (json_is_integer(v))
		return (json_integer_value(v));
	return (0);
}

/* Fill kv from one mvccpb.KeyValue; -1 on bad base64. */
static int
parse_kv(json_t *o, struct etcd_kv *kv)
{
	const char	*k = json_string_value(json_object_get(o, "key"));
	const char	*v = json_string_value(json_object_get(o, "value"));
	size_t		 klen;

	memset(kv, 0, sizeof(*kv));
	if (k == NULL || b64_decode(k, (unsigned char **)&kv->key, &klen) == -1)
		return (-1);
	if (b64_decode(v != NULL ? v : "", &kv->val, &kv->vlen) == -1)
		return (-1);
	kv->create_rev = jint(o, "create_revision");
	kv->mod_rev = jint(o, "mod_revision");
	kv->version = jint(o, "version");
	return (0);
}

static int
parse_kvs(json_t *arr, struct etcd_result *r)
{
	size_t	 i;

	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return (0);
	if ((r->kvs = calloc(json_array_size(arr), sizeof(*r->kvs))) == NULL)
		return (-1);
	for (i = 0; i < json_array_size(arr); i++) {
		if (parse_kv(json_array_get(arr, i), &r->kvs[i]) == -1)
			return (-1);
		r->nkvs++;
	}
	return (0);
}

/* The same, adding to what r already holds (a txn's several ranges). */
static int
parse_kvs_append(json_t *arr, struct etcd_result *r)
{
	struct etcd_kv	*kvs;
	size_t		 i, n;

	if (!json_is_array(arr) || (n = json_array_size(arr)) == 0)
		return (0);
	if (n > ETCD_TXN_MAX_OPS * 4 || (kvs = reallocarray(r->kvs,
	    r->nkvs + n, sizeof(*kvs))) == NULL)
		return (-1);
	r->kvs = kvs;
	memset(&kvs[r->nkvs], 0, n * sizeof(*kvs));
	for (i = 0; i < n; i++) {
		if (parse_kv(json_array_get(arr, i), &kvs[r->nkvs]) == -1)
			return (-1);
		r->nkvs++;
	}
	return (0);
}

/* Turn a 200 body into a result; sets r->err on a malformed one. */
static void
parse_answer(struct etcd_req *q, json_t *j, struct etcd_result *r)
{
	json_t	*resp, *rr;
	size_t	 i;

	if (q->kind == R_KEEPALIVE)
		j = json_object_get(j, "result");
	r->revision = jint(json_object_get(j, "header"), "revision");
	switch (q->kind) {
	case R_RANGE:
		if (parse_kvs(json_object_get(j, "kvs"), r) == -1)
			r->err = strdup("bad key-value in range answer");
		break;
	case R_TXN:
		r->succeeded = json_is_true(json_object_get(j, "succeeded"));
		if (r->succeeded)
			break;
		/* Failure: one range per key; their kvs, in order. */
		json_array_foreach(json_object_get(j, "responses"), i, resp) {
			rr = json_object_get(resp, "response_range");
			if (rr != NULL && parse_kvs_append(json_object_get(rr,
			    "kvs"), r) == -1) {
				r->err = strdup("bad key-value in txn answer");
				break;
			}
		}
		break;
	case R_LEASE:
	case R_KEEPALIVE:
		r->lease_id = jint(j, "ID");
		r->ttl = jint(j, "TTL");
		if (json_object_get(j, "error") != NULL ||
		    (q->kind == R_KEEPALIVE && r->ttl <= 0))
			r->err = strdup("lease not found or expired");
		break;
	case R_AUTH:
		free(q->e->token);
		q->e->token = NULL;
		if (!json_is_string(json_object_get(j, "token")))
			r->err = strdup("etcd's authenticate answer has no "
			    "token");
		else if ((q->e->token = strdup(json_string_value(
		    json_object_get(j, "token")))) == NULL)
			r->err = strdup("out of memory");
		break;
	case R_PUT:
		break;
	}
}

/* --- requests */

static int
tv_ms_left(const struct timeval *deadline)
{
	struct timeval	 now, d;

	gettimeofday(&now, NULL);
	if (timercmp(deadline, &now, <))
		return (0);
	timersub(deadline, &now, &d);
	return ((int)(d.tv_sec * 1000 + d.tv_usec / 1000));
}

static long
since_ms(const struct timeval *t0)
{
	struct timeval	 now, d;

	gettimeofday(&now, NULL);
	timersub(&now, t0, &d);
	return (d.tv_sec * 1000 + d.tv_usec / 1000);
}

static void
req_finish(struct etcd_req *q, struct etcd_result *r)
{
	if (q->timer != NULL)
		event_free(q->timer);
	if (q->chunks != NULL)
		evbuffer_free(q->chunks);
	if (q->kind == R_AUTH)
		explicit_bzero(q->body, strlen(q->body));
	free(q->body);
	free(q->lasterr);
	free(q->liveerr);
	q->e->inflight--;
	q->cb(r, q->arg);
	free(q);
}

static void
req_fail(struct etcd_req *q, const char *why)
{
	struct etcd_result *r = calloc(1, sizeof(*r));

	if (r == NULL)
		abort();	/* broken invariant: we cannot even report */
	errf(&r->err, "%s (%zu attempt%s over %zu endpoint%s)", why,
	    q->tries, q->tries == 1 ? "" : "s", q->e->url.nep,
	    q->e->url.nep == 1 ? "" : "s");
	req_finish(q, r);
}

/* The deadline passed: no quorum, or no endpoint up. */
static void
req_expired(struct etcd_req *q)
{
	char	 why[700];

	snprintf(why, sizeof(why), "no etcd endpoint answered within %d ms "
	    "(no quorum or all down?); last error: %s", q->e->total_ms,
	    q->liveerr != NULL ? q->liveerr : q->lasterr != NULL ?
	    q->lasterr : "timed out");
	req_fail(q, why);
}

static void
req_timer(evutil_socket_t fd, short ev, void *arg)
{
	req_attempt(arg);
}

/* This attempt failed for a reason another endpoint may not share. */
static void
req_retry(struct etcd_req *q, const char *why, int live)
{
	struct timeval	 tv;
	int		 left;

	free(q->lasterr);
	q->lasterr = strdup(why);
	if (live) {
		free(q->liveerr);
		q->liveerr = strdup(why);
	}
	q->ep = (q->ep + 1) % q->e->url.nep;
	if ((left = tv_ms_left(&q->deadline)) <= 0) {
		req_expired(q);
		return;
	}
	/* A full round failed: pause, the cluster may be electing. */
	if (q->tries % q->e->url.nep == 0) {
		left = left < ETCD_PAUSE_MS ? left : ETCD_PAUSE_MS;
		tv.tv_sec = left / 1000;
		tv.tv_usec = (left % 1000) * 1000;
		evtimer_add(q->timer, &tv);
	} else
		req_attempt(q);
}

/* Keepalive is a stream: the first message is the answer. */
static void
req_chunk(struct evhttp_request *hr, void *arg)
{
	struct etcd_req	*q = arg;

	evbuffer_add_buffer(q->chunks, evhttp_request_get_input_buffer(hr));
}

static void
req_attempt(struct etcd_req *q)
{
	struct etcd		*e = q->e;
	struct evhttp_connection *evc;
	struct evhttp_request	*hr;
	struct timeval		 tv;
	char			 hosthdr[300];
	int			 ms;

	if ((ms = tv_ms_left(&q->deadline)) <= 0) {
		req_expired(q);
		return;
	}
	if (ms > e->attempt_ms)
		ms = e->attempt_ms;
	if (q->kind != R_AUTH && e->user != NULL && e->token == NULL) {
		/* Resumed by auth_done once a token is there (or not). */
		TAILQ_INSERT_TAIL(&e->auth_wait, q, wait);
		auth_start(e);
		return;
	}
	q->tries++;
	gettimeofday(&q->t_attempt, NULL);
	q->conn = etcd_pool_get(e->pool, q->ep, q->fresh);
	q->fresh = 0;
	if (q->conn == NULL) {
		req_retry(q, "cannot create connection", 0);
		return;
	}
	evc = q->conn->evc;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evhttp_connection_set_timeout_tv(evc, &tv);
	evhttp_connection_set_retries(evc, 0);
	evhttp_connection_set_max_body_size(evc, ETCD_MAX_BODY);
	evhttp_connection_set_max_headers_size(evc, 64 * 1024);
	if ((hr = evhttp_request_new(req_done, q)) == NULL) {
		etcd_pool_drop(q->conn, 0);
		q->conn = NULL;
		req_retry(q, "out of memory", 0);
		return;
	}
	if (q->kind == R_KEEPALIVE) {
		evbuffer_drain(q->chunks, evbuffer_get_length(q->chunks));
		evhttp_request_set_chunked_cb(hr, req_chunk);
	}
	snprintf(hosthdr, sizeof(hosthdr), "%s:%u", e->url.ep[q->ep].host,
	    e->url.ep[q->ep].port);
	evhttp_add_header(evhttp_request_get_output_headers(hr), "Host",
	    hosthdr);
	evhttp_add_header(evhttp_request_get_output_headers(hr),
	    "Content-Type", "application/json");
	if (q->kind != R_AUTH && e->token != NULL) {
		evhttp_add_header(evhttp_request_get_output_headers(hr),
		    "Authorization", e->token);
		q->tgen = e->tgen;
	}
	evbuffer_add(evhttp_request_get_output_buffer(hr), q->body,
	    strlen(q->body));
	if (evhttp_make_request(evc, hr, EVHTTP_REQ_POST, q->path) == -1) {
		/* evhttp freed hr */
		etcd_pool_drop(q->conn, 0);
		q->conn = NULL;
		req_retry(q, "cannot send request", 0);
		return;
	}
	etcd_pool_sent(q->conn);
}

/*
 * Name the gateway's error: {"error": ..., "message": ..., "code": N}, or
 * the first line of a text answer (printable bytes only, bounded).
 */
static void
http_error(int code, json_t *j, struct evbuffer *in, char *buf, size_t len)
{
	const char	*m = json_string_value(json_object_get(j, "message"));
	char		 text[200];
	size_t		 i, n;

	if (m == NULL)
		m = json_string_value(json_object_get(j, "error"));
	if (m == NULL && in != NULL && (n = evbuffer_copyout(in, text,
	    sizeof(text) - 1)) > 0 && n != (size_t)-1) {
		for (i = 0; i < n && text[i] != '\n'; i++)
			if ((unsigned char)text[i] < 0x20 ||
			    (unsigned char)text[i] >= 0x7f)
				text[i] = '?';
		text[i] = '\0';
		m = text;
	}
	snprintf(buf, len, "etcd answered HTTP %d: %s%s", code,
	    m != NULL && *m != '\0' ? m : "(no message)",
	    m != NULL && strstr(m, "CommonName") != NULL ?
	    " (etcd's gateway refuses client certificates with a Common "
	    "Name: issue one without a CN)" : "");
}

static void
req_done(struct evhttp_request *hr, void *arg)
{
	struct etcd_req		*q = arg;
	struct etcd_result	*r;
	struct evbuffer		*in;
	json_t			*j;
	json_error_t		 jerr;
	char			 why[512];
	int			 code = hr != NULL ?
				    evhttp_request_get_response_code(hr) : 0;
	int			 fatal, ms = (int)since_ms(&q->t_attempt);
	int			 slow = ms + 50 >= q->e->attempt_ms;
	struct etcd_conn	*c = q->conn;

	q->conn = NULL;
	if (code != 0 && code != 200)
		etcd_pool_drop(c, 0);	/* a bad answer: start afresh */
	if (code == 0 && c->served > 0 && !slow) {
		/*
		 * A kept-alive connection failed at once, before any answer:
		 * etcd closed it as we sent (it restarted, or closed it idle).
		 * Not the member's failure: again, on a new connection, and
		 * its other idle ones are as old.
		 */
		etcd_pool_drop(c, 0);
		etcd_pool_flush(q->e->pool, q->ep);
		q->tries--;
		q->fresh = 1;
		req_attempt(q);
		return;
	}
	if (code == 0 && tls_why(q->e, q->ep, c->evc, why, sizeof(why),
	    &fatal) != NULL) {
		etcd_pool_drop(c, 0);
		etcd_pool_flush(q->e->pool, q->ep);
		if (fatal)
			req_fail(q, why);
		else
			req_retry(q, why, 0);
		return;
	}
	if (code == 0) {
		/* An attempt that used its whole timeout met a live member
		 * that could not answer (no quorum); a quick one, a refusal.
		 * Either way, none of its connections is to be trusted. */
		etcd_pool_drop(c, 0);
		etcd_pool_flush(q->e->pool, q->ep);

		snprintf(why, sizeof(why), "etcd at %s:%u %s after %d ms",
		    q->e->url.ep[q->ep].host, q->e->url.ep[q->ep].port,
		    slow ? "did not answer" : "refused or closed the connection",
		    ms);
		req_retry(q, why, slow);
		return;
	}
	in = q->kind == R_KEEPALIVE ? q->chunks :
	    evhttp_request_get_input_buffer(hr);
	j = json_loadb((const char *)evbuffer_pullup(in, -1),
	    evbuffer_get_length(in), JSON_DISABLE_EOF_CHECK, &jerr);
	if (code != 200) {
		http_error(code, j, in, why, sizeof(why));
		json_decref(j);
		/* 5xx: no leader, no quorum, timed out: another may do. */
		if (code >= 500) {
			etcd_pool_flush(q->e->pool, q->ep);
			req_retry(q, why, 1);
			return;
		}
		/* The token expired (or auth changed): once more, renewed. */
		if (q->kind != R_AUTH && q->e->user != NULL && !q->reauthed &&
		    (strstr(why, "invalid auth token") != NULL ||
		    strstr(why, "auth store is old") != NULL)) {
			q->reauthed = 1;
			auth_drop(q->e, q->tgen);
			req_attempt(q);
			return;
		}
		if (q->kind == R_AUTH) {
			char	 a[700];

			snprintf(a, sizeof(a), "etcd authentication as "
			    "\"%s\" failed: %s", q->e->user, why);
			req_fail(q, a);
		} else
			req_fail(q, why);
		return;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		abort();
	if (!json_is_object(j))
		r->err = strdup("etcd's answer is not a JSON object");
	else
		parse_answer(q, j, r);
	json_decref(j);
	/* Before the callback, which may send the next request on it. */
	if (r->err == NULL)
		etcd_pool_put(c);
	else
		etcd_pool_drop(c, 0);
	q->e->cur = q->ep;
	req_finish(q, r);
}

/* Queue a request; the body is taken (freed here on every path). */
static int
req_start(struct etcd *e, enum req_kind kind, const char *path, char *body,
    etcd_cb cb, void *arg)
{
	struct etcd_req	*q;
	struct timeval	 now, d;

	if (body == NULL || (q = calloc(1, sizeof(*q))) == NULL) {
		free(body);
		return (-1);
	}
	q->e = e;
	q->kind = kind;
	q->path = path;
	q->body = body;
	q->cb = cb;
	q->arg = arg;
	q->ep = e->cur;
	q->timer = evtimer_new(e->base, req_timer, q);
	if (kind == R_KEEPALIVE)
		q->chunks = evbuffer_new();
	if (q->timer == NULL || (kind == R_KEEPALIVE && q->chunks == NULL)) {
		if (q->timer != NULL)
			event_free(q->timer);
		free(body);
		free(q);
		return (-1);
	}
	gettimeofday(&now, NULL);
	d.tv_sec = e->total_ms / 1000;
	d.tv_usec = (e->total_ms % 1000) * 1000;
	timeradd(&now, &d, &q->deadline);
	e->inflight++;
	req_attempt(q);
	return (0);
}

size_t
etcd_inflight(const struct etcd *e)
{
	return (e != NULL ? e->inflight : 0);
}

/* json_pack + dump; NULL when out of memory. */
static char *
dump(json_t *j)
{
	char	*s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return (s);
}

/* etcd refused token generation gen: forget it, unless a newer one came. */
static void
auth_drop(struct etcd *e, unsigned long gen)
{
	if (e->token != NULL && e->tgen == gen) {
		free(e->token);
		e->token = NULL;
	}
}

/* The token came (or not): send, or fail, every request that waited. */
static void
auth_done(struct etcd_result *r, void *arg)
{
	struct etcd	*e = arg;
	struct etcd_reqs todo;
	struct etcd_req	*q;

	e->authing = 0;
	free(e->autherr);
	e->autherr = NULL;
	if (r->err == NULL)
		e->tgen = ++e->nauth;
	else
		e->autherr = strdup(r->err);
	TAILQ_INIT(&todo);
	TAILQ_CONCAT(&todo, &e->auth_wait, wait);
	while ((q = TAILQ_FIRST(&todo)) != NULL) {
		TAILQ_REMOVE(&todo, q, wait);
		if (r->err != NULL || e->token == NULL) {
			struct etcd_result *f = calloc(1, sizeof(*f));

			if (f == NULL || (f->err = strdup(r->err != NULL ?
			    r->err : "no auth token")) == NULL)
				abort();
			req_finish(q, f);
		} else
			req_attempt(q);
	}
	etcd_result_free(r);
}

/* Ask for a token with the user and password, unless already asking. */
static void
auth_start(struct etcd *e)
{
	if (e->authing)
		return;
	e->authing = 1;
	if (req_start(e, R_AUTH, "/v3/auth/authenticate",
	    dump(json_pack("{ssss}", "name", e->user, "password", e->pass)),
	    auth_done, e) == -1) {
		struct etcd_result *r = calloc(1, sizeof(*r));

		if (r == NULL)
			abort();
		r->err = strdup("out of memory");
		auth_done(r, e);
	}
}

int
etcd_range(struct etcd *e, const char *key, int prefix, etcd_cb cb, void *arg)
{
	char	*k = b64_encode(key, strlen(key));
	char	*end = prefix ? prefix_end_b64(key) : NULL;
	json_t	*j;

	if (k == NULL || (prefix && end == NULL)) {
		free(k);
		free(end);
		return (-1);
	}
	j = json_pack("{ss}", "key", k);
	if (j != NULL && end != NULL)
		json_object_set_new(j, "range_end", json_string(end));
	free(k);
	free(end);
	return (req_start(e, R_RANGE, "/v3/kv/range", dump(j), cb, arg));
}

int
etcd_put(struct etcd *e, const char *key, const void *val, size_t len,
    int64_t lease, etcd_cb cb, void *arg)
{
	char	*k = b64_encode(key, strlen(key)), *v = b64_encode(val, len);
	char	 l[32];
	json_t	*j = NULL;

	snprintf(l, sizeof(l), "%lld", (long long)lease);
	if (k != NULL && v != NULL)
		j = json_pack("{ssss}", "key", k, "value", v);
	if (j != NULL && lease != 0)
		json_object_set_new(j, "lease", json_string(l));
	free(k);
	free(v);
	return (req_start(e, R_PUT, "/v3/kv/put", dump(j), cb, arg));
}

/* One txn: if mod_revision(key) == rev then op else read the key. */
static int
cas(struct etcd *e, const char *key, json_t *op, int64_t rev, etcd_cb cb,
    void *arg)
{
	char	*k = b64_encode(key, strlen(key));
	char	 r[32];
	json_t	*j = NULL;

	snprintf(r, sizeof(r), "%lld", (long long)rev);
	if (k != NULL && op != NULL)
		j = json_pack("{s:[{s:s,s:s,s:s,s:s}],s:[o],s:[{s:{s:s}}]}",
		    "compare", "key", k, "target", "MOD", "result", "EQUAL",
		    "mod_revision", r, "success", op,
		    "failure", "request_range", "key", k);
	else
		json_decref(op);
	free(k);
	return (req_start(e, R_TXN, "/v3/kv/txn", dump(j), cb, arg));
}

int
etcd_cas_put(struct etcd *e, const char *key, const void *val, size_t len,
    int64_t rev, etcd_cb cb, void *arg)
{
	char	*k = b64_encode(key, strlen(key)), *v = b64_encode(val, len);
	json_t	*op = NULL;

	if (k != NULL && v != NULL)
		op = json_pack("{s:{ssss}}", "request_put", "key", k,
		    "value", v);
	free(k);
	free(v);
	return (cas(e, key, op, rev, cb, arg));
}

int
etcd_cas_delete(struct etcd *e, const char *key, int64_t rev, etcd_cb cb,
    void *arg)
{
	char	*k = b64_encode(key, strlen(key));
	json_t	*op = k != NULL ? json_pack("{s:{ss}}", "request_delete_range",
		    "key", k) : NULL;

	free(k);
	return (cas(e, key, op, rev, cb, arg));
}

int
etcd_cas_delete_also(struct etcd *e, const char *key, int64_t rev,
    const char *const *also, size_t nalso, etcd_cb cb, void *arg)
{
	json_t	*j, *succ;
	char	*k, r[32];
	size_t	 i;

	if (nalso + 1 > ETCD_TXN_MAX_OPS)
		return (-1);
	if ((k = b64_encode(key, strlen(key))) == NULL)
		return (-1);
	snprintf(r, sizeof(r), "%lld", (long long)rev);
	j = json_pack("{s:[{s:s,s:s,s:s,s:s}],s:[{s:{ss}}],s:[{s:{s:s}}]}",
	    "compare", "key", k, "target", "MOD", "result", "EQUAL",
	    "mod_revision", r, "success", "request_delete_range", "key", k,
	    "failure", "request_range", "key", k);
	free(k);
	if (j == NULL)
		return (-1);
	succ = json_object_get(j, "success");
	for (i = 0; i < nalso; i++) {
		/* A delete of an absent key is a no-op: no compare on these. */
		if ((k = b64_encode(also[i], strlen(also[i]))) == NULL ||
		    json_array_append_new(succ, json_pack("{s:{ss}}",
		    "request_delete_range", "key", k)) == -1) {
			free(k);
			json_decref(j);
			return (-1);
		}
		free(k);
	}
	return (req_start(e, R_TXN, "/v3/kv/txn", dump(j), cb, arg));
}

void
etcd_client_records(const char *prefix, const char *name,
    char keys[ETCD_CLIENT_RECORDS][ETCD_RECORD_KEY_MAX])
{
	static const char *const dirs[ETCD_CLIENT_RECORDS] = { "state",
	    "approvals", "checks" };
	size_t	 i;

	for (i = 0; i < ETCD_CLIENT_RECORDS; i++)
		snprintf(keys[i], ETCD_RECORD_KEY_MAX, "%s/%s/%s", prefix,
		    dirs[i], name);
}

int
etcd_cas_put_many(struct etcd *e, const struct etcd_cas_op *ops, size_t n,
    etcd_cb cb, void *arg)
{
	json_t	*j, *cmp, *succ, *fail;
	char	*k, *v, r[32], *body;
	size_t	 i, nreq;

	for (i = 0, nreq = n; i < n; i++)
		nreq += ops[i].need != NULL;
	/* etcd bounds each list (compares, success, failure) alike. */
	if (n == 0 || nreq > ETCD_TXN_MAX_OPS)
		return (-1);
	cmp = json_array();
	succ = json_array();
	fail = json_array();
	j = json_pack("{s:o,s:o,s:o}", "compare", cmp, "success", succ,
	    "failure", fail);
	if (j == NULL)
		return (-1);
	for (i = 0; i < n; i++) {
		k = b64_encode(ops[i].key, strlen(ops[i].key));
		v = b64_encode(ops[i].val, ops[i].len);
		snprintf(r, sizeof(r), "%lld", (long long)ops[i].rev);
		if (k == NULL || v == NULL ||
		    json_array_append_new(cmp, json_pack("{s:s,s:s,s:s,s:s}",
		    "key", k, "target", "MOD", "result", "EQUAL",
		    "mod_revision", r)) == -1 ||
		    json_array_append_new(succ, json_pack("{s:{ssss}}",
		    "request_put", "key", k, "value", v)) == -1 ||
		    json_array_append_new(fail, json_pack("{s:{ss}}",
		    "request_range", "key", k)) == -1) {
			free(k);
			free(v);
			json_decref(j);
			return (-1);
		}
		free(k);
		free(v);
		if (ops[i].need == NULL)
			continue;
		k = b64_encode(ops[i].need, strlen(ops[i].need));
		if (k == NULL ||
		    json_array_append_new(cmp, json_pack("{s:s,s:s,s:s,s:s}",
		    "key", k, "target", "VERSION", "result", "GREATER",
		    "version", "0")) == -1 ||
		    json_array_append_new(fail, json_pack("{s:{ss}}",
		    "request_range", "key", k)) == -1) {
			free(k);
			json_decref(j);
			return (-1);
		}
		free(k);
	}
	if ((body = dump(j)) == NULL)
		return (-1);
	if (strlen(body) > ETCD_TXN_MAX_BYTES) {
		free(body);
		return (-1);
	}
	return (req_start(e, R_TXN, "/v3/kv/txn", body, cb, arg));
}

/* A lease request: one int64 field, sent as a string as the gateway wants. */
static int
lease_req(struct etcd *e, enum req_kind kind, const char *path,
    const char *field, int64_t v, etcd_cb cb, void *arg)
{
	char	 t[32];

	snprintf(t, sizeof(t), "%lld", (long long)v);
	return (req_start(e, kind, path, dump(json_pack("{ss}", field, t)),
	    cb, arg));
}

int
etcd_lease_grant(struct etcd *e, int64_t ttl, etcd_cb cb, void *arg)
{
	return (lease_req(e, R_LEASE, "/v3/lease/grant", "TTL", ttl, cb, arg));
}

int
etcd_lease_keepalive(struct etcd *e, int64_t id, etcd_cb cb, void *arg)
{
	return (lease_req(e, R_KEEPALIVE, "/v3/lease/keepalive", "ID", id,
	    cb, arg));
}

/* --- synchronous helper */

void
etcd_sync_cb(struct etcd_result *r, void *slot)
{
	*(struct etcd_result **)slot = r;
}

struct etcd_result *
etcd_sync_wait(struct etcd *e, struct etcd_result **slot)
{
	while (*slot == NULL)
		if (event_base_loop(e->base, EVLOOP_ONCE) == -1)
			break;
	return (*slot);
}

/* --- watch */

static void
watch_close(struct etcd_watch *w)
{
	if (w->conn != NULL)
		etcd_pool_drop(w->conn, 1);	/* frees hreq too */
	w->conn = NULL;
	w->hreq = NULL;
	evbuffer_drain(w->line, evbuffer_get_length(w->line));
}

static void
watch_timer(evutil_socket_t fd, short ev, void *arg)
{
	watch_connect(arg);
}

/*
 * The stream broke: say so once, then reconnect to the next endpoint from
 * the timer (we may be inside evhttp's callback, which still uses the
 * connection; watch_connect frees it).
 */
static void
watch_broken(struct etcd_watch *w, const char *why)
{
	struct etcd_watch_msg	 m;
	struct timeval		 tv = { 0, WATCH_RETRY_MS * 1000 };

	memset(&m, 0, sizeof(m));
	m.err = why;
	m.revision = w->rev;
	w->broken = 1;
	evbuffer_drain(w->line, evbuffer_get_length(w->line));
	w->ep = (w->ep + 1) % w->e->url.nep;
	evtimer_add(w->timer, &tv);
	w->cb(&m, w->arg);
}

/* One message of the stream: {"result": {header, created, events}}. */
static int
watch_message(struct etcd_watch *w, const char *s, size_t len)
{
	struct etcd_watch_msg	 m;
	struct etcd_event	*ev = NULL;
	json_t			*j, *res, *evs, *o;
	json_error_t		 jerr;
	size_t			 i, n = 0;
	int			 rc = 0;

	if ((j = json_loadb(s, len, 0, &jerr)) == NULL)
		return (-1);
	memset(&m, 0, sizeof(m));
	if ((res = json_object_get(j, "result")) == NULL) {
		const char *msg = json_string_value(json_object_get(
		    json_object_get(j, "error"), "message"));

		/* The token expired: the next connect gets a new one. */
		rc = msg != NULL && strstr(msg, "auth token") != NULL ? -3 : -1;
		if (rc == -3)
			auth_drop(w->e, w->tgen);
		json_decref(j);
		return (rc);
	}
	m.created = json_is_true(json_object_get(res, "created"));
	m.revision = jint(json_object_get(res, "header"), "revision");
	if (jint(res, "compact_revision") != 0 ||
	    json_is_true(json_object_get(res, "canceled"))) {
		json_decref(j);
		return (-2);
	}
	evs = json_object_get(res, "events");
	if (json_array_size(evs) > 0 &&
	    (ev = calloc(json_array_size(evs), sizeof(*ev))) == NULL)
		rc = -1;
	for (i = 0; rc == 0 && i < json_array_size(evs); i++) {
		o = json_array_get(evs, i);
		ev[i].type = json_is_string(json_object_get(o, "type")) &&
		    strcmp(json_string_value(json_object_get(o, "type")),
		    "DELETE") == 0 ? ETCD_DELETE : ETCD_PUT;
		if (parse_kv(json_object_get(o, "kv"), &ev[i].kv) == -1)
			rc = -1;
		n++;
		if (ev[i].kv.mod_rev >= w->rev)
			w->rev = ev[i].kv.mod_rev + 1;
	}
	if (rc == 0 && m.created && w->rev == 0)
		w->rev = m.revision + 1;
	m.ev = ev;
	m.nev = n;
	if (rc == 0 && (m.created || n > 0))
		w->cb(&m, w->arg);
	for (i = 0; i < n; i++) {
		free(ev[i].kv.key);
		free(ev[i].kv.val);
	}
	free(ev);
	json_decref(j);
	return (rc);
}

static void
watch_chunk(struct evhttp_request *hr, void *arg)
{
	struct etcd_watch	*w = arg;
	struct evbuffer_ptr	 p;
	size_t			 len;
	int			 rc;

	evbuffer_add_buffer(w->line, evhttp_request_get_input_buffer(hr));
	while (!w->broken) {
		p = evbuffer_search(w->line, "\n", 1, NULL);
		if (p.pos == -1)
			break;
		len = (size_t)p.pos;
		rc = watch_message(w,
		    (const char *)evbuffer_pullup(w->line, (ev_ssize_t)len), len);
		evbuffer_drain(w->line, len + 1);
		if (rc == -2) {
			/* History gone: the caller must re-read everything. */
			w->rev = 0;
			watch_broken(w, "watch compacted or canceled; "
			    "restarting from now");
			return;
		}
		if (rc == -3) {
			watch_broken(w, "etcd refused the watch's auth token; "
			    "authenticating again");
			return;
		}
		if (rc == -1) {
			watch_broken(w, "bad watch message from etcd");
			return;
		}
	}
	if (!w->broken && evbuffer_get_length(w->line) > ETCD_MAX_LINE)
		watch_broken(w, "watch message too long");
}

static void
watch_done(struct evhttp_request *hr, void *arg)
{
	struct etcd_watch	*w = arg;
	char			 why[600];
	int			 code = hr != NULL ?
				    evhttp_request_get_response_code(hr) : 0;
	int			 fatal;

	w->hreq = NULL;		/* evhttp frees it after this */
	if (w->broken)
		return;
	if (code == 401)
		auth_drop(w->e, w->tgen);
	if (code != 0 || tls_why(w->e, w->ep, w->conn->evc, why, sizeof(why),
	    &fatal) == NULL)
		snprintf(why, sizeof(why), "watch stream from %s:%u ended "
		    "(HTTP %d)", w->e->url.ep[w->ep].host,
		    w->e->url.ep[w->ep].port, code);
	watch_broken(w, why);
}

static void
watch_connect(struct etcd_watch *w)
{
	struct evhttp_request	*hr;
	json_t			*j;
	char			*body, rev[32], hosthdr[300];

	watch_close(w);
	if (w->e->user != NULL && w->e->token == NULL) {
		/* No token yet: ask, and look again in a moment. */
		struct timeval	 tv = { 0, WATCH_RETRY_MS * 1000 };

		/* The last try failed: say why (each retry, as a stream). */
		if (w->e->autherr != NULL && !w->e->authing) {
			char	 why[700];

			snprintf(why, sizeof(why), "%s", w->e->autherr);
			auth_start(w->e);
			watch_broken(w, why);
			return;
		}
		auth_start(w->e);
		w->broken = 1;
		evtimer_add(w->timer, &tv);
		return;
	}
	w->broken = 0;
	/* A stream of its own, for as long as it lasts. */
	w->conn = etcd_pool_get(w->e->pool, w->ep, 1);
	snprintf(rev, sizeof(rev), "%lld", (long long)w->rev);
	j = json_pack("{s:{ssss}}", "create_request", "key", w->key,
	    "start_revision", rev);
	if (j != NULL && w->end != NULL)
		json_object_set_new(json_object_get(j, "create_request"),
		    "range_end", json_string(w->end));
	body = dump(j);
	if (w->conn == NULL || body == NULL ||
	    (hr = evhttp_request_new(watch_done, w)) == NULL) {
		free(body);
		watch_broken(w, "out of memory");
		return;
	}
	/* No read timeout: a quiet watch is normal (planned: progress). */
	evhttp_connection_set_retries(w->conn->evc, 0);
	evhttp_connection_set_max_headers_size(w->conn->evc, 64 * 1024);
	evhttp_request_set_chunked_cb(hr, watch_chunk);
	snprintf(hosthdr, sizeof(hosthdr), "%s:%u", w->e->url.ep[w->ep].host,
	    w->e->url.ep[w->ep].port);
	evhttp_add_header(evhttp_request_get_output_headers(hr), "Host",
	    hosthdr);
	evhttp_add_header(evhttp_request_get_output_headers(hr),
	    "Content-Type", "application/json");
	if (w->e->token != NULL) {
		evhttp_add_header(evhttp_request_get_output_headers(hr),
		    "Authorization", w->e->token);
		w->tgen = w->e->tgen;
	}
	evbuffer_add(evhttp_request_get_output_buffer(hr), body, strlen(body));
	free(body);
	if (evhttp_make_request(w->conn->evc, hr, EVHTTP_REQ_POST,
	    "/v3/watch") == -1) {
		watch_broken(w, "cannot send watch request");
		return;
	}
	etcd_pool_sent(w->conn);
	w->hreq = hr;
}

struct etcd_watch *
etcd_watch(struct etcd *e, const char *key, int prefix, int64_t rev,
    etcd_watch_cb cb, void *arg)
{
	struct etcd_watch	*w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return (NULL);
	w->e = e;
	w->rev = rev;
	w->cb = cb;
	w->arg = arg;
	w->ep = e->cur;
	w->key = b64_encode(key, strlen(key));
	w->end = prefix ? prefix_end_b64(key) : NULL;
	w->line = evbuffer_new();
	w->timer = evtimer_new(e->base, watch_timer, w);
	if (w->key == NULL || (prefix && w->end == NULL) || w->line == NULL ||
	    w->timer == NULL) {
		etcd_watch_cancel(w);
		return (NULL);
	}
	watch_connect(w);
	return (w);
}

void
etcd_watch_cancel(struct etcd_watch *w)
{
	if (w == NULL)
		return;
	if (w->line != NULL)
		watch_close(w);
	if (w->timer != NULL)
		event_free(w->timer);
	if (w->line != NULL)
		evbuffer_free(w->line);
	free(w->key);
	free(w->end);
	free(w);
}
