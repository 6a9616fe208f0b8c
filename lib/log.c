/* log.c: messages to stderr (foreground, tools) or syslog (daemon); errno kept. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

static int	 log_to_stderr = 1;
static int	 log_level_verbose;
static const char *log_ident = "mandos";

static void	 log_vwrite(int, const char *, va_list, const char *) LOG_PRINTF(2, 0);

/* Choose the destination; ident prefixes stderr lines and names syslog. */
void
log_init(const char *ident, int to_stderr, int verbose)
{
	log_ident = ident;
	log_to_stderr = to_stderr;
	log_level_verbose = verbose;
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	tzset();
}

/* Whether debug lines are written. */
int
log_verbose(void)
{
	return (log_level_verbose);
}

/* Format one message and send it; suffix (strerror) may be NULL. */
static void
log_vwrite(int prio, const char *fmt, va_list ap, const char *suffix)
{
	char	 msg[1024];
	int	 saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_to_stderr) {
		if (suffix != NULL)
			fprintf(stderr, "%s: %s: %s\n", log_ident, msg, suffix);
		else
			fprintf(stderr, "%s: %s\n", log_ident, msg);
	} else if (suffix != NULL)
		syslog(prio, "%s: %s", msg, suffix);
	else
		syslog(prio, "%s", msg);
	errno = saved;
}

#define LOG_BODY(prio, suffix) do {		\
	va_list	ap;				\
	va_start(ap, fmt);			\
	log_vwrite((prio), fmt, ap, (suffix));	\
	va_end(ap);				\
} while (0)

void
log_warn(const char *fmt, ...)
{
	const char *e = strerror(errno);

	LOG_BODY(LOG_WARNING, e);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_WARNING, NULL);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_INFO, NULL);
}

void
log_debug(const char *fmt, ...)
{
	if (!log_level_verbose)
		return;
	LOG_BODY(LOG_DEBUG, NULL);
}

void
fatal(const char *fmt, ...)
{
	const char *e = strerror(errno);

	LOG_BODY(LOG_CRIT, e);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_BODY(LOG_CRIT, NULL);
	exit(1);
}
