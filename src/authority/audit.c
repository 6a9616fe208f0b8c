/*
 * audit.c: the audit trail. Each record is one JSON object on one line,
 * written with one write(2) to a file opened O_APPEND, so lines from one
 * server never interleave and a reader never sees half a line; a line is
 * at most AUDIT_MAXLINE bytes (the arguments are cut first). Refusals of
 * unknown keys cost an attacker nothing but a handshake, so after the
 * first one of an interval they are only counted, and one summary line
 * per interval says how many: the file grows with time, not with a storm.
 * A write error is logged once and the server serves on. Operator lines
 * also go to a sink (the fleet store) when one is set.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "audit.h"
#include "log.h"
#include "xmalloc.h"

static int		 audit_fd = -1;
static char		*audit_path;
static char		 audit_server[256];
static void		(*audit_sink)(const char *, void *);
static void		*audit_sink_arg;
static int		 audit_failing;		/* a write failed: said once */
static unsigned long long audit_lost;		/* lines not written since */
static struct event	*audit_ev;		/* unknown-key summary */
static uint64_t		 audit_iv_ms = 10 * 1000;
/* Unknown keys this interval after the first one (which is written). */
static struct {
	unsigned long long n;
	int		 first_done;
	char		 since[32];
	char		 key_id[72];
	char		 peer[80];
} audit_unknown;

static void	 audit_summary(evutil_socket_t, short, void *);

/* RFC 3339, UTC, milliseconds: 2026-12-02T02:10:00.123Z */
static void
audit_time(char *buf, size_t len)
{
	struct timespec	 ts;
	struct tm	 tm;
	size_t		 n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static int
audit_active(void)
{
	return (audit_fd != -1 || audit_sink != NULL);
}

int
audit_open(const char *path, char **errstr)
{
	int	 fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1) {
		xasprintf(errstr, "--audit-log %s: %s", path, strerror(errno));
		return (-1);
	}
	if (audit_fd != -1)
		close(audit_fd);
	audit_fd = fd;
	free(audit_path);
	audit_path = xstrdup(path);
	return (0);
}

void
audit_init(struct event_base *base, uint64_t unknown_interval_ms)
{
	struct timeval	 tv;

	if (unknown_interval_ms > 0)
		audit_iv_ms = unknown_interval_ms;
	if (audit_ev != NULL || !audit_active())
		return;
	audit_ev = event_new(base, -1, EV_PERSIST, audit_summary, NULL);
	tv.tv_sec = (time_t)(audit_iv_ms / 1000);
	tv.tv_usec = (suseconds_t)(audit_iv_ms % 1000) * 1000;
	if (audit_ev != NULL)
		event_add(audit_ev, &tv);
}

void
audit_reopen(void)
{
	char	*err;
	int	 fd;

	if (audit_path == NULL)
		return;
	fd = open(audit_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fd == -1) {
		err = strerror(errno);
		log_warnx("audit log %s: cannot reopen (%s); still writing to "
		    "the file opened before", audit_path, err);
		return;
	}
	close(audit_fd);
	audit_fd = fd;
	audit_failing = 0;
	log_info("audit log %s reopened", audit_path);
}

void
audit_set_server_id(const char *id)
{
	snprintf(audit_server, sizeof(audit_server), "%s", id);
}

void
audit_set_sink(void (*fn)(const char *, void *), void *arg)
{
	audit_sink = fn;
	audit_sink_arg = arg;
}

const char *
audit_server_id(void)
{
	if (audit_server[0] == '\0' && gethostname(audit_server,
	    sizeof(audit_server) - 1) == -1)
		snprintf(audit_server, sizeof(audit_server), "unknown");
	return (audit_server);
}

/* Append the common fields, dump, bound, write once; consumes o. */
static void
audit_emit(json_t *o, int to_sink)
{
	char	 t[40], *s, line[AUDIT_MAXLINE];
	size_t	 len;
	ssize_t	 w;

	audit_time(t, sizeof(t));
	json_object_set_new(o, "time", json_string(t));
	json_object_set_new(o, "server", json_string(audit_server_id()));
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII |
	    JSON_REAL_PRECISION(6));
	if (s != NULL && strlen(s) + 1 > sizeof(line)) {
		/* Too long: the arguments (or the reason) go, the facts stay. */
		free(s);
		if (json_object_get(o, "args") != NULL)
			json_object_set_new(o, "args", json_string("(cut: "
			    "longer than the line bound)"));
		if (json_object_get(o, "reason") != NULL)
			json_object_set_new(o, "reason", json_string("(cut)"));
		if (json_object_get(o, "error") != NULL)
			json_object_set_new(o, "error", json_string("(cut)"));
		s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS |
		    JSON_ENSURE_ASCII | JSON_REAL_PRECISION(6));
	}
	json_decref(o);
	if (s == NULL || (len = strlen(s)) + 1 > sizeof(line)) {
		free(s);
		audit_lost++;
		return;
	}
	memcpy(line, s, len);
	free(s);
	if (to_sink && audit_sink != NULL) {
		line[len] = '\0';
		audit_sink(line, audit_sink_arg);
	}
	if (audit_fd == -1)
		return;
	line[len++] = '\n';
	/* One write(2) per line: O_APPEND makes it one atomic append. */
	w = write(audit_fd, line, len);
	if (w == (ssize_t)len) {
		if (audit_failing) {
			log_warnx("audit log %s: writing again (%llu lines "
			    "lost)", audit_path, audit_lost);
			audit_failing = 0;
			audit_lost = 0;
		}
		return;
	}
	audit_lost++;
	if (!audit_failing) {
		if (w == -1)
			log_warn("audit log %s: write failed; serving on, "
			    "lines are lost until it works again", audit_path);
		else
			log_warnx("audit log %s: short write (%zd of %zu); "
			    "serving on", audit_path, w, len);
		audit_failing = 1;
	}
}

void
audit_operator(const struct audit_peer *p, const char *action,
    const char *client, json_t *args, const char *error)
{
	json_t	*o;

	if (!audit_active()) {
		json_decref(args);
		return;
	}
	o = json_pack("{s:s,s:s,s:I,s:I,s:I}", "type", "operator", "action",
	    action, "uid", (json_int_t)p->uid, "gid", (json_int_t)p->gid,
	    "pid", (json_int_t)p->pid);
	if (o == NULL) {
		json_decref(args);
		return;
	}
	json_object_set_new(o, "client", client != NULL ? json_string(client) :
	    json_null());
	if (args != NULL)
		json_object_set_new(o, "args", args);
	json_object_set_new(o, "result", json_string(error == NULL ? "ok" :
	    "error"));
	if (error != NULL)
		json_object_set_new(o, "error", json_string(error));
	audit_emit(o, 1);
}

/* The outcome of a connection, from the authority's point of view. */
static const char *
audit_outcome(const char *result, int sent)
{
	static const char *const map[][2] = {
		{ "secret_sent", "sent" },
		{ "not_found", "refused-unknown" },
		{ "disabled", "refused-disabled" },
		{ "denied", "refused-denied" },
		{ "approval_timeout", "refused-approval-timeout" },
		{ "abandoned", "abandoned" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(result, map[i][0]) == 0)
			return (map[i][1]);
	return (sent ? "send-failed" : "failed");
}

void
audit_secret(const char *client, const char *keyid, const char *peer,
    unsigned worker, const char *result, int sent, const char *why,
    double handshake_ms, double duration_ms)
{
	json_t	*o;

	if (audit_fd == -1)
		return;
	if (client == NULL && strcmp(result, "not_found") == 0) {
		/* The first of an interval in full, the rest counted. */
		if (audit_unknown.first_done) {
			if (audit_unknown.n++ == 0)
				audit_time(audit_unknown.since,
				    sizeof(audit_unknown.since));
			snprintf(audit_unknown.key_id,
			    sizeof(audit_unknown.key_id), "%s", keyid);
			snprintf(audit_unknown.peer, sizeof(audit_unknown.peer),
			    "%s", peer);
			return;
		}
		audit_unknown.first_done = 1;
	}
	o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:s,s:s}", "type", "secret",
	    "client", client != NULL ? client : "unknown", "key_id", keyid,
	    "peer", peer, "worker", (json_int_t)worker, "outcome",
	    audit_outcome(result, sent), "result", result);
	if (o == NULL)
		return;
	if (handshake_ms >= 0)
		json_object_set_new(o, "handshake_ms", json_real(handshake_ms));
	json_object_set_new(o, "duration_ms", json_real(duration_ms));
	if (why != NULL)
		json_object_set_new(o, "reason", json_string(why));
	audit_emit(o, 0);
}

/* Once per interval: how many unknown keys were refused and not written. */
static void
audit_summary(evutil_socket_t fd, short what, void *arg)
{
	json_t	*o;

	if (audit_unknown.n == 0) {
		audit_unknown.first_done = 0;	/* quiet: the next in full */
		return;
	}
	o = json_pack("{s:s,s:s,s:s,s:I,s:I,s:s,s:s,s:s}", "type",
	    "secret-summary", "client", "unknown", "outcome", "refused-unknown",
	    "count", (json_int_t)audit_unknown.n, "interval_ms",
	    (json_int_t)audit_iv_ms, "since", audit_unknown.since,
	    "last_key_id", audit_unknown.key_id, "last_peer",
	    audit_unknown.peer);
	audit_unknown.n = 0;
	if (o != NULL)
		audit_emit(o, 0);
}

void
audit_close(void)
{
	if (audit_ev != NULL) {
		audit_summary(-1, 0, NULL);
		event_free(audit_ev);
		audit_ev = NULL;
	}
	if (audit_fd != -1)
		close(audit_fd);
	audit_fd = -1;
	free(audit_path);
	audit_path = NULL;
	audit_sink = NULL;
}
