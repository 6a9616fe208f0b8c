/*
 * control.c: the control socket. One bufferevent per peer; a request is
 * one line holding one JSON object, the reply one line. Peers are checked
 * with SO_PEERCRED when they connect: root and the server's own user may
 * change things, anyone else who could open the socket (mode 0660, its
 * group) may only read. A `watch` peer receives events until it closes;
 * one that falls CTL_WATCH_HIWAT bytes behind is dropped. Peers are few
 * (CTL_MAXPEERS), so none may hold a slot for nothing: a peer that sends
 * no request for CTL_IDLE_MS while owed nothing, or whose pending replies
 * or events make no progress for as long, is closed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <gnutls/crypto.h>
#include <jansson.h>

#include "audit.h"
#include "checker.h"
#include "client.h"
#include "control.h"
#include "ctlproto.h"
#include "fleet.h"
#include "keytab.h"
#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

struct ctl_peer {
	TAILQ_ENTRY(ctl_peer)	 entry;
	struct bufferevent	*bev;
	struct evbuffer		*out;		/* replies: bev's output */
	uint64_t		 id;
	pid_t			 pid;
	uid_t			 uid;
	gid_t			 gid;
	int			 admin;		/* may change things */
	int			 watching;
	int			 closing;	/* flush the reply, then close */
	int			 throttled;	/* replies unread: stopped reading */
	int			 eof;		/* peer done sending: answer, then close */
	int			 waiting;	/* a store write: reply when it answers */
	int			 gone;		/* closed while waiting: freed then */
	struct event		*ev_idle;	/* no request: closed (not watching) */
};

/* A deferred reply (fleet approval, store write), owed to a peer that
 * may close meanwhile. */
struct ctl_owed {
	struct ctl_peer		*peer;		/* kept while it waits (gone) */
	json_t			*names;
	int			 now;		/* still inside ctl_dispatch */
	int			 reply_names;	/* ok: the names (else true) */
	char			 cmd[24];	/* for the audit line */
	json_t			*args;		/* its audit arguments */
};
TAILQ_HEAD(ctl_peers, ctl_peer);

static struct ctl_peers	 ctl_all = TAILQ_HEAD_INITIALIZER(ctl_all);
static size_t		 ctl_npeers, ctl_nwatch;
static uint64_t		 ctl_next_id = 1;
static struct evconnlistener *ctl_lsn;
static struct event_base *ctl_base;
static struct ctl_hooks	 ctl_hooks;
static char		*ctl_path;
static int		 ctl_fd = -1;	/* bound, not yet in the loop */
static size_t		 ctl_max = CTL_MAXPEERS;	/* its share of descriptors */
static struct event	*ctl_retry_ev;	/* accept again after EMFILE */
static time_t		 ctl_refused_t;	/* last "refusing" warning */
static unsigned long	 ctl_refused_n;	/* refused since */
static char		 ctl_lasterr[512];	/* for the audit line */
static struct timeval	 ctl_idle_tv = { CTL_IDLE_MS / 1000,
			    CTL_IDLE_MS % 1000 * 1000 };

static void	 ctl_free(struct ctl_peer *);
static void	 ctl_idle_arm(struct ctl_peer *);
static void	 ctl_read_cb(struct bufferevent *, void *);
static int	 ctl_bind(const char *, const struct group *, char **);

int
ctl_watching(void)
{
	return (ctl_nwatch > 0);
}

/* Queue one JSON line to a peer (consumes o). */
static void
ctl_send(struct ctl_peer *p, json_t *o)
{
	struct evbuffer	*out = p->out;
	char		*s;

	json_object_set_new(o, "v", json_integer(CTL_PROTO_VERSION));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (s == NULL)
		return;
	evbuffer_add(out, s, strlen(s));
	evbuffer_add(out, "\n", 1);
	free(s);
}

static void
ctl_ok(struct ctl_peer *p, json_t *result)
{
	ctl_send(p, json_pack("{s:b,s:o}", "ok", 1, "result",
	    result != NULL ? result : json_null()));
}

static void
ctl_error(struct ctl_peer *p, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[512];
	json_t	*t;
	size_t	 i;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	metric_inc(M_CTL_ERRORS);
	/*
	 * The message may echo bytes of a bad request, or cut a character
	 * at the bound: not UTF-8, json_pack would fail and the peer would
	 * wait for a reply that never comes. Such bytes become '?'.
	 */
	if ((t = json_string(msg)) == NULL)
		for (i = 0; msg[i] != '\0'; i++)
			if ((unsigned char)msg[i] >= 0x80)
				msg[i] = '?';
	json_decref(t);
	log_debug("control peer %llu: error: %s", (unsigned long long)p->id,
	    msg);
	snprintf(ctl_lasterr, sizeof(ctl_lasterr), "%s", msg);
	ctl_send(p, json_pack("{s:b,s:s}", "ok", 0, "error", msg));
}

void
ctl_event(const char *type, json_t *fields)
{
	struct ctl_peer	*p, *next;
	char		 t[40], *s;
	size_t		 len;

	if (ctl_nwatch == 0) {
		json_decref(fields);
		return;
	}
	if (fields == NULL)
		fields = json_object();
	client_format_time(client_now_ms(), t, sizeof(t));
	json_object_set_new(fields, "event", json_string(type));
	json_object_set_new(fields, "time", json_string(t));
	json_object_set_new(fields, "v", json_integer(CTL_PROTO_VERSION));
	s = json_dumps(fields, JSON_COMPACT | JSON_SORT_KEYS |
	    JSON_REAL_PRECISION(6));
	json_decref(fields);
	if (s == NULL)
		return;
	len = strlen(s);
	s[len++] = '\n';	/* json_dumps left room: the NUL */
	for (p = TAILQ_FIRST(&ctl_all); p != NULL; p = next) {
		next = TAILQ_NEXT(p, entry);
		if (!p->watching || p->closing)
			continue;
		if (evbuffer_get_length(bufferevent_get_output(p->bev)) >
		    CTL_WATCH_HIWAT) {
			metric_inc(M_WATCH_DROPPED);
			log_warnx("control peer %llu pid=%ld: watch reader is "
			    "%d bytes behind, dropping it",
			    (unsigned long long)p->id, (long)p->pid,
			    CTL_WATCH_HIWAT);
			/* Not freed here: p may be the peer being served. */
			p->watching = 0;
			ctl_nwatch--;
			p->closing = 1;
			evbuffer_drain(bufferevent_get_output(p->bev),
			    evbuffer_get_length(bufferevent_get_output(p->bev)));
			shutdown(bufferevent_getfd(p->bev), SHUT_RDWR);
			continue;
		}
		evbuffer_add(bufferevent_get_output(p->bev), s, len);
	}
	free(s);
}

/* The clients a request names: "clients": [names] or "all": true. */
static json_t *
ctl_targets(struct ctl_peer *p, json_t *req, int need)
{
	json_t		*names = json_object_get(req, "clients"), *v, *out;
	size_t		 i;

	if (json_is_true(json_object_get(req, "all"))) {
		out = json_array();
		for (i = 0; i < client_count(); i++)
			json_array_append_new(out, json_string(client_name(
			    client_nth(i))));
		return (out);
	}
	if (names == NULL && !need)
		return (NULL);
	if (!json_is_array(names) || (need && json_array_size(names) == 0)) {
		ctl_error(p, "\"clients\" must be a non-empty array of client "
		    "names (or \"all\": true)");
		return (json_false());	/* marker: error sent */
	}
	json_array_foreach(names, i, v) {
		if (!json_is_string(v)) {
			ctl_error(p, "\"clients\" must hold strings");
			return (json_false());
		}
		if (client_find(json_string_value(v)) == NULL) {
			ctl_error(p, "no such client: %s", json_string_value(v));
			return (json_false());
		}
	}
	return (json_incref(names));
}

static void
ctl_stat_cb(void *arg, const char *name, double v)
{
	json_object_set_new(arg, name, v == (double)(long long)v ?
	    json_integer((json_int_t)v) : json_real(v));
}

static json_t *
ctl_list(json_t *names)
{
	json_t	*out = json_object(), *v;
	size_t	 i;

	if (names == NULL) {
		for (i = 0; i < client_count(); i++) {
			struct client_rt *rt = client_nth(i);
			json_object_set_new(out, client_name(rt), client_json(rt));
		}
		return (out);
	}
	json_array_foreach(names, i, v)
		json_object_set_new(out, json_string_value(v),
		    client_json(client_find(json_string_value(v))));
	return (out);
}

/*
 * The arguments of a change, as the audit trail shows them: a secret's
 * value never, only its length and the start of its SHA-256.
 */
static json_t *
ctl_audit_args(const char *cmd, json_t *req)
{
	json_t		*a = json_object(), *val = json_object_get(req, "value");
	const char	*attr = json_string_value(json_object_get(req, "attr"));
	unsigned char	 h[32];
	char		 hex[17];
	size_t		 i;

	if (json_is_true(json_object_get(req, "all")))
		json_object_set_new(a, "all", json_true());
	if (strcmp(cmd, "set") == 0 && attr != NULL) {
		json_object_set_new(a, "attr", json_string(attr));
		if (strcasecmp(attr, "secret") != 0)
			json_object_set(a, "value", val != NULL ? val :
			    json_null());
		else if (json_is_string(val)) {
			gnutls_hash_fast(GNUTLS_DIG_SHA256,
			    json_string_value(val), json_string_length(val), h);
			for (i = 0; i < 8; i++)
				snprintf(hex + 2 * i, 3, "%02x", h[i]);
			json_object_set_new(a, "value_length",
			    json_integer((json_int_t)json_string_length(val)));
			json_object_set_new(a, "value_sha256_prefix",
			    json_string(hex));
		}
	}
	if (json_object_size(a) == 0) {
		json_decref(a);
		return (NULL);
	}
	return (a);
}

/* args (stolen) as ctl_audit_args made them. */
static void
ctl_audit_a(struct ctl_peer *p, const char *cmd, const char *client,
    json_t *args, const char *error)
{
	struct audit_peer	 ap = { p->uid, p->gid, p->pid };

	audit_operator(&ap, cmd, client, args, error);
}

static void
ctl_audit(struct ctl_peer *p, const char *cmd, const char *client,
    json_t *req, const char *error)
{
	ctl_audit_a(p, cmd, client, ctl_audit_args(cmd, req), error);
}

/* A refused change: one line naming the clients asked for, if any. */
static void
ctl_audit_refused(struct ctl_peer *p, const char *cmd, json_t *req)
{
	json_t		*names = json_object_get(req, "clients"), *v;
	size_t		 i, n = 0;

	json_array_foreach(names, i, v)
		if (json_is_string(v)) {
			ctl_audit(p, cmd, json_string_value(v), req, ctl_lasterr);
			if (++n == 16)
				break;	/* bounded: the request was refused */
		}
	if (n == 0)
		ctl_audit(p, cmd, NULL, req, ctl_lasterr);
}

/*
 * A reply owed to p for a request that waits on someone else (a fleet
 * approval, a store write): p reads nothing more until it is answered.
 */
static struct ctl_owed *
ctl_owed_new(struct ctl_peer *p, const char *cmd, json_t *names,
    json_t *args, int reply_names)
{
	struct ctl_owed	*o = xcalloc(1, sizeof(*o));

	o->peer = p;
	o->names = json_incref(names);
	snprintf(o->cmd, sizeof(o->cmd), "%s", cmd);
	o->args = args;
	o->reply_names = reply_names;
	o->now = 1;
	p->waiting = 1;		/* before: the answer may come at once */
	return (o);
}

static void
ctl_owed_free(struct ctl_owed *o)
{
	json_decref(o->args);
	json_decref(o->names);
	free(o);
}

/*
 * The owed reply is due (err NULL: done): audit each client, answer the
 * peer if it is still there, then take the requests that came meanwhile.
 */
static void
ctl_owed_done(void *arg, const char *err)
{
	struct ctl_owed	*o = arg;
	struct ctl_peer	*p = o->peer;
	json_t		*v;
	size_t		 i;
	int		 now = o->now;

	p->waiting = 0;
	json_array_foreach(o->names, i, v)
		ctl_audit_a(p, o->cmd, json_string_value(v),
		    json_incref(o->args), err);
	if (p->bev != NULL && err != NULL)
		ctl_error(p, "%s", err);
	else if (p->bev != NULL)
		ctl_ok(p, o->reply_names ? json_incref(o->names) : json_true());
	ctl_owed_free(o);
	if (p->gone) {		/* closed while it waited */
		free(p);
		return;
	}
	/* Answered later: take the peer's next requests (it may be freed
	 * there). Answered at once: ctl_read_cb is still reading them. */
	if (!now && p->bev != NULL) {
		ctl_idle_arm(p);	/* its deadline runs from the answer */
		if (!p->eof && !p->closing && !p->throttled)
			bufferevent_enable(p->bev, EV_READ);
		ctl_read_cb(p->bev, p);
	}
}

/* Approve or deny for the fleet; the reply comes when it is recorded. */
static void
ctl_approve_fleet(struct ctl_peer *p, json_t *names, int approve)
{
	const char	*cmd = approve ? "approve" : "deny";
	struct ctl_owed	*o = ctl_owed_new(p, cmd, names, NULL, 1);

	ctl_hooks.approve(names, approve, ctl_owed_done, o);
	if (p->waiting) {	/* not answered yet: o lives on */
		o->now = 0;
		if (p->bev != NULL)
			bufferevent_disable(p->bev, EV_READ);
	}
}

/* One action on each named client. */
static void
ctl_each(struct ctl_peer *p, const char *cmd, json_t *names, json_t *req)
{
	json_t			*v, *val = json_object_get(req, "value");
	struct client_rt	*rt;
	const char		*attr = json_string_value(json_object_get(req,
				    "attr")), *why = NULL;
	size_t			 i;

	if (strcmp(cmd, "set") == 0 && (attr == NULL || val == NULL)) {
		ctl_error(p, "set needs \"attr\" and \"value\"");
		ctl_audit_refused(p, cmd, req);
		return;
	}
	if (ctl_hooks.approve != NULL && p->bev != NULL &&
	    (strcmp(cmd, "approve") == 0 || strcmp(cmd, "deny") == 0)) {
		ctl_approve_fleet(p, names, strcmp(cmd, "approve") == 0);
		return;
	}
	/*
	 * With --store the change goes through etcd and comes back to every
	 * server by the watch: this peer waits for the store's answer (its
	 * further requests with it), the loop does not.
	 */
	if (p->bev != NULL && fleet_enabled()) {
		struct ctl_owed	*o = ctl_owed_new(p, cmd, names,
			    ctl_audit_args(cmd, req), 0);

		bufferevent_disable(p->bev, EV_READ);
		/* fleet_op answers from the loop, never before it returns. */
		o->now = 0;
		if (fleet_op(cmd, names, attr, val, ctl_owed_done, o) == 0)
			return;
		ctl_owed_free(o);
		p->waiting = 0;		/* not a store write: done here */
		if (!p->eof && !p->throttled)
			bufferevent_enable(p->bev, EV_READ);
	}
	json_array_foreach(names, i, v) {
		if ((rt = client_find(json_string_value(v))) == NULL)
			continue;	/* removed by an earlier name */
		if (strcmp(cmd, "enable") == 0)
			client_enable(rt, "operator");
		else if (strcmp(cmd, "disable") == 0)
			client_disable(rt, "operator");
		else if (strcmp(cmd, "bump-timeout") == 0)
			client_checked_ok(rt);
		else if (strcmp(cmd, "start-checker") == 0)
			client_start_checker(rt);
		else if (strcmp(cmd, "stop-checker") == 0)
			client_stop_checker(rt);
		else if (strcmp(cmd, "approve") == 0)
			client_approve(rt, 1);
		else if (strcmp(cmd, "deny") == 0)
			client_approve(rt, 0);
		else if (strcmp(cmd, "remove") == 0)
			client_remove(rt);
		else if (strcmp(cmd, "set") == 0 &&
		    client_set(rt, attr, val, &why) == -1) {
			ctl_error(p, "set %s on %s: %s", attr,
			    json_string_value(v), why);
			ctl_audit(p, cmd, json_string_value(v), req, ctl_lasterr);
			return;
		}
		ctl_audit(p, cmd, json_string_value(v), req, NULL);
	}
	ctl_ok(p, json_incref(names));
}

/* Handle one request line. */
static void
ctl_dispatch(struct ctl_peer *p, const char *line, size_t len)
{
	static const char *const ro[] = { "hello", "list", "show", "stats",
	    "metrics", "watch", NULL };
	static const char *const rw[] = { "enable", "disable", "bump-timeout",
	    "start-checker", "stop-checker", "approve", "deny", "remove",
	    "set", "reload", NULL };
	json_error_t	 jerr;
	json_t		*req, *v, *names;
	const char	*cmd;
	char		*err;
	size_t		 i;
	int		 known = 0, write = 0;

	metric_inc(M_CTL_REQUESTS);
	if (len == 0)
		return;
	if ((req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		ctl_error(p, "malformed request: %s (column %d)", jerr.text,
		    jerr.column);
		return;
	}
	if (!json_is_object(req)) {
		ctl_error(p, "a request must be a JSON object");
		goto out;
	}
	v = json_object_get(req, "v");
	if (!json_is_integer(v) || json_integer_value(v) != CTL_PROTO_VERSION) {
		ctl_error(p, "unsupported protocol version (this server speaks "
		    "\"v\":%d)", CTL_PROTO_VERSION);
		p->closing = 1;
		goto out;
	}
	if ((cmd = json_string_value(json_object_get(req, "cmd"))) == NULL) {
		ctl_error(p, "missing \"cmd\"");
		goto out;
	}
	for (i = 0; ro[i] != NULL; i++)
		known |= strcmp(cmd, ro[i]) == 0;
	for (i = 0; rw[i] != NULL; i++)
		if (strcmp(cmd, rw[i]) == 0)
			known = write = 1;
	if (!known) {
		ctl_error(p, "unknown command \"%s\"", cmd);
		goto out;
	}
	if (write && !p->admin) {
		metric_inc(M_CTL_DENIED);
		log_warnx("control peer %llu uid=%ld pid=%ld: \"%s\" refused: "
		    "read-only peer", (unsigned long long)p->id, (long)p->uid,
		    (long)p->pid, cmd);
		ctl_error(p, "permission denied: uid %ld may only read",
		    (long)p->uid);
		ctl_audit_refused(p, cmd, req);
		goto out;
	}
	if (strcmp(cmd, "hello") == 0)
		ctl_ok(p, json_pack("{s:s,s:s,s:i,s:b,s:i}", "server", "mandosd",
		    "version", PACKAGE_VERSION, "protocol", CTL_PROTO_VERSION,
		    "admin", p->admin, "uid", (int)p->uid));
	else if (strcmp(cmd, "list") == 0 || strcmp(cmd, "show") == 0) {
		names = ctl_targets(p, req, strcmp(cmd, "show") == 0);
		if (json_is_false(names))
			goto out;
		ctl_ok(p, ctl_list(names));
		json_decref(names);
	} else if (strcmp(cmd, "stats") == 0) {
		v = json_object();
		metric_stats(ctl_stat_cb, v);
		ctl_ok(p, v);
	} else if (strcmp(cmd, "metrics") == 0) {
		struct evbuffer	*b = evbuffer_new();
		size_t		 n = evbuffer_get_length(b);

		metric_render(b);
		n = evbuffer_get_length(b);
		ctl_ok(p, json_stringn((const char *)evbuffer_pullup(b, -1), n));
		evbuffer_free(b);
	} else if (strcmp(cmd, "watch") == 0) {
		if (!p->watching) {
			p->watching = 1;
			ctl_nwatch++;
		}
		ctl_ok(p, json_string("watching"));
	} else if (strcmp(cmd, "reload") == 0) {
		if (ctl_hooks.reload == NULL)
			ctl_error(p, "reload is not available");
		else if (ctl_hooks.reload(&err) == -1) {
			ctl_error(p, "reload failed: %s", err);
			free(err);
		} else {
			ctl_ok(p, json_pack("{s:I}", "clients",
			    (json_int_t)client_count()));
			ctl_audit(p, cmd, NULL, req, NULL);
			goto out;
		}
		ctl_audit(p, cmd, NULL, req, ctl_lasterr);
	} else {
		names = ctl_targets(p, req, 1);
		if (json_is_false(names)) {
			ctl_audit_refused(p, cmd, req);
			goto out;
		}
		ctl_each(p, cmd, names, req);
		json_decref(names);
	}
out:
	json_decref(req);
}

/*
 * Answer one request line as a peer with these rights would be answered,
 * without a socket (the fuzz harness t/fuzz/fuzz_control.c). The reply
 * lines, NUL-terminated, malloc'd; a "watch" is answered, not kept.
 */
char *
ctl_request(const char *line, size_t len, int admin)
{
	struct ctl_peer	 p = { .admin = admin, .uid = admin ? 0 : 65534 };
	size_t		 n;
	char		*reply;

	if ((p.out = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new", __func__);
	ctl_dispatch(&p, line, len);
	if (p.watching)
		ctl_nwatch--;
	n = evbuffer_get_length(p.out);
	reply = xmalloc(n + 1);
	evbuffer_remove(p.out, reply, n);
	reply[n] = '\0';
	evbuffer_free(p.out);
	return (reply);
}

static void
ctl_free(struct ctl_peer *p)
{
	if (p->watching)
		ctl_nwatch--;
	TAILQ_REMOVE(&ctl_all, p, entry);
	ctl_npeers--;
	if (p->ev_idle != NULL)
		event_free(p->ev_idle);
	p->ev_idle = NULL;
	bufferevent_free(p->bev);
	p->bev = NULL;
	if (p->waiting)
		p->gone = 1;	/* ctl_owed_done frees it */
	else
		free(p);
}

static void
ctl_read_cb(struct bufferevent *bev, void *arg)
{
	struct ctl_peer	*p = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	char		*line;
	size_t		 len;

	if (p->waiting)
		return;		/* one request at a time: replies in order */
	while (!p->closing && !p->waiting) {
		/* A peer that does not read its replies gets no more. */
		if (evbuffer_get_length(bufferevent_get_output(bev)) >
		    CTL_WATCH_HIWAT) {
			p->throttled = 1;
			bufferevent_disable(bev, EV_READ);
			return;
		}
		if ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) == NULL)
			break;
		/* A line may carry a secret ("set secret"): wiped. */
		if (len > CTL_MAXLINE) {
			explicit_bzero(line, len);
			free(line);
			metric_inc(M_CTL_REQUESTS);
			ctl_error(p, "request longer than %d bytes", CTL_MAXLINE);
			p->closing = 1;
			break;
		}
		ctl_dispatch(p, line, len);
		explicit_bzero(line, len);
		free(line);
		ctl_idle_arm(p);	/* a request: the peer is alive */
	}
	if (p->waiting)
		return;
	if (p->eof)
		p->closing = 1;		/* every request answered */
	if (!p->closing && evbuffer_get_length(in) > CTL_MAXLINE) {
		metric_inc(M_CTL_REQUESTS);
		ctl_error(p, "request longer than %d bytes", CTL_MAXLINE);
		p->closing = 1;
	}
	if (p->closing) {
		bufferevent_disable(bev, EV_READ);
		evbuffer_drain(in, evbuffer_get_length(in));
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			ctl_free(p);
	}
}

static void
ctl_write_cb(struct bufferevent *bev, void *arg)
{
	struct ctl_peer	*p = arg;

	if (p->closing)
		ctl_free(p);
	else if (p->throttled) {
		/* All replies read: take the next requests. */
		p->throttled = 0;
		if (!p->eof)
			bufferevent_enable(bev, EV_READ);
		ctl_read_cb(bev, p);
	}
}

/* Close a peer that let a deadline pass: one line, one count. */
static void
ctl_timed_out(struct ctl_peer *p, const char *why)
{
	metric_inc(M_CTL_TIMEOUTS);
	log_warnx("control peer %llu pid=%ld closed: %s for %lld ms",
	    (unsigned long long)p->id, (long)p->pid, why,
	    (long long)ctl_idle_tv.tv_sec * 1000 + ctl_idle_tv.tv_usec / 1000);
	ctl_free(p);
}

/*
 * The request deadline passed. Closed only if the peer owes the next
 * move: not while the store has our answer to give (its own deadline),
 * not while replies are being read (the write timeout owns that).
 */
static void
ctl_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ctl_peer	*p = arg;

	if (p->watching)
		return;
	if (p->waiting || evbuffer_get_length(bufferevent_get_output(p->bev)) >
	    0) {
		ctl_idle_arm(p);
		return;
	}
	ctl_timed_out(p, "no request");
}

/* The peer has CTL_IDLE_MS from now for its next request (a watch has
 * none: it only reads). */
static void
ctl_idle_arm(struct ctl_peer *p)
{
	if (p->ev_idle == NULL)
		return;
	if (p->watching)
		evtimer_del(p->ev_idle);
	else
		evtimer_add(p->ev_idle, &ctl_idle_tv);
}

static void
ctl_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_peer	*p = arg;

	if (what & BEV_EVENT_TIMEOUT) {
		/* Output pending, none of it taken for the bound. */
		ctl_timed_out(p, p->watching ? "events unread" :
		    "replies unread");
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		/* A half-closed peer (echo | socat) still gets its replies. */
		if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
		    !p->watching && !p->closing) {
			p->eof = 1;
			bufferevent_disable(bev, EV_READ);
			if (!p->throttled)
				ctl_read_cb(bev, p);	/* may free p */
			return;
		}
		ctl_free(p);
	}
}

static void
ctl_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct ctl_peer	*p;
	struct ucred	 uc;
	socklen_t	 len = sizeof(uc);

	if (ctl_npeers >= ctl_max) {
		/* Closed at once; said once a minute, not once a peer. */
		close(fd);
		ctl_refused_n++;
		if (time(NULL) - ctl_refused_t >= 60) {
			log_warnx("control: %zu peers already (its share of "
			    "descriptors), refused %lu", ctl_max, ctl_refused_n);
			ctl_refused_t = time(NULL);
			ctl_refused_n = 0;
		}
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1) {
		log_warn("control: SO_PEERCRED");
		close(fd);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->id = ctl_next_id++;
	p->pid = uc.pid;
	p->uid = uc.uid;
	p->gid = uc.gid;
	p->admin = uc.uid == 0 || uc.uid == geteuid();
	p->bev = bufferevent_socket_new(ctl_base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (p->bev == NULL) {
		close(fd);
		free(p);
		return;
	}
	/* Stop reading past one maximal line: memory stays bounded. */
	bufferevent_setwatermark(p->bev, EV_READ, 0, CTL_MAXLINE + 2);
	p->out = bufferevent_get_output(p->bev);
	bufferevent_setcb(p->bev, ctl_read_cb, ctl_write_cb, ctl_event_cb, p);
	/* Replies and events pending with no progress for the bound: the
	 * reader is gone or stalled (libevent: BEV_EVENT_TIMEOUT). */
	bufferevent_set_timeouts(p->bev, NULL, &ctl_idle_tv);
	if ((p->ev_idle = evtimer_new(ctl_base, ctl_idle_cb, p)) == NULL) {
		bufferevent_free(p->bev);
		free(p);
		return;
	}
	ctl_idle_arm(p);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&ctl_all, p, entry);
	ctl_npeers++;
	log_debug("control peer %llu uid=%ld pid=%ld%s",
	    (unsigned long long)p->id, (long)uc.uid, (long)uc.pid,
	    p->admin ? " (admin)" : " (read-only)");
}

/*
 * Bind the socket where nobody else can reach it, then move it into place:
 * in a fresh 0700 directory next to path it gets its mode (umask at bind)
 * and its group (fchownat, no symlink followed) with no window for a
 * symlink planted at path, and rename() replaces whatever is at path
 * without following it. The descriptor, or -1 with *errstr.
 */
static int
ctl_bind(const char *path, const struct group *gr, char **errstr)
{
	struct sockaddr_un	 sun;
	char			*copy, *tmpdir, *tmp;
	mode_t			 old;
	int			 fd = -1, dfd = -1, ok = 0;

	copy = xstrdup(path);
	xasprintf(&tmpdir, "%s/.mandosd-ctl.XXXXXX", dirname(copy));
	free(copy);
	tmp = NULL;
	if (mkdtemp(tmpdir) == NULL) {
		xasprintf(errstr, "control socket %s: %s: %s", path, tmpdir,
		    strerror(errno));
		free(tmpdir);
		return (-1);
	}
	xasprintf(&tmp, "%s/s", tmpdir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(tmp) >= sizeof(sun.sun_path)) {
		xasprintf(errstr, "control socket %s: path too long", path);
		goto done;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", tmp);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1 ||
	    (dfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		xasprintf(errstr, "control socket: %s", strerror(errno));
		goto done;
	}
	old = umask(0117);		/* 0660 from the start */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		xasprintf(errstr, "control socket %s: %s", path, strerror(errno));
		goto done;
	}
	umask(old);
	if (gr != NULL && fchownat(dfd, "s", (uid_t)-1, gr->gr_gid,
	    AT_SYMLINK_NOFOLLOW) == -1) {
		xasprintf(errstr, "control socket %s: group %s: %s", path,
		    gr->gr_name, strerror(errno));
		goto done;
	}
	if (rename(tmp, path) == -1) {
		xasprintf(errstr, "control socket %s: %s", path, strerror(errno));
		goto done;
	}
	ok = 1;
done:
	if (!ok)
		unlink(tmp);
	if (dfd != -1)
		close(dfd);
	rmdir(tmpdir);
	free(tmp);
	free(tmpdir);
	if (!ok && fd != -1) {
		close(fd);
		fd = -1;
	}
	return (fd);
}

int
ctl_open(const char *path, const char *group, char **errstr)
{
	struct sockaddr_un	 sun;
	struct group		*gr = NULL;
	char			*dir, *copy;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		xasprintf(errstr, "control socket %s: path too long", path);
		return (-1);
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (group != NULL && (gr = getgrnam(group)) == NULL) {
		xasprintf(errstr, "--control-group %s: no such group", group);
		return (-1);
	}
	copy = xstrdup(path);
	dir = dirname(copy);
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		xasprintf(errstr, "control socket directory %s: %s", dir,
		    strerror(errno));
		free(copy);
		return (-1);
	}
	free(copy);
	/* A socket file nobody answers on is stale; a live one is not ours. */
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		xasprintf(errstr, "control socket: %s", strerror(errno));
		return (-1);
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		close(fd);
		xasprintf(errstr, "control socket %s: another server is "
		    "listening there", path);
		return (-1);
	}
	if (errno == ECONNREFUSED)
		unlink(path);
	close(fd);
	if ((fd = ctl_bind(path, gr, errstr)) == -1)
		return (-1);
	if (listen(fd, 16) == -1) {
		xasprintf(errstr, "control socket %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return (-1);
	}
	ctl_fd = fd;
	ctl_path = xstrdup(path);
	return (0);
}

void
ctl_set_max(size_t n)
{
	ctl_max = n > 0 && n < CTL_MAXPEERS ? n : CTL_MAXPEERS;
}

/* Out of descriptors (or another accept error): pause 1 s, never spin. */
static void
ctl_accept_error(struct evconnlistener *l, void *arg)
{
	struct timeval	 one = { 1, 0 };
	static time_t	 warned;

	if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
		return;
	if (time(NULL) - warned >= 60) {
		log_warn("control: accept: pausing 1 s");
		warned = time(NULL);
	}
	evconnlistener_disable(l);
	evtimer_add(ctl_retry_ev, &one);
}

static void
ctl_accept_retry(evutil_socket_t fd, short what, void *arg)
{
	if (ctl_lsn != NULL)
		evconnlistener_enable(ctl_lsn);
}

int
ctl_start(struct event_base *base, const struct ctl_hooks *hooks)
{
	const char	*s = getenv("MANDOSD_TEST_CTL_IDLE_MS");
	long		 ms;

	ctl_base = base;
	if (hooks != NULL)
		ctl_hooks = *hooks;
	/* Test hook (documented as such in mandosd(8)): a shorter bound. */
	if (s != NULL && (ms = atol(s)) > 0) {
		ctl_idle_tv.tv_sec = ms / 1000;
		ctl_idle_tv.tv_usec = ms % 1000 * 1000;
	}
	if (ctl_fd == -1)
		return (0);
	ctl_lsn = evconnlistener_new(base, ctl_accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE, -1, ctl_fd);
	if (ctl_lsn == NULL) {
		log_warnx("control socket %s: cannot listen", ctl_path);
		return (-1);
	}
	ctl_retry_ev = evtimer_new(base, ctl_accept_retry, NULL);
	evconnlistener_set_error_cb(ctl_lsn, ctl_accept_error);
	ctl_fd = -1;
	return (0);
}

void
ctl_close(void)
{
	struct ctl_peer	*p;

	while ((p = TAILQ_FIRST(&ctl_all)) != NULL)
		ctl_free(p);
	if (ctl_lsn != NULL) {
		evconnlistener_free(ctl_lsn);
		ctl_lsn = NULL;
	}
	if (ctl_retry_ev != NULL) {
		event_free(ctl_retry_ev);
		ctl_retry_ev = NULL;
	}
	if (ctl_fd != -1) {
		close(ctl_fd);
		ctl_fd = -1;
	}
	if (ctl_path != NULL) {
		unlink(ctl_path);
		free(ctl_path);
		ctl_path = NULL;
	}
}
