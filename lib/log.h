/* log.h: one logging API for the server and the tools (stderr or syslog). */
#ifndef MANDOS_LOG_H
#define MANDOS_LOG_H

#include <stdarg.h>

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

void	log_init(const char *ident, int to_stderr, int verbose);
int	log_verbose(void);
/* 1: hold info/debug lines for stderr; 0: write the held ones (one write). */
void	log_hold(int);
void	log_warn(const char *, ...) LOG_PRINTF(1, 2);	/* appends strerror(errno) */
void	log_warnx(const char *, ...) LOG_PRINTF(1, 2);
void	log_info(const char *, ...) LOG_PRINTF(1, 2);
void	log_debug(const char *, ...) LOG_PRINTF(1, 2);	/* only when verbose */
__attribute__((noreturn)) void fatal(const char *, ...) LOG_PRINTF(1, 2);
__attribute__((noreturn)) void fatalx(const char *, ...) LOG_PRINTF(1, 2);

#endif
