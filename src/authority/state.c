/*
 * state.c: the state file, STATEDIR/clients.state: one JSON object with the
 * runtime state of every client (never its secret). A change marks the
 * state dirty; a timer saves it about a second later (later when a save
 * is slow), in a forked child so that the loop never waits for the disk.
 * A save is atomic: temp file, fsync, rename, fsync of the
 * directory. A crash loses at most the last second; a missing or corrupt
 * file is a warning, never a reason to stop.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "client.h"
#include "log.h"
#include "metrics.h"
#include "state.h"
#include "xmalloc.h"

#define STATE_FILE	"clients.state"
#define STATE_VERSION	1

static char		*state_dir, *state_file, *state_tmp;
static struct event	*state_ev;
static int		 state_is_dirty;
static uint64_t		 state_last_us;	/* how long the last save took */
static unsigned		 state_failures;	/* in a row: back off, log once */
static struct event_base *state_base;
static pid_t		 state_child = -1;	/* saving now */
static int		 state_child_fd = -1;	/* its pidfd */
static struct event	*state_child_ev;
static struct event	*state_poll_ev;	/* without a pidfd */
static uint64_t		 state_child_t0;

static void	 state_timer_cb(evutil_socket_t, short, void *);
static void	 state_test_delay(void);
static void	 state_child_fds(void);
static void	 state_child_cb(evutil_socket_t, short, void *);

static uint64_t
state_now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

void
state_init(struct event_base *base, const char *dir)
{
	if (dir == NULL)
		return;
	state_dir = xstrdup(dir);
	xasprintf(&state_file, "%s/%s", dir, STATE_FILE);
	state_base = base;
	state_ev = evtimer_new(base, state_timer_cb, NULL);
	state_poll_ev = evtimer_new(base, state_child_cb, NULL);
}

const char *
state_path(void)
{
	return (state_file);
}

void
state_dirty(void)
{
	struct timeval	 tv;
	uint64_t	 us;

	if (state_ev == NULL)
		return;
	state_is_dirty = 1;
	if (evtimer_pending(state_ev, NULL))
		return;
	/* About a second; twice the last save if that was slow. */
	us = state_last_us * 2 > 1000000 ? state_last_us * 2 : 1000000;
	if (state_failures > 0)
		us = (uint64_t)state_failures * 5 * 1000000;
	if (us > 30 * 1000000)
		us = 30 * 1000000;
	tv.tv_sec = (time_t)(us / 1000000);
	tv.tv_usec = (suseconds_t)(us % 1000000);
	evtimer_add(state_ev, &tv);
}

/* Write all of buf to fd. */
static int
state_write_all(int fd, const char *buf, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		buf += n;
		len -= (size_t)n;
	}
	return (0);
}

/* Write the file: temp file, fsync, rename, fsync the directory. */
static int
state_write(void)
{
	json_t		*root, *clients;
	struct client_rt *rt;
	char		*text;
	size_t		 i;
	int		 fd, dfd;

	/* Our own temp file: an orphaned saver of a killed server may still
	 * be writing its own. */
	free(state_tmp);
	xasprintf(&state_tmp, "%s/.%s.%ld.tmp", state_dir, STATE_FILE,
	    (long)getpid());
	clients = json_object();
	for (i = 0; (rt = client_nth(i)) != NULL; i++)
		json_object_set_new(clients, client_name(rt),
		    client_state_json(rt));
	root = json_pack("{s:i,s:s,s:I,s:o}", "version", STATE_VERSION,
	    "server", "mandosd " PACKAGE_VERSION, "saved",
	    (json_int_t)client_now_ms(), "clients", clients);
	text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (text == NULL) {
		log_warnx("state: cannot encode the state");
		return (-1);
	}
	fd = open(state_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1) {
		if (state_failures == 0)
			log_warn("state: %s", state_tmp);
		free(text);
		return (-1);
	}
	if (state_write_all(fd, text, strlen(text)) == -1 ||
	    state_write_all(fd, "\n", 1) == -1 || fsync(fd) == -1) {
		if (state_failures == 0)
			log_warn("state: writing %s", state_tmp);
		close(fd);
		unlink(state_tmp);
		free(text);
		return (-1);
	}
	free(text);
	close(fd);
	if (rename(state_tmp, state_file) == -1) {
		if (state_failures == 0)
			log_warn("state: rename to %s", state_file);
		unlink(state_tmp);
		return (-1);
	}
	if ((dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		if (fsync(dfd) == -1)
			log_warn("state: fsync %s", state_dir);
		close(dfd);
	}
	return (0);
}

/* Count a save (ok or not) that took us microseconds. */
static void
state_account(int ok, uint64_t us)
{
	state_last_us = us;
	if (!ok) {
		metric_inc(M_STATE_SAVE_FAILED);
		state_failures++;
		state_is_dirty = 1;
		return;
	}
	if (state_failures > 0)
		log_info("state: saved to %s again after %u failures",
		    state_file, state_failures);
	state_failures = 0;
	metric_inc(M_STATE_SAVE_OK);
	log_debug("state: saved %zu clients to %s in %llu us", client_count(),
	    state_file, (unsigned long long)us);
}

/* Save in this process (exit, or when no child can be had). */
static int
state_save(void)
{
	uint64_t	 t0 = state_now_us();
	int		 r;

	state_is_dirty = 0;
	r = state_write();
	state_account(r == 0, state_now_us() - t0);
	return (r);
}

/* Wait for the saving child; block: only at exit. */
static void
state_child_wait(int block)
{
	int	 st;
	pid_t	 r;

	if (state_child == -1)
		return;
	do {
		r = waitpid(state_child, &st, block ? 0 : WNOHANG);
	} while (r == -1 && errno == EINTR);
	if (r == 0) {
		struct timeval tv = { 0, 100 * 1000 };

		if (state_child_fd == -1)	/* no pidfd: poll */
			evtimer_add(state_poll_ev, &tv);
		else
			event_add(state_child_ev, NULL);
		return;
	}
	if (state_child_fd != -1) {
		event_free(state_child_ev);
		state_child_ev = NULL;
		close(state_child_fd);
		state_child_fd = -1;
	}
	state_child = -1;
	state_account(r > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    state_now_us() - state_child_t0);
	if (state_is_dirty)
		state_dirty();		/* changed meanwhile, or failed */
}

static void
state_child_cb(evutil_socket_t fd, short what, void *arg)
{
	state_child_wait(0);
}

/*
 * The saver holds the state and nothing else: a connection socket kept
 * open here would deny its peer the FIN until the save ends. stdio stays
 * (logging); syslog's socket is closed first, to be reopened on demand.
 */
static void
state_child_fds(void)
{
	DIR		*d;
	struct dirent	*de;
	int		 fd, dfd;

	closelog();
#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0)
		return;
#endif
	/* No close_range (kernel < 5.9): walk /proc/self/fd. */
	if ((d = opendir("/proc/self/fd")) == NULL)
		return;
	dfd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		fd = atoi(de->d_name);
		if (de->d_name[0] != '.' && fd > 2 && fd != dfd)
			close(fd);
	}
	closedir(d);
}

/* Test hook: MANDOSD_TEST_SAVE_DELAY_MS makes the saving child slow. */
static void
state_test_delay(void)
{
	const char	*s = getenv("MANDOSD_TEST_SAVE_DELAY_MS");
	struct timespec	 ts;
	long		 ms;

	if (s == NULL || (ms = strtol(s, NULL, 10)) <= 0 || ms > 60000)
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * Save in a child: fork() gives it a copy-on-write snapshot, and the loop
 * goes on serving while it encodes, writes and fsyncs (half a second for
 * 10,000 clients on a slow disk). Changes made meanwhile are saved next.
 */
static void
state_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	pid_t	 pid;

	if (!state_is_dirty)
		return;
	if (state_child != -1)
		return;		/* state_child_wait re-arms */
	state_is_dirty = 0;
	state_child_t0 = state_now_us();
	switch ((pid = fork())) {
	case -1:
		log_warn("state: fork; saving in the loop");
		if (state_save() == -1)
			state_dirty();
		return;
	case 0:
		/* Inherited sockets (mandosctl's, the store's, the workers'
		 * channels) go first, at the loop's priority: their peers'
		 * FIN must not wait for a niced child to be scheduled. */
		state_child_fds();
		/* Behind handshakes: a busy machine saves later, not slower. */
		setpriority(PRIO_PROCESS, 0, 19);
		state_test_delay();
		_exit(state_write() == 0 ? 0 : 1);
	}
	state_child = pid;
#ifdef SYS_pidfd_open
	state_child_fd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
	if (state_child_fd != -1) {
		fcntl(state_child_fd, F_SETFD, FD_CLOEXEC);
		state_child_ev = event_new(state_base, state_child_fd, EV_READ,
		    state_child_cb, NULL);
		event_add(state_child_ev, NULL);
	} else
		state_child_wait(0);
}

int
state_flush(void)
{
	if (state_ev == NULL)
		return (0);
	evtimer_del(state_ev);
	evtimer_del(state_poll_ev);
	state_child_wait(1);
	if (!state_is_dirty)
		return (0);
	return (state_save());
}

/* Remove temp files left by savers that died (a crash, kill -9). */
static void
state_sweep(void)
{
	glob_t	 g;
	char	*pat, *p;
	size_t	 i;
	long	 pid;

	xasprintf(&pat, "%s/.%s.*.tmp", state_dir, STATE_FILE);
	if (glob(pat, 0, NULL, &g) == 0) {
		for (i = 0; i < g.gl_pathc; i++) {
			p = strrchr(g.gl_pathv[i], '/') + 1 + strlen(STATE_FILE) + 2;
			pid = strtol(p, NULL, 10);
			if (pid > 0 && kill((pid_t)pid, 0) == -1 && errno == ESRCH)
				unlink(g.gl_pathv[i]);
		}
		globfree(&g);
	}
	free(pat);
}

void
state_restore(void)
{
	json_error_t	 jerr;
	json_t		*root, *clients, *o;
	struct client_rt *rt;
	char		*bad;
	size_t		 i, n = 0;
	int		 fd;

	if (state_file == NULL)
		return;
	state_sweep();
	/* Open it ourselves: only open's errno says "missing" (access() asks
	 * with the real uid and no capabilities, and may say EACCES). */
	if ((fd = open(state_file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			log_info("state: no %s yet; starting fresh", state_file);
		else
			log_warn("state: %s; starting fresh", state_file);
		return;
	}
	root = json_loadfd(fd, 0, &jerr);
	close(fd);
	if (root == NULL) {
		log_warnx("state: %s is unreadable (%s, line %d); starting "
		    "fresh, the file is kept as %s.bad", state_file, jerr.text,
		    jerr.line, state_file);
		goto corrupt;
	}
	clients = json_object_get(root, "clients");
	if (!json_is_object(root) || !json_is_object(clients) ||
	    json_integer_value(json_object_get(root, "version")) !=
	    STATE_VERSION) {
		log_warnx("state: %s is not a mandosd state file (version %d); "
		    "starting fresh, the file is kept as %s.bad", state_file,
		    STATE_VERSION, state_file);
		json_decref(root);
		goto corrupt;
	}
	for (i = 0; (rt = client_nth(i)) != NULL; i++) {
		o = json_object_get(clients, client_name(rt));
		if (json_is_object(o)) {
			client_state_apply(rt, o);
			n++;
		}
	}
	json_decref(root);
	log_info("state: restored %zu of %zu clients from %s", n, i,
	    state_file);
	return;
corrupt:
	xasprintf(&bad, "%s.bad", state_file);
	if (rename(state_file, bad) == -1)
		log_warn("state: rename to %s", bad);
	free(bad);
}

void
state_shutdown(void)
{
	if (state_ev != NULL)
		event_free(state_ev);
	if (state_poll_ev != NULL)
		event_free(state_poll_ev);
	state_ev = state_poll_ev = NULL;
	free(state_dir);
	free(state_file);
	free(state_tmp);
	state_dir = state_file = state_tmp = NULL;
}
