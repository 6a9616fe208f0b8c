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
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "accept.h"
#include "conn.h"
#include "log.h"
#include "msg.h"
#include "sandbox.h"
#include "tls.h"
#include "worker.h"
#include "xmalloc.h"

#define WORKER_FD_RESERVE	16	/* channel, logs, TLS's own */
#define WORKER_OUT_MAX		(8 << 20)	/* the authority stopped reading */
#define WORKER_STATS_MS		100	/* counters reach the authority this soon */

static struct event_base *worker_base;
static struct bufferevent *worker_bev;
static struct event	*worker_rev, *worker_stats_ev;
static int		 worker_fd = -1;
static uint8_t		 worker_rbuf[2 * MSG_FRAME_MAX];	/* may hold a secret */
static size_t		 worker_rlen;
static size_t		 worker_cap;	/* connections at most */
static int		 worker_accepting;

enum { WO_WORKER = 1, WO_LISTEN, WO_PRIORITY, WO_VERSION_MS, WO_HANDSHAKE_MS,
    WO_SEND_MS, WO_MAX_CONNS, WO_DEBUG, WO_STDERR, WO_USER, WO_CHROOT,
    WO_NO_SECCOMP };

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
	s->active = (uint32_t)conn_count();
}

void
worker_send(struct msg *m)
{
	static uint8_t	 buf[MSG_HDR_LEN + 256];	/* a worker sends small frames */
	size_t		 n;

	if (worker_bev == NULL)
		return;
	n = msg_encode(m, buf);
	if (evbuffer_get_length(bufferevent_get_output(worker_bev)) >
	    WORKER_OUT_MAX) {
		log_warnx("worker: the authority does not read; stopping");
		event_base_loopbreak(worker_base);
		return;
	}
	bufferevent_write(worker_bev, buf, n);
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
		if (m.type != MSG_GO)
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
	proctitle_set("mandosd: worker %d", index);
	/* pgrep -x mandosd finds the authority (and its checker spawner). */
	prctl(PR_SET_NAME, "mandosd-worker");
	log_init("mandosd", to_stderr, debug);
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
	/* "Ready": the authority answers MSG_GO once it can decide. */
	worker_cap = cap;
	worker_stats_cb(-1, 0, NULL);
	log_debug("worker %d: serving, at most %zu connections", index, cap);

	event_base_dispatch(worker_base);

	conn_close_all();
	acc_close();
	/* What is still queued for the authority is best effort now. */
	bufferevent_free(worker_bev);
	worker_bev = NULL;
	close(worker_fd);
	event_free(worker_rev);
	event_free(worker_stats_ev);
	for (i = 0; i < 2; i++)
		event_free(sigev[i]);
	event_base_free(worker_base);
	explicit_bzero(worker_rbuf, sizeof(worker_rbuf));
	tls_shutdown();
	return (0);
}
