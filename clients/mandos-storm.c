/*
 * mandos-storm.c: a reboot storm.  Plays N distinct booting Mandos clients
 * against a server over nonblocking TCP and TLS on one libevent loop, and
 * reports throughput, latency and failures by reason.  Also holds many
 * connections at a chosen stage (memory benchmarks), prints matching client
 * tables, and measures the in-process TLS limit.
 *
 * Everything costly is built once: one credential per client, one priority
 * cache, the expected secrets; a connection owns only its socket and session.
 * The storm must cost less than the server it measures, so a connection
 * makes as few system calls as the protocol allows: the version line goes
 * right after connect(), TLS runs over lib/tlsio.c (one recv and one send
 * per flight), and one persistent event serves the connection.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <jansson.h>

#include "log.h"
#include "storm.h"
#include "stormkey.h"
#include "tlsio.h"
#include "xmalloc.h"

enum storm_state { SS_CONNECT, SS_VERSION, SS_HELLO, SS_HANDSHAKE, SS_RECV,
    SS_HELD };

enum storm_reason { SR_OK, SR_CONNECT, SR_TLS, SR_MISMATCH, SR_NO_CLOSE_NOTIFY,
    SR_TIMEOUT, SR_NREASONS };

static const char *storm_reason_names[SR_NREASONS] = {
	"ok", "connect", "tls", "mismatch", "no_close_notify", "timeout",
};

/* One connection; lives in a preallocated slot. */
struct storm_conn {
	struct event		 ev;
	struct storm_conn	*next_free;
	gnutls_session_t	 tls;
	uint64_t		 start;		/* us, monotonic */
	uint64_t		 deadline;	/* us, monotonic */
	size_t			 got;		/* secret bytes received */
	int			 fd;
	unsigned		 idx;		/* absolute client index */
	enum storm_state	 state;
	unsigned char		 vsent;		/* version line bytes written */
	unsigned char		 mismatch;
	unsigned char		 armed;		/* EV_READ or EV_WRITE, or 0 */
};

/* The run: configuration, keys, scheduling and statistics. */
struct storm_run {
	struct storm_conf	*conf;
	struct storm_keys	 keys;
	struct event_base	*base;
	struct event		*ev_retry;
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	struct sockaddr_storage	 bind;		/* --bind: the source address */
	socklen_t		 bindlen;	/* 0: the kernel's choice */
	struct storm_conn	*slots;
	struct storm_conn	*free;
	uint64_t		 started;	/* connections begun */
	uint64_t		 completed;	/* connections ended */
	uint64_t		 inflight;	/* begun, not ended or held */
	uint64_t		 held;
	uint64_t		 lost;		/* held, then closed by the peer */
	uint64_t		 reasons[SR_NREASONS];
	uint64_t		 warm_failed;
	uint64_t		 t_start;	/* us: start of the measured window */
	uint64_t		 t_end;
	int			 stopping;	/* no new connections */
	int			 announced;	/* "held N" printed */
	double			 cpu0;		/* us of CPU before the storm */
	double			 cpu_us;	/* us of CPU the storm took */
	double			*lat;		/* ms, counted successes */
	size_t			 nlat, latcap;
};

static struct storm_run	 storm;

static void	 storm_usage(FILE *, int) __attribute__((noreturn));
static void	 storm_badusage(const char *, ...)
		    __attribute__((noreturn, format(printf, 1, 2)));
static uint64_t	 storm_number(const char *, const char *, uint64_t, uint64_t);
static double	 storm_seconds(const char *, const char *);
static void	 storm_resolve(const char *);
static void	 storm_bind(const char *);
static void	 storm_raise_nofile(void);
static void	 storm_launch(void);
static void	 storm_retry_cb(evutil_socket_t, short, void *);
static int	 storm_start(void);
static void	 storm_wait(struct storm_conn *, short);
static void	 storm_cb(evutil_socket_t, short, void *);
static void	 storm_held_cb(evutil_socket_t, short, void *);
static void	 storm_step(struct storm_conn *);
static int	 storm_send_version(struct storm_conn *);
static int	 storm_tls_start(struct storm_conn *);
static void	 storm_recv_check(struct storm_conn *, const uint8_t *, size_t);
static void	 storm_hold(struct storm_conn *);
static void	 storm_done(struct storm_conn *, enum storm_reason);
static void	 storm_release(struct storm_conn *);
static void	 storm_record(enum storm_reason, uint64_t, uint64_t);
static void	 storm_check_end(void);
static void	 storm_stop_cb(evutil_socket_t, short, void *);
static double	 storm_ru_us(const struct rusage *);
static uint64_t	 storm_report(void);
static int	 storm_report_hold(void);
static void	 storm_loop(void);
static int	 storm_jobs(void);
static void	 storm_job_send(int);
static int	 storm_job_merge(int);

#define STORM_RECVBUF	16384

uint64_t
storm_now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

/* qsort comparator for doubles. */
static int
storm_cmp_double(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return (x < y ? -1 : x > y);
}

void
storm_sort(double *v, size_t n)
{
	if (n > 0)	/* v is NULL when nothing was measured */
		qsort(v, n, sizeof(*v), storm_cmp_double);
}

double
storm_quantile(const double *v, size_t n, double q)
{
	size_t	 r;

	if (n == 0)
		return (0);
	r = (size_t)ceil(q * (double)n);
	if (r < 1)
		r = 1;
	return (v[(r > n ? n : r) - 1]);
}

/* --bind: a numeric source address, any port. */
static void
storm_bind(const char *spec)
{
	struct addrinfo	 hints, *ai;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
	if (getaddrinfo(spec, "0", &hints, &ai) != 0)
		storm_badusage("--bind: bad address \"%s\"", spec);
	memcpy(&storm.bind, ai->ai_addr, ai->ai_addrlen);
	storm.bindlen = ai->ai_addrlen;
	freeaddrinfo(ai);
}

/* Print the options, one line each, and exit with status. */
static void
storm_usage(FILE *f, int status)
{
	fprintf(f,
"usage: mandos-storm --connect HOST:PORT [options]\n"
"       mandos-storm --make-table N [--seed S] [--secret-size B] [--format json|conf]\n"
"       mandos-storm --hold N --hold-stage connect|version|handshake --connect HOST:PORT\n"
"       mandos-storm --inproc N [--clients N] [--json]\n"
"  -c, --connect HOST:PORT    server to storm ([v6]:port, v4:port or name:port)\n"
"      --bind ADDR            connect from source address ADDR (e.g. 127.0.0.2)\n"
"  -n, --clients N            distinct client keys, used round-robin (default 100)\n"
"      --first-client K       first client index (default 0)\n"
"  -s, --seed S               key and secret seed (default \"mandos\")\n"
"  -C, --concurrency C        connections in flight at most (default 10)\n"
"  -N, --count TOTAL          connections to make in all (default 1000)\n"
"  -d, --duration SECS        run (or hold) for SECS instead of a count\n"
"  -w, --warmup N             first N completed connections not in the stats\n"
"  -t, --timeout SECS         per-connection deadline (default 30)\n"
"  -j, --json                 print one JSON object instead of the summary\n"
"      --secret-size B        expected secret length in bytes (default 64)\n"
"      --split                send \"1\" and \"\\r\\n\" as two writes, as the real client\n"
"      --expect none|secret   none: every connection must get no secret\n"
"      --priority STRING      GnuTLS priority string\n"
"  -q, --quiet                no progress or warnings, just the result\n"
"  -v, --verbose              log each failed connection and its reason\n"
"      --make-table N         print the client table for N clients and exit\n"
"      --format json|conf     table format: mandosd JSON or reference clients.conf\n"
"      --hold N               open N connections and keep them at --hold-stage\n"
"      --hold-stage STAGE     connect, version or handshake (default connect)\n"
"      --inproc N             N handshakes with both sides in this process\n"
"      --server-priority S    --inproc: the mandosd side's priority (default mandosd's)\n"
"  -J, --jobs N               N processes share the load run; one combined result\n"
"  -h, --help                 this help\n");
	exit(status);
}

/* Complain about the command line and exit 2. */
static void
storm_badusage(const char *fmt, ...)
{
	va_list	 ap;

	fputs("mandos-storm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\ntry 'mandos-storm --help'\n", stderr);
	exit(2);
}

/* Parse an unsigned option value in [min, max]. */
static uint64_t
storm_number(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	unsigned long long	 v;
	char			*end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s == '\0' || *s == '-' || *end != '\0' || errno != 0 || v < min ||
	    v > max)
		storm_badusage("%s: \"%s\" is not a number in [%llu, %llu]", opt,
		    s, (unsigned long long)min, (unsigned long long)max);
	return (v);
}

/* Parse a positive number of seconds, fractions allowed. */
static double
storm_seconds(const char *opt, const char *s)
{
	double	 v;
	char	*end;

	errno = 0;
	v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !(v > 0) || v > 1e7)
		storm_badusage("%s: \"%s\" is not a positive number of seconds",
		    opt, s);
	return (v);
}

/* Resolve HOST:PORT once; the storm then reuses the address. */
static void
storm_resolve(const char *spec)
{
	struct addrinfo	 hints, *ai;
	char		*host, *port, *p;
	int		 e;

	host = xstrdup(spec);
	if (host[0] == '[') {
		if ((p = strchr(host, ']')) == NULL || p[1] != ':')
			storm_badusage("--connect: bad address \"%s\"", spec);
		*p = '\0';
		port = p + 2;
		memmove(host, host + 1, strlen(host + 1) + 1);
	} else {
		if ((p = strrchr(host, ':')) == NULL)
			storm_badusage("--connect: \"%s\" lacks :PORT", spec);
		*p = '\0';
		port = p + 1;
	}
	if (*host == '\0' || *port == '\0')
		storm_badusage("--connect: bad address \"%s\"", spec);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if ((e = getaddrinfo(host, port, &hints, &ai)) != 0)
		fatalx("%s: %s", spec, gai_strerror(e));
	memcpy(&storm.addr, ai->ai_addr, ai->ai_addrlen);
	storm.addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	free(host);
}

/* Holding thousands of sockets needs the hard limit on descriptors. */
static void
storm_raise_nofile(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit");
	}
}

void
storm_keys_init(struct storm_keys *k, const struct storm_conf *conf)
{
	gnutls_privkey_t	 priv;
	gnutls_pubkey_t		 pub;
	gnutls_pcert_st		*pcert;
	const char		*err;
	unsigned		 i;
	int			 r;

	k->n = conf->nclients;
	k->first = conf->first;
	k->size = conf->secret_size;
	k->cred = xcalloc(k->n, sizeof(*k->cred));
	k->keyid = xcalloc(k->n, sizeof(*k->keyid));
	k->secret = xcalloc(k->n, k->size > 0 ? k->size : 1);
	if ((r = gnutls_priority_init(&k->prio, conf->priority, &err)) < 0)
		fatalx("--priority: %s at \"%s\"", gnutls_strerror(r), err);
	if (conf->inproc > 0 && (r = gnutls_priority_init(&k->sprio,
	    conf->server_priority, &err)) < 0)
		fatalx("--server-priority: %s at \"%s\"", gnutls_strerror(r),
		    err);
	for (i = 0; i < k->n; i++) {
		if (stormkey_derive(conf->seed, k->first + i, &priv, &pub,
		    k->keyid[i]) == -1)
			fatalx("cannot derive key %u", k->first + i);
		/* Credentials own pcert's content and priv; they live until exit. */
		pcert = xcalloc(1, sizeof(*pcert));
		if ((r = gnutls_pcert_import_rawpk(pcert, pub, 0)) < 0 ||
		    (r = gnutls_certificate_allocate_credentials(&k->cred[i])) < 0 ||
		    (r = gnutls_certificate_set_key(k->cred[i], NULL, 0, pcert, 1,
		    priv)) < 0)
			fatalx("client %u credentials: %s", k->first + i,
			    gnutls_strerror(r));
		free(pcert);	/* set_key copied the array itself */
		stormkey_secret(conf->seed, k->first + i, k->secret + i * k->size,
		    k->size);
	}
}

const uint8_t *
storm_keys_secret(const struct storm_keys *k, unsigned idx)
{
	return (k->secret + (size_t)(idx - k->first) * k->size);
}

/* Start connections while the budget and the concurrency allow. */
static void
storm_launch(void)
{
	const struct storm_conf	*c = storm.conf;
	struct timeval		 tv = { 0, 1000 };
	uint64_t		 total, tries = 0;

	total = c->hold > 0 ? c->hold : c->count;
	while (!storm.stopping && storm.inflight < c->concurrency &&
	    (total == 0 || storm.started < total)) {
		/*
		 * Failures without waiting (refused at once, no descriptors)
		 * must not spin here: after C of them, go back to the loop.
		 */
		if (storm_start() == -1 && ++tries >= c->concurrency) {
			if (storm.inflight == 0)
				evtimer_add(storm.ev_retry, &tv);
			break;
		}
	}
	storm_check_end();
}

/* Launch again after failures that did not wait for the server. */
static void
storm_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	storm_launch();
}

/* Begin one connection: a nonblocking connect. -1: it failed at once. */
static int
storm_start(void)
{
	struct storm_conn	*c;
	uint64_t		 now, seq;
	int			 fd;

	if ((c = storm.free) == NULL)
		return (-1);
	now = storm_now_us();
	seq = storm.started++;
	if ((fd = socket(storm.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		if (!storm.conf->quiet)
			log_warn("socket");
		storm_record(SR_CONNECT, now, now);
		return (-1);
	}
	if ((storm.bindlen > 0 && bind(fd, (struct sockaddr *)&storm.bind,
	    storm.bindlen) == -1) || (connect(fd, (struct sockaddr *)&storm.addr,
	    storm.addrlen) == -1 && errno != EINPROGRESS)) {
		close(fd);
		storm_record(SR_CONNECT, now, now);
		return (-1);
	}
	storm.free = c->next_free;
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	/* Job j of J takes every J-th client, so together they go round-robin. */
	c->idx = storm.conf->first + (unsigned)((seq * storm.conf->jobs +
	    storm.conf->job) % storm.conf->nclients);
	c->start = now;
	c->deadline = now + (uint64_t)(storm.conf->timeout * 1e6);
	c->state = SS_CONNECT;
	storm.inflight++;
	if (storm.conf->hold > 0) {	/* holding needs to know it connected */
		storm_wait(c, EV_WRITE);
		return (0);
	}
	/*
	 * A load run writes the version line at once: on loopback the
	 * connection is up when connect() returns, elsewhere send() says
	 * EAGAIN and we wait; a refused connection fails the send.
	 */
	c->state = SS_VERSION;
	switch (storm_send_version(c)) {
	case 0:
		storm_wait(c, EV_WRITE);
		return (0);
	case -1:
		storm.inflight--;
		storm_record(SR_CONNECT, now, storm_now_us());
		close(c->fd);
		c->fd = -1;
		c->next_free = storm.free;
		storm.free = c;
		return (-1);
	}
	if (storm_tls_start(c) == -1) {
		storm_done(c, SR_TLS);
		return (0);
	}
	/* The server speaks first (its ClientHello): nothing to try yet. */
	c->state = SS_HANDSHAKE;
	storm_wait(c, EV_READ);
	return (0);
}

/* Wait once for what, bounded by the connection's deadline. */
static void
storm_wait(struct storm_conn *c, short what)
{
	struct timeval	 tv;
	uint64_t	 now, left;

	now = storm_now_us();
	left = c->deadline > now ? c->deadline - now : 0;
	tv.tv_sec = (time_t)(left / 1000000);
	tv.tv_usec = (suseconds_t)(left % 1000000);
	/* Persistent: the same direction again costs no epoll_ctl. */
	if (c->armed != what) {
		if (c->armed != 0)
			event_del(&c->ev);
		event_assign(&c->ev, storm.base, c->fd, what | EV_PERSIST,
		    storm_cb, c);
		c->armed = (unsigned char)what;
	}
	event_add(&c->ev, &tv);
	if (what == EV_READ && c->tls != NULL && tlsio_pending(c->tls) > 0)
		event_active(&c->ev, EV_READ, 1);
}

/* A connection's socket is ready, or its deadline passed. */
static void
storm_cb(evutil_socket_t fd, short what, void *arg)
{
	struct storm_conn	*c = arg;

	if (what & EV_TIMEOUT) {
		storm_done(c, SR_TIMEOUT);
		return;
	}
	storm_step(c);
}

/* Advance as far as the socket allows; c may be released on return. */
static void
storm_step(struct storm_conn *c)
{
	uint8_t		 buf[STORM_RECVBUF];
	socklen_t	 len;
	ssize_t		 r;
	int		 err;

	for (;;) {
		switch (c->state) {
		case SS_CONNECT:
			len = sizeof(err);
			if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err,
			    &len) == -1 || err != 0) {
				storm_done(c, SR_CONNECT);
				return;
			}
			if (storm.conf->stage == STAGE_CONNECT) {
				storm_hold(c);
				return;
			}
			c->state = SS_VERSION;
			break;
		case SS_VERSION:
			if ((r = storm_send_version(c)) == 0) {
				storm_wait(c, EV_WRITE);
				return;
			}
			if (r == -1) {
				storm_done(c, SR_CONNECT);
				return;
			}
			if (storm.conf->stage == STAGE_VERSION) {
				storm_hold(c);
				return;
			}
			if (storm.conf->stage == STAGE_HANDSHAKE) {
				/* Held once the server's ClientHello is here. */
				c->state = SS_HELLO;
				storm_wait(c, EV_READ);
				return;
			}
			if (storm_tls_start(c) == -1) {
				storm_done(c, SR_TLS);
				return;
			}
			c->state = SS_HANDSHAKE;
			break;
		case SS_HELLO:
			storm_hold(c);
			return;
		case SS_HANDSHAKE:
			r = gnutls_handshake(c->tls);
			if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
				goto wait;
			if (r < 0 && !gnutls_error_is_fatal((int)r))
				break;
			if (r < 0) {
				if (!storm.conf->quiet && log_verbose())
					log_debug("client %u handshake: %s",
					    c->idx, gnutls_strerror((int)r));
				/* A close mid-handshake is a TLS failure too. */
				storm_done(c, SR_TLS);
				return;
			}
			c->state = SS_RECV;
			break;
		case SS_RECV:
			/* Loop until AGAIN: that also drains buffered records. */
			r = gnutls_record_recv(c->tls, buf, sizeof(buf));
			if (r > 0) {
				storm_recv_check(c, buf, (size_t)r);
				break;
			}
			if (r == 0) {
				if (c->mismatch || (!storm.conf->expect_none &&
				    c->got != storm.keys.size))
					storm_done(c, SR_MISMATCH);
				else
					storm_done(c, SR_OK);
				return;
			}
			if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
				goto wait;
			if (!gnutls_error_is_fatal((int)r))
				break;
			if (!storm.conf->quiet && log_verbose())
				log_debug("client %u receive: %s", c->idx,
				    gnutls_strerror((int)r));
			storm_done(c, r == GNUTLS_E_PREMATURE_TERMINATION ?
			    SR_NO_CLOSE_NOTIFY : SR_TLS);
			return;
		case SS_HELD:
			return;
		}
	}
wait:
	/* Our flight is held by tlsio: send it, then wait for the answer. */
	if ((r = tlsio_flush(c->tls)) == -1) {
		storm_done(c, SR_TLS);
		return;
	}
	storm_wait(c, r == 1 || gnutls_record_get_direction(c->tls) ?
	    EV_WRITE : EV_READ);
}

/* Write the version line, in two writes with --split. 1 done, 0 again, -1. */
static int
storm_send_version(struct storm_conn *c)
{
	static const char	 line[] = "1\r\n";
	size_t			 want;
	ssize_t			 r;

	while (c->vsent < 3) {
		want = storm.conf->split && c->vsent == 0 ? 1 : 3 - c->vsent;
		r = send(c->fd, line + c->vsent, want, MSG_NOSIGNAL);
		if (r == -1 && (errno == EAGAIN || errno == EINTR))
			return (0);
		if (r <= 0)
			return (-1);
		c->vsent += (unsigned char)r;
	}
	return (1);
}

/* The TLS session: we are the TLS server, with client idx's raw key. */
static int
storm_tls_start(struct storm_conn *c)
{
	struct storm_keys	*k = &storm.keys;

	if (gnutls_init(&c->tls, GNUTLS_SERVER | GNUTLS_NONBLOCK |
	    GNUTLS_NO_TICKETS | GNUTLS_ENABLE_RAWPK) < 0) {
		c->tls = NULL;
		return (-1);
	}
	if (gnutls_priority_set(c->tls, k->prio) < 0 ||
	    gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE,
	    k->cred[c->idx - k->first]) < 0)
		return (-1);
	gnutls_certificate_server_set_request(c->tls, GNUTLS_CERT_IGNORE);
	return (tlsio_attach(c->tls, c->fd));
}

/* Compare received bytes with the expected secret as they arrive. */
static void
storm_recv_check(struct storm_conn *c, const uint8_t *buf, size_t n)
{
	const uint8_t	*want;
	size_t		 size = storm.keys.size;

	if (storm.conf->expect_none || c->got + n > size)
		c->mismatch = 1;
	else {
		want = storm_keys_secret(&storm.keys, c->idx);
		if (memcmp(want + c->got, buf, n) != 0)
			c->mismatch = 1;
	}
	c->got += n;
}

/* The connection reached the hold stage: keep it, watching for its end. */
static void
storm_hold(struct storm_conn *c)
{
	c->state = SS_HELD;
	storm.inflight--;
	storm.held++;
	if (c->armed != 0)
		event_del(&c->ev);
	c->armed = 0xff;	/* not storm_wait's any more */
	event_assign(&c->ev, storm.base, c->fd, EV_READ | EV_PERSIST,
	    storm_held_cb, c);
	event_add(&c->ev, NULL);
	storm_launch();
}

/* A held connection is readable: discard what the server sent; EOF: lost. */
static void
storm_held_cb(evutil_socket_t fd, short what, void *arg)
{
	struct storm_conn	*c = arg;
	uint8_t			 buf[4096];
	ssize_t			 r;

	r = recv(fd, buf, sizeof(buf), 0);
	if (r > 0 || (r == -1 && (errno == EAGAIN || errno == EINTR)))
		return;
	storm.held--;
	storm.lost++;
	storm_release(c);
	storm_check_end();
}

/* The connection ended with reason: count it, free it, start the next. */
static void
storm_done(struct storm_conn *c, enum storm_reason why)
{
	uint64_t	 now = storm_now_us();

	if (why != SR_OK && !storm.conf->quiet && log_verbose())
		log_debug("client %u: %s after %.1f ms", c->idx,
		    storm_reason_names[why], (double)(now - c->start) / 1e3);
	storm.inflight--;
	storm_record(why, c->start, now);
	storm_release(c);
	storm_launch();
}

/* Free the slot: event, session, socket. */
static void
storm_release(struct storm_conn *c)
{
	if (c->armed != 0)
		event_del(&c->ev);
	c->armed = 0;
	if (c->tls != NULL) {
		tlsio_detach(c->tls);
		gnutls_deinit(c->tls);
	}
	c->tls = NULL;
	close(c->fd);
	c->fd = -1;
	c->next_free = storm.free;
	storm.free = c;
}

/* Count one ended connection; the first --warmup are left out of the stats. */
static void
storm_record(enum storm_reason why, uint64_t start, uint64_t now)
{
	storm.completed++;
	storm.t_end = now;
	if (why != SR_OK) {
		/* Failures always count, warm-up or not: they are bugs. */
		storm.reasons[why]++;
		if (storm.completed <= storm.conf->warmup)
			storm.warm_failed++;
	} else if (storm.completed > storm.conf->warmup) {
		storm.reasons[SR_OK]++;
		if (storm.nlat == storm.latcap) {
			storm.latcap = storm.latcap ? storm.latcap * 2 : 4096;
			storm.lat = xreallocarray(storm.lat, storm.latcap,
			    sizeof(*storm.lat));
		}
		storm.lat[storm.nlat++] = (double)(now - start) / 1e3;
	}
	if (storm.completed == storm.conf->warmup)
		storm.t_start = now;
}

/* Print "held N" once every hold attempt ended; end a load run when idle. */
static void
storm_check_end(void)
{
	const struct storm_conf	*c = storm.conf;

	if (c->hold > 0) {
		if (!storm.announced && storm.inflight == 0 &&
		    (storm.started >= c->hold || storm.stopping)) {
			storm.announced = 1;
			printf("held %llu\n", (unsigned long long)storm.held);
			fflush(stdout);
			if (storm.held < c->hold && !c->quiet)
				log_warnx("only %llu of %llu held",
				    (unsigned long long)storm.held,
				    (unsigned long long)c->hold);
		}
		if (storm.stopping && storm.inflight == 0)
			event_base_loopbreak(storm.base);
		return;
	}
	if (storm.inflight == 0 && (storm.stopping ||
	    (c->count > 0 && storm.started >= c->count)))
		event_base_loopbreak(storm.base);
}

/* --duration passed or a signal came: start nothing new. */
static void
storm_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	storm.stopping = 1;
	if (storm.conf->hold > 0 || (what & EV_SIGNAL)) {
		/* Held connections and interrupted runs end now. */
		event_base_loopbreak(storm.base);
		return;
	}
	storm_check_end();
}

/* User and system CPU time in microseconds. */
static double
storm_ru_us(const struct rusage *ru)
{
	return ((double)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) * 1e6 +
	    (double)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec));
}

/* The summary of a load run, human or JSON; the number of failures. */
static uint64_t
storm_report(void)
{
	const struct storm_conf	*c = storm.conf;
	uint64_t		 failed = 0;
	double			 secs, rate, p50, p90, p99, max, cpu;
	const char		*sep;
	json_t			*o, *f;
	int			 i;

	for (i = SR_OK + 1; i < SR_NREASONS; i++)
		failed += storm.reasons[i];
	/* Our own CPU per connection: the peer side can be the bottleneck. */
	cpu = storm.completed > 0 ? storm.cpu_us / (double)storm.completed : 0;
	secs = storm.t_end > storm.t_start ?
	    (double)(storm.t_end - storm.t_start) / 1e6 : 0;
	rate = secs > 0 ? (double)storm.reasons[SR_OK] / secs : 0;
	storm_sort(storm.lat, storm.nlat);
	p50 = storm_quantile(storm.lat, storm.nlat, 0.50);
	p90 = storm_quantile(storm.lat, storm.nlat, 0.90);
	p99 = storm_quantile(storm.lat, storm.nlat, 0.99);
	max = storm.nlat > 0 ? storm.lat[storm.nlat - 1] : 0;
	if (c->json) {
		f = json_object();
		for (i = SR_OK + 1; i < SR_NREASONS; i++)
			json_object_set_new(f, storm_reason_names[i],
			    json_integer((json_int_t)storm.reasons[i]));
		o = json_pack("{s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:f, s:f, "
		    "s:f, s:f, s:f, s:f, s:f, s:I}",
		    "ok", (json_int_t)storm.reasons[SR_OK],
		    "failed", (json_int_t)failed,
		    "failures", f,
		    "warmup", (json_int_t)(storm.completed < c->warmup ?
		    storm.completed : c->warmup),
		    "completed", (json_int_t)storm.completed,
		    "concurrency", (json_int_t)c->concurrency,
		    "clients", (json_int_t)c->nclients,
		    "seconds", secs, "rate", rate, "p50_ms", p50,
		    "p90_ms", p90, "p99_ms", p99, "max_ms", max,
		    "storm_cpu_us", cpu, "jobs", (json_int_t)c->jobs);
		json_dumpf(o, stdout, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
		putchar('\n');
		json_decref(o);
		fflush(stdout);
		return (failed);
	}
	printf("ok %llu, failed %llu", (unsigned long long)storm.reasons[SR_OK],
	    (unsigned long long)failed);
	if (failed > 0) {
		sep = " (";
		for (i = SR_OK + 1; i < SR_NREASONS; i++) {
			if (storm.reasons[i] == 0)
				continue;
			printf("%s%s %llu", sep, storm_reason_names[i],
			    (unsigned long long)storm.reasons[i]);
			sep = ", ";
		}
		printf(")");
	}
	if (storm.warm_failed > 0)
		printf(", %llu of them in warm-up",
		    (unsigned long long)storm.warm_failed);
	printf("\n%.3f s, %.1f handshakes/s, concurrency %u, %u clients, "
	    "%.0f us CPU per connection here", secs, rate, c->concurrency,
	    c->nclients, cpu);
	if (c->jobs > 1)
		printf(" (%u jobs)", c->jobs);
	printf("\n");
	printf("latency ms (connect to close): p50 %.2f, p90 %.2f, p99 %.2f, "
	    "max %.2f\n", p50, p90, p99, max);
	fflush(stdout);
	return (failed);
}

/* Final word of a hold run; exit status. */
static int
storm_report_hold(void)
{
	uint64_t	 failed = 0;
	int		 i;

	for (i = SR_OK + 1; i < SR_NREASONS; i++)
		failed += storm.reasons[i];
	if (!storm.conf->quiet)
		log_info("held %llu to the end, lost %llu (closed by the "
		    "server), failed %llu",
		    (unsigned long long)storm.held,
		    (unsigned long long)storm.lost, (unsigned long long)failed);
	return (failed == 0 && storm.lost == 0 &&
	    storm.announced && storm.held + storm.lost >= storm.conf->hold ? 0 : 1);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "connect",	  required_argument, NULL, 'c' },
		{ "bind",	  required_argument, NULL, 'B' },
		{ "clients",	  required_argument, NULL, 'n' },
		{ "first-client", required_argument, NULL, 'F' },
		{ "seed",	  required_argument, NULL, 's' },
		{ "concurrency",  required_argument, NULL, 'C' },
		{ "count",	  required_argument, NULL, 'N' },
		{ "duration",	  required_argument, NULL, 'd' },
		{ "warmup",	  required_argument, NULL, 'w' },
		{ "timeout",	  required_argument, NULL, 't' },
		{ "json",	  no_argument,	     NULL, 'j' },
		{ "secret-size",  required_argument, NULL, 'S' },
		{ "split",	  no_argument,	     NULL, 'P' },
		{ "expect",	  required_argument, NULL, 'E' },
		{ "priority",	  required_argument, NULL, 'p' },
		{ "quiet",	  no_argument,	     NULL, 'q' },
		{ "verbose",	  no_argument,	     NULL, 'v' },
		{ "make-table",	  required_argument, NULL, 'T' },
		{ "format",	  required_argument, NULL, 'f' },
		{ "hold",	  required_argument, NULL, 'H' },
		{ "hold-stage",	  required_argument, NULL, 'G' },
		{ "inproc",	  required_argument, NULL, 'I' },
		{ "print-pubkey", required_argument, NULL, 'K' },
		{ "server-priority", required_argument, NULL, 'R' },
		{ "jobs",	  required_argument, NULL, 'J' },
		{ "help",	  no_argument,	     NULL, 'h' },
		{ NULL,		  0,		     NULL, 0 }
	};
	struct storm_conf	 conf;
	const char		*format = "json", *stage = NULL;
	uint64_t		 table = 0, pubkey = 0, failed;
	int			 ch, verbose = 0, have_count = 0, have_pubkey = 0;
	int			 status;

	memset(&conf, 0, sizeof(conf));
	conf.seed = "mandos";
	conf.priority = STORM_DEFAULT_PRIORITY;
	conf.server_priority = MANDOSD_DEFAULT_PRIORITY;
	conf.jobs = 1;
	conf.nclients = 100;
	conf.concurrency = 10;
	conf.count = 1000;
	conf.timeout = 30;
	conf.secret_size = 64;
	conf.stage = STAGE_NONE;

	while ((ch = getopt_long(argc, argv, "c:n:s:C:N:d:w:t:jJ:qvh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			conf.connect = optarg;
			break;
		case 'B':
			storm_bind(optarg);
			break;
		case 'n':
			conf.nclients = (unsigned)storm_number("--clients",
			    optarg, 1, 10000000);
			break;
		case 'F':
			conf.first = (unsigned)storm_number("--first-client",
			    optarg, 0, UINT_MAX / 2);
			break;
		case 's':
			conf.seed = optarg;
			break;
		case 'C':
			conf.concurrency = (unsigned)storm_number(
			    "--concurrency", optarg, 1, 1000000);
			break;
		case 'N':
			conf.count = storm_number("--count", optarg, 1,
			    UINT64_MAX / 2);
			have_count = 1;
			break;
		case 'd':
			conf.duration = storm_seconds("--duration", optarg);
			break;
		case 'w':
			conf.warmup = storm_number("--warmup", optarg, 0,
			    UINT64_MAX / 2);
			break;
		case 't':
			conf.timeout = storm_seconds("--timeout", optarg);
			break;
		case 'j':
			conf.json = 1;
			break;
		case 'S':
			conf.secret_size = storm_number("--secret-size", optarg,
			    0, 1 << 20);
			break;
		case 'P':
			conf.split = 1;
			break;
		case 'E':
			if (strcmp(optarg, "none") == 0)
				conf.expect_none = 1;
			else if (strcmp(optarg, "secret") == 0)
				conf.expect_none = 0;
			else
				storm_badusage("--expect: none or secret");
			break;
		case 'p':
			conf.priority = optarg;
			break;
		case 'q':
			conf.quiet = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'T':
			table = storm_number("--make-table", optarg, 1,
			    10000000);
			break;
		case 'f':
			format = optarg;
			break;
		case 'H':
			conf.hold = storm_number("--hold", optarg, 1,
			    10000000);
			break;
		case 'G':
			stage = optarg;
			break;
		case 'I':
			conf.inproc = storm_number("--inproc", optarg, 1,
			    100000000);
			break;
		case 'K':
			pubkey = storm_number("--print-pubkey", optarg, 0,
			    UINT_MAX);
			have_pubkey = 1;
			break;
		case 'R':
			conf.server_priority = optarg;
			break;
		case 'J':
			conf.jobs = (unsigned)storm_number("--jobs", optarg, 1,
			    STORM_MAXJOBS);
			break;
		case 'h':
			storm_usage(stdout, 0);
		default:
			fputs("try 'mandos-storm --help'\n", stderr);
			exit(2);
		}
	}
	if (optind != argc)
		storm_badusage("unexpected argument \"%s\"", argv[optind]);
	log_init("mandos-storm", 1, verbose);

	if (have_pubkey)
		return (storm_print_pubkey(conf.seed, (unsigned)pubkey) == 0 ?
		    0 : 1);
	if (table > 0)
		return (storm_table_print(conf.seed, (unsigned)table,
		    conf.secret_size, format) == 0 ? 0 : 1);
	if (have_count && conf.duration > 0 && conf.hold == 0)
		storm_badusage("--count and --duration exclude each other");
	if (conf.duration > 0 && conf.hold == 0)
		conf.count = 0;
	if (stage != NULL) {
		if (conf.hold == 0)
			storm_badusage("--hold-stage needs --hold");
		if (strcmp(stage, "connect") == 0)
			conf.stage = STAGE_CONNECT;
		else if (strcmp(stage, "version") == 0)
			conf.stage = STAGE_VERSION;
		else if (strcmp(stage, "handshake") == 0)
			conf.stage = STAGE_HANDSHAKE;
		else
			storm_badusage("--hold-stage: connect, version or "
			    "handshake");
	} else if (conf.hold > 0)
		conf.stage = STAGE_CONNECT;
	if ((uint64_t)conf.first + conf.nclients > UINT_MAX)
		storm_badusage("--first-client + --clients too large");

	signal(SIGPIPE, SIG_IGN);
	if (gnutls_global_init() < 0)
		fatalx("gnutls_global_init failed");

	if (conf.inproc > 0) {
		if (conf.jobs > 1)
			storm_badusage("--jobs is for load runs, not --inproc");
		storm_keys_init(&storm.keys, &conf);
		storm.conf = &conf;
		return (storm_inproc_run(&conf, &storm.keys));
	}
	if (conf.connect == NULL)
		storm_badusage("--connect HOST:PORT is required");
	if (conf.warmup >= conf.count && conf.count > 0)
		storm_badusage("--warmup must be less than --count");
	if (conf.jobs > 1 && conf.hold > 0)
		storm_badusage("--jobs is for load runs, not --hold");
	if (conf.jobs > conf.concurrency)
		storm_badusage("--jobs must not exceed --concurrency");
	if (conf.count > 0 && conf.jobs > conf.count)
		storm_badusage("--jobs must not exceed --count");

	storm.conf = &conf;
	storm_raise_nofile();
	storm_resolve(conf.connect);
	if (conf.hold == 0)
		storm_keys_init(&storm.keys, &conf);
	if (conf.jobs > 1)
		return (storm_jobs());
	storm_loop();

	if (conf.hold > 0)
		status = storm_report_hold();
	else {
		failed = storm_report();
		/* An interrupted count run did not show that all is well. */
		status = failed == 0 && storm.reasons[SR_OK] > 0 &&
		    (conf.count == 0 || storm.completed >= conf.count) ? 0 : 1;
	}
	return (status);
}

/* Run the configured storm on a new event loop until it ends. */
static void
storm_loop(void)
{
	const struct storm_conf	*conf = storm.conf;
	struct rusage		 ru;
	struct event		*ev_int, *ev_term, *ev_stop = NULL;
	struct timeval		 tv;
	uint64_t		 slots;
	int			 i;

	if ((storm.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");

	/* Slots: the in-flight bound, or every held connection. */
	slots = conf->hold > 0 ? conf->hold : conf->concurrency;
	storm.slots = xcalloc(slots, sizeof(*storm.slots));
	for (i = (int)slots - 1; i >= 0; i--) {
		storm.slots[i].next_free = storm.free;
		storm.free = &storm.slots[i];
	}

	storm.ev_retry = evtimer_new(storm.base, storm_retry_cb, NULL);
	ev_int = evsignal_new(storm.base, SIGINT, storm_stop_cb, NULL);
	ev_term = evsignal_new(storm.base, SIGTERM, storm_stop_cb, NULL);
	event_add(ev_int, NULL);
	event_add(ev_term, NULL);
	if (conf->duration > 0) {
		tv.tv_sec = (time_t)conf->duration;
		tv.tv_usec = (suseconds_t)((conf->duration - (double)tv.tv_sec) *
		    1e6);
		ev_stop = evtimer_new(storm.base, storm_stop_cb, NULL);
		evtimer_add(ev_stop, &tv);
	}

	storm.t_start = storm.t_end = storm_now_us();
	getrusage(RUSAGE_SELF, &ru);
	storm.cpu0 = storm_ru_us(&ru);
	storm_launch();
	event_base_dispatch(storm.base);
	storm.cpu_us = 0;
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		storm.cpu_us = storm_ru_us(&ru) - storm.cpu0;
	/* Leave sockets as they are: the kernel closes held ones at exit. */
	if (ev_stop != NULL)
		event_free(ev_stop);
	event_free(storm.ev_retry);
	event_free(ev_int);
	event_free(ev_term);
}


/*
 * What a job hands its parent through a pipe: its counters, then nlat
 * latency samples.  The parent merges the samples themselves, so the
 * percentiles are those of the whole run, not an average of percentiles.
 */
struct storm_job_result {
	uint64_t	 reasons[SR_NREASONS];
	uint64_t	 completed, warm_failed, t_start, t_end, nlat;
	double		 cpu_us;
};

static pid_t	 storm_job_pids[STORM_MAXJOBS];
static unsigned	 storm_njobs;

/* TERM or INT to the parent reaches every job (they stop and report). */
static void
storm_jobs_signal(int sig)
{
	unsigned	 j;

	for (j = 0; j < storm_njobs; j++)
		if (storm_job_pids[j] > 0)
			kill(storm_job_pids[j], sig);
}

/* Share of total for job j of n: the remainder goes to the first jobs. */
static uint64_t
storm_share(uint64_t total, unsigned j, unsigned n)
{
	return (total / n + (j < total % n ? 1 : 0));
}

/*
 * --jobs N: fork N processes after the keys are built (so they are built
 * once), each with its share of the count, warm-up and concurrency and every
 * N-th client; merge their results and report once.  Exit status as for one.
 */
static int
storm_jobs(void)
{
	struct storm_conf	*conf = storm.conf;
	struct sigaction	 sa;
	unsigned		 n = conf->jobs, j, k;
	uint64_t		 failed, count = conf->count, warmup = conf->warmup;
	unsigned		 conc = conf->concurrency;
	int			 fds[STORM_MAXJOBS], p[2], st, bad = 0;
	pid_t			 pid;

	fflush(stdout);
	fflush(stderr);
	for (j = 0; j < n; j++) {
		if (pipe(p) == -1)
			fatal("pipe");
		if ((pid = fork()) == -1)
			fatal("fork");
		if (pid == 0) {
			close(p[0]);
			for (k = 0; k < j; k++)
				close(fds[k]);
			break;
		}
		close(p[1]);
		fds[j] = p[0];
		storm_job_pids[j] = pid;
		storm_njobs = j + 1;
	}
	if (j < n) {		/* a job: its share, then its result */
		unsigned me = j;

		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		conf->job = me;
		conf->count = count > 0 ? storm_share(count, me, n) : 0;
		conf->warmup = storm_share(warmup, me, n);
		conf->concurrency = (unsigned)storm_share(conc, me, n);
		conf->quiet = 1;	/* the parent speaks for all */
		storm_loop();
		storm_job_send(p[1]);
		_exit(0);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = storm_jobs_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	for (j = 0; j < n; j++) {
		if (storm_job_merge(fds[j]) == -1) {
			log_warnx("job %u: incomplete result", j);
			bad = 1;
		}
		close(fds[j]);
	}
	for (j = 0; j < n; j++) {
		while (waitpid(storm_job_pids[j], &st, 0) == -1 && errno == EINTR)
			;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			log_warnx("job %u ended abnormally", j);
			bad = 1;
		}
	}
	failed = storm_report();
	return (!bad && failed == 0 && storm.reasons[SR_OK] > 0 &&
	    (count == 0 || storm.completed >= count) ? 0 : 1);
}

/* Write all of p, or fail. */
static int
storm_write_all(int fd, const void *p, size_t n)
{
	const uint8_t	*b = p;
	ssize_t		 r;

	while (n > 0) {
		if ((r = write(fd, b, n)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		b += r;
		n -= (size_t)r;
	}
	return (0);
}

/* Read exactly n bytes of p; -1 on error or early EOF. */
static int
storm_read_all(int fd, void *p, size_t n)
{
	uint8_t		*b = p;
	ssize_t		 r;

	while (n > 0) {
		if ((r = read(fd, b, n)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		if (r == 0)
			return (-1);
		b += r;
		n -= (size_t)r;
	}
	return (0);
}

/* A job's result to its parent. */
static void
storm_job_send(int fd)
{
	struct storm_job_result	 r;

	memset(&r, 0, sizeof(r));
	memcpy(r.reasons, storm.reasons, sizeof(r.reasons));
	r.completed = storm.completed;
	r.warm_failed = storm.warm_failed;
	r.t_start = storm.t_start;
	r.t_end = storm.t_end;
	r.nlat = storm.nlat;
	r.cpu_us = storm.cpu_us;
	if (storm_write_all(fd, &r, sizeof(r)) == -1 ||
	    storm_write_all(fd, storm.lat, storm.nlat * sizeof(*storm.lat)) == -1)
		log_warn("job result");
	close(fd);
}

/*
 * Add one job's result to the totals: counters add up, the measured window
 * runs from the first job's start to the last one's end (CLOCK_MONOTONIC
 * is one clock for all), the latency samples are pooled.
 */
static int
storm_job_merge(int fd)
{
	struct storm_job_result	 r;
	int			 i;

	static unsigned		 merged;

	if (storm_read_all(fd, &r, sizeof(r)) == -1 || r.nlat > r.completed)
		return (-1);
	for (i = 0; i < SR_NREASONS; i++)
		storm.reasons[i] += r.reasons[i];
	storm.completed += r.completed;
	storm.warm_failed += r.warm_failed;
	storm.cpu_us += r.cpu_us;
	if (merged++ == 0 || r.t_start < storm.t_start)
		storm.t_start = r.t_start;
	if (r.t_end > storm.t_end)
		storm.t_end = r.t_end;
	if (r.nlat > 0) {
		storm.lat = xreallocarray(storm.lat, storm.nlat + r.nlat,
		    sizeof(*storm.lat));
		if (storm_read_all(fd, storm.lat + storm.nlat,
		    r.nlat * sizeof(*storm.lat)) == -1)
			return (-1);
		storm.nlat += r.nlat;
		storm.latcap = storm.nlat;
	}
	return (0);
}
