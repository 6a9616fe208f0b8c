/*
 * accept.c: a worker accepts on the listening sockets that the authority
 * bound and every worker shares: the kernel's accept queue is one, so a
 * worker that dies leaves its queued peers to the others and to its
 * successor. Accepting stops at this worker's connection cap and, for a
 * second, when descriptors run out (EMFILE must never spin the loop), and
 * resumes as connections end. With fair shares (fair.c) the cap does not
 * stop accepting: each connection is looked at, then served, served in
 * place of an over-share source's, kept waiting, or refused. Its shares are
 * this worker's, judged on what each source holds in every worker as the
 * authority last summed it (fair_others); exact per source when one source
 * always reaches the same worker (see listen.c's steering).
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "accept.h"
#include "conn.h"
#include "fair.h"
#include "log.h"
#include "worker.h"

#define ACC_MAX		8	/* the authority's LSN_MAX */
#define ACC_BATCH	16	/* accepts per wake-up: the others get their share */

struct acceptor {
	int		 fd;
	struct event	*ev;
};

uint64_t		 acc_accepted;
uint64_t		 acc_paused;
static struct acceptor	 acc_l[ACC_MAX];
static size_t		 acc_n;
static size_t		 acc_max;
static int		 acc_paused_now;
static struct event	*acc_retry_ev;
static struct event	*acc_stale_ev;	/* a waiter may replace a stale peer */
static int		 acc_admitting;	/* evicting for a newcomer: do not drain */
static struct event_base *acc_base;

static void	 acc_accept(evutil_socket_t, short, void *);

int
acc_add(int fd)
{
	if (acc_n == ACC_MAX)
		return (-1);
	acc_l[acc_n++].fd = fd;
	return (0);
}

/* Stop accepting (at the cap, or for a second when out of descriptors). */
static void
acc_pause(int out_of_fds)
{
	struct timeval	 one = { 1, 0 };
	size_t		 i;

	if (!acc_paused_now) {
		acc_paused++;
		worker_stats_changed();
		for (i = 0; i < acc_n; i++)
			event_del(acc_l[i].ev);
		acc_paused_now = 1;
	}
	if (out_of_fds)
		evtimer_add(acc_retry_ev, &one);
}

/* Accept again, unless we are still at the cap. */
static void
acc_resume(void)
{
	size_t	 i;

	if (!acc_paused_now || (fair_enabled() ? !fair_accepting() :
	    conn_count() >= acc_max))
		return;
	acc_paused_now = 0;
	evtimer_del(acc_retry_ev);
	for (i = 0; i < acc_n; i++)
		event_add(acc_l[i].ev, NULL);
}

/* The retry timer after EMFILE. */
static void
acc_retry(evutil_socket_t fd, short what, void *arg)
{
	acc_resume();
}

/* Milliseconds on the monotonic clock, as fair.c counts. */
static uint64_t
acc_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* Look again when a waiter could replace a peer gone stale. */
static void
acc_arm_stale(void)
{
	struct timeval	 tv;
	uint64_t	 ms = fair_next_stale_ms(acc_now_ms());

	if (ms == UINT64_MAX || acc_stale_ev == NULL)
		return;
	ms += 1;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(acc_stale_ev, &tv);
}

/* Serve fd, after closing the connection whose slot it takes. */
static void
acc_serve(int fd, const struct sockaddr *sa, socklen_t len, void *victim)
{
	if (victim != NULL) {
		acc_admitting = 1;	/* that slot is this newcomer's */
		conn_evict(victim);
		acc_admitting = 0;
	}
	conn_new(fd, sa, len);
}

/* Hand free (or freeable) slots to the connections waiting for one. */
static void
acc_drain(void)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	void			*victim;
	int			 fd;

	while (fair_next(acc_now_ms(), &fd, &ss, &len, &victim))
		acc_serve(fd, (struct sockaddr *)&ss, len, victim);
	acc_arm_stale();
}

static void
acc_stale(evutil_socket_t fd, short what, void *arg)
{
	acc_drain();
	acc_resume();
}

void
acc_conn_closed(void)
{
	if (acc_admitting)
		return;
	/* Hand the slot out from the loop, not from inside conn_close(): a
	 * caller walking the connections must not see one evicted under it. */
	if (fair_waiting() > 0 && acc_stale_ev != NULL)
		event_active(acc_stale_ev, EV_TIMEOUT, 1);
	acc_resume();
}

/* A new connection: ask fair.c what becomes of it. */
static void
acc_admit(int fd, const struct sockaddr *sa, socklen_t len)
{
	void	*victim;

	/* Slots freed in this round go to the waiters first (acc_conn_closed
	 * hands them out only from the loop, after this batch): a room kept
	 * full meanwhile would refuse newcomers below the cap. */
	if (fair_waiting() > 0 && fair_free() > 0)
		acc_drain();
	switch (fair_admit(sa, len, fd, acc_now_ms(), &victim)) {
	case FAIR_ADMIT:
	case FAIR_EVICT:
		acc_serve(fd, sa, len, victim);
		break;
	case FAIR_QUEUED:
		acc_arm_stale();
		break;
	case FAIR_REFUSE:	/* counted and summarised by fair.c */
		close(fd);
		worker_stats_changed();	/* the authority counts it */
		break;
	}
}

/* Accept a batch of connections. */
static void
acc_accept(evutil_socket_t fd, short what, void *arg)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int			 cfd, i;
	static int		 warned_fds;

	for (i = 0; i < ACC_BATCH; i++) {
		if (fair_enabled() && !fair_accepting()) {
			acc_pause(0);	/* one source waits alone: the backlog is fine */
			return;
		}
		if (!fair_enabled() && conn_count() >= acc_max) {
			log_debug("connection cap %zu reached; not accepting",
			    acc_max);
			acc_pause(0);
			return;
		}
		len = sizeof(ss);
		cfd = accept4(fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1) {
			switch (errno) {
			case EAGAIN:
			case EINTR:
				return;
			case EMFILE:
			case ENFILE:
			case ENOBUFS:
			case ENOMEM:
				if (!warned_fds++)
					log_warn("accept: pausing 1 s");
				acc_pause(1);
				return;
			default:	/* ECONNABORTED and friends: that peer only */
				log_debug("accept: %s", strerror(errno));
				continue;
			}
		}
		warned_fds = 0;
		acc_accepted++;
		acc_admit(cfd, (struct sockaddr *)&ss, len);
	}
}

void
acc_start(struct event_base *base, size_t max_conns)
{
	size_t	 i;

	acc_base = base;
	acc_max = max_conns;
	acc_retry_ev = evtimer_new(base, acc_retry, NULL);
	acc_stale_ev = evtimer_new(base, acc_stale, NULL);
	for (i = 0; i < acc_n; i++) {
		acc_l[i].ev = event_new(base, acc_l[i].fd, EV_READ | EV_PERSIST,
		    acc_accept, NULL);
		event_add(acc_l[i].ev, NULL);
	}
}

void
acc_close(void)
{
	size_t	 i;

	if (acc_base == NULL) {		/* never started: just the sockets */
		for (i = 0; i < acc_n; i++)
			close(acc_l[i].fd);
		acc_n = 0;
		return;
	}

	for (i = 0; i < acc_n; i++) {
		if (acc_l[i].ev != NULL)
			event_free(acc_l[i].ev);
		close(acc_l[i].fd);
	}
	acc_n = 0;
	if (acc_retry_ev != NULL)
		event_free(acc_retry_ev);
	acc_retry_ev = NULL;
	if (acc_stale_ev != NULL)
		event_free(acc_stale_ev);
	acc_stale_ev = NULL;
	fair_room_close();
}
