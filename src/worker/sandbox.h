/*
 * sandbox.h: lock a network worker down before it reads its first network
 * byte: no core dumps, its share of descriptors, an empty chroot, an
 * unprivileged user with no groups and no capabilities, no_new_privs, and a
 * seccomp allow-list of what a libevent + GnuTLS loop on descriptors it
 * already holds needs. See sandbox.c for what must be initialized first.
 */
#ifndef MANDOSD_SANDBOX_H
#define MANDOSD_SANDBOX_H

#include <sys/resource.h>

struct sandbox_cfg {
	const char	*user;		/* drop to this user (no groups, no caps); NULL: keep the current uid (tests run unprivileged) */
	const char	*chroot_dir;	/* chroot into this empty directory; NULL: none */
	rlim_t		 nofile;	/* RLIMIT_NOFILE for this worker; 0: keep */
	int		 seccomp;	/* 1: Landlock + the allow-list; 0: neither (valgrind,
					 * sanitizers); 2: Landlock alone (tests) */
};

/* 0, or -1 with *errstr (malloc'd): then the worker must exit, half-locked. */
int	sandbox_enter(const struct sandbox_cfg *cfg, char **errstr);	/* after all files are open, before the first network byte */

#endif
