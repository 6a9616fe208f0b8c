/*
 * client.c: the runtime state of every client, keyed by name in a hash
 * and kept in table order: its settings (seeded from clients.json and
 * changeable at run time), enabled/expires with an expiry timer, the
 * checker schedule, approval decisions, counters. The configuration in
 * struct keytab is read-only here; a reload re-points each client at its
 * new entry, and a setting changed in the file wins over a runtime change.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "checker.h"
#include "client.h"
#include "notify.h"
#include "control.h"
#include "duration.h"
#include "fleet.h"
#include "keytab.h"
#include "log.h"
#include "metrics.h"
#include "secmem.h"
#include "state.h"
#include "xmalloc.h"

struct client_rt {
	TAILQ_ENTRY(client_rt)	 entry;		/* table order */
	struct client_rt	*hnext;		/* hash chain */
	char			*name;
	const struct client	*cfg;		/* entry in the table in force */
	int			 seen;		/* during client_sync */

	/* Settings: from the file, changeable at run time. */
	char			*host;
	char			*checker;
	uint64_t		 timeout_ms;
	uint64_t		 interval_ms;
	uint64_t		 extended_timeout_ms;
	uint64_t		 approval_delay_ms;
	uint64_t		 approval_duration_ms;
	int			 approved_by_default;
	uint8_t			*secret;	/* runtime override, or NULL */
	size_t			 secret_len;

	/* State. Times in ms since the epoch, 0 = never. */
	int			 enabled;
	int64_t			 created;
	int64_t			 expires;
	int64_t			 last_enabled;
	int64_t			 last_checked_ok;
	int64_t			 last_checker_time;
	int64_t			 last_approval_request;
	int			 last_checker_status;	/* -2 never, -1 signal */
	int			 last_checker_signal;
	uint64_t		 secrets_sent;
	uint64_t		 secrets_unsent;	/* not yet in the store */
	int64_t			 store_toggle;	/* last enable/disable applied */
	int			 approved;	/* -1 undecided, 0 denied, 1 approved */
	unsigned		 pending;	/* connections waiting for approval */

	struct event		*ev_expire;
	struct event		*ev_check;	/* next scheduled checker run */
	struct event		*ev_reset;	/* end of approval_duration */
	struct checker_job	*job;
};

TAILQ_HEAD(client_list, client_rt);

static struct client_list client_all = TAILQ_HEAD_INITIALIZER(client_all);
static struct client_rt	**client_hash;
static struct client_rt	**client_vec;	/* table order, for client_nth */
static size_t		 client_nvec;
static size_t		 client_nhash, client_n, client_nenabled;
static struct event_base *client_base;
static struct client_check_hooks client_hooks;	/* fleet: see client.h */

enum attr_type { A_DUR, A_BOOL, A_STR };

/* Settings that come from the file and can be changed at run time. */
static const struct client_attr {
	const char	*key;		/* clients.json and the control socket */
	const char	*prop;		/* mandos-ctl (D-Bus) name */
	enum attr_type	 type;
	size_t		 cfg_off;
	size_t		 rt_off;
} client_attrs[] = {
	{ "timeout", "Timeout", A_DUR, offsetof(struct client, timeout_ms),
	    offsetof(struct client_rt, timeout_ms) },
	{ "interval", "Interval", A_DUR, offsetof(struct client, interval_ms),
	    offsetof(struct client_rt, interval_ms) },
	{ "extended_timeout", "ExtendedTimeout", A_DUR,
	    offsetof(struct client, extended_timeout_ms),
	    offsetof(struct client_rt, extended_timeout_ms) },
	{ "approval_delay", "ApprovalDelay", A_DUR,
	    offsetof(struct client, approval_delay_ms),
	    offsetof(struct client_rt, approval_delay_ms) },
	{ "approval_duration", "ApprovalDuration", A_DUR,
	    offsetof(struct client, approval_duration_ms),
	    offsetof(struct client_rt, approval_duration_ms) },
	{ "approved_by_default", "ApprovedByDefault", A_BOOL,
	    offsetof(struct client, approved_by_default),
	    offsetof(struct client_rt, approved_by_default) },
	{ "host", "Host", A_STR, offsetof(struct client, host),
	    offsetof(struct client_rt, host) },
	{ "checker", "Checker", A_STR, offsetof(struct client, checker),
	    offsetof(struct client_rt, checker) },
};
#define NATTRS	(sizeof(client_attrs) / sizeof(client_attrs[0]))

#define FIELD(p, off, type)	(*(type *)((char *)(p) + (off)))
#define CFIELD(p, off, type)	(*(const type *)((const char *)(p) + (off)))

static void	 client_expire_cb(evutil_socket_t, short, void *);
static void	 client_check_cb(evutil_socket_t, short, void *);
static void	 client_reset_cb(evutil_socket_t, short, void *);
static void	 client_set_timeout(struct client_rt *, uint64_t);
static void	 client_arm_expiry(struct client_rt *);
static struct event	*client_clock_ev;	/* looks for wall clock steps */
static void	 client_set_interval(struct client_rt *, uint64_t);

int64_t
client_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Python's datetime.isoformat() of a UTC time, as the reference shows it. */
void
client_format_time(int64_t ms, char *buf, size_t len)
{
	struct tm	 tm;
	time_t		 t = (time_t)(ms / 1000);
	size_t		 n;

	if (ms <= 0) {
		snprintf(buf, len, "%s", "");
		return;
	}
	gmtime_r(&t, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	if (ms % 1000 != 0 && n < len)
		snprintf(buf + n, len - n, ".%03d000", (int)(ms % 1000));
}

static void
client_tv(uint64_t ms, struct timeval *tv)
{
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
}

static size_t
client_hashname(const char *s)
{
	uint64_t	 h = 1469598103934665603ULL;

	while (*s != '\0')
		h = (h ^ (uint8_t)*s++) * 1099511628211ULL;
	return ((size_t)h);
}

static void
client_hash_insert(struct client_rt *rt)
{
	struct client_rt	**nh, *p, *next;
	size_t			 i, n, h;

	if (client_n + 1 > client_nhash) {
		n = client_nhash ? client_nhash * 2 : 64;
		while (n < client_n + 1)
			n *= 2;
		nh = xcalloc(n, sizeof(*nh));
		for (i = 0; i < client_nhash; i++)
			for (p = client_hash[i]; p != NULL; p = next) {
				next = p->hnext;
				h = client_hashname(p->name) & (n - 1);
				p->hnext = nh[h];
				nh[h] = p;
			}
		free(client_hash);
		client_hash = nh;
		client_nhash = n;
	}
	h = client_hashname(rt->name) & (client_nhash - 1);
	rt->hnext = client_hash[h];
	client_hash[h] = rt;
}

static void
client_hash_remove(struct client_rt *rt)
{
	struct client_rt	**pp;

	for (pp = &client_hash[client_hashname(rt->name) & (client_nhash - 1)];
	    *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == rt) {
			*pp = rt->hnext;
			return;
		}
}

struct client_rt *
client_find(const char *name)
{
	struct client_rt	*rt;

	if (client_nhash == 0 || name == NULL)
		return (NULL);
	for (rt = client_hash[client_hashname(name) & (client_nhash - 1)];
	    rt != NULL; rt = rt->hnext)
		if (strcmp(rt->name, name) == 0)
			return (rt);
	return (NULL);
}

size_t
client_count(void)
{
	return (client_n);
}

struct client_rt *
client_nth(size_t i)
{
	return (i < client_nvec ? client_vec[i] : NULL);
}

/* Rebuild the index of client_nth after the list changed. */
static void
client_reindex(void)
{
	struct client_rt	*rt;
	size_t			 i = 0;

	free(client_vec);
	client_vec = xcalloc(client_n + 1, sizeof(*client_vec));
	TAILQ_FOREACH(rt, &client_all, entry)
		client_vec[i++] = rt;
	client_nvec = i;
}

const char *
client_name(const struct client_rt *rt)
{
	return (rt->name);
}

size_t
client_enabled_count(void)
{
	return (client_nenabled);
}

size_t
client_pending_count(void)
{
	return ((size_t)metric_approvals_pending);
}

/* Send an event to watchers: {"client": name, ...fields}. */
static void
client_event(const struct client_rt *rt, const char *type, json_t *fields)
{
	if (!ctl_watching()) {
		json_decref(fields);
		return;
	}
	if (fields == NULL)
		fields = json_object();
	json_object_set_new(fields, "client", json_string(rt->name));
	ctl_event(type, fields);
}

/* Wall clock minus monotonic clock, in ms: constant unless the clock steps. */
static int64_t
client_clock_offset(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (client_now_ms() - ((int64_t)ts.tv_sec * 1000 +
	    ts.tv_nsec / 1000000));
}

/*
 * Expiry timers run on the monotonic clock but expires is a wall time (as
 * in the reference). Once a second, look whether the wall clock stepped;
 * if so, re-arm every expiry from the new wall time: forward, leases that
 * have passed end now; backward, they last until the wall clock is there.
 */
static void
client_clock_cb(evutil_socket_t fd, short what, void *arg)
{
	static int64_t		 last;
	static int		 have;
	struct client_rt	*rt;
	int64_t			 off = client_clock_offset(), step = off - last;

	if (have && (step > 1000 || step < -1000)) {
		log_info("wall clock stepped by %+lld ms; expiries follow it",
		    (long long)step);
		TAILQ_FOREACH(rt, &client_all, entry)
			if (rt->enabled && evtimer_pending(rt->ev_expire, NULL))
				client_arm_expiry(rt);
	}
	last = off;
	have = 1;
}

void
client_init(struct event_base *base, int max_checkers)
{
	struct timeval	 one = { 1, 0 };

	client_base = base;
	client_clock_ev = event_new(base, -1, EV_PERSIST, client_clock_cb, NULL);
	evtimer_add(client_clock_ev, &one);
	client_clock_cb(-1, 0, NULL);
	srandom((unsigned)(time(NULL) ^ getpid()));
	checker_init(base, max_checkers);
	metric_checker_cap = checker_max();
}

/* Schedule the next checker run in ms. */
static void
client_schedule_check(struct client_rt *rt, uint64_t ms)
{
	struct timeval	 tv;

	client_tv(ms, &tv);
	evtimer_add(rt->ev_check, &tv);
}

/* (Re)arm the expiry timer at rt->expires. */
static void
client_arm_expiry(struct client_rt *rt)
{
	struct timeval	 tv;
	int64_t		 left = rt->expires - client_now_ms();

	client_tv(left > 0 ? (uint64_t)left : 0, &tv);
	evtimer_add(rt->ev_expire, &tv);
}

/*
 * Enabled with a given expiry: timers and the checker schedule. As in the
 * reference, the first run comes at a random point in [0, interval] at
 * start-up (spreading thousands of clients out) and one interval after a
 * manual enable.
 */
static void
client_go_enabled(struct client_rt *rt, int64_t expires, int randomize)
{
	if (!rt->enabled) {
		rt->enabled = 1;
		client_nenabled++;
		metric_clients_enabled = (int64_t)client_nenabled;
	}
	rt->expires = expires;
	client_arm_expiry(rt);
	client_schedule_check(rt, !randomize ? rt->interval_ms :
	    rt->interval_ms > 0 ? (uint64_t)random() % (rt->interval_ms + 1) : 0);
}

void
client_enable(struct client_rt *rt, const char *why)
{
	int64_t	 now = client_now_ms();

	if (rt->enabled)
		return;
	rt->last_enabled = now;
	client_go_enabled(rt, now + (int64_t)rt->timeout_ms, 0);
	log_info("client %s enabled by %s", rt->name, why);
	client_event(rt, "enabled", json_pack("{s:s}", "by", why));
	state_dirty();
}

/* Stop everything that runs for an enabled client. */
static void
client_go_disabled(struct client_rt *rt)
{
	if (rt->enabled) {
		rt->enabled = 0;
		client_nenabled--;
		metric_clients_enabled = (int64_t)client_nenabled;
	}
	rt->expires = 0;
	evtimer_del(rt->ev_expire);
	evtimer_del(rt->ev_check);
	checker_cancel(&rt->job);
}

void
client_disable(struct client_rt *rt, const char *why)
{
	if (!rt->enabled)
		return;
	client_go_disabled(rt);
	log_info("client %s disabled by %s", rt->name, why);
	client_event(rt, "disabled", json_pack("{s:s}", "by", why));
	notify_client(rt->name);
	state_dirty();
}

/* expires has passed: disable, and say so (the reference does not). */
static void
client_expire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client_rt	*rt = arg;
	char			 t[40];
	int64_t			 late = client_now_ms() - rt->expires;

	if (late < 0) {		/* the wall clock moved: not yet */
		client_arm_expiry(rt);
		return;
	}
	client_format_time(rt->last_checked_ok, t, sizeof(t));
	client_go_disabled(rt);
	metric_inc(M_EXPIRED);
	log_warnx("client %s expired and is now disabled (last successful "
	    "check: %s)", rt->name, t[0] != '\0' ? t : "never");
	client_event(rt, "expired", json_pack("{s:s}", "last_checked_ok", t));
	notify_client(rt->name);
	state_dirty();
}

/* Set expires to now + ms if enabled (the reference's bump_timeout). */
static void
client_bump(struct client_rt *rt, uint64_t ms)
{
	if (!rt->enabled)
		return;
	rt->expires = client_now_ms() + (int64_t)ms;
	client_arm_expiry(rt);
	state_dirty();
}

void
client_checked_ok(struct client_rt *rt)
{
	rt->last_checked_ok = client_now_ms();
	rt->last_checker_status = 0;	/* as the reference's checked_ok() */
	rt->last_checker_signal = 0;
	client_bump(rt, rt->timeout_ms);
	fleet_note(rt->name);
	state_dirty();
}

static void
client_check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client_rt	*rt = arg;

	client_schedule_check(rt, rt->interval_ms > 0 ? rt->interval_ms :
	    1000);
	/* In a fleet another live server may be this client's checker. */
	if (client_hooks.mine != NULL && !client_hooks.mine(rt->name))
		return;
	client_start_checker(rt);
}

void
client_start_checker(struct client_rt *rt)
{
	int	 was = rt->job != NULL;

	checker_request(&rt->job, rt, rt->timeout_ms);
	metric_checkers_running = (int64_t)checker_running();
	metric_checkers_queued = (int64_t)checker_queued();
	if (!was && rt->job != NULL)
		client_event(rt, checker_is_running(rt->job) ?
		    "checker_started" : "checker_queued", NULL);
}

void
client_stop_checker(struct client_rt *rt)
{
	if (rt->job == NULL)
		return;
	checker_cancel(&rt->job);
	metric_checkers_running = (int64_t)checker_running();
	metric_checkers_queued = (int64_t)checker_queued();
	client_event(rt, "checker_stopped", NULL);
}

void
client_checker_done(struct client_rt *rt, int status, int signo, uint64_t ms)
{
	metric_checkers_running = (int64_t)checker_running();
	metric_checkers_queued = (int64_t)checker_queued();
	rt->last_checker_time = client_now_ms();
	rt->last_checker_status = signo != 0 ? -1 : status;
	rt->last_checker_signal = signo;
	if (status == 0 && signo == 0)
		client_checked_ok(rt);
	else
		log_info("client %s checker failed: %s %d after %llu ms",
		    rt->name, signo ? "signal" : "status", signo ? signo :
		    status, (unsigned long long)ms);
	client_event(rt, "checker_finished", json_pack("{s:i,s:i,s:I}",
	    "status", rt->last_checker_status, "signal", signo,
	    "duration_ms", (json_int_t)ms));
	if (client_hooks.done != NULL)
		client_hooks.done(rt, status, signo);
	fleet_note(rt->name);
	state_dirty();
}

/* Quote s for sh: '...' with ' as '\''. */
static void
client_quote(const char *s, char **buf, size_t *len, size_t *cap)
{
	size_t	 need = strlen(s) * 4 + 3;

	if (*len + need + 1 > *cap) {
		*cap = (*len + need + 1) * 2;
		*buf = xreallocarray(*buf, *cap, 1);
	}
	(*buf)[(*len)++] = '\'';
	for (; *s != '\0'; s++) {
		if (*s == '\'') {
			memcpy(*buf + *len, "'\\''", 4);
			*len += 4;
		} else
			(*buf)[(*len)++] = *s;
	}
	(*buf)[(*len)++] = '\'';
}

/* The value of one substitution, or NULL if the name is unknown. */
static const char *
client_subst(const struct client_rt *rt, const char *key, size_t klen,
    char *tmp, size_t tmplen)
{
	static const struct {
		const char	*key;
		size_t		 off;
	} durs[] = {
		{ "timeout", offsetof(struct client_rt, timeout_ms) },
		{ "interval", offsetof(struct client_rt, interval_ms) },
		{ "extended_timeout", offsetof(struct client_rt, extended_timeout_ms) },
		{ "approval_delay", offsetof(struct client_rt, approval_delay_ms) },
		{ "approval_duration", offsetof(struct client_rt, approval_duration_ms) },
	}, times[] = {
		{ "created", offsetof(struct client_rt, created) },
		{ "expires", offsetof(struct client_rt, expires) },
		{ "last_checked_ok", offsetof(struct client_rt, last_checked_ok) },
		{ "last_enabled", offsetof(struct client_rt, last_enabled) },
		{ "last_approval_request", offsetof(struct client_rt, last_approval_request) },
	};
	size_t	 i;

#define IS(k)	(klen == strlen(k) && memcmp(key, k, klen) == 0)
	if (IS("name"))
		return (rt->name);
	if (IS("host"))
		return (rt->host != NULL ? rt->host : "");
	if (IS("fingerprint"))
		return ("");
	if (IS("key_id")) {
		keyid_format(rt->cfg->keyid, tmp);
		return (tmp);
	}
	if (IS("enabled"))
		return (rt->enabled ? "True" : "False");
	for (i = 0; i < sizeof(durs) / sizeof(durs[0]); i++)
		if (IS(durs[i].key)) {
			uint64_t ms = CFIELD(rt, durs[i].off, uint64_t);
			snprintf(tmp, tmplen, "%llu.%03u", (unsigned long long)
			    (ms / 1000), (unsigned)(ms % 1000));
			return (tmp);
		}
	for (i = 0; i < sizeof(times) / sizeof(times[0]); i++)
		if (IS(times[i].key)) {
			client_format_time(CFIELD(rt, times[i].off, int64_t),
			    tmp, tmplen);
			return (tmp);
		}
#undef IS
	return (NULL);
}

/*
 * The checker command with %{name}, %(name)s and the reference's
 * %%(name)s replaced by shell-quoted attribute values.
 */
char *
client_checker_command(const struct client_rt *rt, const char **errstr)
{
	const char	*p = rt->checker, *k, *e, *v;
	char		*buf, tmp[80];
	size_t		 len = 0, cap, klen, skip;

	if (p == NULL || *p == '\0') {
		*errstr = "no checker command";
		return (NULL);
	}
	cap = strlen(p) * 2 + 64;
	buf = xmalloc(cap);
	while (*p != '\0') {
		k = NULL;
		if (p[0] == '%' && p[1] == '{' && (e = strchr(p + 2, '}')) != NULL) {
			k = p + 2;
			klen = (size_t)(e - k);
			skip = klen + 3;
		} else if (p[0] == '%' && (p[1] == '(' || (p[1] == '%' &&
		    p[2] == '(')) && (e = strchr(p, ')')) != NULL && e[1] == 's') {
			k = strchr(p, '(') + 1;
			klen = (size_t)(e - k);
			skip = (size_t)(e + 2 - p);
		}
		if (k != NULL) {
			if ((v = client_subst(rt, k, klen, tmp, sizeof(tmp))) ==
			    NULL) {
				free(buf);
				*errstr = "unknown %{...} substitution in checker";
				return (NULL);
			}
			client_quote(v, &buf, &len, &cap);
			p += skip;
			continue;
		}
		if (len + 2 > cap) {
			cap *= 2;
			buf = xreallocarray(buf, cap, 1);
		}
		buf[len++] = *p++;
	}
	buf[len] = '\0';
	return (buf);
}

/* ---- connections ---- */

enum client_gate
client_gate(struct client_rt *rt, uint64_t *delay_ms)
{
	if (fleet_refusing())	/* --store-offline refuse, store away */
		return (GATE_DISABLED);
	if (!rt->enabled)
		return (GATE_DISABLED);
	if (rt->approved == 1 || rt->approval_delay_ms == 0)
		return (GATE_SEND);
	if (rt->approved == 0)
		return (GATE_DENY);
	*delay_ms = rt->approval_delay_ms;
	return (GATE_WAIT);
}

int
client_approved_by_default(const struct client_rt *rt)
{
	return (rt->approved_by_default);
}

void
client_approval_wait(struct client_rt *rt)
{
	rt->pending++;
	metric_approvals_pending++;
	rt->last_approval_request = client_now_ms();
	log_info("client %s needs approval (delay %llu ms, by default %s)",
	    rt->name, (unsigned long long)rt->approval_delay_ms,
	    rt->approved_by_default ? "approved" : "denied");
	client_event(rt, "approval_needed", json_pack("{s:I,s:b}", "delay_ms",
	    (json_int_t)rt->approval_delay_ms, "approved_by_default",
	    rt->approved_by_default));
	fleet_note(rt->name);
	state_dirty();
}

void
client_approval_end(const char *name)
{
	struct client_rt	*rt;

	metric_approvals_pending--;
	if ((rt = client_find(name)) != NULL && rt->pending > 0)
		rt->pending--;
}

const uint8_t *
client_secret(const struct client_rt *rt, size_t *len)
{
	*len = rt->secret != NULL ? rt->secret_len : rt->cfg->secret_len;
	return (rt->secret != NULL ? rt->secret : rt->cfg->secret);
}

void
client_conn_done(const char *name, const char *keyid, const char *peer,
    enum conn_result res, const char *why, double ms)
{
	struct client_rt	*rt = client_find(name);
	json_t			*ev;

	if (res == RESULT_SECRET_SENT && rt != NULL) {
		rt->secrets_sent++;
		rt->secrets_unsent++;
		client_bump(rt, rt->extended_timeout_ms);
		fleet_note(rt->name);	/* batched: one write a second */
		state_dirty();
	}
	if (!ctl_watching())
		return;
	ev = json_pack("{s:s,s:s,s:s,s:f}", "result", metric_result_name(res),
	    "key_id", keyid, "peer", peer, "duration_ms", ms);
	json_object_set_new(ev, "client", name != NULL ? json_string(name) :
	    json_null());
	if (why != NULL)
		json_object_set_new(ev, "reason", json_string(why));
	ctl_event("connection", ev);
	if (res == RESULT_SECRET_SENT && rt != NULL)
		client_event(rt, "secret_sent", json_pack("{s:s}", "peer", peer));
}

/* ---- operator ---- */

static void
client_reset_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client_rt	*rt = arg;

	rt->approved = -1;
}

void
client_approve(struct client_rt *rt, int approve)
{
	struct timeval	 tv;

	rt->approved = approve ? 1 : 0;
	log_info("client %s %s by the operator", rt->name, approve ?
	    "approved" : "denied");
	client_event(rt, approve ? "approved" : "denied", json_pack("{s:I}",
	    "duration_ms", (json_int_t)rt->approval_duration_ms));
	notify_client(rt->name);
	/* The decision also covers requests within approval_duration. */
	client_tv(rt->approval_duration_ms, &tv);
	evtimer_add(rt->ev_reset, &tv);
}

/* Free one client's runtime state. */
static void
client_free(struct client_rt *rt)
{
	if (rt->enabled)
		client_nenabled--;
	metric_clients_enabled = (int64_t)client_nenabled;
	checker_cancel(&rt->job);
	event_free(rt->ev_expire);
	event_free(rt->ev_check);
	event_free(rt->ev_reset);
	free(rt->name);
	free(rt->host);
	free(rt->checker);
	if (rt->secret != NULL) {
		explicit_bzero(rt->secret, rt->secret_len);
		free(rt->secret);
	}
	free(rt);
}

/* Unlink and free; waiting connections then find no client. */
static void
client_drop(struct client_rt *rt, const char *why)
{
	char	*name = xstrdup(rt->name);

	client_event(rt, "removed", json_pack("{s:s}", "by", why));
	TAILQ_REMOVE(&client_all, rt, entry);
	client_hash_remove(rt);
	client_n--;
	client_free(rt);
	client_nvec = 0;	/* until client_reindex: no dangling pointer */
	client_reindex();
	notify_client(name);
	free(name);
	metric_clients = (int64_t)client_n;
	state_dirty();
}

void
client_remove(struct client_rt *rt)
{
	log_info("client %s removed by the operator", rt->name);
	client_drop(rt, "operator");
}

/* Apply a setting (with the side effects of the reference's setters). */
static void
client_attr_set(struct client_rt *rt, const struct client_attr *a,
    uint64_t dur, int b, const char *s)
{
	switch (a->type) {
	case A_DUR:
		if (a->rt_off == offsetof(struct client_rt, timeout_ms))
			client_set_timeout(rt, dur);
		else if (a->rt_off == offsetof(struct client_rt, interval_ms))
			client_set_interval(rt, dur);
		else
			FIELD(rt, a->rt_off, uint64_t) = dur;
		break;
	case A_BOOL:
		FIELD(rt, a->rt_off, int) = b;
		break;
	case A_STR:
		free(FIELD(rt, a->rt_off, char *));
		FIELD(rt, a->rt_off, char *) = s != NULL ? xstrdup(s) : NULL;
		break;
	}
}

/* Timeout: move expires by the difference, as the reference does. */
static void
client_set_timeout(struct client_rt *rt, uint64_t ms)
{
	int64_t	 diff = (int64_t)ms - (int64_t)rt->timeout_ms;

	rt->timeout_ms = ms;
	if (!rt->enabled)
		return;
	rt->expires += diff;
	if (rt->expires <= client_now_ms()) {
		client_go_disabled(rt);
		metric_inc(M_EXPIRED);
		log_warnx("client %s expired (new timeout) and is now disabled",
		    rt->name);
		client_event(rt, "expired", NULL);
		notify_client(rt->name);
	} else
		client_arm_expiry(rt);
}

/* Interval: run one now and then every new interval (the reference does). */
static void
client_set_interval(struct client_rt *rt, uint64_t ms)
{
	rt->interval_ms = ms;
	if (!rt->enabled || rt->cfg == NULL)
		return;
	client_schedule_check(rt, ms);
	client_start_checker(rt);
}

int
client_set(struct client_rt *rt, const char *attr, json_t *v,
    const char **errstr)
{
	const struct client_attr	*a = NULL;
	uint8_t				*sec;
	size_t				 seclen;
	uint64_t			 ms = 0;
	size_t				 i;

	if (strcmp(attr, "enabled") == 0 || strcmp(attr, "Enabled") == 0) {
		if (!json_is_boolean(v))
			return (*errstr = "enabled: must be true or false", -1);
		if (json_is_true(v))
			client_enable(rt, "operator");
		else
			client_disable(rt, "operator");
		return (0);
	}
	if (strcmp(attr, "secret") == 0 || strcmp(attr, "Secret") == 0) {
		if (!json_is_string(v) || json_string_length(v) == 0)
			return (*errstr = "secret: must be base64 text", -1);
		/* Decoded straight into the new block: no other copy to wipe. */
		if (secmem_base64(json_string_value(v), json_string_length(v),
		    &sec, &seclen, errstr) == -1)
			return (*errstr = "secret: not valid base64", -1);
		if (rt->secret != NULL) {
			explicit_bzero(rt->secret, rt->secret_len);
			free(rt->secret);
		}
		rt->secret = sec;
		rt->secret_len = seclen;
		log_info("client %s: secret replaced by the operator", rt->name);
		client_event(rt, "changed", json_pack("{s:s}", "attribute",
		    "secret"));
		return (0);
	}
	for (i = 0; i < NATTRS; i++)
		if (strcmp(attr, client_attrs[i].key) == 0 ||
		    strcmp(attr, client_attrs[i].prop) == 0)
			a = &client_attrs[i];
	if (a == NULL)
		return (*errstr = "unknown attribute", -1);
	switch (a->type) {
	case A_DUR:
		if (json_is_integer(v) && json_integer_value(v) >= 0) {
			/* Strings stop at a century; so do milliseconds. */
			ms = (uint64_t)json_integer_value(v);
			if (ms > DURATION_MAX_MS)
				return (*errstr = "too long (over a century)",
				    -1);
		} else if (!json_is_string(v) || duration_parse(json_string_value(v),
		    &ms, errstr) == -1) {
			if (!json_is_string(v))
				*errstr = "must be milliseconds or a duration "
				    "string";
			return (-1);
		}
		client_attr_set(rt, a, ms, 0, NULL);
		break;
	case A_BOOL:
		if (!json_is_boolean(v))
			return (*errstr = "must be true or false", -1);
		client_attr_set(rt, a, 0, json_is_true(v), NULL);
		break;
	case A_STR:
		if (!json_is_string(v))
			return (*errstr = "must be a string", -1);
		client_attr_set(rt, a, 0, 0, json_string_value(v));
		break;
	}
	log_info("client %s: %s set by the operator", rt->name, a->key);
	client_event(rt, "changed", json_pack("{s:s}", "attribute", a->key));
	state_dirty();
	return (0);
}

/* ---- load and reload ---- */

/* Whether attribute a differs between two configurations. */
static int
client_cfg_differs(const struct client_attr *a, const struct client *x,
    const struct client *y)
{
	const char	*s, *t;

	switch (a->type) {
	case A_DUR:
		return (CFIELD(x, a->cfg_off, uint64_t) !=
		    CFIELD(y, a->cfg_off, uint64_t));
	case A_BOOL:
		return (CFIELD(x, a->cfg_off, int) != CFIELD(y, a->cfg_off, int));
	case A_STR:
		s = CFIELD(x, a->cfg_off, char *);
		t = CFIELD(y, a->cfg_off, char *);
		return (s == NULL || t == NULL ? s != t : strcmp(s, t) != 0);
	}
	return (0);
}

/* Take attribute a from the configuration. */
static void
client_attr_from_cfg(struct client_rt *rt, const struct client_attr *a,
    const struct client *cfg)
{
	client_attr_set(rt, a, a->type == A_DUR ? CFIELD(cfg, a->cfg_off,
	    uint64_t) : 0, a->type == A_BOOL ? CFIELD(cfg, a->cfg_off, int) : 0,
	    a->type == A_STR ? CFIELD(cfg, a->cfg_off, char *) : NULL);
}

/* A client new to the table: settings from the file, a fresh lease. */
static struct client_rt *
client_new(const struct client *cfg)
{
	struct client_rt	*rt;
	size_t			 i;

	rt = xcalloc(1, sizeof(*rt));
	rt->name = xstrdup(cfg->name);
	rt->cfg = cfg;
	rt->ev_expire = evtimer_new(client_base, client_expire_cb, rt);
	rt->ev_check = evtimer_new(client_base, client_check_cb, rt);
	rt->ev_reset = evtimer_new(client_base, client_reset_cb, rt);
	for (i = 0; i < NATTRS; i++)
		client_attr_from_cfg(rt, &client_attrs[i], cfg);
	rt->approved = -1;
	rt->store_toggle = -1;
	rt->last_checker_status = -2;
	rt->created = client_now_ms();
	client_hash_insert(rt);
	client_n++;
	if (cfg->enabled) {
		rt->last_enabled = rt->created;
		client_go_enabled(rt, rt->created + (int64_t)rt->timeout_ms, 1);
	}
	return (rt);
}

void
client_sync(const struct keytab *kt)
{
	struct client_list	 order = TAILQ_HEAD_INITIALIZER(order);
	struct client_rt	*rt, *next;
	const struct client	*cfg;
	size_t			 i, j;

	TAILQ_FOREACH(rt, &client_all, entry)
		rt->seen = 0;
	for (i = 0; i < keytab_count(kt); i++) {
		cfg = keytab_client(kt, i);
		if ((rt = client_find(cfg->name)) == NULL) {
			rt = client_new(cfg);
			TAILQ_INSERT_TAIL(&order, rt, entry);
			rt->seen = 1;
			continue;
		}
		if (rt->seen)
			continue;	/* cannot happen: names are unique */
		if (memcmp(rt->cfg->keyid, cfg->keyid, KEYID_LEN) != 0) {
			/* Same name, another machine: start afresh. */
			log_info("client %s has a new key ID; its runtime state "
			    "starts afresh", rt->name);
			client_drop(rt, "new key");
			rt = client_new(cfg);
			TAILQ_INSERT_TAIL(&order, rt, entry);
			rt->seen = 1;
			continue;
		}
		TAILQ_REMOVE(&client_all, rt, entry);
		TAILQ_INSERT_TAIL(&order, rt, entry);
		rt->seen = 1;
		/* A setting changed in the file wins over a runtime change. */
		for (j = 0; j < NATTRS; j++)
			if (client_cfg_differs(&client_attrs[j], rt->cfg, cfg))
				client_attr_from_cfg(rt, &client_attrs[j], cfg);
		if (rt->cfg->enabled != cfg->enabled) {
			if (cfg->enabled)
				client_enable(rt, "configuration");
			else
				client_disable(rt, "configuration");
		}
		if (rt->cfg->secret_len != cfg->secret_len ||
		    memcmp(rt->cfg->secret, cfg->secret, cfg->secret_len) != 0) {
			if (rt->secret != NULL) {
				explicit_bzero(rt->secret, rt->secret_len);
				free(rt->secret);
				rt->secret = NULL;
			}
		}
		rt->cfg = cfg;
	}
	for (rt = TAILQ_FIRST(&client_all); rt != NULL; rt = next) {
		next = TAILQ_NEXT(rt, entry);
		log_info("client %s is no longer in the table", rt->name);
		client_drop(rt, "reload");
	}
	TAILQ_CONCAT(&client_all, &order, entry);
	client_reindex();
	metric_clients = (int64_t)client_n;
	state_dirty();
}

void
client_shutdown(void)
{
	struct client_rt	*rt;

	while ((rt = TAILQ_FIRST(&client_all)) != NULL) {
		TAILQ_REMOVE(&client_all, rt, entry);
		client_free(rt);
	}
	checker_shutdown();
	if (client_clock_ev != NULL)
		event_free(client_clock_ev);
	client_clock_ev = NULL;
	free(client_hash);
	client_hash = NULL;
	free(client_vec);
	client_vec = NULL;
	client_nvec = 0;
	client_nhash = client_n = 0;
}

/* ---- views ---- */

static json_t *
client_time_json(int64_t ms)
{
	char	 buf[40];

	client_format_time(ms, buf, sizeof(buf));
	return (json_string(buf));
}

json_t *
client_json(const struct client_rt *rt)
{
	char	 kid[KEYID_HEXLEN + 1];
	json_t	*o;

	keyid_format(rt->cfg->keyid, kid);
	o = json_object();
	json_object_set_new(o, "Name", json_string(rt->name));
	json_object_set_new(o, "Enabled", json_boolean(rt->enabled));
	json_object_set_new(o, "Timeout", json_integer((json_int_t)rt->timeout_ms));
	json_object_set_new(o, "LastCheckedOK", client_time_json(rt->last_checked_ok));
	json_object_set_new(o, "Created", client_time_json(rt->created));
	json_object_set_new(o, "Interval", json_integer((json_int_t)rt->interval_ms));
	json_object_set_new(o, "Host", json_string(rt->host ? rt->host : ""));
	json_object_set_new(o, "KeyID", json_string(kid));
	json_object_set_new(o, "Fingerprint", json_string(""));
	json_object_set_new(o, "CheckerRunning", json_boolean(checker_is_running(rt->job)));
	json_object_set_new(o, "LastEnabled", client_time_json(rt->last_enabled));
	json_object_set_new(o, "ApprovalPending", json_boolean(rt->pending > 0));
	json_object_set_new(o, "ApprovedByDefault", json_boolean(rt->approved_by_default));
	json_object_set_new(o, "LastApprovalRequest", client_time_json(rt->last_approval_request));
	json_object_set_new(o, "ApprovalDelay", json_integer((json_int_t)rt->approval_delay_ms));
	json_object_set_new(o, "ApprovalDuration", json_integer((json_int_t)rt->approval_duration_ms));
	json_object_set_new(o, "Checker", json_string(rt->checker ? rt->checker : ""));
	json_object_set_new(o, "ExtendedTimeout", json_integer((json_int_t)rt->extended_timeout_ms));
	json_object_set_new(o, "Expires", client_time_json(rt->expires));
	json_object_set_new(o, "LastCheckerStatus", json_integer(rt->last_checker_status));
	/* Beyond mandos-ctl. */
	json_object_set_new(o, "Approved", rt->approved < 0 ? json_null() :
	    json_boolean(rt->approved));
	json_object_set_new(o, "ApprovalsPending", json_integer(rt->pending));
	json_object_set_new(o, "CheckerQueued", json_boolean(rt->job != NULL &&
	    !checker_is_running(rt->job)));
	json_object_set_new(o, "LastCheckerTime", client_time_json(rt->last_checker_time));
	json_object_set_new(o, "LastCheckerSignal", json_integer(rt->last_checker_signal));
	json_object_set_new(o, "SecretsSent", json_integer((json_int_t)rt->secrets_sent));
	json_object_set_new(o, "SecretOverridden", json_boolean(rt->secret != NULL));
	return (o);
}

/* ---- state file ---- */

/* Whether the runtime value of attribute a differs from the file's. */
static int
client_rt_differs(const struct client_attr *a, const struct client_rt *rt)
{
	const char	*x, *y;

	switch (a->type) {
	case A_DUR:
		return (CFIELD(rt, a->rt_off, uint64_t) !=
		    CFIELD(rt->cfg, a->cfg_off, uint64_t));
	case A_BOOL:
		return (CFIELD(rt, a->rt_off, int) !=
		    CFIELD(rt->cfg, a->cfg_off, int));
	case A_STR:
		x = CFIELD(rt, a->rt_off, char *);
		y = CFIELD(rt->cfg, a->cfg_off, char *);
		return (x == NULL || y == NULL ? x != y : strcmp(x, y) != 0);
	}
	return (0);
}

static json_t *
client_attr_json(const struct client_attr *a, const void *p, size_t off)
{
	switch (a->type) {
	case A_DUR:
		return (json_integer((json_int_t)CFIELD(p, off, uint64_t)));
	case A_BOOL:
		return (json_boolean(CFIELD(p, off, int)));
	case A_STR:
		return (CFIELD(p, off, char *) != NULL ?
		    json_string(CFIELD(p, off, char *)) : json_null());
	}
	return (json_null());
}

/*
 * One client's state. Only settings changed at run time are written, each
 * with the file's value at the time ("config"), so that a later change of
 * the file can win; 10,000 clients stay a small file.
 */
json_t *
client_state_json(const struct client_rt *rt)
{
	json_t		*o, *set, *cfg;
	const struct client_attr *a;
	char		 kid[KEYID_HEXLEN + 1];
	size_t		 i;

	set = json_object();
	cfg = json_object();
	for (i = 0; i < NATTRS; i++) {
		a = &client_attrs[i];
		if (!client_rt_differs(a, rt))
			continue;
		json_object_set_new(set, a->key, client_attr_json(a, rt,
		    a->rt_off));
		json_object_set_new(cfg, a->key, client_attr_json(a, rt->cfg,
		    a->cfg_off));
	}
	json_object_set_new(cfg, "enabled", json_boolean(rt->cfg->enabled));
	keyid_format(rt->cfg->keyid, kid);
	json_object_set_new(cfg, "key_id", json_string(kid));
	o = json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:i,s:I,s:o,s:o}",
	    "enabled", rt->enabled,
	    "created", (json_int_t)rt->created,
	    "expires", (json_int_t)rt->expires,
	    "last_enabled", (json_int_t)rt->last_enabled,
	    "last_checked_ok", (json_int_t)rt->last_checked_ok,
	    "last_checker_time", (json_int_t)rt->last_checker_time,
	    "last_approval_request", (json_int_t)rt->last_approval_request,
	    "last_checker_status", rt->last_checker_status,
	    "last_checker_signal", rt->last_checker_signal,
	    "secrets_sent", (json_int_t)rt->secrets_sent,
	    "settings", set, "config", cfg);
	return (o);
}

static int64_t
client_jint(json_t *o, const char *key, int64_t def)
{
	json_t	*v = json_object_get(o, key);

	return (json_is_integer(v) ? (int64_t)json_integer_value(v) : def);
}

void
client_state_apply(struct client_rt *rt, json_t *o)
{
	const struct client_attr *a;
	json_t		*set, *cfg, *sv, *cv, *en;
	int64_t		 now = client_now_ms(), exp;
	size_t		 i;
	int		 same;

	char		 kid[KEYID_HEXLEN + 1];

	set = json_object_get(o, "settings");
	cfg = json_object_get(o, "config");
	/* Same name, another machine: the saved state is not its state. */
	keyid_format(rt->cfg->keyid, kid);
	cv = json_object_get(cfg, "key_id");
	if (json_is_string(cv) && strcmp(json_string_value(cv), kid) != 0) {
		log_info("state: client %s has a new key ID; its saved state "
		    "is ignored", rt->name);
		return;
	}
	/* A saved setting holds only while the file still says what it said. */
	for (i = 0; i < NATTRS && json_is_object(set) && json_is_object(cfg);
	    i++) {
		a = &client_attrs[i];
		sv = json_object_get(set, a->key);
		cv = json_object_get(cfg, a->key);
		if (sv == NULL || cv == NULL)
			continue;
		switch (a->type) {
		case A_DUR:
			same = json_is_integer(cv) && (uint64_t)
			    json_integer_value(cv) == CFIELD(rt->cfg, a->cfg_off,
			    uint64_t);
			if (same && json_is_integer(sv) &&
			    (json_integer_value(sv) < 0 ||
			    (uint64_t)json_integer_value(sv) > DURATION_MAX_MS)) {
				log_warnx("state: client %s: saved %s %lld ms is "
				    "out of range; ignored", rt->name, a->key,
				    (long long)json_integer_value(sv));
				break;
			}
			if (same && json_is_integer(sv))
				FIELD(rt, a->rt_off, uint64_t) =
				    (uint64_t)json_integer_value(sv);
			break;
		case A_BOOL:
			same = json_is_boolean(cv) && json_is_true(cv) ==
			    CFIELD(rt->cfg, a->cfg_off, int);
			if (same && json_is_boolean(sv))
				FIELD(rt, a->rt_off, int) = json_is_true(sv);
			break;
		case A_STR:
			if (CFIELD(rt->cfg, a->cfg_off, char *) == NULL)
				same = json_is_null(cv);
			else
				same = json_is_string(cv) && strcmp(
				    json_string_value(cv), CFIELD(rt->cfg,
				    a->cfg_off, char *)) == 0;
			if (same && (json_is_string(sv) || json_is_null(sv)))
				client_attr_set(rt, a, 0, 0, json_is_string(sv) ?
				    json_string_value(sv) : NULL);
			break;
		}
	}
	rt->created = client_jint(o, "created", rt->created);
	rt->last_enabled = client_jint(o, "last_enabled", rt->last_enabled);
	rt->last_checked_ok = client_jint(o, "last_checked_ok", 0);
	rt->last_checker_time = client_jint(o, "last_checker_time", 0);
	rt->last_approval_request = client_jint(o, "last_approval_request", 0);
	rt->last_checker_status = (int)client_jint(o, "last_checker_status", -2);
	rt->last_checker_signal = (int)client_jint(o, "last_checker_signal", 0);
	rt->secrets_sent = (uint64_t)client_jint(o, "secrets_sent", 0);
	/* Enabled: the file wins if its "enabled" changed since the save. */
	cv = json_is_object(cfg) ? json_object_get(cfg, "enabled") : NULL;
	en = json_object_get(o, "enabled");
	if (!json_is_boolean(en) || (json_is_boolean(cv) &&
	    json_is_true(cv) != rt->cfg->enabled))
		return;
	exp = client_jint(o, "expires", 0);
	if (!json_is_true(en)) {
		client_go_disabled(rt);
		return;
	}
	/*
	 * Expired while the server was down: as the reference, keep it only
	 * if its last checker succeeded (assume the checks went on).
	 */
	if (exp > 0 && exp <= now) {
		if (rt->last_checked_ok == 0 || rt->last_checker_status != 0) {
			client_go_disabled(rt);
			metric_inc(M_EXPIRED);
			log_warnx("client %s expired while the server was down "
			    "and its last checker %s; it is now disabled",
			    rt->name, rt->last_checked_ok == 0 ? "never "
			    "succeeded" : "failed");
			return;
		}
		exp = now + (int64_t)rt->timeout_ms;
	}
	client_go_enabled(rt, exp > 0 ? exp : now + (int64_t)rt->timeout_ms, 1);
}

/* ---- fleet (fleet-registry.c, fleet-approve.c) ---- */

void
client_set_check_hooks(const struct client_check_hooks *h)
{
	if (h != NULL)
		client_hooks = *h;
	else
		memset(&client_hooks, 0, sizeof(client_hooks));
}

/*
 * Another server ran name's checker at when_ms: take its result as ours
 * (as client_checker_done does, without running anything). A success
 * extends expires from now, the moment we hear of it.
 */
void
client_check_result(struct client_rt *rt, int64_t when_ms, int status,
    int signo)
{
	rt->last_checker_time = when_ms;
	rt->last_checker_status = signo != 0 ? -1 : status;
	rt->last_checker_signal = signo;
	/*
	 * Not client_checked_ok: that marks the client for the store, and
	 * state/NAME is the owner's to write (every server writing it once
	 * a second per check would multiply the writes and the record's
	 * "server" would name whoever heard last).
	 */
	if (status == 0 && signo == 0) {
		rt->last_checked_ok = when_ms;
		client_bump(rt, rt->timeout_ms);
	}
	client_event(rt, "checker_finished", json_pack("{s:i,s:i,s:b}",
	    "status", rt->last_checker_status, "signal", signo, "remote", 1));
	state_dirty();
}

/* Keep an enabled client from expiring before until_ms. */
void
client_extend(struct client_rt *rt, int64_t until_ms)
{
	if (!rt->enabled || rt->expires >= until_ms)
		return;
	rt->expires = until_ms;
	client_arm_expiry(rt);
	state_dirty();
}

int
client_enabled(const struct client_rt *rt)
{
	return (rt->enabled);
}

int64_t
client_expires(const struct client_rt *rt)
{
	return (rt->expires);
}

uint64_t
client_interval_ms(const struct client_rt *rt)
{
	return (rt->interval_ms);
}

uint64_t
client_timeout_ms(const struct client_rt *rt)
{
	return (rt->timeout_ms);
}

uint64_t
client_approval_duration_ms(const struct client_rt *rt)
{
	return (rt->approval_duration_ms);
}

/* ---- fleet store ---- */

static int64_t
client_max(int64_t a, int64_t b)
{
	return (a > b ? a : b);
}

void
client_store_apply(struct client_rt *rt, json_t *st)
{
	json_t		*en = json_object_get(st, "enabled");
	const char	*by = json_string_value(json_object_get(st, "by"));
	int64_t		 toggle = client_jint(st, "toggle", 0);
	int64_t		 exp = client_jint(st, "expires", 0);
	int64_t		 now = client_now_ms(), t;
	char		 why[300];

	char		 kid[KEYID_HEXLEN + 1];
	const char	*skid = json_string_value(json_object_get(st, "key_id"));

	/* A record left by an earlier machine of that name is not its own. */
	keyid_format(rt->cfg->keyid, kid);
	if (skid != NULL && strcasecmp(skid, kid) != 0)
		return;
	snprintf(why, sizeof(why), "%s (through the store)", by != NULL ? by :
	    "another server");
	/* An enable or disable is applied once; expiry stays each server's. */
	if (json_is_boolean(en) && toggle != rt->store_toggle) {
		rt->store_toggle = toggle;
		if (!json_is_true(en))
			client_disable(rt, why);
		else if (!rt->enabled && exp > now) {
			rt->last_enabled = client_jint(st, "last_enabled", now);
			client_go_enabled(rt, exp, 0);
			log_info("client %s enabled by %s", rt->name, why);
			client_event(rt, "enabled", json_pack("{s:s}", "by", why));
			state_dirty();
		}
	}
	if (rt->enabled && exp > rt->expires) {
		rt->expires = exp;	/* a checker or a secret elsewhere */
		client_arm_expiry(rt);
	}
	rt->last_checked_ok = client_max(rt->last_checked_ok,
	    client_jint(st, "last_checked_ok", 0));
	if ((t = client_jint(st, "last_checker_time", 0)) >
	    rt->last_checker_time) {
		rt->last_checker_time = t;
		rt->last_checker_status = (int)client_jint(st,
		    "last_checker_status", rt->last_checker_status);
	}
	rt->last_approval_request = client_max(rt->last_approval_request,
	    client_jint(st, "last_approval_request", 0));
	rt->secrets_sent = (uint64_t)client_jint(st, "secrets_sent", 0) +
	    rt->secrets_unsent;
	state_dirty();
}

/* The record as the store has it, or a fresh one from our state. */
static json_t *
client_store_base(const struct client_rt *rt, json_t *cur)
{
	char		 kid[KEYID_HEXLEN + 1];
	const char	*skid = json_string_value(json_object_get(cur, "key_id"));
	json_t		*n;

	keyid_format(rt->cfg->keyid, kid);
	if (json_is_object(cur) && (skid == NULL || strcasecmp(skid, kid) == 0))
		n = json_deep_copy(cur);
	else	/* none yet, or an earlier machine's: start from ours */
		n = json_pack("{s:b,s:I,s:s,s:I,s:I}", "enabled", rt->enabled,
		    "toggle", (json_int_t)client_jint(cur, "toggle", 0),
		    "by", "start", "expires", (json_int_t)rt->expires,
		    "last_enabled", (json_int_t)rt->last_enabled);
	json_object_set_new(n, "key_id", json_string(kid));
	return (n);
}

json_t *
client_store_merge(struct client_rt *rt, json_t *cur, const char *id,
    uint64_t *delta)
{
	json_t	*n = client_store_base(rt, cur);

	if (rt->enabled)
		json_object_set_new(n, "expires", json_integer(client_max(
		    client_jint(n, "expires", 0), rt->expires)));
	json_object_set_new(n, "last_checked_ok", json_integer(client_max(
	    client_jint(n, "last_checked_ok", 0), rt->last_checked_ok)));
	if (rt->last_checker_time >= client_jint(n, "last_checker_time", 0)) {
		json_object_set_new(n, "last_checker_time",
		    json_integer(rt->last_checker_time));
		json_object_set_new(n, "last_checker_status",
		    json_integer(rt->last_checker_status));
	}
	json_object_set_new(n, "last_approval_request", json_integer(client_max(
	    client_jint(n, "last_approval_request", 0),
	    rt->last_approval_request)));
	*delta = rt->secrets_unsent;
	json_object_set_new(n, "secrets_sent", json_integer(client_jint(n,
	    "secrets_sent", 0) + (int64_t)*delta));
	json_object_set_new(n, "server", json_string(id));
	json_object_set_new(n, "updated", json_integer(client_now_ms()));
	return (n);
}

void
client_store_flushed(struct client_rt *rt, uint64_t delta)
{
	rt->secrets_unsent -= delta <= rt->secrets_unsent ? delta :
	    rt->secrets_unsent;
}

json_t *
client_store_op(struct client_rt *rt, json_t *cur, const char *op,
    const char *id)
{
	json_t	*n = client_store_base(rt, cur);
	int64_t	 now = client_now_ms();
	char	 by[300];

	snprintf(by, sizeof(by), "operator on %s", id);
	if (strcmp(op, "checked") == 0) {
		json_object_set_new(n, "last_checked_ok", json_integer(now));
		json_object_set_new(n, "last_checker_time", json_integer(now));
		json_object_set_new(n, "last_checker_status", json_integer(0));
		json_object_set_new(n, "expires", json_integer(now +
		    (int64_t)rt->timeout_ms));
	} else {
		json_object_set_new(n, "enabled", json_boolean(strcmp(op,
		    "enable") == 0));
		json_object_set_new(n, "toggle", json_integer(client_jint(n,
		    "toggle", 0) + 1));
		json_object_set_new(n, "by", json_string(by));
		if (strcmp(op, "enable") == 0) {
			json_object_set_new(n, "expires", json_integer(now +
			    (int64_t)rt->timeout_ms));
			json_object_set_new(n, "last_enabled",
			    json_integer(now));
		} else
			json_object_set_new(n, "expires", json_integer(0));
	}
	json_object_set_new(n, "server", json_string(id));
	json_object_set_new(n, "updated", json_integer(now));
	return (n);
}
