/*
 * fuzz_checker_stub.c: checker.c's interface without processes, for the
 * harnesses that link the client table (fuzz_control, fuzz_state). A fuzzed
 * "set checker" followed by "start-checker" would otherwise run whatever
 * shell command the fuzzer wrote. Requests are remembered, never run.
 */
#include "config.h"

#include <stddef.h>

#include "checker.h"

struct checker_job {
	int	 unused;
};

static struct checker_job fz_job;
static size_t	 fz_queued;

void
checker_init(struct event_base *base, int max_running)
{
}

void
checker_request(struct checker_job **jobp, struct client_rt *rt,
    uint64_t timeout_ms)
{
	if (*jobp == NULL) {
		*jobp = &fz_job;
		fz_queued++;
	}
}

void
checker_cancel(struct checker_job **jobp)
{
	if (*jobp != NULL) {
		*jobp = NULL;
		fz_queued--;
	}
}

int
checker_is_running(const struct checker_job *j)
{
	return (0);
}

size_t
checker_running(void)
{
	return (0);
}

size_t
checker_queued(void)
{
	return (fz_queued);
}

int
checker_max(void)
{
	return (1);
}

void
checker_shutdown(void)
{
}
