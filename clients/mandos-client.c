/*
 * mandos-client.c: the boot-time client. Finds Mandos servers (--connect or
 * Zeroconf), proves its identity with a raw public key as the TLS server,
 * reads the encrypted secret, decrypts it with GPGME and prints exactly the
 * plaintext on stdout. Every server gets bounded time and is retried
 * round-robin with back-off.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "client-pgp.h"
#ifdef HAVE_AVAHI_CORE
#include "client-browse.h"
#endif
#include "log.h"
#include "xmalloc.h"

#define CL_KEYDIR	"/conf/conf.d/mandos"
#define CL_HOOKDIR	"/lib/mandos/network-hooks.d"
#define CL_PRIORITY	"SECURE128:!CTYPE-X.509:+CTYPE-RAWPK:!RSA:" \
			"!VERS-ALL:+VERS-TLS1.3:%PROFILE_ULTRA"
#define CL_MAXBLOB	(1024 * 1024)	/* more than this from a server: hostile */
#define CL_HOOK_TIMEOUT	10000		/* ms a network hook may run */
#define CL_NO_DEADLINE	UINT64_MAX
/* A server holding us for approval sends nothing; keepalive finds a dead one. */
#define CL_KA_IDLE	10		/* s of silence before the first probe */
#define CL_KA_INTVL	5		/* s between probes */
#define CL_KA_CNT	4		/* unanswered probes: the server is gone */

enum cl_result { CL_OK, CL_REFUSED, CL_FAILED };

struct cl_server {
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	char			 name[INET6_ADDRSTRLEN + IF_NAMESIZE + 16];
	unsigned		 fails;
	uint64_t		 next_ms;	/* monotonic time of next try */
	uint64_t		 last_ms;	/* start of last try, 0: never */
	char			*lasterr;	/* last error, logged once */
	struct cl_server	*next;
};

struct cl_iface {
	char	 name[IF_NAMESIZE];
	int	 raised;			/* we brought it up */
};

static struct {
	const char			*pubkey, *seckey;
	const char			*tls_pubkey, *tls_privkey;
	const char			*priority;
	const char			*interface;
	const char			*hookdir;
	double				 delay;		/* s to wait for links */
	double				 retry;		/* s, back-off ceiling */
	double				 timeout;	/* s, connect+handshake */
	double				 read_timeout;	/* s, after handshake; 0: none */
	double				 give_up;	/* s, 0 = never */
	uint64_t			 end_ms;	/* give-up time, 0: none */
	int				 debug;
	int				 no_ipv6;
	char				**connect;
	int				 nconnect;
	struct cl_server		*servers;
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t		 prio;
	struct pgp			 pgp;
	struct cl_iface			 ifaces[16];
	int				 nifaces;
#ifdef HAVE_AVAHI_CORE
	struct browse			*br;	/* browsing, or NULL */
#endif
} cl = {
	.priority = CL_PRIORITY,
	.hookdir = CL_HOOKDIR,
	.delay = 2.5,
	.retry = 10,
	.timeout = 5,
};

static volatile sig_atomic_t cl_quit;

static __attribute__((noreturn)) void cl_usage(int);
static uint64_t	 cl_now(void);
static void	 cl_onsignal(int);
static int	 cl_parse_connect(const char *, struct sockaddr_storage *,
		    socklen_t *, char **);
static struct cl_server *cl_add_server(const struct sockaddr *, socklen_t,
		    const char *);
#ifdef HAVE_AVAHI_CORE
static void	 cl_found(const struct sockaddr *, socklen_t, const char *,
		    void *);
#endif
static int	 cl_wait(int, short, uint64_t);
static int	 cl_connect(struct cl_server *, uint64_t, char **);
static enum cl_result cl_attempt(struct cl_server *, char **, size_t *,
		    char **);
static void	 cl_load_keys(void);
static void	 cl_hooks(const char *);
static void	 cl_links_up(void);
static void	 cl_links_down(void);
static struct cl_server *cl_pick(uint64_t, uint64_t *);
static void	 cl_cleanup(void);
static int	 cl_write_all(int, const char *, size_t);
static double	 cl_seconds(const char *, const char *);

/* Print usage and exit with status. */
static void
cl_usage(int status)
{
	FILE	*f = status == 0 ? stdout : stderr;

	fprintf(f,
"usage: mandos-client [options]\n"
"  -c, --connect=ADDR:PORT    connect to this server (numeric; repeatable);\n"
"                             without it, browse Zeroconf for _mandos._tcp\n"
"  -i, --interface=IF[,IF]    network interface(s) to use, or \"none\"\n"
"  -p, --pubkey=FILE          OpenPGP public key (" CL_KEYDIR "/pubkey.txt)\n"
"  -s, --seckey=FILE          OpenPGP secret key (" CL_KEYDIR "/seckey.txt)\n"
"  -t, --tls-pubkey=FILE      TLS public key (" CL_KEYDIR "/tls-pubkey.pem)\n"
"  -T, --tls-privkey=FILE     TLS private key (" CL_KEYDIR "/tls-privkey.pem)\n"
"      --priority=STRING      GnuTLS priority string\n"
"      --delay=SECONDS        wait this long for interfaces to come up (2.5)\n"
"      --retry=SECONDS        longest back-off between tries of a server (10)\n"
"      --timeout=SECONDS      deadline for connect and handshake per try (5)\n"
"      --read-timeout=SECONDS deadline for the secret after the handshake\n"
"                             (0, default: none; wait while the server holds\n"
"                             the line, as for approval; TCP keepalive notices\n"
"                             a dead server)\n"
"      --give-up=SECONDS      exit 1 if no secret by then (0: never, default)\n"
"      --network-hook-dir=DIR network hooks (" CL_HOOKDIR ")\n"
"      --no-ipv6              do not use IPv6 for Zeroconf\n"
"      --debug                log progress to stderr\n"
"  -h, --help                 this help\n"
"  -V, --version              print the version\n"
"Prints the decrypted secret on stdout and exits 0; errors go to stderr.\n");
	exit(status);
}

/* Milliseconds on the monotonic clock. */
static uint64_t
cl_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* Note a termination signal; the loops notice cl_quit. */
static void
cl_onsignal(int sig)
{
	cl_quit = sig;
}

/* Parse a non-negative number of seconds for option opt, or exit. */
static double
cl_seconds(const char *opt, const char *s)
{
	char	*end;
	double	 d;

	errno = 0;
	d = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || d < 0 || d > 86400 * 365)
		fatalx("bad --%s value \"%s\": want seconds", opt, s);
	return (d);
}

/* Parse "[v6]:port", "v6:port" or "v4:port" (numeric only). */
static int
cl_parse_connect(const char *arg, struct sockaddr_storage *ss, socklen_t *len,
    char **errstr)
{
	struct addrinfo	 hints, *res;
	char		*host, *port, *p;
	int		 e;

	host = xstrdup(arg);
	if ((p = strrchr(host, ':')) == NULL || p[1] == '\0') {
		xasprintf(errstr, "bad --connect \"%s\": want ADDRESS:PORT", arg);
		free(host);
		return (-1);
	}
	*p = '\0';
	port = p + 1;
	p = host;
	if (*p == '[') {
		size_t n = strlen(p);
		if (n < 2 || p[n - 1] != ']') {
			xasprintf(errstr, "bad --connect \"%s\": unbalanced [",
			    arg);
			free(host);
			return (-1);
		}
		p[n - 1] = '\0';
		p++;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	hints.ai_socktype = SOCK_STREAM;
	if ((e = getaddrinfo(p, port, &hints, &res)) != 0) {
		xasprintf(errstr, "bad --connect \"%s\": %s", arg,
		    gai_strerror(e));
		free(host);
		return (-1);
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	free(host);
	return (0);
}

/* Add a server to the end of the ring unless it is there already. */
static struct cl_server *
cl_add_server(const struct sockaddr *sa, socklen_t len, const char *label)
{
	struct cl_server	*s, **tail;
	char			 host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	char			 port[8];

	for (tail = &cl.servers; *tail != NULL; tail = &(*tail)->next)
		if ((*tail)->sslen == len && memcmp(&(*tail)->ss, sa, len) == 0)
			return (*tail);
	s = xcalloc(1, sizeof(*s));
	memcpy(&s->ss, sa, len);
	s->sslen = len;
	if (getnameinfo(sa, len, host, sizeof(host), port, sizeof(port),
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(host, sizeof(host), "?");
	snprintf(s->name, sizeof(s->name), sa->sa_family == AF_INET6 ?
	    "[%s]:%s" : "%s:%s", host, port);
	s->next_ms = cl_now();
	*tail = s;
	log_debug("server %s added%s%s", s->name, label ? " from " : "",
	    label ? label : "");
	return (s);
}

#ifdef HAVE_AVAHI_CORE
/* Zeroconf callback: a resolved _mandos._tcp service joins the ring. */
static void
cl_found(const struct sockaddr *sa, socklen_t len, const char *name, void *arg)
{
	cl_add_server(sa, len, name);
}
#endif

/*
 * Wait until fd is ready for events or the deadline (monotonic ms) passes.
 * 0 ready, -1 timeout or signal (errno ETIMEDOUT or EINTR).
 */
static int
cl_wait(int fd, short events, uint64_t deadline)
{
	struct pollfd	 pfd;
	uint64_t	 now;
	int		 r, ms;

	for (;;) {
		if (cl_quit) {
			errno = EINTR;
			return (-1);
		}
		if ((now = cl_now()) >= deadline) {
			errno = ETIMEDOUT;
			return (-1);
		}
		/* Wake each second at least: signals, no-deadline waits. */
		ms = deadline - now > 1000 ? 1000 : (int)(deadline - now);
#ifdef HAVE_AVAHI_CORE
		/* Keep browsing while we wait for this server. */
		if (cl.br != NULL) {
			if (browse_wait(cl.br, fd, events, ms) == 1)
				return (0);
			continue;
		}
#endif
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		r = poll(&pfd, 1, ms);
		if (r > 0)
			return (0);
		if (r == -1 && errno != EINTR)
			return (-1);
	}
}

/* Open a nonblocking TCP connection to s by the deadline; fd or -1. */
static int
cl_connect(struct cl_server *s, uint64_t deadline, char **errstr)
{
	socklen_t	 elen = sizeof(int);
	int		 fd, err = 0, one = 1;
	int		 ka_idle = CL_KA_IDLE, ka_intvl = CL_KA_INTVL;
	int		 ka_cnt = CL_KA_CNT;

	fd = socket(s->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1) {
		xasprintf(errstr, "socket: %s", strerror(errno));
		return (-1);
	}
	if (connect(fd, (struct sockaddr *)&s->ss, s->sslen) == -1) {
		if (errno != EINPROGRESS) {
			xasprintf(errstr, "connect: %s", strerror(errno));
			close(fd);
			return (-1);
		}
		if (cl_wait(fd, POLLOUT, deadline) == -1) {
			xasprintf(errstr, "connect: %s", errno == ETIMEDOUT ?
			    "timed out" : strerror(errno));
			close(fd);
			return (-1);
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1)
			err = errno;
		if (err != 0) {
			xasprintf(errstr, "connect: %s", strerror(err));
			close(fd);
			return (-1);
		}
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &ka_idle, sizeof(ka_idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &ka_intvl,
	    sizeof(ka_intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &ka_cnt, sizeof(ka_cnt));
	return (fd);
}

/*
 * One try with one server: version line, TLS handshake as the server, read
 * the blob to close_notify, decrypt. CL_OK sets *plain; otherwise *errstr.
 */
static enum cl_result
cl_attempt(struct cl_server *s, char **plain, size_t *plainlen, char **errstr)
{
	gnutls_session_t	 tls = NULL;
	enum cl_result		 res = CL_FAILED;
	const char		*vers[2] = { "1", "\r\n" };
	uint64_t		 deadline;
	char			*blob = NULL;
	size_t			 len = 0, cap = 0;
	ssize_t			 r;
	int			 fd, i, ret;

	*plain = NULL;
	*errstr = NULL;
	deadline = cl_now() + (uint64_t)(cl.timeout * 1000);
	if (cl.end_ms != 0 && deadline > cl.end_ms)
		deadline = cl.end_ms;
	if ((fd = cl_connect(s, deadline, errstr)) == -1)
		return (CL_FAILED);

	/* The reference client sends the version and the CRLF separately. */
	for (i = 0; i < 2; i++) {
		size_t off = 0, n = strlen(vers[i]);
		while (off < n) {
			r = write(fd, vers[i] + off, n - off);
			if (r > 0) {
				off += (size_t)r;
				continue;
			}
			if (r == -1 && (errno == EAGAIN || errno == EINTR) &&
			    cl_wait(fd, POLLOUT, deadline) == 0)
				continue;
			xasprintf(errstr, "sending the version: %s",
			    strerror(errno));
			goto done;
		}
	}

	if ((ret = gnutls_init(&tls, GNUTLS_SERVER | GNUTLS_NONBLOCK |
	    GNUTLS_NO_TICKETS | GNUTLS_ENABLE_RAWPK)) != 0 ||
	    (ret = gnutls_priority_set(tls, cl.prio)) != 0 ||
	    (ret = gnutls_credentials_set(tls, GNUTLS_CRD_CERTIFICATE,
	    cl.cred)) != 0) {
		xasprintf(errstr, "TLS setup: %s", gnutls_strerror(ret));
		goto done;
	}
	gnutls_certificate_server_set_request(tls, GNUTLS_CERT_IGNORE);
	gnutls_transport_set_int(tls, fd);

	for (;;) {
		ret = gnutls_handshake(tls);
		if (ret == 0)
			break;
		if (ret == GNUTLS_E_AGAIN || ret == GNUTLS_E_INTERRUPTED) {
			if (cl_wait(fd, gnutls_record_get_direction(tls) ?
			    POLLOUT : POLLIN, deadline) == -1) {
				xasprintf(errstr, "TLS handshake: %s",
				    errno == ETIMEDOUT ? "timed out" :
				    strerror(errno));
				goto done;
			}
			continue;
		}
		if (gnutls_error_is_fatal(ret) || cl_now() >= deadline) {
			xasprintf(errstr, "TLS handshake: %s",
			    gnutls_strerror(ret));
			goto done;
		}
	}
	log_debug("server %s: handshake done", s->name);

	/*
	 * A server may hold us as long as it likes (approval_delay): the
	 * reference client waits, and giving up here would only restart the
	 * server's delay on our next connection.
	 */
	deadline = cl.read_timeout > 0 ? cl_now() +
	    (uint64_t)(cl.read_timeout * 1000) : CL_NO_DEADLINE;
	if (cl.end_ms != 0 && deadline > cl.end_ms)
		deadline = cl.end_ms;
	for (;;) {
		if (len == cap) {
			if (cap >= CL_MAXBLOB) {
				xasprintf(errstr, "server sent more than %d "
				    "bytes; ignoring it", CL_MAXBLOB);
				goto done;
			}
			cap = cap == 0 ? 16384 : cap * 2;
			char *nb = xmalloc(cap);
			if (len > 0)
				memcpy(nb, blob, len);
			pgp_wipe_free(blob, len);
			blob = nb;
		}
		r = gnutls_record_recv(tls, blob + len, cap - len);
		if (r > 0) {
			len += (size_t)r;
			continue;
		}
		if (r == 0)
			break;			/* close_notify */
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			if (cl_wait(fd, POLLIN, deadline) == -1) {
				xasprintf(errstr, "reading the secret: %s",
				    errno == ETIMEDOUT ? "timed out" :
				    strerror(errno));
				goto done;
			}
			continue;
		}
		if (r == GNUTLS_E_PREMATURE_TERMINATION)
			xasprintf(errstr, "server closed without close_notify "
			    "after %zu bytes", len);
		else
			xasprintf(errstr, "reading the secret: %s",
			    gnutls_strerror((int)r));
		goto done;
	}
	if (len == 0) {
		res = CL_REFUSED;
		xasprintf(errstr, "server has no secret for us");
		goto done;
	}
	log_debug("server %s: read %zu bytes, decrypting", s->name, len);
	if (pgp_decrypt(&cl.pgp, blob, len, plain, plainlen, errstr) == 0)
		res = CL_OK;
done:
	pgp_wipe_free(blob, cap);
	if (tls != NULL)
		gnutls_deinit(tls);
	close(fd);
	return (res);
}

/* Check and load the four key files; exit with a one-line error if bad. */
static void
cl_load_keys(void)
{
	const char	*files[4] = { cl.tls_pubkey, cl.tls_privkey, cl.pubkey,
			    cl.seckey };
	const char	*what[4] = { "TLS public key", "TLS private key",
			    "OpenPGP public key", "OpenPGP secret key" };
	const char	*err;
	char		*errstr;
	int		 i, fd, ret;

	for (i = 0; i < 4; i++) {
		if ((fd = open(files[i], O_RDONLY | O_CLOEXEC)) == -1)
			fatalx("cannot read %s %s: %s", what[i], files[i],
			    strerror(errno));
		close(fd);
	}
	if ((ret = gnutls_global_init()) != 0)
		fatalx("gnutls_global_init: %s", gnutls_strerror(ret));
	if ((ret = gnutls_certificate_allocate_credentials(&cl.cred)) != 0)
		fatalx("gnutls: %s", gnutls_strerror(ret));
	ret = gnutls_certificate_set_rawpk_key_file(cl.cred, cl.tls_pubkey,
	    cl.tls_privkey, GNUTLS_X509_FMT_PEM, NULL, 0, NULL, 0, 0, 0);
	if (ret < 0)
		fatalx("cannot load TLS key pair %s, %s: %s", cl.tls_pubkey,
		    cl.tls_privkey, gnutls_strerror(ret));
	if ((ret = gnutls_priority_init(&cl.prio, cl.priority, &err)) != 0)
		fatalx("bad --priority near \"%s\": %s", err ? err : "",
		    gnutls_strerror(ret));

	if (pgp_new(&cl.pgp, NULL, &errstr) == -1)
		fatalx("%s", errstr);
	if (pgp_import_file(&cl.pgp, cl.pubkey, &errstr) == -1 ||
	    pgp_import_file(&cl.pgp, cl.seckey, &errstr) == -1) {
		pgp_free(&cl.pgp);
		fatalx("%s", errstr);
	}
	if (!pgp_have_secret(&cl.pgp, NULL)) {
		pgp_free(&cl.pgp);
		fatalx("no OpenPGP secret key in %s", cl.seckey);
	}
}

/* Run the executable network hooks in the hook directory with MODE=mode. */
static void
cl_hooks(const char *mode)
{
	struct dirent	**list;
	struct stat	  sb;
	char		  path[PATH_MAX], delay[32];
	uint64_t	  until;
	pid_t		  pid;
	int		  i, n, st, fd;

	if (cl.hookdir == NULL || (n = scandir(cl.hookdir, &list, NULL,
	    alphasort)) == -1)
		return;
	snprintf(delay, sizeof(delay), "%g", cl.delay);
	for (i = 0; i < n; i++) {
		const char *nm = list[i]->d_name;
		size_t nl = strlen(nm);

		if (nm[0] == '.' || nm[nl - 1] == '~' || nm[nl - 1] == '#' ||
		    strstr(nm, ".dpkg-") != NULL || nl != strspn(nm,
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789_.-"))
			goto next;
		snprintf(path, sizeof(path), "%s/%s", cl.hookdir, nm);
		if (stat(path, &sb) == -1 || !S_ISREG(sb.st_mode) ||
		    access(path, X_OK) == -1)
			goto next;
		log_debug("running network hook %s %s", path, mode);
		if ((pid = fork()) == -1)
			goto next;
		if (pid == 0) {
			setenv("MODE", mode, 1);
			setenv("MANDOSNETHOOKDIR", cl.hookdir, 1);
			setenv("DEVICE", cl.interface ? cl.interface : "", 1);
			setenv("INTERFACE", cl.interface ? cl.interface : "", 1);
			setenv("VERBOSITY", cl.debug ? "1" : "0", 1);
			setenv("DELAY", delay, 1);
			if (cl.nconnect > 0)
				setenv("CONNECT", cl.connect[0], 1);
			/* Hooks must never write to our stdout: the secret. */
			if ((fd = open("/dev/null", O_RDWR)) != -1) {
				dup2(fd, 0);
				dup2(2, 1);
			}
			execl(path, nm, mode, (char *)NULL);
			_exit(127);
		}
		until = cl_now() + CL_HOOK_TIMEOUT;
		while (waitpid(pid, &st, WNOHANG) == 0) {
			if (cl_now() > until) {
				log_warnx("network hook %s timed out", path);
				kill(pid, SIGKILL);
				waitpid(pid, &st, 0);
				break;
			}
			poll(NULL, 0, 20);
		}
next:
		free(list[i]);
	}
	free(list);
}

/* Bring up the named interfaces and wait up to --delay for them to run. */
static void
cl_links_up(void)
{
	struct ifreq	 ifr;
	char		*list, *tok, *save = NULL;
	uint64_t	 until;
	int		 sd, i;

	if (cl.interface == NULL || *cl.interface == '\0' ||
	    strcmp(cl.interface, "none") == 0)
		return;
	if ((sd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	list = xstrdup(cl.interface);
	for (tok = strtok_r(list, ",", &save); tok != NULL &&
	    cl.nifaces < (int)(sizeof(cl.ifaces) / sizeof(cl.ifaces[0]));
	    tok = strtok_r(NULL, ",", &save)) {
		struct cl_iface *ci = &cl.ifaces[cl.nifaces];

		memset(&ifr, 0, sizeof(ifr));
		if (strlen(tok) >= sizeof(ifr.ifr_name)) {
			log_warnx("interface name too long: %s", tok);
			continue;
		}
		strncpy(ifr.ifr_name, tok, sizeof(ifr.ifr_name) - 1);
		snprintf(ci->name, sizeof(ci->name), "%s", tok);
		cl.nifaces++;
		if (ioctl(sd, SIOCGIFFLAGS, &ifr) == -1) {
			log_warn("interface %s", tok);
			continue;
		}
		if (!(ifr.ifr_flags & IFF_UP)) {
			ifr.ifr_flags |= IFF_UP;
			if (ioctl(sd, SIOCSIFFLAGS, &ifr) == -1)
				log_warn("cannot bring up %s", tok);
			else
				ci->raised = 1;
		}
	}
	free(list);
	until = cl_now() + (uint64_t)(cl.delay * 1000);
	for (i = 0; i < cl.nifaces; i++) {
		memset(&ifr, 0, sizeof(ifr));
		strncpy(ifr.ifr_name, cl.ifaces[i].name, sizeof(ifr.ifr_name) - 1);
		while (ioctl(sd, SIOCGIFFLAGS, &ifr) == 0 &&
		    (ifr.ifr_flags & (IFF_UP | IFF_RUNNING)) !=
		    (IFF_UP | IFF_RUNNING) && cl_now() < until && !cl_quit)
			poll(NULL, 0, 50);
	}
	close(sd);
}

/* Take down the interfaces that cl_links_up brought up. */
static void
cl_links_down(void)
{
	struct ifreq	 ifr;
	int		 sd, i;

	if ((sd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	for (i = 0; i < cl.nifaces; i++) {
		if (!cl.ifaces[i].raised)
			continue;
		memset(&ifr, 0, sizeof(ifr));
		strncpy(ifr.ifr_name, cl.ifaces[i].name, sizeof(ifr.ifr_name) - 1);
		if (ioctl(sd, SIOCGIFFLAGS, &ifr) == 0) {
			ifr.ifr_flags &= ~IFF_UP;
			ioctl(sd, SIOCSIFFLAGS, &ifr);
		}
	}
	close(sd);
}

/*
 * The server to try now: the due one tried least recently (ring order on
 * ties). NULL if none is due; then *wake is when the next one is.
 */
static struct cl_server *
cl_pick(uint64_t now, uint64_t *wake)
{
	struct cl_server	*s, *best = NULL;

	*wake = UINT64_MAX;
	for (s = cl.servers; s != NULL; s = s->next) {
		if (s->next_ms > now) {
			if (s->next_ms < *wake)
				*wake = s->next_ms;
			continue;
		}
		if (best == NULL || s->last_ms < best->last_ms)
			best = s;
	}
	return (best);
}

/* Release what the client holds: keys, temporary GnuPG home, links. */
static void
cl_cleanup(void)
{
	struct cl_server	*s;

	while ((s = cl.servers) != NULL) {
		cl.servers = s->next;
		free(s->lasterr);
		free(s);
	}
	pgp_free(&cl.pgp);
	if (cl.cred != NULL)
		gnutls_certificate_free_credentials(cl.cred);
	if (cl.prio != NULL)
		gnutls_priority_deinit(cl.prio);
	cl_hooks("stop");
	cl_links_down();
}

/* Write all of buf to fd; -1 on error. */
static int
cl_write_all(int fd, const char *buf, size_t len)
{
	ssize_t	 r;

	while (len > 0) {
		if ((r = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		buf += r;
		len -= (size_t)r;
	}
	return (0);
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "connect",		required_argument, NULL, 'c' },
		{ "interface",		required_argument, NULL, 'i' },
		{ "pubkey",		required_argument, NULL, 'p' },
		{ "seckey",		required_argument, NULL, 's' },
		{ "tls-pubkey",		required_argument, NULL, 't' },
		{ "tls-privkey",	required_argument, NULL, 'T' },
		{ "priority",		required_argument, NULL, 1 },
		{ "delay",		required_argument, NULL, 2 },
		{ "retry",		required_argument, NULL, 3 },
		{ "network-hook-dir",	required_argument, NULL, 4 },
		{ "debug",		no_argument,	   NULL, 5 },
		{ "timeout",		required_argument, NULL, 6 },
		{ "read-timeout",	required_argument, NULL, 7 },
		{ "give-up",		required_argument, NULL, 8 },
		{ "no-ipv6",		no_argument,	   NULL, 9 },
		{ "dh-bits",		required_argument, NULL, 10 },
		{ "dh-params",		required_argument, NULL, 10 },
		{ "help",		no_argument,	   NULL, 'h' },
		{ "usage",		no_argument,	   NULL, 'h' },
		{ "version",		no_argument,	   NULL, 'V' },
		{ NULL,			0,		   NULL, 0 }
	};
	struct sigaction	 sa;
	struct cl_server	*s;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	uint64_t		 start, now, wake, backoff;
	char			*errstr, *plain;
	size_t			 plainlen;
	int			 ch, i, warned_none = 0;

	log_init("mandos-client", 1, 0);
	cl.pubkey = CL_KEYDIR "/pubkey.txt";
	cl.seckey = CL_KEYDIR "/seckey.txt";
	cl.tls_pubkey = CL_KEYDIR "/tls-pubkey.pem";
	cl.tls_privkey = CL_KEYDIR "/tls-privkey.pem";
	while ((ch = getopt_long(argc, argv, "c:i:p:s:t:T:hV?", opts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			cl.connect = xreallocarray(cl.connect, cl.nconnect + 1,
			    sizeof(*cl.connect));
			cl.connect[cl.nconnect++] = optarg;
			break;
		case 'i':
			cl.interface = optarg;
			break;
		case 'p':
			cl.pubkey = optarg;
			break;
		case 's':
			cl.seckey = optarg;
			break;
		case 't':
			cl.tls_pubkey = optarg;
			break;
		case 'T':
			cl.tls_privkey = optarg;
			break;
		case 1:
			cl.priority = optarg;
			break;
		case 2:
			cl.delay = cl_seconds("delay", optarg);
			break;
		case 3:
			cl.retry = cl_seconds("retry", optarg);
			break;
		case 4:
			cl.hookdir = optarg;
			break;
		case 5:
			cl.debug = 1;
			break;
		case 6:
			cl.timeout = cl_seconds("timeout", optarg);
			break;
		case 7:
			cl.read_timeout = cl_seconds("read-timeout", optarg);
			break;
		case 8:
			cl.give_up = cl_seconds("give-up", optarg);
			break;
		case 9:
			cl.no_ipv6 = 1;
			break;
		case 10:
			break;		/* TLS 1.3 with raw keys: no DH params */
		case 'h':
			cl_usage(0);
		case 'V':
			printf("mandos-client (%s) %s\n", PACKAGE_NAME,
			    PACKAGE_VERSION);
			return (0);
		default:
			cl_usage(1);
		}
	}
	if (optind != argc)
		cl_usage(1);
	log_init("mandos-client", 1, cl.debug);
	if (cl.timeout <= 0)
		cl.timeout = 0.001;

	for (i = 0; i < cl.nconnect; i++) {
		if (cl_parse_connect(cl.connect[i], &ss, &sslen, &errstr) == -1)
			fatalx("%s", errstr);
	}
	cl_load_keys();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cl_onsignal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	cl_links_up();
	cl_hooks("start");
	for (i = 0; i < cl.nconnect; i++) {
		cl_parse_connect(cl.connect[i], &ss, &sslen, &errstr);
		cl_add_server((struct sockaddr *)&ss, sslen, NULL);
	}
	if (cl.nconnect == 0) {
#ifdef HAVE_AVAHI_CORE
		const char *ifs = cl.interface;

		if (ifs != NULL && strcmp(ifs, "none") == 0)
			ifs = NULL;
		cl.br = browse_start(ifs, !cl.no_ipv6, cl_found, NULL, &errstr);
		if (cl.br == NULL) {
			cl_cleanup();
			fatalx("Zeroconf: %s", errstr);
		}
#else
		cl_cleanup();
		fatalx("no --connect given and built without Zeroconf");
#endif
	}

	start = cl_now();
	if (cl.give_up > 0)
		cl.end_ms = start + (uint64_t)(cl.give_up * 1000);
	for (;;) {
		if (cl_quit) {
			log_warnx("stopped by signal %d", (int)cl_quit);
			break;
		}
		now = cl_now();
		if (cl.give_up > 0 && now - start >= (uint64_t)(cl.give_up *
		    1000)) {
			if (cl.servers == NULL)
				log_warnx("no Mandos server found in %g s",
				    cl.give_up);
			else
				log_warnx("no secret from any server in %g s",
				    cl.give_up);
			break;
		}
#ifdef HAVE_AVAHI_CORE
		if (cl.br != NULL)
			browse_run(cl.br, 0);
#endif
		if ((s = cl_pick(now, &wake)) == NULL) {
			uint64_t until = wake;

			if (cl.servers == NULL && !warned_none &&
			    now - start >= (uint64_t)(cl.delay * 1000) + 5000) {
				log_warnx("no Mandos server found yet; still "
				    "looking");
				warned_none = 1;
			}
			if (until > now + 1000)
				until = now + 1000;
			if (cl.give_up > 0 && start + (uint64_t)(cl.give_up *
			    1000) < until)
				until = start + (uint64_t)(cl.give_up * 1000);
			if (until < now)
				until = now;
#ifdef HAVE_AVAHI_CORE
			if (cl.br != NULL) {
				browse_run(cl.br, (int)(until - now));
				continue;
			}
#endif
			poll(NULL, 0, (int)(until - now));
			continue;
		}
		s->last_ms = now;
		log_debug("trying server %s", s->name);
		switch (cl_attempt(s, &plain, &plainlen, &errstr)) {
		case CL_OK:
			log_debug("server %s: got the secret (%zu bytes)",
			    s->name, plainlen);
			if (cl_write_all(STDOUT_FILENO, plain, plainlen) == -1) {
				log_warn("writing the secret");
				pgp_wipe_free(plain, plainlen);
				cl_cleanup();
				return (1);
			}
			pgp_wipe_free(plain, plainlen);
#ifdef HAVE_AVAHI_CORE
			if (cl.br != NULL)
				browse_stop(cl.br);
			cl.br = NULL;
#endif
			cl_cleanup();
			return (0);
		case CL_REFUSED:
		case CL_FAILED:
			s->fails++;
			backoff = 1000;
			for (i = 1; i < (int)s->fails && backoff <
			    (uint64_t)(cl.retry * 1000); i++)
				backoff *= 2;
			if (backoff > (uint64_t)(cl.retry * 1000))
				backoff = (uint64_t)(cl.retry * 1000);
			if (backoff < 100)
				backoff = 100;	/* never hammer a server */
			s->next_ms = cl_now() + backoff;
			if (cl_quit)
				break;
			/* Say each distinct problem once; repeats are debug. */
			if (s->lasterr == NULL || strcmp(s->lasterr,
			    errstr) != 0)
				log_warnx("server %s: %s", s->name, errstr);
			else
				log_debug("server %s: %s; retrying in %.1f s",
				    s->name, errstr, backoff / 1000.0);
			free(s->lasterr);
			s->lasterr = errstr;
			break;
		}
	}
#ifdef HAVE_AVAHI_CORE
	if (cl.br != NULL)
		browse_stop(cl.br);
	cl.br = NULL;
#endif
	cl_cleanup();
	return (1);
}
