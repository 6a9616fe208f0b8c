/*
 * sandbox.c: a minimal sandbox for the network workers until the sandbox
 * work's full version (chroot, seccomp allow-list, no core dumps) replaces
 * this file: no_new_privs, the descriptor limit, and the user drop.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "sandbox.h"
#include "xmalloc.h"

int
sandbox_enter(const struct sandbox_cfg *cfg, char **errstr)
{
	struct passwd	*pw = NULL;
	struct rlimit	 rl;

	if (cfg->user != NULL && (pw = getpwnam(cfg->user)) == NULL) {
		xasprintf(errstr, "no user %s", cfg->user);
		return (-1);
	}
	if (cfg->nofile != 0) {
		rl.rlim_cur = rl.rlim_max = cfg->nofile;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
			xasprintf(errstr, "RLIMIT_NOFILE: %s", strerror(errno));
			return (-1);
		}
	}
	if (cfg->chroot_dir != NULL && (chroot(cfg->chroot_dir) == -1 ||
	    chdir("/") == -1)) {
		xasprintf(errstr, "chroot %s: %s", cfg->chroot_dir,
		    strerror(errno));
		return (-1);
	}
	if (pw != NULL && (setgroups(0, NULL) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)) {
		xasprintf(errstr, "becoming %s: %s", cfg->user, strerror(errno));
		return (-1);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		xasprintf(errstr, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return (-1);
	}
	return (0);
}
