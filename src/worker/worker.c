/*
 * worker.c: a network worker, started by the authority as
 * "mandosd --worker FD,INDEX ..." (fork+exec: this image never had the
 * table or a secret in its memory). It inherits the listening sockets and
 * its end of the channel, makes its TLS credentials, enters the sandbox,
 * and then runs one single-threaded loop of nonblocking TLS sessions. It
 * decides nothing: what a peer gets is the authority's answer.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "accept.h"
#include "conn.h"
#include "fair.h"
#include "log.h"
#include "msg.h"
#include "proctitle.h"
#include "sandbox.h"
#include "tls.h"
#include "worker.h"
#include "xmalloc.h"

#define WORKER_FD_RESERVE	16	/* channel, logs, TLS's own */
#define WORKER_OUT_MAX		(8 << 20)	/* the authority stopped reading */
#define WORKER_STATS_MS		100	/* counters reach the authority this soon */
#define WORKER_SHARES_MS	50	/* per-source counts, for shares across workers */

static struct event_base *worker_base;
static struct bufferevent *worker_bev;
static struct event	*worker_rev, *worker_stats_ev;
static struct event	*worker_shares_ev;
static size_t		 worker_shares_last;	/* sources in the last report */
static int		 worker_fd = -1;
static uint8_t		 worker_rbuf[2 * MSG_FRAME_MAX];	/* may hold a secret */
static uint8_t		 worker_obuf[16384];	/* frames of this round, no secret */
static size_t		 worker_olen;
static struct event	*worker_flush_ev;	/* made active: sends worker_obuf */
static size_t		 worker_rlen;
static size_t		 worker_cap;	/* connections at most */
static int		 worker_accepting;

enum { WO_WORKER = 1, WO_LISTEN, WO_PRIORITY, WO_VERSION_MS, WO_HANDSHAKE_MS,
    WO_SEND_MS, WO_MAX_CONNS, WO_DEBUG, WO_STDERR, WO_USER, WO_CHROOT,
    WO_NO_SECCOMP, WO_NO_FAIR, WO_PREFIX4, WO_PREFIX6, WO_HS_SLOTS,
    WO_STALE_MS, WO_REFUSAL_LOG_MS };

static const struct option worker_opts[] = {
	{ "worker",		required_argument, NULL, WO_WORKER },
	{ "listen",		required_argument, NULL, WO_LISTEN },
	{ "priority",		required_argument, NULL, WO_PRIORITY },
	{ "version-ms",		required_argument, NULL, WO_VERSION_MS },
	{ "handshake-ms",	required_argument, NULL, WO_HANDSHAKE_MS },
	{ "send-ms",		required_argument, NULL, WO_SEND_MS },
	{ "max-connections",	required_argument, NULL, WO_MAX_CONNS },
	{ "debug",		no_argument,	   NULL, WO_DEBUG },
	{ "stderr",		no_argument,	   NULL, WO_STDERR },
	{ "user",		required_argument, NULL, WO_USER },
	{ "chroot",		required_argument, NULL, WO_CHROOT },
	{ "no-seccomp",		no_argument,	   NULL, WO_NO_SECCOMP },
	{ "no-fair-share",	no_argument,	   NULL, WO_NO_FAIR },
	{ "source-prefix4",	required_argument, NULL, WO_PREFIX4 },
	{ "source-prefix6",	required_argument, NULL, WO_PREFIX6 },
	{ "handshake-slots",	required_argument, NULL, WO_HS_SLOTS },
	{ "stale-ms",		required_argument, NULL, WO_STALE_MS },
	{ "refusal-log-ms",	required_argument, NULL, WO_REFUSAL_LOG_MS },
	{ NULL, 0, NULL, 0 }
};

/* A number option of the authority's command line, or exit. */
static long long
worker_num(const char *s, long long max)
{
	char		*end;
	long long	 n;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || n < 0 || n > max) {
		fprintf(stderr, "mandosd worker: bad number \"%s\"\n", s);
		exit(2);
	}
	return (n);
}

void
worker_stats(struct msg_stats *s)
{
	s->accepted = acc_accepted;
	s->accept_paused = acc_paused;
	s->refused_share = fair_counted[FAIR_R_SOURCE_SHARE];
	s->active = (uint32_t)conn_count();
}

/*
 * Write a frame at once when nothing is queued before it: a bufferevent
 * write would cost two epoll_ctl (write interest on, then off) per frame.
 * What the socket does not take now is queued, in order, as before.
 */
static void
worker_write(struct bufferevent *bev, const uint8_t *buf, size_t n)
{
	ssize_t	 w = 0;

	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0 &&
	    (w = write(bufferevent_getfd(bev), buf, n)) == -1)
		w = 0;	/* EAGAIN, or an error the bufferevent will see */
	if ((size_t)w < n)
		bufferevent_write(bev, buf + w, n - (size_t)w);
}

/*
 * Frames wait in worker_obuf until the loop has run every callback of this
 * round (worker_flush_ev is made active, not added): the LOOKUPs and DONEs
 * of one round leave in one write, and wake the authority once.
 */
void
worker_send(struct msg *m)
{
	size_t		 n;

	if (worker_bev == NULL)
		return;
	if (evbuffer_get_length(bufferevent_get_output(worker_bev)) >
	    WORKER_OUT_MAX) {
		log_warnx("worker: the authority does not read; stopping");
		event_base_loopbreak(worker_base);
		return;
	}
	if (worker_olen + MSG_HDR_LEN + 256 > sizeof(worker_obuf))
		worker_flush();
	n = msg_encode(m, worker_obuf + worker_olen);
	worker_olen += n;
	if (worker_flush_ev != NULL)
		event_active(worker_flush_ev, EV_WRITE, 1);
	else
		worker_flush();
}

/* Send what this round queued: one write (the socket's leftover queued). */
void
worker_flush(void)
{
	if (worker_olen == 0 || worker_bev == NULL)
		return;
	worker_write(worker_bev, worker_obuf, worker_olen);
	worker_olen = 0;
}

static void
worker_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	worker_flush();
}

static void
worker_stats_cb(evutil_socket_t fd, short what, void *arg)
{
	struct msg	 m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_STATS;
	worker_stats(&m.u.stats);
	worker_send(&m);
}

/* Our busiest sources, to the authority, which answers MSG_OTHERS; an
 * empty report once, then none while there is nothing to say. */
static void
worker_shares_cb(evutil_socket_t fd, short what, void *arg)
{
	struct msg	 m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_SHARES;
	m.u.shares.n = (uint8_t)fair_report(m.u.shares.e, MSG_SHARES_MAX);
	if (m.u.shares.n > 0 || worker_shares_last > 0)
		worker_send(&m);
	worker_shares_last = m.u.shares.n;
}

void
worker_stats_changed(void)
{
	struct timeval	 tv = { 0, WORKER_STATS_MS * 1000 };

	if (worker_stats_ev != NULL && !evtimer_pending(worker_stats_ev, NULL))
		evtimer_add(worker_stats_ev, &tv);
}

/* The authority's answers. Read into our own buffer, not an evbuffer:
 * a secret passes through it, and it must be wiped once consumed. */
static void
worker_read(evutil_socket_t fd, short what, void *arg)
{
	struct msg	 m;
	const char	*why;
	ssize_t		 n, r = 0;
	size_t		 off = 0;

	n = read(fd, worker_rbuf + worker_rlen, sizeof(worker_rbuf) - worker_rlen);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (n == -1)
			log_warn("worker: channel");
		event_base_loopbreak(worker_base);	/* the authority is gone */
		return;
	}
	worker_rlen += (size_t)n;
	while (off < worker_rlen && (r = msg_decode(worker_rbuf + off,
	    worker_rlen - off, 0, &m, &why)) > 0) {
		if (m.type == MSG_OTHERS)
			fair_others(m.u.shares.e, m.u.shares.n);
		else if (m.type != MSG_GO)
			conn_answer(&m);
		else if (!worker_accepting) {
			worker_accepting = 1;
			acc_start(worker_base, worker_cap);
		}
		off += (size_t)r;
	}
	memmove(worker_rbuf, worker_rbuf + off, worker_rlen - off);
	explicit_bzero(worker_rbuf + worker_rlen - off, off);
	worker_rlen -= off;
	if (r == -1) {
		log_warnx("worker: from the authority: %s", why);
		event_base_loopbreak(worker_base);
	}
}

static void
worker_bev_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		event_base_loopbreak(worker_base);
}

static void
worker_signal(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopbreak(worker_base);
}

static size_t		 worker_nofile;	/* RLIMIT_NOFILE, for the fair-share room */

/* Raise the descriptor limit to the hard limit; the cap follows from it. */
static size_t
worker_max_connections(long long configured)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur > 1000000)
		rl.rlim_cur = 1000000;
	worker_nofile = (size_t)rl.rlim_cur;
	if (configured > 0)
		return ((size_t)configured);
	return (rl.rlim_cur > 2 * WORKER_FD_RESERVE ?
	    rl.rlim_cur - WORKER_FD_RESERVE : WORKER_FD_RESERVE);
}

int
worker_main(int argc, char **argv)
{
	struct conn_timeouts	 to = { 10000, 10000, 10000 };
	struct sandbox_cfg	 sb = { NULL, NULL, 0, 1 };
	struct fair_config	 fc = { .enabled = 1, .prefix4 = 32, .prefix6 = 64,
	    .max_handshakes = 128, .stale_ms = 1000, .log_interval_ms = 10000 };
	struct event		*sigev[2];
	sigset_t		 stop;
	char			*priority = NULL, *err = NULL, *end;
	long long		 maxc = 0;
	int			 ch, index = -1, debug = 0, to_stderr = 0, i;
	size_t			 cap;

	proctitle_init(argc, argv);
	while ((ch = getopt_long(argc, argv, "", worker_opts, NULL)) != -1) {
		switch (ch) {
		case WO_WORKER:
			errno = 0;
			worker_fd = (int)strtol(optarg, &end, 10);
			if (*end != ',' || worker_fd < 3 || errno != 0) {
				fprintf(stderr, "mandosd: --worker FD,INDEX\n");
				exit(2);
			}
			index = (int)worker_num(end + 1, 4096);
			break;
		case WO_LISTEN:
			if (acc_add((int)worker_num(optarg, INT_MAX)) == -1) {
				fprintf(stderr, "mandosd worker: too many "
				    "listening sockets\n");
				exit(2);
			}
			break;
		case WO_PRIORITY: priority = optarg; break;
		case WO_VERSION_MS: to.version_ms = (uint64_t)worker_num(optarg, LLONG_MAX); break;
		case WO_HANDSHAKE_MS: to.handshake_ms = (uint64_t)worker_num(optarg, LLONG_MAX); break;
		case WO_SEND_MS: to.send_ms = (uint64_t)worker_num(optarg, LLONG_MAX); break;
		case WO_MAX_CONNS: maxc = worker_num(optarg, INT_MAX); break;
		case WO_DEBUG: debug = 1; break;
		case WO_STDERR: to_stderr = 1; break;
		case WO_USER: sb.user = optarg; break;
		case WO_CHROOT: sb.chroot_dir = optarg; break;
		case WO_NO_SECCOMP: sb.seccomp = 0; break;
		case WO_NO_FAIR: fc.enabled = 0; break;
		case WO_PREFIX4: fc.prefix4 = (unsigned)worker_num(optarg, 32); break;
		case WO_PREFIX6: fc.prefix6 = (unsigned)worker_num(optarg, 128); break;
		case WO_HS_SLOTS: fc.max_handshakes = (size_t)worker_num(optarg, 1000000); break;
		case WO_STALE_MS: fc.stale_ms = (uint64_t)worker_num(optarg, LLONG_MAX); break;
		case WO_REFUSAL_LOG_MS: fc.log_interval_ms = (uint64_t)worker_num(optarg, LLONG_MAX); break;
		default:
			fprintf(stderr, "mandosd: the worker mode is for the "
			    "server's own use\n");
			exit(2);
		}
	}
	if (index < 0 || optind != argc) {
		fprintf(stderr, "mandosd: the worker mode is for the server's "
		    "own use\n");
		exit(2);
	}
	/* "mandosd: worker 2", comm mandosd-w2: pgrep -x mandosd finds the
	 * authority (and its checker spawner) only. */
	proctitle_set("worker %d", index);
	/* stderr always: syslog's socket + connect are outside the seccomp
	 * allow-list; a detached authority relays our stderr to syslog. */
	(void)to_stderr;
	log_init("mandosd", 1, debug);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);	/* the authority's business */
	signal(SIGUSR1, SIG_IGN);
	cap = worker_max_connections(maxc);
	if (fcntl(worker_fd, F_SETFD, FD_CLOEXEC) == -1 ||
	    fcntl(worker_fd, F_SETFL, O_NONBLOCK) == -1)
		fatal("worker %d: channel descriptor %d", index, worker_fd);
	if (tls_init(priority != NULL ? priority : TLS_DEFAULT_PRIORITY,
	    &err) == -1)
		fatalx("worker %d: %s", index, err);
	if ((worker_base = event_base_new()) == NULL)
		fatalx("worker %d: event_base_new failed", index);

	worker_bev = bufferevent_socket_new(worker_base, worker_fd, 0);
	bufferevent_setcb(worker_bev, NULL, NULL, worker_bev_event, NULL);
	bufferevent_disable(worker_bev, EV_READ);	/* worker_read reads */
	worker_rev = event_new(worker_base, worker_fd, EV_READ | EV_PERSIST,
	    worker_read, NULL);
	event_add(worker_rev, NULL);
	worker_stats_ev = evtimer_new(worker_base, worker_stats_cb, NULL);
	worker_flush_ev = event_new(worker_base, -1, 0, worker_flush_cb, NULL);
	sigev[0] = evsignal_new(worker_base, SIGTERM, worker_signal, NULL);
	sigev[1] = evsignal_new(worker_base, SIGINT, worker_signal, NULL);
	for (i = 0; i < 2; i++)
		evsignal_add(sigev[i], NULL);
	sigemptyset(&stop);	/* blocked by the authority until now */
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigprocmask(SIG_UNBLOCK, &stop, NULL);
	/* Everything is open and set up (the signal pipe included): from
	 * here on only the loop's own system calls, then network bytes. */
	if (sandbox_enter(&sb, &err) == -1)
		fatalx("worker %d: sandbox: %s", index, err);
	conn_init(worker_base, &to, acc_conn_closed);
	if (fc.max_handshakes < 1)
		fc.max_handshakes = 1;
	fc.max_slots = cap;
	/* Evictable for another source when replaceable, not before. */
	fc.grace_ms = fc.silent_ms = fc.stale_ms;
	/* The fair-share room holds descriptors too: what the cap leaves. */
	fc.max_room = worker_nofile > cap + 2 * WORKER_FD_RESERVE ?
	    worker_nofile - cap - 2 * WORKER_FD_RESERVE : 1;
	fair_init(worker_base, &fc, conn_hs_grant);
	if (fc.enabled) {
		struct timeval	 tv = { 0, WORKER_SHARES_MS * 1000 };

		worker_shares_ev = event_new(worker_base, -1, EV_PERSIST,
		    worker_shares_cb, NULL);
		event_add(worker_shares_ev, &tv);
	}
	/* "Ready": the authority answers MSG_GO once it can decide. */
	worker_cap = cap;
	worker_stats_cb(-1, 0, NULL);
	log_debug("worker %d: serving, at most %zu connections", index, cap);

	event_base_dispatch(worker_base);

	conn_close_all();
	acc_close();	/* and the connections waiting for a slot */
	fair_shutdown();
	worker_flush();		/* the last DONEs: the loop no longer runs */
	/* What is still queued for the authority is best effort now. */
	bufferevent_free(worker_bev);
	worker_bev = NULL;
	close(worker_fd);
	event_free(worker_rev);
	event_free(worker_stats_ev);
	if (worker_shares_ev != NULL)
		event_free(worker_shares_ev);
	event_free(worker_flush_ev);
	worker_flush_ev = NULL;
	for (i = 0; i < 2; i++)
		event_free(sigev[i]);
	event_base_free(worker_base);
	explicit_bzero(worker_rbuf, sizeof(worker_rbuf));
	tls_shutdown();
	return (0);
}
