/*
 * mandosd.c: options, start-up order, signals and table reload. The order
 * is: parse options, load the table (refuse to start on a bad one), check
 * the TLS priority, bind, drop privileges, start the network workers, then
 * run the authority's loop. SIGHUP builds a new table beside the old one
 * and swaps only if it loaded; the workers hold no table, so they run on.
 * "mandosd --worker FD,INDEX" is a worker (src/worker/worker.c).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "audit.h"
#include "client.h"
#include "conffile.h"
#include "control.h"
#include "ctlproto.h"
#include "daemon.h"
#include "duration.h"
#include "fair.h"
#include "fleet.h"
#include "fleet-approve.h"
#include "fleet-registry.h"
#include "keytab.h"
#include "listen.h"
#include "log.h"
#include "mandosd.h"
#include "mdns.h"
#include "httpmetrics.h"
#include "metrics.h"
#include "park.h"
#include "proc.h"
#include "proctitle.h"
#include "secmem.h"
#include "state.h"
#include "store-etcd.h"
#include "tls.h"
#include "worker.h"
#include "xmalloc.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND	0
#endif

#define FD_RESERVE	32	/* descriptors kept for logs, reload, control */

static struct mandosd_config parent_cfg = {
	.configdir = SYSCONFDIR "/mandos",
	.port = "0",
	.priority = TLS_DEFAULT_PRIORITY,
	.socket_fd = -1,
	.version_timeout_ms = 10 * 1000,
	.handshake_timeout_ms = 10 * 1000,
	.send_timeout_ms = 10 * 1000,
};
static struct keytab	*parent_table;
static char		*parent_table_path;
static struct event_base *parent_base;
static int		 parent_zeroconf = 1;
static const char	*parent_servicename = MDNS_DEFAULT_NAME;
static const char	*parent_pidfile;	/* NULL: default when detached */
static const char	*parent_user;	/* NULL: _mandos, mandos, nobody */
static const char	*parent_control = CTL_DEFAULT_SOCKET;	/* "" for none */
static int		 parent_control_set;	/* given: failing to bind is fatal */
static const char	*parent_control_group;
static const char	*parent_statedir = LOCALSTATEDIR "/lib/mandos";
static int		 parent_restore = 1;
static const char	*parent_metrics_listen;
static size_t		 parent_metrics_max = 8;
static int		 parent_max_checkers;	/* 0: the default cap */
static struct fair_config parent_fair = {	/* per-source fair shares */
	.enabled = 1, .prefix4 = 32, .prefix6 = 64, .max_handshakes = 128,
	.stale_ms = 1000, .log_interval_ms = 10 * 1000,
};
static long		 parent_workers;	/* 0: one per online CPU */
static int		 parent_steer;		/* --steer-by-source */
static struct proc_config parent_pc;
static int		 parent_inherited;	/* --socket or LISTEN_FDS */
static struct mdns	*parent_mdns;
static int		 parent_up;	/* parent_serving() ran */
static const char	*parent_audit_log;	/* --audit-log FILE */
static const char	*parent_store;	/* --store URL */
static const char	*parent_store_id;
static const char	*parent_store_offline;
static uint64_t		 parent_store_ttl_ms = FREGISTRY_TTL_MS;
static struct etcd_tls_opts parent_store_tls;	/* --store-ca ... --store-auth */

enum { OPT_CONTROL = 1000, OPT_CONTROL_GROUP, OPT_STATEDIR, OPT_NO_RESTORE,
    OPT_METRICS_LISTEN, OPT_MAX_CHECKERS, OPT_NO_FAIR, OPT_PREFIX4, OPT_PREFIX6,
    OPT_HS_SLOTS, OPT_REFUSAL_LOG, OPT_CONFIG, OPT_METRICS_MAX, OPT_WORKERS,
    OPT_STEER, OPT_AUDIT_LOG, OPT_STORE, OPT_STORE_ID, OPT_STORE_TTL,
    OPT_STORE_OFFLINE, OPT_STORE_TLS };

static const char parent_shortopts[] = "a:c:dfhi:np:V4";

static const struct option parent_opts[] = {
	{ "address",		required_argument, NULL, 'a' },
	{ "audit-log",		required_argument, NULL, OPT_AUDIT_LOG },
	{ "check-config",	no_argument,	   NULL, 'n' },
	{ "config",		required_argument, NULL, OPT_CONFIG },
	{ "clients",		required_argument, NULL, 'C' },
	{ "configdir",		required_argument, NULL, 'c' },
	{ "control",		required_argument, NULL, OPT_CONTROL },
	{ "control-group",	required_argument, NULL, OPT_CONTROL_GROUP },
	{ "statedir",		required_argument, NULL, OPT_STATEDIR },
	{ "no-restore",		no_argument,	   NULL, OPT_NO_RESTORE },
	{ "metrics-listen",	required_argument, NULL, OPT_METRICS_LISTEN },
	{ "metrics-max-connections", required_argument, NULL, OPT_METRICS_MAX },
	{ "max-checkers",	required_argument, NULL, OPT_MAX_CHECKERS },
	{ "no-fair-share",	no_argument,	   NULL, OPT_NO_FAIR },
	{ "source-prefix4",	required_argument, NULL, OPT_PREFIX4 },
	{ "source-prefix6",	required_argument, NULL, OPT_PREFIX6 },
	{ "handshake-slots",	required_argument, NULL, OPT_HS_SLOTS },
	{ "refusal-log-interval", required_argument, NULL, OPT_REFUSAL_LOG },
	{ "workers",		required_argument, NULL, OPT_WORKERS },
	{ "steer-by-source",	no_argument,	   NULL, OPT_STEER },
	{ "store",		required_argument, NULL, OPT_STORE },
	{ "store-id",		required_argument, NULL, OPT_STORE_ID },
	{ "store-ttl",		required_argument, NULL, OPT_STORE_TTL },
	{ "store-offline",	required_argument, NULL, OPT_STORE_OFFLINE },
	{ "store-ca",		required_argument, NULL, OPT_STORE_TLS },
	{ "store-cert",		required_argument, NULL, OPT_STORE_TLS },
	{ "store-key",		required_argument, NULL, OPT_STORE_TLS },
	{ "store-auth",		required_argument, NULL, OPT_STORE_TLS },
	{ "debug",		no_argument,	   NULL, 'd' },
	{ "foreground",		no_argument,	   NULL, 'f' },
	{ "handshake-timeout",	required_argument, NULL, 'H' },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "interface",		required_argument, NULL, 'i' },
	{ "max-connections",	required_argument, NULL, 'm' },
	{ "no-ipv6",		no_argument,	   NULL, '4' },
	{ "no-zeroconf",	no_argument,	   NULL, 'Z' },
	{ "pidfile",		required_argument, NULL, 'F' },
	{ "port",		required_argument, NULL, 'p' },
	{ "priority",		required_argument, NULL, 'P' },
	{ "send-timeout",	required_argument, NULL, 'S' },
	{ "servicename",	required_argument, NULL, 'N' },
	{ "socket",		required_argument, NULL, 's' },
	{ "user",		required_argument, NULL, 'u' },
	{ "version",		no_argument,	   NULL, 'V' },
	{ "version-timeout",	required_argument, NULL, 'T' },
	{ NULL, 0, NULL, 0 }
};

static void
parent_usage(FILE *f)
{
	fprintf(f,
"usage: mandosd [options]\n"
"Serve Mandos clients their encrypted secrets (protocol 1).\n"
"\n"
"  -c, --configdir DIR        read DIR/clients.json (default %s/mandos)\n"
"      --config FILE          server settings (default DIR/mandos.conf)\n"
"      --clients FILE         read the client table from FILE instead\n"
"  -n, --check-config         validate the configuration and exit\n"
"  -a, --address ADDR         listen on ADDR only (default: all, IPv6+IPv4)\n"
"  -p, --port PORT            TCP port (default 0: any free port)\n"
"  -i, --interface IF         bind to network interface IF\n"
"  -4, --no-ipv6              IPv4 only\n"
"      --socket FD            serve an inherited listening socket\n"
"      --priority STRING      GnuTLS priority (default %s)\n"
"      --version-timeout D    deadline for the version line (default 10s)\n"
"      --handshake-timeout D  deadline for the TLS handshake (default 10s)\n"
"      --send-timeout D       deadline for sending the secret (default 10s)\n"
"      --max-connections N    concurrent connections (default: from ulimit -n,\n"
"                             per worker)\n"
"      --workers N            network worker processes (default: one per CPU)\n"
"      --steer-by-source      one listening socket per worker, each source\n"
"                             always to the same worker (exact fair shares)\n"
"      --no-fair-share        no per-source shares of connections and handshakes\n"
"      --source-prefix4 BITS  IPv4 prefix that makes one source (default 32)\n"
"      --source-prefix6 BITS  IPv6 prefix that makes one source (default 64)\n"
"      --handshake-slots N    TLS handshakes in progress at once (default 128,\n"
"                             shared out among the workers)\n"
"      --refusal-log-interval D  one refusal summary line per D (default 10s;\n"
"                             also the audit log's unknown-key summaries)\n"
"      --servicename NAME     Zeroconf service name (default Mandos)\n"
"      --no-zeroconf          do not announce the service with Avahi\n"
"      --pidfile FILE         pid file (default %s when detached; '' for none)\n"
"      --user NAME            run as NAME after start (default _mandos)\n"
"      --control PATH         control socket (default %s; '' for none)\n"
"      --control-group GROUP  group that may read through the control socket\n"
"      --statedir DIR         keep runtime state in DIR (default %s/lib/mandos)\n"
"      --no-restore           ignore the saved state at start\n"
"      --audit-log FILE       append a JSON line per operator action and per\n"
"                             secret sent or refused (doc/audit.md)\n"
"      --metrics-listen A:P   serve Prometheus /metrics over HTTP on A:P\n"
"      --metrics-max-connections N  HTTP connections at once (default 8)\n"
"      --max-checkers N       checker processes running at once (default 64)\n"
"      --store URL            share the table, operator state, approvals and\n"
"                             checkers with a fleet through etcd:\n"
"                             etcd[s]://HOST:PORT[,HOST:PORT...]/PREFIX\n"
"      --store-id ID          this server's name in the store (default HOST:PORT)\n"
"      --store-ttl D          lease of this server's registration (default 5s)\n"
"      --store-offline MODE   serve (default: from the local copy) or refuse\n"
"                             every client while the store cannot be confirmed\n"
"      --store-ca FILE, --store-cert FILE, --store-key FILE\n"
"                             etcds://: CA, client certificate and key (PEM)\n"
"      --store-auth FILE      etcd user:password, in a file only we can read\n"
"  -f, --foreground           stay in the foreground, log to stderr\n"
"  -d, --debug                foreground, log to stderr, debug messages\n"
"  -V, --version              print the version and exit\n"
"  -h, --help                 print this help and exit\n"
"\n"
"Durations: RFC 3339 (PT10S) or 10s, 2m, 1h.  Signals: HUP reloads the client\n"
"table, TERM and INT stop, USR1 logs counters.\n",
	    SYSCONFDIR, TLS_DEFAULT_PRIORITY, DAEMON_PIDFILE, CTL_DEFAULT_SOCKET,
	    LOCALSTATEDIR);
}

/* Parse a duration option or exit with a message. */
static uint64_t
parent_duration_arg(const char *opt, const char *arg)
{
	uint64_t	 ms;
	const char	*why;

	if (duration_parse(arg, &ms, &why) == -1) {
		fprintf(stderr, "mandosd: --%s \"%s\": %s\n", opt, arg, why);
		exit(2);
	}
	return (ms);
}

/* Parse a number option in [lo, hi] or exit with a message. */
static long
parent_number_arg(const char *opt, const char *arg, long lo, long hi)
{
	char	*end;
	long	 n;

	errno = 0;
	n = strtol(arg, &end, 10);
	if (*arg == '\0' || *end != '\0' || errno != 0 || n < lo || n > hi) {
		fprintf(stderr, "mandosd: --%s \"%s\": not a number in [%ld, %ld]\n",
		    opt, arg, lo, hi);
		exit(2);
	}
	return (n);
}

static void
parent_parse(int argc, char **argv, struct mandosd_config *cfg)
{
	char	*end;
	long	 n;
	int	 ch, longindex = 0;

	while ((ch = getopt_long(argc, argv, parent_shortopts, parent_opts,
	    &longindex)) != -1) {
		switch (ch) {
		case 'a': cfg->address = optarg; break;
		case 'n': cfg->check_config = 1; break;
		case 'C': cfg->clients_path = optarg; break;
		case 'c': cfg->configdir = optarg; break;
		case OPT_CONFIG: break;	/* read by conf_merge */
		case 'd': cfg->debug = cfg->foreground = 1; break;
		case 'f': cfg->foreground = 1; break;
		case 'i': cfg->interface = optarg; break;
		case '4': cfg->no_ipv6 = 1; break;
		case 'p': cfg->port = optarg; break;
		case 'P': cfg->priority = optarg; break;
		case 'Z': parent_zeroconf = 0; break;
		case 'N': parent_servicename = optarg; break;
		case 'F': parent_pidfile = optarg; break;
		case 'u': parent_user = optarg; break;
		case OPT_CONTROL:
			parent_control = optarg;
			parent_control_set = 1;
			break;
		case OPT_CONTROL_GROUP: parent_control_group = optarg; break;
		case OPT_STATEDIR: parent_statedir = optarg; break;
		case OPT_NO_RESTORE: parent_restore = 0; break;
		case OPT_AUDIT_LOG: parent_audit_log = optarg; break;
		case OPT_METRICS_LISTEN: parent_metrics_listen = optarg; break;
		case OPT_METRICS_MAX:
			n = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || n < 1 ||
			    n > 1024) {
				fprintf(stderr, "mandosd: --metrics-max-"
				    "connections \"%s\": want 1 to 1024\n",
				    optarg);
				exit(2);
			}
			parent_metrics_max = (size_t)n;
			break;
		case OPT_MAX_CHECKERS:
			parent_max_checkers = atoi(optarg);
			if (parent_max_checkers < 1) {
				fprintf(stderr, "mandosd: --max-checkers \"%s\": "
				    "not a positive number\n", optarg);
				exit(2);
			}
			break;
		case OPT_NO_FAIR: parent_fair.enabled = 0; break;
		case OPT_STEER: parent_steer = 1; break;
		case OPT_STORE: parent_store = optarg; break;
		case OPT_STORE_ID: parent_store_id = optarg; break;
		case OPT_STORE_OFFLINE: parent_store_offline = optarg; break;
		case OPT_STORE_TLS:
			(void)etcd_tls_opt(&parent_store_tls,
			    parent_opts[longindex].name, optarg);
			break;
		case OPT_STORE_TTL:
			parent_store_ttl_ms = parent_duration_arg("store-ttl",
			    optarg);
			if (parent_store_ttl_ms < 1000 ||
			    parent_store_ttl_ms > 3600 * 1000) {
				fprintf(stderr, "mandosd: --store-ttl \"%s\": "
				    "want 1s to 1h\n", optarg);
				exit(2);
			}
			break;
		case OPT_PREFIX4:
		case OPT_PREFIX6:
		case OPT_HS_SLOTS:
			n = parent_number_arg(ch == OPT_PREFIX4 ? "source-prefix4" :
			    ch == OPT_PREFIX6 ? "source-prefix6" : "handshake-slots",
			    optarg, ch == OPT_HS_SLOTS ? 1 : 0, ch == OPT_PREFIX4 ?
			    32 : ch == OPT_PREFIX6 ? 128 : 1000000);
			if (ch == OPT_PREFIX4)
				parent_fair.prefix4 = (unsigned)n;
			else if (ch == OPT_PREFIX6)
				parent_fair.prefix6 = (unsigned)n;
			else
				parent_fair.max_handshakes = (size_t)n;
			break;
		case OPT_REFUSAL_LOG:
			parent_fair.log_interval_ms = parent_duration_arg(
			    "refusal-log-interval", optarg);
			break;
		case OPT_WORKERS:
			parent_workers = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || parent_workers < 1 ||
			    parent_workers > PROC_MAX_WORKERS) {
				fprintf(stderr, "mandosd: --workers \"%s\": not a "
				    "number from 1 to %d\n", optarg,
				    PROC_MAX_WORKERS);
				exit(2);
			}
			break;
		case 'H':
			cfg->handshake_timeout_ms = parent_duration_arg(
			    "handshake-timeout", optarg);
			break;
		case 'S':
			cfg->send_timeout_ms = parent_duration_arg(
			    "send-timeout", optarg);
			break;
		case 'T':
			cfg->version_timeout_ms = parent_duration_arg(
			    "version-timeout", optarg);
			break;
		case 'm':
		case 's':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || errno != 0 ||
			    n < (ch == 'm' ? 1 : 0) || n > INT_MAX) {
				fprintf(stderr, "mandosd: --%s \"%s\": not a "
				    "number\n", ch == 'm' ? "max-connections" :
				    "socket", optarg);
				exit(2);
			}
			if (ch == 'm')
				cfg->max_connections = n;
			else
				cfg->socket_fd = (int)n;
			break;
		case 'V':
			printf("mandosd %s (Mandos protocol 1)\n", PACKAGE_VERSION);
			exit(0);
		case 'h':
			parent_usage(stdout);
			exit(0);
		default:
			parent_usage(stderr);
			exit(2);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "mandosd: unexpected argument \"%s\"\n",
		    argv[optind]);
		exit(2);
	}
}

const struct keytab *
mandosd_keytab(void)
{
	return (parent_table);
}

/* Build a new table from path beside the old; swap only if it loaded. The
 * runtime state of clients that stay is kept (client_sync). -1 with *err. */
static int
parent_load_table(const char *path, char **err)
{
	struct keytab	*kt;

	if ((kt = keytab_load(path, err)) == NULL) {
		metric_inc(M_RELOAD_FAILED);
		log_warnx("reload failed, keeping the %zu clients in force: %s",
		    keytab_count(parent_table), *err);
		ctl_event("reload_failed", json_pack("{s:s}", "error", *err));
		return (-1);
	}
	client_sync(kt);	/* while the old table is still alive */
	keytab_free(parent_table);
	parent_table = kt;
	if (path != parent_table_path) {	/* the store's copy from now */
		free(parent_table_path);
		parent_table_path = xstrdup(path);
	}
	metric_clients = (int64_t)keytab_count(kt);
	metric_inc(M_RELOAD_OK);
	log_info("reloaded %s: %zu clients", parent_table_path, keytab_count(kt));
	ctl_event("reload_ok", json_pack("{s:I}", "clients",
	    (json_int_t)keytab_count(kt)));
	return (0);
}

static int
parent_reload_table(char **err)
{
	return (parent_load_table(parent_table_path, err));
}

static void
parent_reload(void)
{
	char	*err;

	if (parent_reload_table(&err) == -1)
		free(err);
}

/* Log the counters in one line (SIGUSR1 and exit). */
static void
parent_log_counters(void)
{
	char	 buf[512];
	size_t	 i, n = 0;

	for (i = 0; i < RESULT__COUNT && n < sizeof(buf); i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, " %s=%llu",
		    metric_result_name(i), (unsigned long long)metric_result[i]);
	log_info("counters: accepted=%llu active=%lld%s refused_source_share=%llu",
	    (unsigned long long)metric_val[M_ACCEPTED],
	    (long long)metric_active, buf,
	    (unsigned long long)metric_val[M_REFUSED_SHARE]);
}

static void
parent_signal(evutil_socket_t sig, short what, void *arg)
{
	switch (sig) {
	case SIGHUP:
		if (!parent_up) {
			log_warnx("SIGHUP while starting: the table is "
			    "being loaded anyway");
			break;
		}
		daemon_reloading();
		audit_reopen();		/* logrotate moved it */
		if (fleet_enabled())
			fleet_reread();	/* the store is the table's source */
		else
			parent_reload();
		daemon_notify("READY=1");
		break;
	case SIGUSR1:
		parent_log_counters();
		break;
	case SIGINT:
	case SIGTERM:
		log_info("stopping on signal %d", (int)sig);
		event_base_loopbreak(parent_base);
		break;
	}
}

/* Take sockets from systemd's LISTEN_FDS, if they are for us. */
static int
parent_listen_fds(char **errstr)
{
	const char	*pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	long		 n, i;

	if (pid == NULL || fds == NULL || strtol(pid, NULL, 10) != getpid())
		return (0);
	n = strtol(fds, NULL, 10);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	for (i = 0; i < n; i++)
		if (lsn_adopt(3 + (int)i, errstr) == -1)
			return (-1);
	return ((int)n);
}

/*
 * Detach unless in the foreground or under systemd, write the pid file,
 * then become the unprivileged user (daemon.c keeps one capability so
 * that SIGHUP can still read a root-only clients.json).
 */
static void
parent_daemonise(const struct mandosd_config *cfg)
{
	const char	*pidfile = parent_pidfile;
	char		*err = NULL;
	uid_t		 uid = 0;
	gid_t		 gid = 0;

	if (geteuid() == 0 && daemon_user(parent_user, &uid, &gid, &err) == -1)
		fatalx("--user %s: %s", parent_user ? parent_user : "_mandos",
		    err);
	daemon_notify_init();	/* while root: the socket may be root's */
	if (!cfg->foreground && !daemon_under_systemd()) {
		if (daemon_detach(&err) == -1)
			fatal("%s", err);
		/* systemd follows its main PID itself: no default there. */
		if (pidfile == NULL)
			pidfile = DAEMON_PIDFILE;
	}
	/*
	 * Ours after the drop: the pid file and control socket there get
	 * unlinked at exit, and state files are replaced in the state dir.
	 */
	if (geteuid() == 0 && daemon_own_dir(RUNSTATEDIR "/mandos", 0755, uid,
	    gid, &err) == -1)
		log_warn("%s/mandos: %s", RUNSTATEDIR, err);
	if (geteuid() == 0 && parent_statedir[0] != '\0' &&
	    daemon_own_dir(parent_statedir, 0700, uid, gid, &err) == -1)
		log_warn("%s: %s", parent_statedir, err);
	if (pidfile != NULL && daemon_pidfile_write(pidfile, &err) == -1)
		fatal("%s: %s", pidfile, err);
	if (daemon_drop_privileges(uid, gid, &err) == -1)
		fatal("dropping privileges: %s", err);
}

/*
 * Raise the descriptor limit to the hard limit and share it out (see
 * doc/mandosd.8): FD_RESERVE for the process itself, 1/16 each (at most)
 * for control peers and metrics connections, the rest for the Mandos port,
 * so that the other two can never take the Mandos port's descriptors.
 */
static size_t
parent_max_connections(long configured)
{
	struct rlimit	 rl;
	size_t		 nctl, nhttp, n, maxc;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit NOFILE");
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur > 1000000)
		rl.rlim_cur = 1000000;
	n = (size_t)rl.rlim_cur;
	nctl = n / 16 < 2 ? 2 : n / 16 > CTL_MAXPEERS ? CTL_MAXPEERS : n / 16;
	nhttp = parent_metrics_max < (n / 16 < 1 ? 1 : n / 16) ?
	    parent_metrics_max : (n / 16 < 1 ? 1 : n / 16);
	maxc = n > FD_RESERVE + nctl + nhttp + 8 ? n - FD_RESERVE - nctl -
	    nhttp : 8;
	ctl_set_max(nctl);
	httpm_set_max(nhttp);
	log_info("descriptors: %zu (Mandos port %zu, control %zu, metrics %zu, "
	    "reserve %d)", n, maxc, nctl, parent_metrics_listen != NULL ?
	    nhttp : 0, FD_RESERVE);
	if (configured > 0) {
		if ((size_t)configured > maxc)
			log_warnx("--max-connections %ld exceeds the Mandos "
			    "port's share of descriptors (%zu of %zu); accept "
			    "will pause when they run out", configured, maxc, n);
		return ((size_t)configured);
	}
	return (maxc);
}

/* How many network workers: --workers, or one per online CPU; never more
 * than the connection cap. */
static unsigned
parent_nworkers(const struct mandosd_config *cfg)
{
	long	 n = parent_workers;

	if (n == 0 && (n = sysconf(_SC_NPROCESSORS_ONLN)) < 1)
		n = 1;
	if (n > PROC_MAX_WORKERS)
		n = PROC_MAX_WORKERS;
	if (cfg->max_connections > 0 && n > cfg->max_connections)
		n = cfg->max_connections;
	return ((unsigned)n);
}

/* The workers' share of the connection cap, and how to run them. */
static void
parent_workers_config(struct proc_config *pc, const struct mandosd_config *cfg,
    size_t maxc)
{
	/* Each worker has its own descriptors; a configured cap is shared. */
	pc->max_total = cfg->max_connections > 0 ?
	    (size_t)cfg->max_connections : 0;
	pc->nworkers = parent_nworkers(cfg);
	pc->max_conns = maxc;
	pc->priority = cfg->priority;
	pc->version_ms = cfg->version_timeout_ms;
	pc->handshake_ms = cfg->handshake_timeout_ms;
	pc->send_ms = cfg->send_timeout_ms;
	pc->debug = cfg->debug;
	pc->to_stderr = cfg->foreground || daemon_under_systemd();
	/* Still root (not dropped): the worker drops itself. */
	pc->user = geteuid() == 0 ? (parent_user != NULL ? parent_user :
	    "nobody") : NULL;
	pc->chroot_dir = NULL;
	/* Valgrind cannot follow a worker through a seccomp filter. */
	pc->seccomp = !(RUNNING_ON_VALGRIND || (getenv("LD_PRELOAD") != NULL &&
	    strstr(getenv("LD_PRELOAD"), "vgpreload") != NULL));
	/* Test hook, like MANDOSD_TEST_WORKER0: t/harden/fault-clock.sh's
	 * libfaketime re-reads its offset file in every process, and the
	 * filter (rightly) kills a worker that opens a file. */
	if (getenv("MANDOSD_TEST_NO_SECCOMP") != NULL) {
		log_warnx("MANDOSD_TEST_NO_SECCOMP: workers without their "
		    "seccomp filter");
		pc->seccomp = 0;
	}
#ifdef MANDOSD_SANITIZERS
	/* An ASan/UBSan report opens its log_path file, and LeakSanitizer's
	 * exit-time check starts a tracing thread: both need the worker
	 * without its filter (and without a chroot). Test builds only. */
	pc->seccomp = 0;
	pc->chroot_dir = NULL;
#endif
	/* Fair shares are kept by each worker over its own slots (its cap);
	 * the handshake turns are shared out like the connections. */
	parent_fair.stale_ms = cfg->version_timeout_ms / 4 < parent_fair.stale_ms ?
	    cfg->version_timeout_ms / 4 : parent_fair.stale_ms;
	pc->fair = parent_fair;
	pc->fair.max_handshakes = (parent_fair.max_handshakes + pc->nworkers - 1) /
	    pc->nworkers;
}

/* --store: approvals and the server registry through etcd (issue 10). */
static void
parent_fleet_start(void)
{
	char	*err = NULL;

	if (!fleet_enabled())
		return;
	/* fleet.c owns the etcd handle and the server id; these share it. */
	if (fregistry_init(parent_base, fleet_etcd(), fleet_server_id(),
	    parent_store_ttl_ms, &err) == -1 || fapprove_init(parent_base,
	    fleet_etcd(), fleet_server_id(), fregistry_up, &err) == -1)
		fatalx("%s", err);
	audit_set_server_id(fleet_server_id());
	audit_store_init(fleet_etcd(), etcd_prefix(fleet_etcd()));
}

/* Before fleet_stop, which frees the handle. */
static void
parent_fleet_stop(void)
{
	if (!fleet_enabled())
		return;
	audit_store_stop();
	fapprove_shutdown();
	fregistry_shutdown();
}

/* Every worker is up: now say so (log, Zeroconf, systemd). */
static void
parent_serving(void)
{
	const struct mandosd_config *cfg = &parent_cfg;
	char		 where[INET6_ADDRSTRLEN + 16], *err = NULL;
	int		 af;

	/*
	 * The clients' runtime state starts now, not while the workers were
	 * starting: a lease (timeout) or an approval delay is not spent on
	 * our start-up. The workers accept once this returns.
	 */
	client_init(parent_base, parent_max_checkers);
	client_sync(parent_table);
	state_init(parent_base, parent_statedir[0] != '\0' ? parent_statedir :
	    NULL);
	if (parent_restore)
		state_restore();
	audit_init(parent_base, parent_fair.log_interval_ms);
	fleet_start(parent_base, lsn_port(), parent_load_table);
	{
		static struct ctl_hooks hooks = { parent_reload_table, NULL };

		hooks.approve = fleet_enabled() ? fapprove_decide : NULL;
		ctl_start(parent_base, &hooks);
	}
	parent_fleet_start();
	if (parent_metrics_listen != NULL) {
		if (httpm_open(parent_base, parent_metrics_listen, &err) == -1)
			fatalx("%s", err);
		log_info("metrics on http://%s/metrics", httpm_where());
	}
	parent_up = 1;
	lsn_describe(where, sizeof(where));
	if (parent_pc.max_total > 0)
		log_info("listening on %s, %zu clients, %u workers, at most %zu "
		    "connections", where, keytab_count(parent_table),
		    parent_pc.nworkers, parent_pc.max_total);
	else
		log_info("listening on %s, %zu clients, %u workers, at most %zu "
		    "connections each", where, keytab_count(parent_table),
		    parent_pc.nworkers, parent_pc.max_conns);
	if (parent_zeroconf) {
		/* A specific IPv6 address is not reachable over IPv4. */
		af = lsn_family();
		if (af == AF_INET6 && cfg->address != NULL && !parent_inherited)
			af = MDNS_AF_INET6_ONLY;
		else if (af == AF_INET6)
			af = AF_UNSPEC;
		if ((parent_mdns = mdns_start(parent_base, parent_servicename,
		    cfg->interface, af, (uint16_t)lsn_port(), &err)) == NULL)
			fatalx("zeroconf: %s", err);
	}
	daemon_ready();
	if (!cfg->foreground && !daemon_under_systemd())
		log_init("mandosd", 0, cfg->debug);	/* detached: syslog */

}

int
mandosd_main(int argc, char **argv)
{
	struct mandosd_config	*cfg = &parent_cfg;
	struct lsn_config	 lc;
	struct proc_config	 pc;
	static int		 lfds[LSN_MAX_FDS], lmembers[LSN_MAX_FDS];
	struct event		*sigev[5];
	static const int	 sigs[5] = { SIGHUP, SIGINT, SIGTERM, SIGUSR1, 0 };
	char			*err = NULL;
	size_t			 maxc, i;
	int			 n, rc = 0;

	secmem_init();		/* before any jansson or libevent allocation */
	if (argc > 1 && strcmp(argv[1], "--worker") == 0)
		return (worker_main(argc, argv));	/* never reads mandos.conf */
	proctitle_init(argc, argv);
	/* mandos.conf first, as options the command line overrides. */
	if (conf_merge(&argc, &argv, parent_opts, parent_shortopts,
	    &err) == -1) {
		fprintf(stderr, "mandosd: %s\n", err);
		exit(1);
	}
	parent_parse(argc, argv, cfg);
	/* Start-up errors reach the terminal of a server about to detach. */
	log_init("mandosd", cfg->foreground || cfg->check_config ||
	    !daemon_under_systemd(), cfg->debug);

	if (parent_store != NULL) {
		if (fleet_configure(parent_store, parent_store_id,
		    parent_store_offline, &parent_store_tls, &err) == -1)
			fatalx("--store: %s", err);
		if ((parent_table_path = fleet_initial_table(parent_statedir,
		    cfg->clients_path, &err)) == NULL)
			fatalx("--store: %s", err);
	} else if (parent_store_id != NULL || parent_store_offline != NULL)
		fatalx("--store-id and --store-offline need --store");
	else if (cfg->clients_path != NULL)
		parent_table_path = xstrdup(cfg->clients_path);
	else
		xasprintf(&parent_table_path, "%s/clients.json", cfg->configdir);
	if ((parent_table = keytab_load(parent_table_path, &err)) == NULL)
		fatalx("%s", err);
	metric_clients = (int64_t)keytab_count(parent_table);
	/* The workers make the credentials; a bad priority stops us here. */
	if (tls_init(cfg->priority, &err) == -1)
		fatalx("%s", err);
	tls_shutdown();
	if (cfg->check_config) {
		if (conf_path() != NULL)
			printf("%s: server settings OK\n", conf_path());
		printf("%s: %zu clients, configuration OK\n", parent_table_path,
		    keytab_count(parent_table));
		exit(0);
	}

	if ((n = parent_listen_fds(&err)) == -1)
		fatalx("LISTEN_FDS: %s", err);
	if (cfg->socket_fd != -1 && lsn_adopt(cfg->socket_fd, &err) == -1)
		fatalx("--socket: %s", err);
	if (n == 0 && cfg->socket_fd == -1) {
		lc.address = cfg->address;
		lc.port = cfg->port;
		lc.interface = cfg->interface;
		lc.no_ipv6 = cfg->no_ipv6;
		/* Inherited sockets cannot be multiplied: they stay shared. */
		lc.nsocks = parent_steer ? parent_nworkers(cfg) : 1;
		lc.prefix4 = parent_fair.prefix4;
		lc.prefix6 = parent_fair.prefix6;
		if (lsn_open(&lc, &err) == -1)
			fatalx("%s", err);
	}
	maxc = parent_max_connections(cfg->max_connections);
	/* Bound while privileged; served once the loop exists. */
	if (parent_control[0] != '\0' && ctl_open(parent_control,
	    parent_control_group, &err) == -1) {
		if (parent_control_set)
			fatalx("%s", err);
		log_warnx("%s; running without a control socket", err);
		free(err);
	}
	/* Opened as root: the trail may live where the server cannot write. */
	if (parent_audit_log != NULL && audit_open(parent_audit_log,
	    &err) == -1)
		fatalx("%s", err);
	parent_daemonise(cfg);
	proctitle_set_title("authority");
	secmem_nodump();	/* setresuid() reset it */

	signal(SIGPIPE, SIG_IGN);
	if ((parent_base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	for (i = 0; sigs[i] != 0; i++) {
		sigev[i] = evsignal_new(parent_base, sigs[i], parent_signal, NULL);
		evsignal_add(sigev[i], NULL);
	}
	/* The workers start first; the rest of the authority is set up
	 * when they have all reported in (parent_serving). */
	park_init(parent_base, mandosd_keytab);
	parent_workers_config(&pc, cfg, maxc);
	pc.nlisten = lsn_fds(lfds, lmembers, LSN_MAX_FDS);
	pc.listen_fds = lfds;
	pc.listen_members = lmembers;
	parent_pc = pc;
	parent_inherited = n != 0 || cfg->socket_fd != -1;
	if (proc_start(parent_base, &pc, parent_serving, &err) == -1)
		fatalx("workers: %s", err);
	event_base_dispatch(parent_base);

	daemon_stopping();
	parent_fleet_stop();
	mdns_stop(parent_mdns);
	if (proc_stop() == -1)
		rc = 1;
	lsn_close();
	park_shutdown();
	httpm_close();
	ctl_close();
	audit_close();
	fleet_stop();	/* after the peers: none left to answer */
	if (parent_up) {
		state_flush();
		client_shutdown();
		state_shutdown();
	}
	parent_log_counters();
	for (i = 0; sigs[i] != 0; i++)
		event_free(sigev[i]);
	event_base_free(parent_base);
	keytab_free(parent_table);
	free(parent_table_path);
	daemon_pidfile_remove();
	return (rc);
}
