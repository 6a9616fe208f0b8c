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
int		 metric_store_enabled;
int64_t		 metric_store_up;
int64_t		 metric_store_revision;
unsigned long	 (*metric_store_connections)(void);
int64_t		 metric_clients_enabled;
int64_t		 metric_approvals_pending;
int64_t		 metric_checkers_running;
int64_t		 metric_checkers_queued;
int64_t		 metric_checker_cap;
int64_t		 metric_workers;

static const char *const metric_result_names[RESULT__COUNT] = {
	"secret_sent", "not_found", "disabled", "denied", "approval_timeout",
	"tls_error", "protocol_error", "timeout", "shutdown", "abandoned",
	"evicted",
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

/* HELP and TYPE lines of one family: its name is written once, here. */
static void
metric_head(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* A counter family with one sample and no labels. */
static void
metric_counter(struct evbuffer *b, const char *name, const char *help,
    unsigned long long v)
{
	metric_head(b, name, "counter", help);
	evbuffer_add_printf(b, "%s %llu\n", name, v);
}

/* A gauge family with one sample and no labels. */
static void
metric_gauge(struct evbuffer *b, const char *name, const char *help,
    long long v)
{
	metric_head(b, name, "gauge", help);
	evbuffer_add_printf(b, "%s %lld\n", name, v);
}

/* One counter sample with one label. */
static void
metric_labelled(struct evbuffer *b, const char *name, const char *label,
    const char *value, unsigned long long v)
{
	evbuffer_add_printf(b, "%s{%s=\"%s\"} %llu\n", name, label, value, v);
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
	metric_head(b, "process_cpu_seconds_total", "counter",
	    "Total user and system CPU time spent in seconds.");
	evbuffer_add_printf(b, "process_cpu_seconds_total %.6f\n",
	    ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	if ((f = fopen("/proc/self/statm", "r")) != NULL) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			pages = rss = 0;
		fclose(f);
	}
	metric_gauge(b, "process_resident_memory_bytes",
	    "Resident memory size in bytes.", rss * sysconf(_SC_PAGESIZE));
	metric_gauge(b, "process_virtual_memory_bytes",
	    "Virtual memory size in bytes.", pages * sysconf(_SC_PAGESIZE));
	if ((d = opendir("/proc/self/fd")) != NULL) {
		while (readdir(d) != NULL)
			fds++;
		closedir(d);
		fds -= 3;	/* ".", ".." and the directory's own descriptor */
	}
	metric_gauge(b, "process_open_fds",
	    "Number of open file descriptors.", fds);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		metric_head(b, "process_max_fds", "gauge",
		    "Maximum number of open file descriptors.");
		evbuffer_add_printf(b, "process_max_fds %llu\n",
		    (unsigned long long)rl.rlim_cur);
	}
	metric_gauge(b, "process_start_time_seconds",
	    "Start time of the process since unix epoch in seconds.",
	    (long long)metric_start);
}

void
metric_render(struct evbuffer *b)
{
	static const char *const checker_results[] = {
		"success", "failure", "killed", "error",
	};
	size_t	 i;

	metric_head(b, "mandos_connections_total", "counter",
	    "Connections ended, by result.");
	for (i = 0; i < RESULT__COUNT; i++)
		metric_labelled(b, "mandos_connections_total", "result",
		    metric_result_names[i], metric_result[i]);
	metric_counter(b, "mandos_connections_accepted_total",
	    "Connections accepted.", metric_val[M_ACCEPTED]);
	metric_head(b, "mandos_connections_refused_total", "counter",
	    "Connections closed at accept, before any TLS work, by reason.");
	metric_labelled(b, "mandos_connections_refused_total", "reason",
	    "source_share", metric_val[M_REFUSED_SHARE]);
	metric_counter(b, "mandos_accept_pauses_total", "Times accepting "
	    "paused at the connection cap or out of descriptors.",
	    metric_val[M_ACCEPT_PAUSED]);
	metric_counter(b, "mandos_worker_deaths_total", "Network workers "
	    "that died or were ended for a protocol error, and were replaced.",
	    metric_val[M_WORKER_DIED]);
	metric_counter(b, "mandos_worker_protocol_errors_total", "Network "
	    "workers ended because they broke the channel protocol.",
	    metric_val[M_WORKER_KILLED]);
	metric_gauge(b, "mandos_workers", "Network workers running now.",
	    metric_workers);
	metric_gauge(b, "mandos_connections_active",
	    "Connections open now.", metric_active);
	metric_head(b, "mandos_handshake_duration_seconds", "histogram",
	    "TLS handshake time.");
	for (i = 0; i < NBUCKETS; i++)
		evbuffer_add_printf(b, "mandos_handshake_duration_seconds_bucket"
		    "{le=\"%g\"} %llu\n", metric_buckets[i],
		    (unsigned long long)metric_hs_bucket[i]);
	evbuffer_add_printf(b, "mandos_handshake_duration_seconds_bucket"
	    "{le=\"+Inf\"} %llu\nmandos_handshake_duration_seconds_sum %.9f\n"
	    "mandos_handshake_duration_seconds_count %llu\n",
	    (unsigned long long)metric_hs_count, metric_hs_sum,
	    (unsigned long long)metric_hs_count);
	metric_head(b, "mandos_table_reloads_total", "counter",
	    "Client table reloads, by result.");
	metric_labelled(b, "mandos_table_reloads_total", "result", "ok",
	    metric_val[M_RELOAD_OK]);
	metric_labelled(b, "mandos_table_reloads_total", "result", "failed",
	    metric_val[M_RELOAD_FAILED]);
	metric_head(b, "mandos_clients", "gauge", "Clients in the table, by "
	    "state.");
	evbuffer_add_printf(b, "mandos_clients{state=\"enabled\"} %lld\n"
	    "mandos_clients{state=\"disabled\"} %lld\n",
	    (long long)metric_clients_enabled,
	    (long long)(metric_clients - metric_clients_enabled));
	metric_counter(b, "mandos_clients_expired_total", "Clients "
	    "disabled because their timeout passed.",
	    metric_val[M_EXPIRED]);
	metric_gauge(b, "mandos_approvals_pending",
	    "Connections waiting for an approval decision.",
	    metric_approvals_pending);
	metric_head(b, "mandos_checker_runs_total", "counter",
	    "Checker runs finished, by result.");
	for (i = 0; i < 4; i++)		/* M_CHECKER_OK .. M_CHECKER_ERROR */
		metric_labelled(b, "mandos_checker_runs_total", "result",
		    checker_results[i], metric_val[M_CHECKER_OK + i]);
	metric_gauge(b, "mandos_checkers_running",
	    "Checker processes running now.", metric_checkers_running);
	metric_gauge(b, "mandos_checkers_queued",
	    "Checkers waiting for a free slot under the cap.",
	    metric_checkers_queued);
	metric_gauge(b, "mandos_checkers_max",
	    "Cap on checker processes running at once.", metric_checker_cap);
	metric_head(b, "mandos_state_saves_total", "counter",
	    "State file writes, by result.");
	metric_labelled(b, "mandos_state_saves_total", "result", "ok",
	    metric_val[M_STATE_SAVE_OK]);
	metric_labelled(b, "mandos_state_saves_total", "result", "failed",
	    metric_val[M_STATE_SAVE_FAILED]);
	metric_head(b, "mandos_control_requests_total", "counter",
	    "Control socket requests, by result.");
	metric_labelled(b, "mandos_control_requests_total", "result", "ok",
	    metric_val[M_CTL_REQUESTS] - metric_val[M_CTL_ERRORS]);
	metric_labelled(b, "mandos_control_requests_total", "result", "error",
	    metric_val[M_CTL_ERRORS]);
	metric_counter(b, "mandos_control_denied_total",
	    "Control requests refused to read-only peers.",
	    metric_val[M_CTL_DENIED]);
	metric_counter(b, "mandos_watchers_dropped_total",
	    "Watchers dropped for falling behind.",
	    metric_val[M_WATCH_DROPPED]);
	metric_counter(b, "mandos_control_timeouts_total",
	    "Control peers closed for sending no request, or not reading, "
	    "within the bound.", metric_val[M_CTL_TIMEOUTS]);
	if (metric_store_enabled) {
		metric_counter(b, "mandos_store_requests_total", "Requests "
		    "sent to the fleet store (etcd).",
		    metric_val[M_STORE_REQUESTS]);
		if (metric_store_connections != NULL)
			metric_counter(b, "mandos_store_connections_total",
			    "HTTP connections opened to the fleet store "
			    "(requests reuse kept-alive ones).",
			    metric_store_connections());
		metric_gauge(b, "mandos_store_up", "Whether the fleet store "
		    "answers (1) or not (0).", metric_store_up);
		metric_gauge(b, "mandos_store_revision", "The store revision "
		    "of this server's local copy.", metric_store_revision);
		metric_counter(b, "mandos_store_refused_total", "Connections "
		    "refused because the store could not be confirmed "
		    "(--store-offline refuse).", metric_val[M_STORE_REFUSED]);
	}
	metric_head(b, "mandos_build_info", "gauge", "Build of this server.");
	evbuffer_add_printf(b, "mandos_build_info{version=\"%s\"} 1\n",
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
		"control_denied", "watchers_dropped", "control_timeouts",
		"refused_source_share",
		"worker_deaths", "worker_protocol_errors", "store_requests",
		"store_refused",
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
	cb(arg, "workers", (double)metric_workers);
	cb(arg, "clients", (double)metric_clients);
	cb(arg, "clients_enabled", (double)metric_clients_enabled);
	cb(arg, "approvals_pending", (double)metric_approvals_pending);
	cb(arg, "checkers_running", (double)metric_checkers_running);
	cb(arg, "checkers_queued", (double)metric_checkers_queued);
	cb(arg, "checkers_max", (double)metric_checker_cap);
	cb(arg, "handshakes", (double)metric_hs_count);
	cb(arg, "handshake_seconds_sum", metric_hs_sum);
	if (metric_store_enabled) {
		cb(arg, "store_up", (double)metric_store_up);
		cb(arg, "store_revision", (double)metric_store_revision);
		if (metric_store_connections != NULL)
			cb(arg, "store_connections",
			    (double)metric_store_connections());
	}
}
