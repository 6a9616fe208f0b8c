/*
 * state.c: the state file, STATEDIR/clients.state: one JSON object with the
 * runtime state of every client (never its secret). A change marks the
 * state dirty; a timer saves it about a second later (later still when a
 * save is slow, so that saving never takes more than a few percent of the
 * loop). A save is atomic: temp file, fsync, rename, fsync of the
 * directory. A crash loses at most the last second; a missing or corrupt
 * file is a warning, never a reason to stop.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static void	 state_timer_cb(evutil_socket_t, short, void *);

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
	xasprintf(&state_tmp, "%s/.%s.tmp", dir, STATE_FILE);
	state_ev = evtimer_new(base, state_timer_cb, NULL);
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
	/* About a second; twenty times the last save if that was slow. */
	us = state_last_us * 20 > 1000000 ? state_last_us * 20 : 1000000;
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

/* Save now: temp file, fsync, rename, fsync the directory. */
static int
state_save(void)
{
	json_t		*root, *clients;
	struct client_rt *rt;
	char		*text;
	size_t		 i;
	int		 fd, dfd;
	uint64_t	 t0 = state_now_us();

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
		goto fail;
	}
	fd = open(state_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1) {
		if (state_failures == 0)
			log_warn("state: %s", state_tmp);
		free(text);
		goto fail;
	}
	if (state_write_all(fd, text, strlen(text)) == -1 ||
	    state_write_all(fd, "\n", 1) == -1 || fsync(fd) == -1) {
		log_warn("state: writing %s", state_tmp);
		close(fd);
		unlink(state_tmp);
		free(text);
		goto fail;
	}
	free(text);
	close(fd);
	if (rename(state_tmp, state_file) == -1) {
		log_warn("state: rename to %s", state_file);
		unlink(state_tmp);
		goto fail;
	}
	if ((dfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		if (fsync(dfd) == -1)
			log_warn("state: fsync %s", state_dir);
		close(dfd);
	}
	state_is_dirty = 0;
	if (state_failures > 0)
		log_info("state: saved to %s again after %u failures",
		    state_file, state_failures);
	state_failures = 0;
	state_last_us = state_now_us() - t0;
	metric_inc(M_STATE_SAVE_OK);
	log_debug("state: saved %zu clients to %s in %llu us", i, state_file,
	    (unsigned long long)state_last_us);
	return (0);
fail:
	metric_inc(M_STATE_SAVE_FAILED);
	state_failures++;
	state_last_us = state_now_us() - t0;
	return (-1);
}

static void
state_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	if (state_is_dirty && state_save() == -1)
		state_dirty();		/* try again later */
}

int
state_flush(void)
{
	if (state_ev == NULL)
		return (0);
	evtimer_del(state_ev);
	if (!state_is_dirty)
		return (0);
	return (state_save());
}

void
state_restore(void)
{
	json_error_t	 jerr;
	json_t		*root, *clients, *o;
	struct client_rt *rt;
	char		*bad;
	size_t		 i, n = 0;

	if (state_file == NULL)
		return;
	if ((root = json_load_file(state_file, 0, &jerr)) == NULL) {
		if (access(state_file, F_OK) == -1 && errno == ENOENT) {
			log_info("state: no %s yet; starting fresh", state_file);
			return;
		}
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
	state_ev = NULL;
	free(state_dir);
	free(state_file);
	free(state_tmp);
	state_dir = state_file = state_tmp = NULL;
}
