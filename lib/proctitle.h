/* proctitle.h: what ps shows for a process ("mandosd: worker 2"). */
#ifndef MANDOS_PROCTITLE_H
#define MANDOS_PROCTITLE_H

/* Call first in main: argv's strings move to the heap (argv[i] is updated),
 * their original space becomes the title. */
void	proctitle_init(int argc, char **argv);
void	proctitle_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
