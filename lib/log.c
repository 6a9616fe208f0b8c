/* log.c: messages to stderr (foreground, tools) or syslog (daemon); errno kept. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int	 log_to_stderr = 1;
static int	 log_level_verbose;
static const char *log_ident = "mandos";
/* Held info and debug lines (stderr only): one write for a batch of them. */
static char	 log_held[8192];
static size_t	 log_heldlen;
static int	 log_holding;

static void	 log_flush(void);
static void	 log_vwrite(int, const char *, va_list, const char *) LOG_PRINTF(2, 0);

/* Choose the destination; ident prefixes stderr lines and names syslog. */
void
log_init(const char *ident, int to_stderr, int verbose)
{
	log_flush();	/* held lines go where they were meant for */
	log_holding = 0;
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

static void
log_flush(void)
{
	if (log_heldlen > 0)
		(void)write(STDERR_FILENO, log_held, log_heldlen);
	log_heldlen = 0;
}

/*
 * While on, info and debug lines for stderr are kept (bounded) and written
 * together when it is turned off: the authority's outcome lines of one
 * batch of channel frames cost one write. A warning or worse flushes them
 * and goes at once, so that nothing is held when the process dies.
 */
void
log_hold(int on)
{
	if (!on)
		log_flush();
	log_holding = on;
}

/* Format one message and send it; suffix (strerror) may be NULL. */
static void
log_vwrite(int prio, const char *fmt, va_list ap, const char *suffix)
{
	char	 msg[1024], line[1200];
	int	 saved = errno, n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_to_stderr) {
		/* One write per line (stderr is unbuffered anyway). */
		n = snprintf(line, sizeof(line), "%s: %s%s%s\n", log_ident, msg,
		    suffix != NULL ? ": " : "", suffix != NULL ? suffix : "");
		if (n < 0)
			n = 0;
		if ((size_t)n >= sizeof(line)) {
			n = sizeof(line) - 1;
			line[n - 1] = '\n';
		}
		if (log_holding && prio >= LOG_INFO) {
			if (log_heldlen + (size_t)n > sizeof(log_held))
				log_flush();
			memcpy(log_held + log_heldlen, line, (size_t)n);
			log_heldlen += (size_t)n;
		} else {
			log_flush();
			(void)write(STDERR_FILENO, line, (size_t)n);
		}
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
