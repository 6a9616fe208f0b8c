/*
 * proctitle.c: the classic setproctitle (OpenSSH's, nginx's): the kernel
 * shows /proc/PID/cmdline from the memory of argv[], which is followed by
 * environ's strings; after moving environ away, the title is written over
 * both and the rest cleared. prctl(PR_SET_NAME) sets the 15-byte comm
 * that ps -e and top show: "mandosd: worker 2" becomes "mandosd-w2".
 */
#include "config.h"

#include <sys/prctl.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proctitle.h"
#include "xmalloc.h"

extern char	**environ;

static char	*proctitle_base;	/* argv[0]'s memory; NULL: not set up */
static size_t	 proctitle_len;		/* contiguous bytes from there */
static char	 proctitle_prog[16] = "?";
/* Our copy of environ. Kept here too: glibc's exit-time clean-up (run by
 * valgrind) sets environ to NULL, and the copy must not look leaked. */
static char	**volatile proctitle_env;	/* volatile: not optimized away */
/* Every copied string, also those unsetenv() later drops from environ
 * (LISTEN_FDS...): LeakSanitizer must not see them as leaked. */
static char	**volatile proctitle_env_all;

static void	 proctitle_comm(const char *);

/* Find argv's and environ's contiguous block and move environ out of it. */
void
proctitle_init(int argc, char **argv)
{
	char	*end, **env;
	size_t	 n, i;
	int	 k;

	if (argc < 1 || argv == NULL || argv[0] == NULL)
		return;
	snprintf(proctitle_prog, sizeof(proctitle_prog), "%s",
	    strrchr(argv[0], '/') != NULL ? strrchr(argv[0], '/') + 1 : argv[0]);
	end = argv[0];
	for (k = 0; k < argc; k++)
		if (argv[k] == end)
			end = argv[k] + strlen(argv[k]) + 1;
	for (n = 0; environ != NULL && environ[n] != NULL; n++)
		if (environ[n] == end)
			end = environ[n] + strlen(environ[n]) + 1;
	/* Copy environ: getenv/setenv must not see the title (startup:
	 * xmalloc's exit on failure is fine). */
	env = xcalloc(n + 1, sizeof(*env));
	proctitle_env_all = xcalloc(n + 1, sizeof(*env));
	for (i = 0; i < n; i++)
		env[i] = proctitle_env_all[i] = xstrdup(environ[i]);
	environ = proctitle_env = env;
	proctitle_base = argv[0];
	proctitle_len = (size_t)(end - argv[0]);
	/* getopt and usage messages keep reading argv: give it copies. */
	for (k = 0; k < argc; k++)
		if (argv[k] >= proctitle_base &&
		    argv[k] < proctitle_base + proctitle_len)
			argv[k] = xstrdup(argv[k]);
}

/* The title shown by ps -f; and the comm shown by ps -e if comm. */
static void
proctitle_vset(int comm, const char *fmt, va_list ap)
{
	char	 title[256];
	int	 n;

	vsnprintf(title, sizeof(title), fmt, ap);
	if (comm)
		proctitle_comm(title);
	if (proctitle_base == NULL || proctitle_len < 2)
		return;
	n = snprintf(proctitle_base, proctitle_len, "%s: %s", proctitle_prog,
	    title);
	if (n < 0)
		n = 0;
	/* Clear the rest so that cmdline ends at our NUL and shows no
	 * stale argument or environment string. */
	if ((size_t)n < proctitle_len)
		memset(proctitle_base + n, 0, proctitle_len - (size_t)n);
}

void
proctitle_set(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	proctitle_vset(1, fmt, ap);
	va_end(ap);
}

void
proctitle_set_title(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	proctitle_vset(0, fmt, ap);
	va_end(ap);
}

/* "worker 2" -> "<prog>-w2", "authority" -> "<prog>-authority", cut to 15. */
static void
proctitle_comm(const char *title)
{
	char		 comm[40], shortt[16];
	const char	*sp = strchr(title, ' ');
	size_t		 i = 0;

	if (sp != NULL && sp != title) {
		shortt[i++] = title[0];
		for (sp++; *sp != '\0' && *sp != ' ' && i < sizeof(shortt) - 1; sp++)
			shortt[i++] = *sp;
	} else
		for (; title[i] != '\0' && i < sizeof(shortt) - 1; i++)
			shortt[i] = title[i];
	shortt[i] = '\0';
	snprintf(comm, sizeof(comm), "%s-%s", proctitle_prog, shortt);
	comm[15] = '\0';	/* the kernel keeps 15 bytes + NUL */
	prctl(PR_SET_NAME, comm, 0, 0, 0);
}
