/*
 * sandbox.h: what a network worker gives up before its first network byte.
 * (The interface is shared with the sandbox work, which provides the full
 * implementation: chroot, seccomp allow-list, no core dumps.)
 */
#ifndef MANDOSD_SANDBOX_H
#define MANDOSD_SANDBOX_H

#include <sys/resource.h>

struct sandbox_cfg {
	const char	*user;		/* drop to this user (no groups, no caps); NULL: keep the current uid (tests run unprivileged) */
	const char	*chroot_dir;	/* chroot into this empty directory; NULL: none */
	rlim_t		 nofile;	/* RLIMIT_NOFILE for this worker; 0: keep */
	int		 seccomp;	/* 1: install the allow-list; 0: skip (e.g. under valgrind) */
};
int	sandbox_enter(const struct sandbox_cfg *cfg, char **errstr);	/* 0 or -1 + errstr; after all files are open, before the first network byte */
void	proctitle_init(int argc, char **argv);				/* lib/proctitle.c */
void	proctitle_set(const char *fmt, ...);				/* "mandosd: worker 2" */

#endif
