/*
 * checker.c: runs checkers as /bin/sh -c COMMAND in their own process
 * group. At most checker_cap run at once; further requests wait in a FIFO.
 * Normally the spawner helper process (spawner.c) starts, kills and reaps
 * them, so the loop never blocks in vfork/exec; if it cannot be had, they
 * are started here through posix_spawn, watched through a pidfd (SIGCHLD
 * scan when the kernel has none) and reaped with waitpid on their own pid.
 * Either way each is killed with its group at its timeout.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "checker.h"
#include "client.h"
#include "log.h"
#include "metrics.h"
#include "spawner.h"


struct checker_job {
	TAILQ_ENTRY(checker_job) entry;	/* in checker_queue or checker_run */
	struct checker_job	**owner;	/* the client's slot; NULL once cancelled */
	struct client_rt	*rt;
	uint32_t		 id;
	int			 helper;	/* run by the spawner */
	pid_t			 pid;		/* 0 until the spawner reports it */
	int			 pidfd;
	int			 running;
	int			 killed;
	uint64_t		 start_us;
	uint64_t		 timeout_ms;
	struct event		 ev_exit;	/* pidfd readable */
	struct event		 ev_kill;	/* timeout */
};
TAILQ_HEAD(checker_list, checker_job);

static struct checker_list checker_queue = TAILQ_HEAD_INITIALIZER(checker_queue);
static struct checker_list checker_run = TAILQ_HEAD_INITIALIZER(checker_run);
static size_t		 checker_nqueue, checker_nrun;
static int		 checker_cap = 64;
static struct event_base *checker_base;
static struct event	*checker_sigchld;
static struct event	*checker_helper_ev;
static uint32_t		 checker_next_id = 1;

#define CHECKER_NICE	10	/* in-process checkers yield to handshakes */

static void	 checker_pump(void);
static void	 checker_reap(struct checker_job *);
static void	 checker_finish(struct checker_job *, int, int);
static void	 checker_helper_cb(evutil_socket_t, short, void *);

static uint64_t
checker_now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

/* SIGCHLD: only needed for in-process children without a pidfd. */
static void
checker_sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
	struct checker_job	*j, *next;

	for (j = TAILQ_FIRST(&checker_run); j != NULL; j = next) {
		next = TAILQ_NEXT(j, entry);
		if (!j->helper && j->pidfd == -1)
			checker_reap(j);
	}
}

void
checker_init(struct event_base *base, int max_running)
{
	char	*err;
	int	 fd;

	checker_base = base;
	if (max_running > 0)
		checker_cap = max_running;
	checker_sigchld = evsignal_new(base, SIGCHLD, checker_sigchld_cb, NULL);
	evsignal_add(checker_sigchld, NULL);
	if ((fd = spawner_start(&err)) == -1) {
		log_warn("checker helper: %s; starting checkers in-process", err);
		return;
	}
	checker_helper_ev = event_new(base, fd, EV_READ | EV_PERSIST,
	    checker_helper_cb, NULL);
	event_add(checker_helper_ev, NULL);
}

int
checker_max(void)
{
	return (checker_cap);
}

size_t
checker_running(void)
{
	return (checker_nrun);
}

size_t
checker_queued(void)
{
	return (checker_nqueue);
}

int
checker_is_running(const struct checker_job *j)
{
	return (j != NULL && j->running);
}

static struct checker_job *
checker_by_id(uint32_t id)
{
	struct checker_job	*j;

	TAILQ_FOREACH(j, &checker_run, entry)
		if (j->id == id)
			return (j);
	return (NULL);
}

/* Reports from the spawner; if it is gone, its jobs end as errors. */
static void
checker_helper_cb(evutil_socket_t fd, short what, void *arg)
{
	struct spawner_msg	 m;
	struct checker_job	*j, *next;
	int			 r;

	while ((r = spawner_read(&m)) == 1) {
		if ((j = checker_by_id(m.id)) == NULL)
			continue;
		switch (m.type) {
		case 'R':
			j->pid = (pid_t)m.a;
			break;
		case 'E':
			checker_finish(j, m.a, m.b);
			break;
		case 'F':
			errno = m.a;
			log_warn("checker job %u: cannot start /bin/sh", m.id);
			checker_finish(j, -1, 0);
			break;
		}
	}
	if (r == 0)
		return;
	log_warnx("checker helper is gone; starting checkers in-process");
	event_free(checker_helper_ev);
	checker_helper_ev = NULL;
	spawner_stop();
	for (j = TAILQ_FIRST(&checker_run); j != NULL; j = next) {
		next = TAILQ_NEXT(j, entry);
		if (j->helper)
			checker_finish(j, -1, 0);
	}
}

/* The pidfd became readable: the child has exited. */
static void
checker_exit_cb(evutil_socket_t fd, short what, void *arg)
{
	checker_reap(arg);
}

/* Kill a running checker's whole process group. */
static void
checker_kill(struct checker_job *j)
{
	j->killed = 1;
	if (j->helper)
		spawner_kill(j->id);
	else {
		kill(-j->pid, SIGKILL);
		kill(j->pid, SIGKILL);
	}
}

/* Timeout: kill it. */
static void
checker_kill_cb(evutil_socket_t fd, short what, void *arg)
{
	struct checker_job	*j = arg;

	log_info("checker pid=%ld timed out after %llu ms, killing it",
	    (long)j->pid, (unsigned long long)j->timeout_ms);
	checker_kill(j);
}

/* Collect an in-process child if it has exited. */
static void
checker_reap(struct checker_job *j)
{
	int		 st, status = -1, signo = 0;
	pid_t		 r;

	do {
		r = waitpid(j->pid, &st, WNOHANG);
	} while (r == -1 && errno == EINTR);
	if (r == 0)
		return;		/* not yet (spurious wake-up) */
	if (r == -1)
		log_warn("checker waitpid %ld", (long)j->pid);
	else if (WIFEXITED(st))
		status = WEXITSTATUS(st);
	else if (WIFSIGNALED(st))
		signo = WTERMSIG(st);
	/* Anything the shell left behind in its group goes too. */
	kill(-j->pid, SIGKILL);
	if (j->pidfd != -1) {
		event_del(&j->ev_exit);
		close(j->pidfd);
	}
	checker_finish(j, status, signo);
}

/* A checker has ended: count it, tell its client, start the next. */
static void
checker_finish(struct checker_job *j, int status, int signo)
{
	uint64_t	 ms;

	event_del(&j->ev_kill);
	TAILQ_REMOVE(&checker_run, j, entry);
	checker_nrun--;
	ms = (checker_now_us() - j->start_us) / 1000;
	if (j->killed)
		metric_inc(M_CHECKER_KILLED);
	else if (status == 0)
		metric_inc(M_CHECKER_OK);
	else if (status > 0 || signo != 0)
		metric_inc(M_CHECKER_FAILED);
	else
		metric_inc(M_CHECKER_ERROR);
	if (j->rt != NULL) {
		*j->owner = NULL;
		client_checker_done(j->rt, status, j->killed && signo == 0 ?
		    SIGKILL : signo, ms);
	}
	free(j);
	checker_pump();
}

/* Running (by us or the helper): count it, arm its timeout. */
static void
checker_started(struct checker_job *j)
{
	struct timeval	 tv;

	j->running = 1;
	j->start_us = checker_now_us();
	TAILQ_INSERT_TAIL(&checker_run, j, entry);
	checker_nrun++;
	evtimer_assign(&j->ev_kill, checker_base, checker_kill_cb, j);
	tv.tv_sec = (time_t)(j->timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(j->timeout_ms % 1000) * 1000;
	evtimer_add(&j->ev_kill, &tv);
}

/* Could not start: report it at once. */
static void
checker_failed(struct checker_job *j)
{
	metric_inc(M_CHECKER_ERROR);
	*j->owner = NULL;
	client_checker_done(j->rt, -1, 0, 0);
	free(j);
}

/* Start j now, through the helper if there is one. */
static void
checker_spawn(struct checker_job *j)
{
	const char			*why = NULL;
	char				*cmd;
	int				 e;

	if ((cmd = client_checker_command(j->rt, &why)) == NULL) {
		log_warnx("checker for %s: %s", client_name(j->rt), why);
		checker_failed(j);
		return;
	}
	j->id = checker_next_id++;
	if (checker_helper_ev != NULL && spawner_spawn(j->id, cmd) == 0) {
		log_debug("checker for %s job=%u: %s", client_name(j->rt),
		    j->id, cmd);
		free(cmd);
		j->helper = 1;
		checker_started(j);
		return;
	}
	if ((j->pid = spawner_run(cmd, &e)) == -1) {
		j->pid = 0;
		errno = e;
		log_warn("checker for %s: posix_spawn", client_name(j->rt));
		free(cmd);
		checker_failed(j);
		return;
	}
	/*
	 * Nice the child after the exec (posix_spawn returns then), never
	 * before it: the vfork-style spawn blocks us until the exec, and a
	 * niced child must not hold the loop up on a busy machine.
	 */
	setpriority(PRIO_PROCESS, (id_t)j->pid, CHECKER_NICE);
	log_debug("checker for %s pid=%ld: %s", client_name(j->rt),
	    (long)j->pid, cmd);
	free(cmd);
	checker_started(j);
#ifdef SYS_pidfd_open
	j->pidfd = (int)syscall(SYS_pidfd_open, j->pid, 0);
#else
	j->pidfd = -1;
#endif
	if (j->pidfd != -1) {
		fcntl(j->pidfd, F_SETFD, FD_CLOEXEC);
		event_assign(&j->ev_exit, checker_base, j->pidfd, EV_READ,
		    checker_exit_cb, j);
		event_add(&j->ev_exit, NULL);
	} else
		checker_reap(j);	/* it may already be gone */
}

/* Start queued checkers while there is room under the cap. */
static void
checker_pump(void)
{
	struct checker_job	*j;

	while (checker_nrun < (size_t)checker_cap &&
	    (j = TAILQ_FIRST(&checker_queue)) != NULL) {
		TAILQ_REMOVE(&checker_queue, j, entry);
		checker_nqueue--;
		checker_spawn(j);
	}
	metric_checkers_running = (int64_t)checker_nrun;
	metric_checkers_queued = (int64_t)checker_nqueue;
}

void
checker_request(struct checker_job **jobp, struct client_rt *rt,
    uint64_t timeout_ms)
{
	struct checker_job	*j;

	if (*jobp != NULL)
		return;		/* never two at once */
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		log_warn("checker: calloc");
		return;
	}
	j->owner = jobp;
	j->rt = rt;
	j->pidfd = -1;
	j->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
	*jobp = j;
	TAILQ_INSERT_TAIL(&checker_queue, j, entry);
	checker_nqueue++;
	checker_pump();
}

void
checker_cancel(struct checker_job **jobp)
{
	struct checker_job	*j = *jobp;

	if (j == NULL)
		return;
	*jobp = NULL;
	if (!j->running) {
		TAILQ_REMOVE(&checker_queue, j, entry);
		checker_nqueue--;
		metric_checkers_queued = (int64_t)checker_nqueue;
		free(j);
		return;
	}
	j->rt = NULL;
	j->owner = NULL;
	checker_kill(j);
}

void
checker_shutdown(void)
{
	struct checker_job	*j;
	int			 st;

	while ((j = TAILQ_FIRST(&checker_queue)) != NULL) {
		TAILQ_REMOVE(&checker_queue, j, entry);
		if (j->owner != NULL)
			*j->owner = NULL;
		free(j);
	}
	checker_nqueue = 0;
	/* The helper kills and reaps its children before it exits. */
	if (checker_helper_ev != NULL) {
		event_free(checker_helper_ev);
		checker_helper_ev = NULL;
	}
	spawner_stop();
	while ((j = TAILQ_FIRST(&checker_run)) != NULL) {
		if (!j->helper) {
			kill(-j->pid, SIGKILL);
			kill(j->pid, SIGKILL);
			while (waitpid(j->pid, &st, 0) == -1 && errno == EINTR)
				;
			if (j->pidfd != -1) {
				event_del(&j->ev_exit);
				close(j->pidfd);
			}
		}
		event_del(&j->ev_kill);
		TAILQ_REMOVE(&checker_run, j, entry);
		if (j->owner != NULL)
			*j->owner = NULL;
		free(j);
	}
	checker_nrun = 0;
	if (checker_sigchld != NULL) {
		event_free(checker_sigchld);
		checker_sigchld = NULL;
	}
}
