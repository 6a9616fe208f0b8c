/* proctitle.h: what ps shows for a process ("mandosd: worker 2"). */
#ifndef MANDOS_PROCTITLE_H
#define MANDOS_PROCTITLE_H

/* Call first thing in main, before anything reads argv or environ. */
void	proctitle_init(int argc, char **argv);
/* ps -f shows "<progname>: <title>"; ps -e (comm) "<progname>-<short>". */
void	proctitle_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same title, comm unchanged: "pgrep -x mandosd" finds the authority. */
void	proctitle_set_title(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
