/*
 * mandosctl: control mandosd through its control socket. A superset of the
 * reference's mandos-ctl(8): the same options with the same meaning, the
 * same table, -v columns and -j dump, the same exit codes; plus --socket,
 * --stats, --metrics, --reload, --watch and --import, and the fleet
 * store's --store URL with --push, --pull (clients/ctl-store.c).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl-store.h"
#include "ctlproto.h"
#include "duration.h"
#ifdef HAVE_IMPORT
#include "import.h"
#endif

#define REF_VERSION	"1.8.16"	/* the mandos-ctl we mirror */

/* Actions, in the order given (as mandos-ctl's argparse "append"). */
enum ctl_kind {
	K_DUMP_JSON, K_ENABLE, K_DISABLE, K_BUMP, K_START_CHECKER,
	K_STOP_CHECKER, K_IS_ENABLED, K_REMOVE, K_CHECKER, K_TIMEOUT,
	K_EXT_TIMEOUT, K_INTERVAL, K_APPROVE_DEFAULT, K_DENY_DEFAULT,
	K_APPROVAL_DELAY, K_APPROVAL_DURATION, K_HOST, K_SECRET, K_APPROVE,
	K_DENY,
};

struct ctl_action {
	enum ctl_kind	 kind;
	const char	*arg;
	uint64_t	 ms;
};

static struct ctl_action ctl_acts[256];
static size_t		 ctl_nacts;
static const char	*ctl_socket = CTL_DEFAULT_SOCKET;
static int		 ctl_fd = -1;
static char		*ctl_rbuf;
static size_t		 ctl_rlen, ctl_rcap;

/* The 20 columns of mandos-ctl -v, in its order. */
static const char *const ctl_keywords[] = {
	"Name", "Enabled", "Timeout", "LastCheckedOK", "Created", "Interval",
	"Host", "KeyID", "Fingerprint", "CheckerRunning", "LastEnabled",
	"ApprovalPending", "ApprovedByDefault", "LastApprovalRequest",
	"ApprovalDelay", "ApprovalDuration", "Checker", "ExtendedTimeout",
	"Expires", "LastCheckerStatus", NULL,
};
static const char *const ctl_headers[] = {
	"Name", "Enabled", "Timeout", "Last Successful Check", "Created",
	"Interval", "Host", "Key ID", "Fingerprint", "Check Is Running",
	"Last Enabled", "Approval Is Pending", "Approved By Default",
	"Last Approval Request", "Approval Delay", "Approval Duration",
	"Checker", "Extended Timeout", "Expires", "Last Checker Status", NULL,
};

static void
usage(FILE *f)
{
	fprintf(f,
"usage: mandosctl [-h] [--version] [-a] [-v] [-j] [-e | -d] [-b]\n"
"                 [--start-checker | --stop-checker] [-V] [-r] [-c COMMAND]\n"
"                 [-t TIME] [--extended-timeout TIME] [-i TIME]\n"
"                 [--approve-by-default | --deny-by-default]\n"
"                 [--approval-delay TIME] [--approval-duration TIME]\n"
"                 [-H STRING] [-s FILENAME] [-A | -D] [--socket PATH]\n"
"                 [--stats | --metrics | --reload | --watch | --import FILE]\n"
"                 [client ...]\n"
"       mandosctl --store URL [--store-ca FILE] [--store-cert FILE]\n"
"                 [--store-key FILE] [--store-auth FILE]\n"
"                 (--push FILE | --import FILE | --pull)\n");
}

static void
help(void)
{
	usage(stdout);
	printf(
"\nControl mandosd through its control socket (a superset of mandos-ctl).\n\n"
"  -a, --all                 select all clients\n"
"  -v, --verbose             print all fields\n"
"  -j, --dump-json           dump client data in JSON format\n"
"  -e, --enable              enable client\n"
"  -d, --disable             disable client\n"
"  -b, --bump-timeout        bump timeout for client\n"
"      --start-checker       start checker for client\n"
"      --stop-checker        stop checker for client\n"
"  -V, --is-enabled          check if client is enabled (exit status)\n"
"  -r, --remove              remove client\n"
"  -c, --checker COMMAND     set checker command for client\n"
"  -t, --timeout TIME        set timeout for client\n"
"      --extended-timeout TIME  set extended timeout for client\n"
"  -i, --interval TIME       set checker interval for client\n"
"      --approve-by-default  set client to be approved by default\n"
"      --deny-by-default     set client to be denied by default\n"
"      --approval-delay TIME set delay before client approve/deny\n"
"      --approval-duration TIME  set duration of one client approval\n"
"  -H, --host STRING         set host for client\n"
"  -s, --secret FILENAME     set password blob (file) for client\n"
"  -A, --approve             approve any current client request\n"
"  -D, --deny                deny any current client request\n"
"      --socket PATH         mandosd's control socket (default %s)\n"
"      --stats               print the server's counters, one per line\n"
"      --metrics             print Prometheus text exposition\n"
"      --reload              reload the client table (as SIGHUP)\n"
"      --watch               live view of approvals and events\n"
"      --import FILE         convert a reference clients.conf to JSON\n"
"                            (with --store: push the converted table)\n"
"      --store URL           the fleet store: etcd://HOST:PORT[,...]/PREFIX\n"
"                            (etcds:// for TLS to etcd)\n"
"      --store-ca FILE       PEM CA that signed etcd's certificates\n"
"                            (default: the system's CAs)\n"
"      --store-cert FILE     PEM client certificate for etcd\n"
"      --store-key FILE      its PEM private key (default: in --store-cert)\n"
"      --store-auth FILE     etcd user:password on one line (no access\n"
"                            for others: chmod 0600)\n"
"      --push FILE           load a clients.json into the store (with\n"
"                            compare-and-swap), print what changed\n"
"      --pull                print the store's table as clients.json\n"
"      --version             show version number and exit\n"
"  -h, --help                show this help and exit\n"
"\nTIME: RFC 3339 duration (PT5M) or the older 5m 30s form.\n",
	    CTL_DEFAULT_SOCKET);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list	 ap;

	usage(stderr);
	fprintf(stderr, "mandosctl: error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "mandosctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Connect, or say in one line why not. */
static void
ctl_connect(void)
{
	struct sockaddr_un	 sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(ctl_socket) >= sizeof(sun.sun_path))
		die("%s: socket path too long", ctl_socket);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", ctl_socket);
	if ((ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket: %s", strerror(errno));
	if (connect(ctl_fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		die("cannot reach mandosd at %s: %s", ctl_socket,
		    strerror(errno));
}

/* Read one line from the server (malloc'd, without the newline); NULL at EOF. */
static char *
ctl_readline(int timeout_ms)
{
	char		*nl, *line;
	ssize_t		 n;
	size_t		 len;
	struct pollfd	 pfd;

	for (;;) {
		/* ctl_rbuf is NULL until the first read: memchr needs a buffer. */
		if (ctl_rlen > 0 &&
		    (nl = memchr(ctl_rbuf, '\n', ctl_rlen)) != NULL) {
			len = (size_t)(nl - ctl_rbuf);
			line = malloc(len + 1);
			if (line == NULL)
				die("out of memory");
			memcpy(line, ctl_rbuf, len);
			line[len] = '\0';
			memmove(ctl_rbuf, nl + 1, ctl_rlen - len - 1);
			ctl_rlen -= len + 1;
			return (line);
		}
		if (timeout_ms >= 0) {
			pfd.fd = ctl_fd;
			pfd.events = POLLIN;
			if (poll(&pfd, 1, timeout_ms) == 0) {
				errno = ETIMEDOUT;
				return (NULL);
			}
		}
		if (ctl_rcap - ctl_rlen < 65536) {
			ctl_rcap = ctl_rcap * 2 + 65536;
			if ((ctl_rbuf = realloc(ctl_rbuf, ctl_rcap)) == NULL)
				die("out of memory");
		}
		n = read(ctl_fd, ctl_rbuf + ctl_rlen, ctl_rcap - ctl_rlen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			errno = n == 0 ? ECONNRESET : errno;
			return (NULL);
		}
		ctl_rlen += (size_t)n;
	}
}

/* One request, one reply; the result, or exit 1 with the server's error. */
static json_t *
ctl_call(json_t *req)
{
	/* Static, and req freed before anything may die(): no leak on exit. */
	static char	 s[CTL_MAXLINE + 2], msg[512];
	json_error_t	 jerr;
	json_t		*rep, *res;
	char		*line;
	size_t		 off = 0, len;
	ssize_t		 n;

	json_object_set_new(req, "v", json_integer(CTL_PROTO_VERSION));
	len = json_dumpb(req, s, sizeof(s) - 1, JSON_COMPACT);
	json_decref(req);
	if (len == 0)
		die("cannot encode the request");
	if (len > sizeof(s) - 2)
		die("request longer than %d bytes", CTL_MAXLINE);
	s[len++] = '\n';
	if (ctl_fd == -1)
		ctl_connect();
	while (off < len) {
		if ((n = write(ctl_fd, s + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			die("writing to %s: %s", ctl_socket, strerror(errno));
		}
		off += (size_t)n;
	}
	if ((line = ctl_readline(-1)) == NULL)
		die("%s closed the connection", ctl_socket);
	rep = json_loads(line, 0, &jerr);
	free(line);
	if (rep == NULL)
		die("bad reply from mandosd: %s", jerr.text);
	if (!json_is_true(json_object_get(rep, "ok"))) {
		snprintf(msg, sizeof(msg), "%s",
		    json_string_value(json_object_get(rep, "error")) != NULL ?
		    json_string_value(json_object_get(rep, "error")) :
		    "request failed");
		json_decref(rep);
		die("%s", msg);
	}
	res = json_incref(json_object_get(rep, "result"));
	json_decref(rep);
	return (res);
}

static json_t *
ctl_simple(const char *cmd)
{
	return (ctl_call(json_pack("{s:s}", "cmd", cmd)));
}

/* mandos-ctl's milliseconds_to_string: [DT]HH:MM:SS. */
static void
ms_to_string(json_int_t ms, char *buf, size_t len)
{
	long long	 s = ms / 1000, days = s / 86400;

	s %= 86400;
	if (ms < 0) {
		/* Python's timedelta floors; never negative here in practice. */
		snprintf(buf, len, "%lld", (long long)ms);
		return;
	}
	if (days)
		snprintf(buf, len, "%lldT%02lld:%02lld:%02lld", days, s / 3600,
		    (s % 3600) / 60, s % 60);
	else
		snprintf(buf, len, "%02lld:%02lld:%02lld", s / 3600,
		    (s % 3600) / 60, s % 60);
}

/* One table cell as mandos-ctl's valuetostring would print it. */
static char *
cell(json_t *client, const char *key)
{
	json_t	*v = json_object_get(client, key);
	char	 buf[64];

	if (json_is_boolean(v))
		return (strdup(json_is_true(v) ? "Yes" : "No"));
	if (json_is_integer(v) && (strcmp(key, "Timeout") == 0 ||
	    strcmp(key, "Interval") == 0 || strcmp(key, "ApprovalDelay") == 0 ||
	    strcmp(key, "ApprovalDuration") == 0 ||
	    strcmp(key, "ExtendedTimeout") == 0)) {
		ms_to_string(json_integer_value(v), buf, sizeof(buf));
		return (strdup(buf));
	}
	if (json_is_integer(v)) {
		snprintf(buf, sizeof(buf), "%lld",
		    (long long)json_integer_value(v));
		return (strdup(buf));
	}
	if (json_is_string(v))
		return (strdup(json_string_value(v)));
	return (strdup("None"));
}

/* The table: columns as wide as their widest cell, joined by a space. */
static void
print_table(json_t *clients, int verbose)
{
	const char	*name;
	json_t		*c;
	size_t		 ncol = verbose ? 20 : 4, i, w[20], l;
	char		*s;

	for (i = 0; i < ncol; i++)
		w[i] = strlen(ctl_headers[i]);
	json_object_foreach(clients, name, c)
		for (i = 0; i < ncol; i++) {
			s = cell(c, ctl_keywords[i]);
			if ((l = strlen(s)) > w[i])
				w[i] = l;
			free(s);
		}
	for (i = 0; i < ncol; i++)
		printf("%s%-*s", i ? " " : "", (int)w[i], ctl_headers[i]);
	putchar('\n');
	json_object_foreach(clients, name, c) {
		for (i = 0; i < ncol; i++) {
			s = cell(c, ctl_keywords[i]);
			printf("%s%-*s", i ? " " : "", (int)w[i], s);
			free(s);
		}
		putchar('\n');
	}
}

/* -j: {name: {the 20 properties}} with Python's json.dumps(indent=4). */
static void
dump_json(json_t *clients)
{
	json_t		*out = json_object(), *c, *o;
	const char	*name;
	char		*s;
	size_t		 i;

	json_object_foreach(clients, name, c) {
		o = json_object();
		for (i = 0; ctl_keywords[i] != NULL; i++)
			json_object_set(o, ctl_keywords[i],
			    json_object_get(c, ctl_keywords[i]));
		json_object_set_new(out, name, o);
	}
	s = json_dumps(out, JSON_INDENT(4) | JSON_PRESERVE_ORDER |
	    JSON_ENSURE_ASCII);
	printf("%s\n", s != NULL ? s : "{}");
	free(s);
	json_decref(out);
}

/* --stats: "name value" lines. */
static int
do_stats(void)
{
	json_t		*r = ctl_simple("stats"), *v;
	const char	*k;

	json_object_foreach(r, k, v) {
		if (json_is_integer(v))
			printf("%s %lld\n", k, (long long)json_integer_value(v));
		else
			printf("%s %.6f\n", k, json_number_value(v));
	}
	json_decref(r);
	return (0);
}

static int
do_metrics(void)
{
	json_t	*r = ctl_simple("metrics");

	fputs(json_string_value(r) ? json_string_value(r) : "", stdout);
	json_decref(r);
	return (0);
}

static int
do_reload(void)
{
	json_t	*r = ctl_simple("reload");

	printf("reloaded: %lld clients\n", (long long)json_integer_value(
	    json_object_get(r, "clients")));
	json_decref(r);
	return (0);
}

/* One event as a plain line: TIME EVENT client key=value ... */
static void
event_line(json_t *ev, char *buf, size_t len)
{
	const char	*k, *cl = json_string_value(json_object_get(ev, "client"));
	json_t		*v;
	size_t		 n;
	char		*s;

	n = (size_t)snprintf(buf, len, "%s %-16s %s",
	    json_string_value(json_object_get(ev, "time")) ?
	    json_string_value(json_object_get(ev, "time")) : "-",
	    json_string_value(json_object_get(ev, "event")) ?
	    json_string_value(json_object_get(ev, "event")) : "?",
	    cl != NULL ? cl : "-");
	json_object_foreach(ev, k, v) {
		if (strcmp(k, "time") == 0 || strcmp(k, "event") == 0 ||
		    strcmp(k, "client") == 0 || strcmp(k, "v") == 0 || n >= len)
			continue;
		if (json_is_string(v))
			n += (size_t)snprintf(buf + n, len - n, " %s=%s", k,
			    json_string_value(v));
		else {
			s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT |
			    JSON_REAL_PRECISION(4));
			n += (size_t)snprintf(buf + n, len - n, " %s=%s", k,
			    s != NULL ? s : "?");
			free(s);
		}
	}
}

/* The pending approvals, from a fresh list on a second connection. */
static void
watch_pending(FILE *f)
{
	int		 fd = ctl_fd;
	char		*rb = ctl_rbuf;
	size_t		 rl = ctl_rlen, rc = ctl_rcap, n = 0;
	json_t		*all, *c;
	const char	*name;
	char		 delay[64];

	ctl_fd = -1;
	ctl_rbuf = NULL;
	ctl_rlen = ctl_rcap = 0;
	all = ctl_simple("list");
	close(ctl_fd);
	free(ctl_rbuf);
	ctl_fd = fd;
	ctl_rbuf = rb;
	ctl_rlen = rl;
	ctl_rcap = rc;
	fprintf(f, "Pending approvals (mandosctl -A NAME approves, -D NAME "
	    "denies):\n");
	json_object_foreach(all, name, c) {
		if (!json_is_true(json_object_get(c, "ApprovalPending")))
			continue;
		ms_to_string(json_integer_value(json_object_get(c,
		    "ApprovalDelay")), delay, sizeof(delay));
		fprintf(f, "  %-24s since %s  host %s  %s after %s\n", name,
		    json_string_value(json_object_get(c, "LastApprovalRequest")),
		    *json_string_value(json_object_get(c, "Host")) ?
		    json_string_value(json_object_get(c, "Host")) : "-",
		    json_is_true(json_object_get(c, "ApprovedByDefault")) ?
		    "approved" : "denied", delay);
		n++;
	}
	if (n == 0)
		fprintf(f, "  (none)\n");
	json_decref(all);
}

/* --watch: a live view on a terminal, plain lines when piped. */
static int
do_watch(void)
{
	enum { KEEP = 200 };
	char		*ring[KEEP] = { NULL }, buf[1024], *line;
	size_t		 head = 0, count = 0, i, rows = 24;
	int		 tty = isatty(STDOUT_FILENO), dirty = 1;
	json_t		*ev, *r;
	json_error_t	 jerr;
	char		*lines_env = getenv("LINES");

	if (lines_env != NULL && atoi(lines_env) > 8)
		rows = (size_t)atoi(lines_env);
	r = ctl_simple("watch");
	json_decref(r);
	for (;;) {
		if (tty && dirty) {
			printf("\033[H\033[2J");
			printf("mandosd at %s   (Ctrl-C quits)\n\n", ctl_socket);
			watch_pending(stdout);
			printf("\nRecent events:\n");
			for (i = count > rows - 12 ? count - (rows - 12) : 0;
			    i < count; i++)
				printf("  %s\n", ring[(head + KEEP - count + i) %
				    KEEP]);
			fflush(stdout);
			dirty = 0;
		}
		line = ctl_readline(tty ? 1000 : -1);
		if (line == NULL) {
			if (errno == ETIMEDOUT) {
				dirty = 1;	/* refresh the pending list */
				continue;
			}
			if (!tty)
				return (0);
			die("%s closed the connection", ctl_socket);
		}
		if ((ev = json_loads(line, 0, &jerr)) == NULL) {
			free(line);
			continue;
		}
		free(line);
		event_line(ev, buf, sizeof(buf));
		json_decref(ev);
		if (!tty) {
			printf("%s\n", buf);
			fflush(stdout);
			continue;
		}
		free(ring[head]);
		ring[head] = strdup(buf);
		head = (head + 1) % KEEP;
		if (count < KEEP)
			count++;
		dirty = 1;
	}
}

static void
add_act(enum ctl_kind k, const char *arg)
{
	const char	*why;

	if (ctl_nacts == sizeof(ctl_acts) / sizeof(ctl_acts[0]))
		usage_error("too many options");
	ctl_acts[ctl_nacts].kind = k;
	ctl_acts[ctl_nacts].arg = arg;
	if (k == K_TIMEOUT || k == K_EXT_TIMEOUT || k == K_INTERVAL ||
	    k == K_APPROVAL_DELAY || k == K_APPROVAL_DURATION) {
		if (duration_parse(arg, &ctl_acts[ctl_nacts].ms, &why) == -1)
			usage_error("argument: invalid TIME value: '%s' (%s)",
			    arg, why);
	}
	ctl_nacts++;
}

static int
has(enum ctl_kind k)
{
	size_t	 i;

	for (i = 0; i < ctl_nacts; i++)
		if (ctl_acts[i].kind == k)
			return (1);
	return (0);
}

/* The base64 of a file's contents (for -s). */
static char *
read_secret_b64(const char *path)
{
	FILE		*f;
	unsigned char	*data = NULL;
	size_t		 n = 0, cap = 0, i, o = 0;
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char		*out;
	uint32_t	 v;

	if ((f = fopen(path, "rb")) == NULL)
		usage_error("argument -s/--secret: can't open '%s': %s", path,
		    strerror(errno));
	for (;;) {
		if (n == cap && (data = realloc(data, cap = cap * 2 + 4096)) ==
		    NULL)
			die("out of memory");
		size_t r = fread(data + n, 1, cap - n, f);
		if (r == 0)
			break;
		n += r;
		if (n > 1024 * 1024)
			die("%s: larger than 1 MiB", path);
	}
	fclose(f);
	out = malloc((n + 2) / 3 * 4 + 1);
	for (i = 0; i < n; i += 3) {
		v = (uint32_t)data[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)data[i + 1] << 8;
		if (i + 2 < n)
			v |= data[i + 2];
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = '\0';
	free(data);
	return (out);
}

/* Run one action on the selected clients. */
static void
run_action(const struct ctl_action *a, json_t *names)
{
	static const struct {
		enum ctl_kind	 k;
		const char	*cmd, *attr;
	} map[] = {
		{ K_ENABLE, "enable", NULL }, { K_DISABLE, "disable", NULL },
		{ K_BUMP, "bump-timeout", NULL },
		{ K_START_CHECKER, "start-checker", NULL },
		{ K_STOP_CHECKER, "stop-checker", NULL },
		{ K_REMOVE, "remove", NULL }, { K_APPROVE, "approve", NULL },
		{ K_DENY, "deny", NULL },
		{ K_CHECKER, "set", "checker" }, { K_HOST, "set", "host" },
		{ K_TIMEOUT, "set", "timeout" },
		{ K_EXT_TIMEOUT, "set", "extended_timeout" },
		{ K_INTERVAL, "set", "interval" },
		{ K_APPROVAL_DELAY, "set", "approval_delay" },
		{ K_APPROVAL_DURATION, "set", "approval_duration" },
		{ K_APPROVE_DEFAULT, "set", "approved_by_default" },
		{ K_DENY_DEFAULT, "set", "approved_by_default" },
		{ K_SECRET, "set", "secret" },
	};
	json_t	*req, *val = NULL;
	size_t	 i;

	if (json_array_size(names) == 0)
		return;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].k == a->kind)
			break;
	if (i == sizeof(map) / sizeof(map[0]))
		return;
	req = json_pack("{s:s,s:O}", "cmd", map[i].cmd, "clients", names);
	if (map[i].attr != NULL) {
		switch (a->kind) {
		case K_CHECKER:
		case K_HOST:
			val = json_string(a->arg);
			break;
		case K_APPROVE_DEFAULT:
			val = json_true();
			break;
		case K_DENY_DEFAULT:
			val = json_false();
			break;
		case K_SECRET: {
			char *b64 = read_secret_b64(a->arg);
			val = json_string(b64);
			free(b64);
			break;
		}
		default:
			val = json_integer((json_int_t)a->ms);
			break;
		}
		json_object_set_new(req, "attr", json_string(map[i].attr));
		json_object_set_new(req, "value", val);
	}
	json_decref(ctl_call(req));
}

int
main(int argc, char **argv)
{
	enum { O_START = 256, O_STOP, O_EXT, O_ABD, O_DBD, O_ADELAY, O_ADUR,
	    O_SOCKET, O_STATS, O_METRICS, O_RELOAD, O_WATCH, O_IMPORT,
	    O_VERSION, O_DEBUG, O_CHECK, O_STORE, O_PUSH, O_PULL, O_WSTORE,
	    O_STORE_OPT };
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "dump-json", no_argument, NULL, 'j' },
		{ "enable", no_argument, NULL, 'e' },
		{ "disable", no_argument, NULL, 'd' },
		{ "bump-timeout", no_argument, NULL, 'b' },
		{ "start-checker", no_argument, NULL, O_START },
		{ "stop-checker", no_argument, NULL, O_STOP },
		{ "is-enabled", no_argument, NULL, 'V' },
		{ "remove", no_argument, NULL, 'r' },
		{ "checker", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{ "extended-timeout", required_argument, NULL, O_EXT },
		{ "interval", required_argument, NULL, 'i' },
		{ "approve-by-default", no_argument, NULL, O_ABD },
		{ "deny-by-default", no_argument, NULL, O_DBD },
		{ "approval-delay", required_argument, NULL, O_ADELAY },
		{ "approval-duration", required_argument, NULL, O_ADUR },
		{ "host", required_argument, NULL, 'H' },
		{ "secret", required_argument, NULL, 's' },
		{ "approve", no_argument, NULL, 'A' },
		{ "deny", no_argument, NULL, 'D' },
		{ "socket", required_argument, NULL, O_SOCKET },
		{ "stats", no_argument, NULL, O_STATS },
		{ "metrics", no_argument, NULL, O_METRICS },
		{ "reload", no_argument, NULL, O_RELOAD },
		{ "watch", no_argument, NULL, O_WATCH },
		{ "import", required_argument, NULL, O_IMPORT },
		{ "store", required_argument, NULL, O_STORE },
		{ "store-ca", required_argument, NULL, O_STORE_OPT },
		{ "store-cert", required_argument, NULL, O_STORE_OPT },
		{ "store-key", required_argument, NULL, O_STORE_OPT },
		{ "store-auth", required_argument, NULL, O_STORE_OPT },
		{ "push", required_argument, NULL, O_PUSH },
		{ "pull", no_argument, NULL, O_PULL },
		{ "watch-store", no_argument, NULL, O_WSTORE },	/* debug */
		{ "version", no_argument, NULL, O_VERSION },
		{ "debug", no_argument, NULL, O_DEBUG },
		{ "check", no_argument, NULL, O_CHECK },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	json_t		*all, *sel, *names, *c;
	const char	*import = NULL, *name, *env, *store = NULL;
	const char	*push = NULL;
	int		 store_op = 0, nstore = 0;
	int		 ch, all_flag = 0, verbose = 0, server_op = 0, nserver = 0;
	int		 rc = 0, oi = -1, nstore_opt = 0;
	size_t		 i;

	if ((env = getenv("MANDOSCTL_SOCKET")) != NULL && *env != '\0')
		ctl_socket = env;
	signal(SIGPIPE, SIG_IGN);
	while ((ch = getopt_long(argc, argv, "avjedbVrc:t:i:H:s:ADh", opts,
	    &oi)) != -1) {
		switch (ch) {
		case 'a': all_flag = 1; break;
		case 'v': verbose = 1; break;
		case 'j': add_act(K_DUMP_JSON, NULL); break;
		case 'e': add_act(K_ENABLE, NULL); break;
		case 'd': add_act(K_DISABLE, NULL); break;
		case 'b': add_act(K_BUMP, NULL); break;
		case O_START: add_act(K_START_CHECKER, NULL); break;
		case O_STOP: add_act(K_STOP_CHECKER, NULL); break;
		case 'V': add_act(K_IS_ENABLED, NULL); break;
		case 'r': add_act(K_REMOVE, NULL); break;
		case 'c': add_act(K_CHECKER, optarg); break;
		case 't': add_act(K_TIMEOUT, optarg); break;
		case O_EXT: add_act(K_EXT_TIMEOUT, optarg); break;
		case 'i': add_act(K_INTERVAL, optarg); break;
		case O_ABD: add_act(K_APPROVE_DEFAULT, NULL); break;
		case O_DBD: add_act(K_DENY_DEFAULT, NULL); break;
		case O_ADELAY: add_act(K_APPROVAL_DELAY, optarg); break;
		case O_ADUR: add_act(K_APPROVAL_DURATION, optarg); break;
		case 'H': add_act(K_HOST, optarg); break;
		case 's': add_act(K_SECRET, optarg); break;
		case 'A': add_act(K_APPROVE, NULL); break;
		case 'D': add_act(K_DENY, NULL); break;
		case O_SOCKET: ctl_socket = optarg; break;
		case O_STATS: case O_METRICS: case O_RELOAD: case O_WATCH:
			server_op = ch;
			nserver++;
			break;
		case O_IMPORT:
			import = optarg;
			server_op = ch;
			nserver++;
			break;
		case O_STORE: store = optarg; break;
		case O_STORE_OPT:
			ctl_store_set_opt(opts[oi].name, optarg);
			nstore_opt++;
			break;
		case O_PUSH: push = optarg; /* FALLTHROUGH */
		case O_PULL: case O_WSTORE:
			store_op = ch;
			nstore++;
			break;
		case O_VERSION:
			printf("mandosctl %s (mandos-ctl %s compatible)\n",
			    PACKAGE_VERSION, REF_VERSION);
			return (0);
		case O_DEBUG: break;
		case O_CHECK: return (0);
		case 'h': help(); return (0);
		default: usage(stderr); return (2);
		}
	}
	/* The store's commands stand alone (--import FILE pushes a conf). */
	if (store != NULL || nstore > 0) {
		if (store == NULL)
			usage_error("--push and --pull need --store URL");
		if (import != NULL && nstore == 0) {
			store_op = O_IMPORT;
			nstore++;
		}
		if (nstore != 1 || nserver > (store_op == O_IMPORT) ||
		    ctl_nacts || verbose || all_flag || optind != argc)
			usage_error("--store takes exactly one of --push, "
			    "--import and --pull, alone");
		switch (store_op) {
		case O_PUSH: return (ctl_store_push(store, push, 0));
		case O_IMPORT: return (ctl_store_push(store, import, 1));
		case O_PULL: return (ctl_store_pull(store));
		default: return (ctl_store_watch(store));
		}
	}
	if (nstore_opt > 0)
		usage_error("--store-ca, --store-cert, --store-key and "
		    "--store-auth go with --store URL");
	/* mandos-ctl's check_option_syntax, then ours. */
	if (has(K_ENABLE) && has(K_DISABLE))
		usage_error("argument -d/--disable: not allowed with argument "
		    "-e/--enable");
	if (has(K_START_CHECKER) && has(K_STOP_CHECKER))
		usage_error("argument --stop-checker: not allowed with argument "
		    "--start-checker");
	if (has(K_APPROVE_DEFAULT) && has(K_DENY_DEFAULT))
		usage_error("argument --deny-by-default: not allowed with "
		    "argument --approve-by-default");
	if (has(K_APPROVE) && has(K_DENY))
		usage_error("argument -D/--deny: not allowed with argument "
		    "-A/--approve");
	{
		size_t nother = 0;
		for (i = 0; i < ctl_nacts; i++)
			nother += ctl_acts[i].kind != K_DUMP_JSON;
		if (nother > 0 && optind == argc && !all_flag)
			usage_error("Options require clients names or --all.");
		if (verbose && nother > 0)
			usage_error("--verbose can only be used alone.");
		if (has(K_DUMP_JSON) && (verbose || ctl_nacts > 1))
			usage_error("--dump-json can only be used alone.");
		if (all_flag && nother == 0)
			usage_error("--all requires an action.");
		if (has(K_IS_ENABLED) && argc - optind > 1)
			usage_error("--is-enabled requires exactly one client");
		if (ctl_nacts > 1 && has(K_REMOVE) && !has(K_DENY))
			usage_error("--remove can only be combined with --deny");
		if (nserver > 1 || (nserver && (ctl_nacts || verbose ||
		    all_flag || optind != argc)))
			usage_error("--stats, --metrics, --reload, --watch and "
			    "--import are used alone");
	}
	switch (server_op) {
	case O_STATS: return (do_stats());
	case O_METRICS: return (do_metrics());
	case O_RELOAD: return (do_reload());
	case O_WATCH: return (do_watch());
	case O_IMPORT: {
#ifdef HAVE_IMPORT
		char *err = NULL;
		if (import_clients_conf(import, stdout, &err) == -1)
			die("%s", err);
		return (0);
#else
		die("--import %s: this build has no importer (libinih missing)",
		    import);
#endif
	}
	}

	all = ctl_simple("list");
	if (optind == argc)
		sel = json_incref(all);
	else {
		sel = json_object();
		for (i = (size_t)optind; i < (size_t)argc; i++) {
			if ((c = json_object_get(all, argv[i])) == NULL) {
				fprintf(stderr, "Client not found on server: "
				    "'%s'\n", argv[i]);
				json_decref(sel);
				json_decref(all);
				return (1);
			}
			json_object_set(sel, argv[i], c);
		}
	}
	names = json_array();
	json_object_foreach(sel, name, c)
		json_array_append_new(names, json_string(name));

	if (ctl_nacts == 0) {
		print_table(sel, verbose);
		goto out;
	}
	/* Deny goes before remove, as in mandos-ctl. */
	if (has(K_REMOVE))
		for (i = 0; i < ctl_nacts; i++)
			if (ctl_acts[i].kind == K_DENY)
				run_action(&ctl_acts[i], names);
	for (i = 0; i < ctl_nacts; i++) {
		switch (ctl_acts[i].kind) {
		case K_DUMP_JSON:
			dump_json(sel);
			break;
		case K_IS_ENABLED:
			c = json_object_iter_value(json_object_iter(sel));
			rc = json_is_true(json_object_get(c, "Enabled")) ? 0 : 1;
			goto out;
		case K_DENY:
			if (has(K_REMOVE))
				break;
			/* FALLTHROUGH */
		default:
			run_action(&ctl_acts[i], names);
			break;
		}
	}
out:
	/* Freed on every way out: the sanitizer build checks for leaks. */
	json_decref(names);
	json_decref(sel);
	json_decref(all);
	return (rc);
}
