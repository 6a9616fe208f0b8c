/*
 * metrics.c: plain counters in arrays (the loop is single-threaded, so no
 * atomics), a handshake-time histogram with sub-millisecond buckets, and
 * their Prometheus rendering. No per-client labels: cardinality stays fixed.
 */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "metrics.h"

uint64_t	 metric_val[M__COUNT];
uint64_t	 metric_result[RESULT__COUNT];
int64_t		 metric_active;
int64_t		 metric_clients;
int64_t		 metric_clients_enabled;
int64_t		 metric_approvals_pending;
int64_t		 metric_checkers_running;
int64_t		 metric_checkers_queued;
int64_t		 metric_checker_cap;

static const char *const metric_result_names[RESULT__COUNT] = {
	"secret_sent", "not_found", "disabled", "denied", "approval_timeout",
	"tls_error", "protocol_error", "timeout", "shutdown", "abandoned",
};

static const double metric_buckets[] = {
	0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
#define NBUCKETS (sizeof(metric_buckets) / sizeof(metric_buckets[0]))
static uint64_t	 metric_hs_bucket[NBUCKETS];
static uint64_t	 metric_hs_count;
static double	 metric_hs_sum;
static time_t	 metric_start = 0;

const char *
metric_result_name(enum conn_result r)
{
	return (metric_result_names[r]);
}

void
metric_conn_done(enum conn_result r, double hs)
{
	size_t	 i;

	metric_result[r]++;
	if (hs < 0)
		return;
	metric_hs_count++;
	metric_hs_sum += hs;
	for (i = 0; i < NBUCKETS; i++)
		if (hs <= metric_buckets[i])
			metric_hs_bucket[i]++;
}

/* The process_* family of the Prometheus client libraries. */
static void
metric_render_process(struct evbuffer *b)
{
	struct rusage	 ru;
	struct rlimit	 rl;
	FILE		*f;
	long		 pages = 0, rss = 0, fds = 0;
	DIR		*d;

	if (metric_start == 0)
		metric_start = time(NULL);
	getrusage(RUSAGE_SELF, &ru);
	evbuffer_add_printf(b, "# HELP process_cpu_seconds_total Total user and "
	    "system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total "
	    "counter\nprocess_cpu_seconds_total %.6f\n",
	    ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	if ((f = fopen("/proc/self/statm", "r")) != NULL) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			pages = rss = 0;
		fclose(f);
	}
	evbuffer_add_printf(b, "# HELP process_resident_memory_bytes Resident "
	    "memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\n"
	    "process_resident_memory_bytes %ld\n", rss * sysconf(_SC_PAGESIZE));
	evbuffer_add_printf(b, "# HELP process_virtual_memory_bytes Virtual "
	    "memory size in bytes.\n# TYPE process_virtual_memory_bytes gauge\n"
	    "process_virtual_memory_bytes %ld\n", pages * sysconf(_SC_PAGESIZE));
	if ((d = opendir("/proc/self/fd")) != NULL) {
		while (readdir(d) != NULL)
			fds++;
		closedir(d);
		fds -= 3;	/* ".", ".." and the directory's own descriptor */
	}
	evbuffer_add_printf(b, "# HELP process_open_fds Number of open file "
	    "descriptors.\n# TYPE process_open_fds gauge\nprocess_open_fds %ld\n",
	    fds);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		evbuffer_add_printf(b, "# HELP process_max_fds Maximum number of "
		    "open file descriptors.\n# TYPE process_max_fds gauge\n"
		    "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
	evbuffer_add_printf(b, "# HELP process_start_time_seconds Start time of "
	    "the process since unix epoch in seconds.\n# TYPE "
	    "process_start_time_seconds gauge\nprocess_start_time_seconds %lld\n",
	    (long long)metric_start);
}

void
metric_render(struct evbuffer *b)
{
	size_t	 i;

	evbuffer_add_printf(b, "# HELP mandos_connections_total Connections "
	    "ended, by result.\n# TYPE mandos_connections_total counter\n");
	for (i = 0; i < RESULT__COUNT; i++)
		evbuffer_add_printf(b, "mandos_connections_total{result=\"%s\"} "
		    "%llu\n", metric_result_names[i],
		    (unsigned long long)metric_result[i]);
	evbuffer_add_printf(b, "# HELP mandos_connections_accepted_total "
	    "Connections accepted.\n# TYPE mandos_connections_accepted_total "
	    "counter\nmandos_connections_accepted_total %llu\n",
	    (unsigned long long)metric_val[M_ACCEPTED]);
	evbuffer_add_printf(b, "# HELP mandos_accept_pauses_total Times accepting "
	    "paused at the connection cap or out of descriptors.\n# TYPE "
	    "mandos_accept_pauses_total counter\nmandos_accept_pauses_total %llu\n",
	    (unsigned long long)metric_val[M_ACCEPT_PAUSED]);
	evbuffer_add_printf(b, "# HELP mandos_connections_active Connections "
	    "open now.\n# TYPE mandos_connections_active gauge\n"
	    "mandos_connections_active %lld\n", (long long)metric_active);
	evbuffer_add_printf(b, "# HELP mandos_handshake_duration_seconds TLS "
	    "handshake time.\n# TYPE mandos_handshake_duration_seconds histogram\n");
	for (i = 0; i < NBUCKETS; i++)
		evbuffer_add_printf(b, "mandos_handshake_duration_seconds_bucket"
		    "{le=\"%g\"} %llu\n", metric_buckets[i],
		    (unsigned long long)metric_hs_bucket[i]);
	evbuffer_add_printf(b, "mandos_handshake_duration_seconds_bucket"
	    "{le=\"+Inf\"} %llu\nmandos_handshake_duration_seconds_sum %.9f\n"
	    "mandos_handshake_duration_seconds_count %llu\n",
	    (unsigned long long)metric_hs_count, metric_hs_sum,
	    (unsigned long long)metric_hs_count);
	evbuffer_add_printf(b, "# HELP mandos_table_reloads_total Client table "
	    "reloads, by result.\n# TYPE mandos_table_reloads_total counter\n"
	    "mandos_table_reloads_total{result=\"ok\"} %llu\n"
	    "mandos_table_reloads_total{result=\"failed\"} %llu\n",
	    (unsigned long long)metric_val[M_RELOAD_OK],
	    (unsigned long long)metric_val[M_RELOAD_FAILED]);
	evbuffer_add_printf(b, "# HELP mandos_clients Clients in the table, by "
	    "state.\n# TYPE mandos_clients gauge\n"
	    "mandos_clients{state=\"enabled\"} %lld\n"
	    "mandos_clients{state=\"disabled\"} %lld\n",
	    (long long)metric_clients_enabled,
	    (long long)(metric_clients - metric_clients_enabled));
	evbuffer_add_printf(b, "# HELP mandos_clients_expired_total Clients "
	    "disabled because their timeout passed.\n# TYPE "
	    "mandos_clients_expired_total counter\n"
	    "mandos_clients_expired_total %llu\n",
	    (unsigned long long)metric_val[M_EXPIRED]);
	evbuffer_add_printf(b, "# HELP mandos_approvals_pending Connections "
	    "waiting for an approval decision.\n# TYPE mandos_approvals_pending "
	    "gauge\nmandos_approvals_pending %lld\n",
	    (long long)metric_approvals_pending);
	evbuffer_add_printf(b, "# HELP mandos_checker_runs_total Checker runs "
	    "finished, by result.\n# TYPE mandos_checker_runs_total counter\n"
	    "mandos_checker_runs_total{result=\"success\"} %llu\n"
	    "mandos_checker_runs_total{result=\"failure\"} %llu\n"
	    "mandos_checker_runs_total{result=\"killed\"} %llu\n"
	    "mandos_checker_runs_total{result=\"error\"} %llu\n",
	    (unsigned long long)metric_val[M_CHECKER_OK],
	    (unsigned long long)metric_val[M_CHECKER_FAILED],
	    (unsigned long long)metric_val[M_CHECKER_KILLED],
	    (unsigned long long)metric_val[M_CHECKER_ERROR]);
	evbuffer_add_printf(b, "# HELP mandos_checkers_running Checker "
	    "processes running now.\n# TYPE mandos_checkers_running gauge\n"
	    "mandos_checkers_running %lld\n# HELP mandos_checkers_queued "
	    "Checkers waiting for a free slot under the cap.\n# TYPE "
	    "mandos_checkers_queued gauge\nmandos_checkers_queued %lld\n"
	    "# HELP mandos_checkers_max Cap on checker processes running at "
	    "once.\n# TYPE mandos_checkers_max gauge\nmandos_checkers_max "
	    "%lld\n", (long long)metric_checkers_running,
	    (long long)metric_checkers_queued, (long long)metric_checker_cap);
	evbuffer_add_printf(b, "# HELP mandos_state_saves_total State file "
	    "writes, by result.\n# TYPE mandos_state_saves_total counter\n"
	    "mandos_state_saves_total{result=\"ok\"} %llu\n"
	    "mandos_state_saves_total{result=\"failed\"} %llu\n",
	    (unsigned long long)metric_val[M_STATE_SAVE_OK],
	    (unsigned long long)metric_val[M_STATE_SAVE_FAILED]);
	evbuffer_add_printf(b, "# HELP mandos_control_requests_total Control "
	    "socket requests, by result.\n# TYPE mandos_control_requests_total "
	    "counter\nmandos_control_requests_total{result=\"ok\"} %llu\n"
	    "mandos_control_requests_total{result=\"error\"} %llu\n"
	    "# HELP mandos_control_denied_total Control requests refused to "
	    "read-only peers.\n# TYPE mandos_control_denied_total counter\n"
	    "mandos_control_denied_total %llu\n"
	    "# HELP mandos_watchers_dropped_total Watchers dropped for "
	    "falling behind.\n# TYPE mandos_watchers_dropped_total counter\n"
	    "mandos_watchers_dropped_total %llu\n",
	    (unsigned long long)(metric_val[M_CTL_REQUESTS] -
	    metric_val[M_CTL_ERRORS]),
	    (unsigned long long)metric_val[M_CTL_ERRORS],
	    (unsigned long long)metric_val[M_CTL_DENIED],
	    (unsigned long long)metric_val[M_WATCH_DROPPED]);
	evbuffer_add_printf(b, "# HELP mandos_build_info Build of this server.\n"
	    "# TYPE mandos_build_info gauge\nmandos_build_info{version=\"%s\"} 1\n",
	    PACKAGE_VERSION);
	metric_render_process(b);
}

void
metric_stats(void (*cb)(void *, const char *, double), void *arg)
{
	static const char *const names[M__COUNT] = {
		"accepted", "accept_paused", "reloads_ok", "reloads_failed",
		"clients_expired", "checker_success", "checker_failure",
		"checker_killed", "checker_error", "state_saves_ok",
		"state_saves_failed", "control_requests", "control_errors",
		"control_denied", "watchers_dropped",
	};
	char	 name[64];
	size_t	 i;

	for (i = 0; i < RESULT__COUNT; i++) {
		snprintf(name, sizeof(name), "connections_%s",
		    metric_result_names[i]);
		cb(arg, name, (double)metric_result[i]);
	}
	for (i = 0; i < M__COUNT; i++)
		cb(arg, names[i], (double)metric_val[i]);
	cb(arg, "connections_active", (double)metric_active);
	cb(arg, "clients", (double)metric_clients);
	cb(arg, "clients_enabled", (double)metric_clients_enabled);
	cb(arg, "approvals_pending", (double)metric_approvals_pending);
	cb(arg, "checkers_running", (double)metric_checkers_running);
	cb(arg, "checkers_queued", (double)metric_checkers_queued);
	cb(arg, "checkers_max", (double)metric_checker_cap);
	cb(arg, "handshakes", (double)metric_hs_count);
	cb(arg, "handshake_seconds_sum", metric_hs_sum);
}
