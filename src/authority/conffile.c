/*
 * conffile.c: the reference server's /etc/mandos/mandos.conf, so that a
 * migrated server keeps its settings. The [DEFAULT] keys that mandosd
 * shares with the reference and the keys of a [mandosd] section (named like
 * the long options) become long options placed before the command line's,
 * so the command line wins and mandosd.c keeps one option parser. Every
 * value is checked here, where the file and line are known.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <gnutls/gnutls.h>
#include <ini.h>

#include "conffile.h"
#include "duration.h"
#include "xmalloc.h"

#define CONF_MAXFILE	(1024 * 1024)
#define CONF_MAXNAME	63	/* a DNS-SD instance name label */

enum conf_type {
	T_STR,		/* non-empty text */
	T_STR0,		/* text, "" allowed (e.g. --pidfile '' for none) */
	T_OPT,		/* text; "" means the default: no option */
	T_ADDR,		/* numeric address, "" for all */
	T_PORT,		/* 0-65535, "" for any */
	T_FD,		/* descriptor number, "" for none */
	T_PRIO,		/* GnuTLS priority string */
	T_NAME,		/* Zeroconf service name */
	T_PATH,		/* absolute path */
	T_DUR,		/* duration */
	T_POSINT,	/* 1..INT_MAX */
	T_NEG,		/* boolean; false gives the flag (use_ipv6 -> --no-ipv6) */
	T_FLAG,		/* boolean; true gives the flag */
	T_IGNORE,	/* the reference's, not ours: warn once */
	T_ANY,		/* an option of ours this table does not know: as is */
};

struct conf_key {
	const char	*key;
	enum conf_type	 type;
	const char	*opt;	/* long option; for T_IGNORE the reason */
};

/* The reference's [DEFAULT] keys (mandos.conf(5)). */
static const struct conf_key conf_ref[] = {
	{ "interface",	T_OPT,	"interface" },
	{ "address",	T_ADDR,	"address" },
	{ "port",	T_PORT,	"port" },
	{ "priority",	T_PRIO,	"priority" },
	{ "servicename", T_NAME, "servicename" },
	{ "use_ipv6",	T_NEG,	"no-ipv6" },
	{ "restore",	T_NEG,	"no-restore" },
	{ "statedir",	T_PATH,	"statedir" },
	{ "socket",	T_FD,	"socket" },
	{ "zeroconf",	T_NEG,	"no-zeroconf" },
	{ "debug",	T_IGNORE, "how mandosd runs is set on its command "
	    "line (--debug)" },
	{ "debuglevel",	T_IGNORE, "mandosd logs at info level, --debug for "
	    "more" },
	{ "foreground",	T_IGNORE, "how mandosd runs is set on its command "
	    "line (--foreground)" },
	{ "use_dbus",	T_IGNORE, "mandosd has no D-Bus interface; mandosctl "
	    "uses its control socket" },
	{ NULL, 0, NULL }
};

/* Checks for the [mandosd] keys that need more than the option parser. */
static const struct conf_key conf_own[] = {
	{ "address",		T_ADDR,	"address" },
	{ "clients",		T_PATH,	"clients" },
	{ "control",		T_STR0,	"control" },
	{ "control-group",	T_STR,	"control-group" },
	{ "statedir",		T_STR0,	"statedir" },
	{ "metrics-listen",	T_STR,	"metrics-listen" },
	{ "max-checkers",	T_POSINT, "max-checkers" },
	{ "max-connections",	T_POSINT, "max-connections" },
	{ "handshake-timeout",	T_DUR,	"handshake-timeout" },
	{ "send-timeout",	T_DUR,	"send-timeout" },
	{ "version-timeout",	T_DUR,	"version-timeout" },
	{ "interface",		T_OPT,	"interface" },
	{ "pidfile",		T_STR0,	"pidfile" },
	{ "port",		T_PORT,	"port" },
	{ "priority",		T_PRIO,	"priority" },
	{ "servicename",	T_NAME,	"servicename" },
	{ "socket",		T_FD,	"socket" },
	{ "user",		T_STR,	"user" },
	{ NULL, 0, NULL }
};

/* Options that make no sense in the file. */
static const char *const conf_cmdline_only[] = {
	"config", "configdir", "check-config", "help", "version", NULL
};

struct conf {
	const char		*path;
	const struct option	*opts;
	const char		*text;		/* the whole file, NUL-terminated */
	size_t			 pos;
	int			 line;		/* of the line inih is at */
	int			 indented;	/* that line starts with a blank */
	char			 prev_sect[64];
	char			 prev_key[64];
	char			**seen;		/* "section\nkey" */
	size_t			 nseen;
	char			**warned;	/* sections warned about */
	size_t			 nwarned;
	char			**args;		/* the options made */
	int			 nargs;
	char			*err;		/* the first error */
	int			 errline;
};

static char	*conf_file;
/* Kept (volatile: a store never read would be dropped) so the new argv,
 * which getopt and the configuration point into, is never a leak. */
static char	**volatile conf_argv;

/* Record the first error as FILE:LINE: KEY: why; returns 0 for inih. */
static int
conf_fail(struct conf *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int
conf_fail(struct conf *c, const char *key, const char *fmt, ...)
{
	va_list	 ap;
	char	 why[512];

	if (c->err != NULL)
		return (0);
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	xasprintf(&c->err, "%s:%d: %s: %s", c->path, c->line, key, why);
	c->errline = c->line;
	return (0);
}

/* One warning on stderr, FILE:LINE: KEY: warning: ...; start-up goes on. */
static void
conf_warn(struct conf *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
conf_warn(struct conf *c, const char *key, const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "mandosd: %s:%d: %s: warning: ", c->path, c->line, key);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* inih's reader: one line per call, counted; NULL stops it. */
static char *
conf_reader(char *str, int num, void *arg)
{
	struct conf	*c = arg;
	const char	*s = c->text + c->pos, *nl;
	size_t		 len;

	if (*s == '\0' || c->err != NULL)
		return (NULL);
	nl = strchr(s, '\n');
	len = nl != NULL ? (size_t)(nl - s) + 1 : strlen(s);
	c->line++;
	c->indented = (*s == ' ' || *s == '\t');
	if (len > (size_t)num - 1) {	/* with its newline and NUL */
		conf_fail(c, "line", "longer than %d characters", num - 2);
		return (NULL);
	}
	memcpy(str, s, len);
	str[len] = '\0';
	c->pos += len;
	return (str);
}

/* Python's configparser booleans: 1/yes/true/on, 0/no/false/off. */
static int
conf_bool(const char *v)
{
	static const char *const t[] = { "1", "yes", "true", "on" };
	static const char *const f[] = { "0", "no", "false", "off" };
	size_t	 i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(v, t[i]) == 0)
			return (1);
		if (strcasecmp(v, f[i]) == 0)
			return (0);
	}
	return (-1);
}

/* A decimal number in [min, max], or -1. */
static long
conf_number(const char *v, long min, long max)
{
	char	*end;
	long	 n;

	if (!isdigit((unsigned char)*v))
		return (-1);
	errno = 0;
	n = strtol(v, &end, 10);
	if (*end != '\0' || errno != 0 || n < min || n > max)
		return (-1);
	return (n);
}

/* Append "--opt=val" (or "--opt" for a flag) to the options made. */
static void
conf_add(struct conf *c, const char *opt, const char *val)
{
	c->args = xreallocarray(c->args, (size_t)c->nargs + 1,
	    sizeof(*c->args));
	if (val == NULL)
		xasprintf(&c->args[c->nargs++], "--%s", opt);
	else
		xasprintf(&c->args[c->nargs++], "--%s=%s", opt, val);
}

/* Check one value and turn it into an option; 0 with the error set. */
static int
conf_value(struct conf *c, const struct conf_key *k, const char *key,
    const char *v)
{
	struct addrinfo		 hints, *ai;
	gnutls_priority_t	 prio;
	const char		*why;
	uint64_t		 ms;
	int			 b;

	switch (k->type) {
	case T_IGNORE:
		conf_warn(c, key, "ignored: %s", k->opt);
		return (1);
	case T_NEG:
	case T_FLAG:
		if ((b = conf_bool(v)) == -1)
			return (conf_fail(c, key, "\"%s\" is not a boolean "
			    "(true/false, yes/no, on/off, 1/0)", v));
		if (b == (k->type == T_FLAG))
			conf_add(c, k->opt, NULL);
		return (1);
	case T_OPT:
	case T_ADDR:
	case T_PORT:
	case T_FD:
		if (*v == '\0')
			return (1);	/* the reference's "not set" */
		break;
	case T_STR0:
	case T_ANY:
		break;
	default:
		if (*v == '\0')
			return (conf_fail(c, key, "empty value"));
		break;
	}
	switch (k->type) {
	case T_ADDR:
		memset(&hints, 0, sizeof(hints));
		hints.ai_flags = AI_NUMERICHOST;
		hints.ai_socktype = SOCK_STREAM;
		if (getaddrinfo(v, NULL, &hints, &ai) != 0)
			return (conf_fail(c, key, "\"%s\" is not an IPv6 or "
			    "IPv4 address", v));
		freeaddrinfo(ai);
		break;
	case T_PORT:
		if (conf_number(v, 0, 65535) == -1)
			return (conf_fail(c, key, "\"%s\" is not a port "
			    "number (0-65535)", v));
		break;
	case T_FD:
		if (conf_number(v, 0, 65535) == -1)
			return (conf_fail(c, key, "\"%s\" is not a file "
			    "descriptor number", v));
		break;
	case T_POSINT:
		if (conf_number(v, 1, 1000000000) == -1)
			return (conf_fail(c, key, "\"%s\" is not a positive "
			    "number", v));
		break;
	case T_DUR:
		if (duration_parse(v, &ms, &why) == -1)
			return (conf_fail(c, key, "\"%s\": %s", v, why));
		break;
	case T_PRIO:
		if (gnutls_priority_init(&prio, v, &why) < 0)
			return (conf_fail(c, key, "bad GnuTLS priority string "
			    "at \"%s\"", why != NULL ? why : v));
		gnutls_priority_deinit(prio);
		break;
	case T_NAME:
		if (strlen(v) > CONF_MAXNAME)
			return (conf_fail(c, key, "longer than %d bytes",
			    CONF_MAXNAME));
		break;
	case T_PATH:
		if (*v != '/')
			return (conf_fail(c, key, "\"%s\" is not an absolute "
			    "path", v));
		break;
	default:
		break;
	}
	conf_add(c, k->opt, v);
	return (1);
}

/* Was "section\nkey" seen before? Records it if not. */
static int
conf_seen(struct conf *c, const char *section, const char *key)
{
	char	*sk, *p;
	size_t	 i;

	xasprintf(&sk, "%s\n%s", section, key);
	for (p = sk + strlen(section) + 1; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	for (i = 0; i < c->nseen; i++)
		if (strcmp(c->seen[i], sk) == 0) {
			free(sk);
			return (1);
		}
	c->seen = xreallocarray(c->seen, c->nseen + 1, sizeof(*c->seen));
	c->seen[c->nseen++] = sk;
	return (0);
}

/* A section other than ours: warned about once, its keys skipped. */
static void
conf_other_section(struct conf *c, const char *section)
{
	size_t	 i;

	for (i = 0; i < c->nwarned; i++)
		if (strcmp(c->warned[i], section) == 0)
			return;
	c->warned = xreallocarray(c->warned, c->nwarned + 1,
	    sizeof(*c->warned));
	c->warned[c->nwarned++] = xstrdup(section);
	conf_warn(c, "[section]", "[%s] ignored (mandosd reads [DEFAULT] and "
	    "[mandosd])", section);
}

/* [mandosd] KEY: a long option of ours, checked by conf_own if listed. */
static int
conf_own_key(struct conf *c, const char *key, const char *v)
{
	static struct conf_key	 any;
	const struct option	*o;
	size_t			 i;

	for (i = 0; conf_cmdline_only[i] != NULL; i++)
		if (strcasecmp(key, conf_cmdline_only[i]) == 0)
			return (conf_fail(c, key, "only on the command line"));
	for (o = c->opts; o->name != NULL; o++)
		if (strcasecmp(key, o->name) == 0)
			break;
	if (o->name == NULL)
		return (conf_fail(c, key, "unknown setting in [mandosd] (the "
		    "keys are mandosd's long options)"));
	for (i = 0; conf_own[i].key != NULL; i++)
		if (strcmp(conf_own[i].key, o->name) == 0)
			return (conf_value(c, &conf_own[i], key, v));
	any.key = o->name;
	any.opt = o->name;
	any.type = o->has_arg == no_argument ? T_FLAG : T_ANY;
	return (conf_value(c, &any, key, v));
}

/* inih's handler: one key = value of the file; 0 stops at an error. */
static int
conf_handler(void *arg, const char *section, const char *key, const char *v)
{
	struct conf	*c = arg;
	size_t		 i;
	int		 cont;

	/* inih hands a continuation line over as the same key again. */
	cont = c->indented && strcmp(section, c->prev_sect) == 0 &&
	    strcmp(key, c->prev_key) == 0;
	snprintf(c->prev_sect, sizeof(c->prev_sect), "%s", section);
	snprintf(c->prev_key, sizeof(c->prev_key), "%s", key);
	if (cont)
		return (conf_fail(c, key, "continuation lines are not "
		    "supported here; put the value on one line"));
	if (*section == '\0')
		return (conf_fail(c, key, "outside a section (the file "
		    "starts with [DEFAULT])"));
	if (strcmp(section, "DEFAULT") != 0 && strcmp(section, "mandosd") != 0) {
		conf_other_section(c, section);
		return (1);
	}
	if (conf_seen(c, section, key))
		return (conf_fail(c, key, "set twice in [%s]", section));
	if (strcmp(section, "mandosd") == 0)
		return (conf_own_key(c, key, v));
	for (i = 0; conf_ref[i].key != NULL; i++)
		if (strcasecmp(key, conf_ref[i].key) == 0)
			return (conf_value(c, &conf_ref[i], key, v));
	conf_warn(c, key, "unknown setting, ignored (as the reference does)");
	return (1);
}

/* Read the whole file; NULL with errno. */
static char *
conf_slurp(const char *path)
{
	FILE	*f;
	char	*buf;
	size_t	 n;
	int	 bad;

	if ((f = fopen(path, "re")) == NULL)
		return (NULL);
	buf = xmalloc(CONF_MAXFILE + 1);
	n = fread(buf, 1, CONF_MAXFILE + 1, f);
	bad = ferror(f) ? EIO : n > CONF_MAXFILE ? EFBIG : 0;
	fclose(f);
	if (bad != 0) {
		free(buf);
		errno = bad;
		return (NULL);
	}
	buf[n] = '\0';
	if (strlen(buf) != n) {
		free(buf);
		errno = EINVAL;	/* a NUL byte */
		return (NULL);
	}
	return (buf);
}

/* Where --config or --configdir point, by a first getopt pass; NULL for
 * --help and --version, which read no file. */
static char *
conf_find(int argc, char **argv, const struct option *opts,
    const char *shortopts, int *explicit)
{
	const char	*file = NULL, *dir = NULL;
	char		*path;
	int		 ch, li, help = 0, saved = opterr;

	opterr = 0;	/* the real pass reports mistakes */
	optind = 0;
	for (;;) {
		li = -1;
		if ((ch = getopt_long(argc, argv, shortopts, opts, &li)) == -1)
			break;
		if (ch == 'h' || ch == 'V')
			help = 1;	/* --help works with a broken file */
		else if (li >= 0 && strcmp(opts[li].name, "config") == 0)
			file = optarg;
		else if ((li >= 0 && strcmp(opts[li].name, "configdir") == 0) ||
		    (li == -1 && ch == 'c'))
			dir = optarg;
	}
	optind = 0;
	opterr = saved;
	*explicit = file != NULL;
	if (help)
		return (NULL);
	if (file != NULL)
		return (xstrdup(file));
	xasprintf(&path, "%s/%s", dir != NULL ? dir : SYSCONFDIR "/mandos",
	    CONF_DEFAULT_NAME);
	return (path);
}

/* See conffile.h. */
int
conf_merge(int *argcp, char ***argvp, const struct option *opts,
    const char *shortopts, char **errstr)
{
	struct conf	 c;
	char		**nargv;
	size_t		 i;
	int		 explicit, r, j, n;

	memset(&c, 0, sizeof(c));
	c.opts = opts;
	free(conf_file);
	conf_file = conf_find(*argcp, *argvp, opts, shortopts, &explicit);
	if ((c.path = conf_file) == NULL)
		return (0);
	if ((c.text = conf_slurp(c.path)) == NULL) {
		if (errno == ENOENT && !explicit) {
			free(conf_file);
			conf_file = NULL;
			return (0);
		}
		xasprintf(errstr, "%s: %s", c.path, errno == EINVAL ?
		    "NUL byte in the file" : strerror(errno));
		return (-1);
	}
	r = ini_parse_stream(conf_reader, &c, conf_handler, &c);
	if (r > 0 && (c.err == NULL || r < c.errline)) {
		free(c.err);
		xasprintf(&c.err, "%s:%d: syntax error (expected [section], "
		    "key = value or a comment)", c.path, r);
	} else if (r < 0 && c.err == NULL)
		xasprintf(&c.err, "%s: cannot parse", c.path);
	free((char *)c.text);
	for (i = 0; i < c.nseen; i++)
		free(c.seen[i]);
	free(c.seen);
	for (i = 0; i < c.nwarned; i++)
		free(c.warned[i]);
	free(c.warned);
	if (c.err != NULL) {
		for (j = 0; j < c.nargs; j++)
			free(c.args[j]);
		free(c.args);
		*errstr = c.err;
		return (-1);
	}
	if (c.nargs == 0) {
		free(c.args);
		return (0);
	}
	/* argv[0], the file's options, the command line: the last wins. */
	n = *argcp + c.nargs;
	nargv = xreallocarray(NULL, (size_t)n + 1, sizeof(*nargv));
	nargv[0] = (*argvp)[0];
	for (j = 0; j < c.nargs; j++)
		nargv[1 + j] = c.args[j];
	for (j = 1; j < *argcp; j++)
		nargv[c.nargs + j] = (*argvp)[j];
	nargv[n] = NULL;
	free(c.args);
	*argcp = n;
	*argvp = conf_argv = nargv;	/* lives as long as the process */
	return (0);
}

/* The file conf_merge read, for messages. */
const char *
conf_path(void)
{
	return (conf_file);
}
