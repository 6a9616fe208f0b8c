/*
 * proc.c: the authority's network workers. Each is a fork+exec of this
 * binary in worker mode, with the listening sockets and its end of a
 * socketpair inherited by descriptor; its memory starts empty of the table
 * and of every secret. The authority reads each channel with a bufferevent
 * and decodes it strictly; a worker that breaks the protocol, floods, or
 * stops reading is ended. A worker that dies is replaced at once (with a
 * back-off when it keeps dying); its peers still in the shared accept queue
 * are served by the others and by its successor.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "log.h"
#include "metrics.h"
#include "msg.h"
#include "park.h"
#include "proc.h"
#include "xmalloc.h"

#define PROC_OUT_MAX		(4 << 20)	/* answers a worker does not read */
#define PROC_FAST_DEATH_MS	2000		/* died this soon: back off */
#define PROC_BACKOFF_MAX_MS	10000
#define PROC_STOP_WAIT_MS	5000		/* then SIGKILL at shutdown */
#define PROC_LOG_LINE_MAX	1024		/* a worker's log line, at most */
#define PROC_RBUF		16384		/* a worker's frames are < 256 bytes */

struct worker {
	unsigned		 index;
	pid_t			 pid;		/* 0: not running */
	struct bufferevent	*bev;		/* writes; reading is rev's */
	struct event		*rev;		/* its frames, read into rbuf */
	struct bufferevent	*logbev;	/* its stderr, when we use syslog */
	struct event		*respawn_ev;
	struct event		*end_ev;	/* deferred end (protocol error) */
	const char		*end_why;
	uint64_t		 started_ms;
	unsigned		 fast_deaths;
	int			 slot_reported;	/* this slot's first worker reported */
	int			 hello;		/* this process has reported in */
	struct msg_stats	 stats;		/* as last reported */
	struct msg_share	 shares[MSG_SHARES_MAX]; /* its MSG_SHARES, last */
	uint8_t			 nshares;
	size_t			 rlen;
	uint8_t			 rbuf[PROC_RBUF];	/* never a secret */
};

static struct worker	 proc_w[PROC_MAX_WORKERS];
static struct proc_config proc_cfg;
static int		 proc_lfds[8 + PROC_MAX_WORKERS];
static int		 proc_lmember[8 + PROC_MAX_WORKERS];	/* -1: every worker's */
static char		 proc_exe[PATH_MAX];
static const char	*proc_test_exe0;	/* test hook: worker 0's program */
static struct event_base *proc_base;
static void		(*proc_serving)(void);
static unsigned		 proc_nreported;
static int		 proc_live;	/* serving() ran: workers may accept */
static pid_t		 proc_owner;	/* the authority (atexit runs in forks too) */
/* The answers to one read's frames leave in one write (proc_flush). */
static struct worker	*proc_batch;
static uint8_t		 proc_bbuf[2 * MSG_FRAME_MAX];	/* secrets: wiped */
static size_t		 proc_blen;
static struct worker	*proc_bw;	/* whose answers proc_bbuf holds */

static void	 proc_spawn(struct worker *);
static void	 proc_log_close(struct worker *);
static void	 proc_flush(void);
static void	 proc_read(evutil_socket_t, short, void *);
static int	 proc_lmine(unsigned, size_t);

/* Worker w's connection cap: its share of a configured total. */
static size_t
proc_cap(const struct worker *w)
{
	size_t	 n = proc_cfg.nworkers, t = proc_cfg.max_total;

	if (t == 0)
		return (proc_cfg.max_conns);
	return (t / n + (w->index < t % n ? 1 : 0));
}

static uint64_t
proc_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* The counters a worker reports are cumulative: add what is new. */
static int
proc_stats(struct worker *w, const struct msg_stats *s, const char **why)
{
	if (s->accepted < w->stats.accepted ||
	    s->accept_paused < w->stats.accept_paused ||
	    s->refused_share < w->stats.refused_share ||
	    s->refused_share > s->accepted ||
	    s->active > proc_cap(w)) {
		*why = "counters out of range";
		return (-1);
	}
	metric_val[M_ACCEPTED] += s->accepted - w->stats.accepted;
	metric_val[M_ACCEPT_PAUSED] += s->accept_paused - w->stats.accept_paused;
	metric_val[M_REFUSED_SHARE] += s->refused_share - w->stats.refused_share;
	metric_active += (int64_t)s->active - (int64_t)w->stats.active;
	w->stats = *s;
	return (0);
}

/* Reap a worker that is gone (or made to go), forget it, restart it. */
static void
proc_lost(struct worker *w)
{
	struct timeval	 tv;
	uint64_t	 up = proc_now_ms() - w->started_ms, delay = 0;
	size_t		 lost;
	char		 how[64];
	int		 st;

	if (w->rev != NULL)
		event_free(w->rev);
	w->rev = NULL;
	w->rlen = 0;
	bufferevent_free(w->bev);
	w->bev = NULL;
	proc_log_close(w);
	evtimer_del(w->end_ev);
	/* Closing its channel is not exiting: make sure it is gone. */
	kill(w->pid, SIGKILL);
	while (waitpid(w->pid, &st, 0) == -1 && errno == EINTR)
		;
	if (WIFSIGNALED(st))
		snprintf(how, sizeof(how), "killed by signal %d", WTERMSIG(st));
	else
		snprintf(how, sizeof(how), "exited with status %d",
		    WEXITSTATUS(st));
	lost = park_worker_gone(w->index);
	metric_active -= (int64_t)w->stats.active;
	memset(&w->stats, 0, sizeof(w->stats));
	w->nshares = 0;
	metric_inc(M_WORKER_DIED);
	metric_workers--;
	if (up < PROC_FAST_DEATH_MS) {
		delay = 100ull << (w->fast_deaths < 7 ? w->fast_deaths : 7);
		if (delay > PROC_BACKOFF_MAX_MS)
			delay = PROC_BACKOFF_MAX_MS;
		w->fast_deaths++;
	} else
		w->fast_deaths = 0;
	log_warnx("worker %u (pid %ld) %s, %zu parked connections lost; "
	    "restarting in %llu ms", w->index, (long)w->pid, how, lost,
	    (unsigned long long)delay);
	w->pid = 0;
	tv.tv_sec = (time_t)(delay / 1000);
	tv.tv_usec = (suseconds_t)(delay % 1000) * 1000;
	evtimer_add(w->respawn_ev, &tv);
}

/* A protocol error: end the worker (from the loop, not inside a caller). */
static void
proc_end_later(struct worker *w, const char *why)
{
	struct timeval	 now = { 0, 0 };

	if (w->end_why != NULL)
		return;
	w->end_why = why;
	event_del(w->rev);
	evtimer_add(w->end_ev, &now);
}

static void
proc_end_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;

	log_warnx("worker %u (pid %ld): %s; ending it", w->index, (long)w->pid,
	    w->end_why);
	metric_inc(M_WORKER_KILLED);
	proc_lost(w);
}

static void
proc_go(struct worker *w)
{
	struct msg	 m;

	memset(&m, 0, sizeof(m));
	m.type = MSG_GO;
	proc_send(w->index, &m);
}

/* Every slot has reported: the authority sets up, then all accept. */
static void
proc_go_all(void)
{
	unsigned	 i;

	/* It may detach (stderr becomes /dev/null): nothing held then. */
	log_hold(0);
	if (proc_serving != NULL)
		proc_serving();
	proc_live = 1;
	for (i = 0; i < proc_cfg.nworkers; i++)
		if (proc_w[i].bev != NULL && proc_w[i].hello)
			proc_go(&proc_w[i]);
}

/*
 * A worker's busiest sources: keep them, and answer with what the other
 * workers last said of the same sources, so that it judges shares on what
 * a source holds everywhere (fair.c). Bounded: MSG_SHARES_MAX sources a
 * report, sums saturated. A lying worker can skew the shares of the
 * sources it names (make one look big everywhere), nothing more: it could
 * already drop every connection it accepts.
 */
static void
proc_shares(struct worker *w, const struct msg *m)
{
	struct msg	 o;
	const struct msg_share *a, *b;
	uint64_t	 sum;
	unsigned	 j;
	size_t		 i, k;

	w->nshares = m->u.shares.n;
	memcpy(w->shares, m->u.shares.e, w->nshares * sizeof(w->shares[0]));
	memset(&o, 0, sizeof(o));
	o.type = MSG_OTHERS;
	for (i = 0; i < w->nshares; i++) {
		a = &w->shares[i];
		sum = 0;
		for (j = 0; j < proc_cfg.nworkers; j++) {
			if (&proc_w[j] == w)
				continue;
			for (k = 0; k < proc_w[j].nshares; k++) {
				b = &proc_w[j].shares[k];
				if (b->family == a->family &&
				    memcmp(b->addr, a->addr, 16) == 0)
					sum += b->count;
			}
		}
		if (sum == 0)
			continue;
		o.u.shares.e[o.u.shares.n] = *a;
		o.u.shares.e[o.u.shares.n++].count = sum > MSG_SHARE_COUNT_MAX ?
		    MSG_SHARE_COUNT_MAX : (uint32_t)sum;
	}
	proc_send(w->index, &o);
}

static int
proc_handle(struct worker *w, const struct msg *m, const char **why)
{
	/* A worker's first message (STATS) says that it is ready; it
	 * accepts once told to (MSG_GO), when the authority can decide. */
	if (!w->hello) {
		w->hello = 1;
		if (proc_live)
			proc_go(w);
		else if (!w->slot_reported) {
			w->slot_reported = 1;
			if (++proc_nreported == proc_cfg.nworkers)
				proc_go_all();
		}
	}
	switch (m->type) {
	case MSG_LOOKUP:
		return (park_lookup(w->index, m, proc_cap(w), why));
	case MSG_DONE:
		if (proc_stats(w, &m->u.done.stats, why) == -1)
			return (-1);
		return (park_done(w->index, m, why));
	case MSG_STATS:
		return (proc_stats(w, &m->u.stats, why));
	case MSG_SHARES:
		proc_shares(w, m);
		return (0);
	}
	*why = "unexpected message";
	return (-1);
}

/*
 * A worker's frames: one read() into its own fixed buffer (no bufferevent:
 * no FIONREAD, no evbuffer), every complete frame decoded strictly, the
 * header judged before a body it announces is awaited. Every valid frame
 * fits in rbuf, so a frame that cannot complete there is never valid.
 */
static void
proc_read(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;
	struct msg	 m;
	const char	*why = NULL;
	size_t		 off = 0;
	ssize_t		 n, r;

	if (w->rlen == sizeof(w->rbuf)) {	/* no valid frame is this long */
		proc_end_later(w, "a frame longer than any valid one");
		return;
	}
	n = read(fd, w->rbuf + w->rlen, sizeof(w->rbuf) - w->rlen);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n <= 0) {		/* EOF or an error: it is gone */
		proc_lost(w);
		return;
	}
	w->rlen += (size_t)n;
	proc_batch = w;
	log_hold(1);
	while (w->end_why == NULL && off < w->rlen) {
		if ((r = msg_decode(w->rbuf + off, w->rlen - off, 1, &m,
		    &why)) == 0)
			break;		/* the rest has not come yet */
		if (r == -1 || proc_handle(w, &m, &why) == -1) {
			proc_end_later(w, why);
			break;
		}
		off += (size_t)r;
	}
	proc_batch = NULL;
	proc_flush();
	log_hold(0);
	if (w->end_why != NULL)
		return;
	memmove(w->rbuf, w->rbuf + off, w->rlen - off);
	w->rlen -= off;
}

static void
proc_event(struct bufferevent *bev, short what, void *arg)
{
	struct worker	*w = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		proc_lost(w);
}

/*
 * A worker logs to stderr only: syslog's socket + connect are outside its
 * seccomp allow-list. When we log to syslog, its stderr is a pipe to us and
 * each line is relayed, bounded: a line without its newline is cut.
 */
static void
proc_log_read(struct bufferevent *bev, void *arg)
{
	struct worker	*w = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	char		*line, *msg;
	size_t		 n;

	while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF)) != NULL) {
		msg = strncmp(line, "mandosd: ", 9) == 0 ? line + 9 : line;
		log_info("worker %u: %.*s", w->index, PROC_LOG_LINE_MAX, msg);
		free(line);
	}
	if (evbuffer_get_length(in) > PROC_LOG_LINE_MAX) {
		log_warnx("worker %u: a log line over %d bytes, dropped",
		    w->index, PROC_LOG_LINE_MAX);
		evbuffer_drain(in, evbuffer_get_length(in));
	}
}

static void
proc_log_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		proc_log_close(arg);
}

static void
proc_log_close(struct worker *w)
{
	if (w->logbev != NULL)
		bufferevent_free(w->logbev);
	w->logbev = NULL;
}

/* At once when nothing is queued before it: a bufferevent write costs
 * two epoll_ctl; what the socket does not take is queued, in order. */
static void
proc_write(struct worker *w, const uint8_t *buf, size_t n)
{
	ssize_t	 wr = 0;

	if (evbuffer_get_length(bufferevent_get_output(w->bev)) == 0 &&
	    (wr = write(bufferevent_getfd(w->bev), buf, n)) == -1)
		wr = 0;	/* EAGAIN, or an error the bufferevent will see */
	if ((size_t)wr < n)
		bufferevent_write(w->bev, buf + wr, n - (size_t)wr);
}

/* Send the answers held while a read's frames were handled. */
static void
proc_flush(void)
{
	struct worker	*w = proc_bw;

	if (proc_blen == 0)
		return;
	if (w->bev != NULL && w->end_why == NULL)
		proc_write(w, proc_bbuf, proc_blen);
	explicit_bzero(proc_bbuf, proc_blen);
	proc_blen = 0;
}

int
proc_send(unsigned wi, const struct msg *m)
{
	static uint8_t	 buf[MSG_FRAME_MAX];
	struct worker	*w = &proc_w[wi];
	size_t		 n;

	if (w->bev == NULL || w->end_why != NULL)
		return (-1);
	if (evbuffer_get_length(bufferevent_get_output(w->bev)) > PROC_OUT_MAX) {
		proc_end_later(w, "does not read its answers");
		return (-1);
	}
	/* An answer to the frames being read waits for the others. */
	if (w == proc_batch) {
		if (proc_blen > 0 && proc_bw != w)
			proc_flush();
		if (proc_blen + MSG_FRAME_MAX > sizeof(proc_bbuf))
			proc_flush();
		proc_bw = w;
		proc_blen += msg_encode(m, proc_bbuf + proc_blen);
		return (0);
	}
	n = msg_encode(m, buf);
	proc_write(w, buf, n);
	explicit_bzero(buf, n);
	return (0);
}

static void
proc_respawn_cb(evutil_socket_t fd, short what, void *arg)
{
	proc_spawn(arg);
}

/* The worker's command line; the caller frees it with proc_argv_free. */
static char **
proc_argv(const struct worker *w, int chfd)
{
	char	**av = xcalloc(48 + 2 * proc_cfg.nlisten, sizeof(char *));
	size_t	 n = 0, i;

	av[n++] = xstrdup(proc_exe);
	av[n++] = xstrdup("--worker");
	xasprintf(&av[n++], "%d,%u", chfd, w->index);
	for (i = 0; i < proc_cfg.nlisten; i++) {
		if (!proc_lmine(w->index, i))
			continue;
		av[n++] = xstrdup("--listen");
		xasprintf(&av[n++], "%d", proc_lfds[i]);
	}
	av[n++] = xstrdup("--priority");
	av[n++] = xstrdup(proc_cfg.priority);
	av[n++] = xstrdup("--version-ms");
	xasprintf(&av[n++], "%llu", (unsigned long long)proc_cfg.version_ms);
	av[n++] = xstrdup("--handshake-ms");
	xasprintf(&av[n++], "%llu", (unsigned long long)proc_cfg.handshake_ms);
	av[n++] = xstrdup("--send-ms");
	xasprintf(&av[n++], "%llu", (unsigned long long)proc_cfg.send_ms);
	av[n++] = xstrdup("--max-connections");
	xasprintf(&av[n++], "%zu", proc_cap(w));
	if (proc_cfg.debug)
		av[n++] = xstrdup("--debug");
	if (proc_cfg.to_stderr)
		av[n++] = xstrdup("--stderr");
	if (proc_cfg.user != NULL) {
		av[n++] = xstrdup("--user");
		av[n++] = xstrdup(proc_cfg.user);
	}
	if (proc_cfg.chroot_dir != NULL) {
		av[n++] = xstrdup("--chroot");
		av[n++] = xstrdup(proc_cfg.chroot_dir);
	}
	if (!proc_cfg.seccomp)
		av[n++] = xstrdup("--no-seccomp");
	if (!proc_cfg.fair.enabled)
		av[n++] = xstrdup("--no-fair-share");
	av[n++] = xstrdup("--source-prefix4");
	xasprintf(&av[n++], "%u", proc_cfg.fair.prefix4);
	av[n++] = xstrdup("--source-prefix6");
	xasprintf(&av[n++], "%u", proc_cfg.fair.prefix6);
	av[n++] = xstrdup("--handshake-slots");
	xasprintf(&av[n++], "%zu", proc_cfg.fair.max_handshakes);
	av[n++] = xstrdup("--stale-ms");
	xasprintf(&av[n++], "%llu", (unsigned long long)proc_cfg.fair.stale_ms);
	av[n++] = xstrdup("--refusal-log-ms");
	xasprintf(&av[n++], "%llu",
	    (unsigned long long)proc_cfg.fair.log_interval_ms);
	av[n] = NULL;
	return (av);
}

static void
proc_argv_free(char **av)
{
	size_t	 i;

	for (i = 0; av[i] != NULL; i++)
		free(av[i]);
	free(av);
}

/* In the child: only what the worker needs crosses the exec (stdio, the
 * channel, the listening sockets), whatever else lacks FD_CLOEXEC. */
/* Does worker wi get listening socket i? Its own in a steered group, and
 * every shared one. */
static int
proc_lmine(unsigned wi, size_t i)
{
	return (proc_lmember[i] == -1 || proc_lmember[i] == (int)wi);
}

static void
proc_child_fds(unsigned wi, int chfd, int logfd)
{
	int	 fd, max = chfd, keep;
	size_t	 i;

	if (logfd != -1)	/* its stderr: the pipe to us (the copy closes below) */
		dup2(logfd, STDERR_FILENO);
	for (i = 0; i < proc_cfg.nlisten; i++)
		if (proc_lfds[i] > max)
			max = proc_lfds[i];
	for (fd = 3; fd <= max; fd++) {
		keep = fd == chfd;
		for (i = 0; i < proc_cfg.nlisten; i++)
			keep |= fd == proc_lfds[i] && proc_lmine(wi, i);
		if (keep)
			fcntl(fd, F_SETFD, 0);
		else
			close(fd);
	}
	close_range((unsigned)max + 1, ~0U, 0);
}

static void
proc_spawn(struct worker *w)
{
	struct timeval	 one = { 1, 0 };
	sigset_t	 stop;
	char		**av;
	int		 sv[2], lp[2] = { -1, -1 };
	pid_t		 pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("worker %u: socketpair; retrying in 1 s", w->index);
		evtimer_add(w->respawn_ev, &one);
		return;
	}
	if (!proc_cfg.to_stderr && pipe2(lp, O_CLOEXEC) == -1) {
		log_warn("worker %u: pipe; retrying in 1 s", w->index);
		close(sv[0]);
		close(sv[1]);
		evtimer_add(w->respawn_ev, &one);
		return;
	}
	av = proc_argv(w, sv[1]);
	switch ((pid = fork())) {
	case -1:
		log_warn("worker %u: fork; retrying in 1 s", w->index);
		close(sv[0]);
		close(sv[1]);
		if (lp[0] != -1) {
			close(lp[0]);
			close(lp[1]);
		}
		proc_argv_free(av);
		evtimer_add(w->respawn_ev, &one);
		return;
	case 0:
		/* A stop signal before the worker's handlers are in place
		 * waits for them (the worker unblocks), instead of being
		 * lost to our handler here or killing it half-started. */
		sigemptyset(&stop);
		sigaddset(&stop, SIGTERM);
		sigaddset(&stop, SIGINT);
		sigprocmask(SIG_BLOCK, &stop, NULL);
		proc_child_fds(w->index, sv[1], lp[1]);
		execv(w->index == 0 && proc_test_exe0 != NULL ? proc_test_exe0 :
		    proc_exe, av);
		_exit(127);
	}
	close(sv[1]);
	proc_argv_free(av);
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	if (lp[0] != -1) {
		close(lp[1]);
		fcntl(lp[0], F_SETFL, fcntl(lp[0], F_GETFL) | O_NONBLOCK);
		w->logbev = bufferevent_socket_new(proc_base, lp[0],
		    BEV_OPT_CLOSE_ON_FREE);
		bufferevent_setcb(w->logbev, proc_log_read, NULL,
		    proc_log_event, w);
		bufferevent_setwatermark(w->logbev, EV_READ, 0,
		    4 * PROC_LOG_LINE_MAX);
		bufferevent_enable(w->logbev, EV_READ);
	}
	w->pid = pid;
	w->started_ms = proc_now_ms();
	w->end_why = NULL;
	w->hello = 0;
	w->rlen = 0;
	w->bev = bufferevent_socket_new(proc_base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(w->bev, NULL, NULL, proc_event, w);
	bufferevent_disable(w->bev, EV_READ);	/* proc_read reads */
	bufferevent_enable(w->bev, EV_WRITE);
	w->rev = event_new(proc_base, sv[0], EV_READ | EV_PERSIST, proc_read, w);
	event_add(w->rev, NULL);
	metric_workers++;
	log_debug("worker %u started, pid %ld", w->index, (long)pid);
}

/*
 * A fatal error exits the authority without proc_stop(): end and reap the
 * workers first, so that when our exit status reaches the caller (a
 * detached start's parent waits for it) nothing of ours holds the port.
 */
static void
proc_atexit(void)
{
	unsigned	 i;

	if (getpid() != proc_owner)
		return;
	for (i = 0; i < proc_cfg.nworkers; i++)
		if (proc_w[i].pid != 0)
			kill(proc_w[i].pid, SIGKILL);
	for (i = 0; i < proc_cfg.nworkers; i++)
		if (proc_w[i].pid != 0) {
			while (waitpid(proc_w[i].pid, NULL, 0) == -1 &&
			    errno == EINTR)
				;
			proc_w[i].pid = 0;
		}
}

int
proc_start(struct event_base *base, const struct proc_config *cfg,
    void (*serving)(void), char **errstr)
{
	ssize_t	 n;
	unsigned i;

	proc_base = base;
	proc_cfg = *cfg;
	proc_serving = serving;
	if (proc_cfg.nworkers < 1 || proc_cfg.nworkers > PROC_MAX_WORKERS ||
	    proc_cfg.nlisten > sizeof(proc_lfds) / sizeof(proc_lfds[0])) {
		xasprintf(errstr, "between 1 and %d workers", PROC_MAX_WORKERS);
		return (-1);
	}
	memcpy(proc_lfds, cfg->listen_fds, cfg->nlisten * sizeof(int));
	proc_owner = getpid();
	atexit(proc_atexit);
	memcpy(proc_lmember, cfg->listen_members, cfg->nlisten * sizeof(int));
	/* The same binary, whatever the working directory or PATH. */
	if ((n = readlink("/proc/self/exe", proc_exe, sizeof(proc_exe) - 1))
	    == -1) {
		xasprintf(errstr, "/proc/self/exe: %s", strerror(errno));
		return (-1);
	}
	proc_exe[n] = '\0';
	/* t/worker/evil.sh: a fake worker 0 that speaks bad frames. */
	if ((proc_test_exe0 = getenv("MANDOSD_TEST_WORKER0")) != NULL)
		log_warnx("MANDOSD_TEST_WORKER0: worker 0 is %s", proc_test_exe0);
	for (i = 0; i < proc_cfg.nworkers; i++) {
		proc_w[i].index = i;
		proc_w[i].respawn_ev = evtimer_new(base, proc_respawn_cb,
		    &proc_w[i]);
		proc_w[i].end_ev = evtimer_new(base, proc_end_cb, &proc_w[i]);
		proc_spawn(&proc_w[i]);
	}
	return (0);
}

size_t
proc_pids(long *pids, size_t max)
{
	size_t	 i, n = 0;

	for (i = 0; i < proc_cfg.nworkers && n < max; i++)
		if (proc_w[i].pid != 0)
			pids[n++] = (long)proc_w[i].pid;
	return (n);
}

/* Wait for a worker that was asked to stop; SIGKILL it after a while. */
static int
proc_reap(struct worker *w, uint64_t deadline)
{
	struct timespec	 ms10 = { 0, 10 * 1000 * 1000 };
	pid_t		 r;
	int		 st;

	while ((r = waitpid(w->pid, &st, WNOHANG)) == 0) {
		if (proc_now_ms() > deadline) {
			log_warnx("worker %u (pid %ld) did not stop; killing it",
			    w->index, (long)w->pid);
			kill(w->pid, SIGKILL);
			deadline = UINT64_MAX;
		}
		nanosleep(&ms10, NULL);
	}
	if (r == -1)
		return (-1);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return (0);
	log_warnx("worker %u (pid %ld) %s %d at exit", w->index, (long)w->pid,
	    WIFEXITED(st) ? "exited with status" : "killed by signal",
	    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	return (-1);
}

int
proc_stop(void)
{
	uint64_t	 deadline = proc_now_ms() + PROC_STOP_WAIT_MS;
	unsigned	 i;
	int		 bad = 0;

	for (i = 0; i < proc_cfg.nworkers; i++)
		if (proc_w[i].pid != 0)
			kill(proc_w[i].pid, SIGTERM);
	for (i = 0; i < proc_cfg.nworkers; i++) {
		struct worker	*w = &proc_w[i];

		if (w->pid != 0 && proc_reap(w, deadline) == -1)
			bad = 1;
		w->pid = 0;
		if (w->rev != NULL)
			event_free(w->rev);
		w->rev = NULL;
		if (w->bev != NULL)
			bufferevent_free(w->bev);
		w->bev = NULL;
		proc_log_close(w);
		event_free(w->respawn_ev);
		event_free(w->end_ev);
	}
	metric_workers = 0;
	return (bad ? -1 : 0);
}
