/*
 * sandbox.c: the network worker's lock-down. A worker parses bytes from
 * anyone on the network and briefly holds a client's secret, so before its
 * first network byte it gives up everything its loop does not need, in an
 * order where each step still has the privilege it requires:
 *
 *   1. RLIMIT_CORE 0 and not dumpable: a crash must not write the secret
 *      to disk, and nobody may ptrace or read /proc/PID/mem of the worker;
 *   2. the user is resolved (getpwnam reads /etc and NSS modules: before
 *      the chroot and the filter) and the chroot directory checked;
 *   3. RLIMIT_NOFILE to the worker's share (after 2, which open files: a
 *      share below the descriptors already open would make them fail);
 *   4. chroot into the empty, root-owned, unwritable directory + chdir("/");
 *   5. while root still has CAP_SETPCAP: the bounding set emptied, ambient
 *      capabilities cleared, securebits locked (uid 0 gains nothing by exec);
 *   6. setgroups(0), setresgid, setresuid; then verified: all three ids
 *      changed, no groups, and setresuid(0) fails;
 *   7. every capability dropped (capset to zero; checked with capget) and
 *      dumpable cleared again (the uid change resets it to fs.suid_dumpable);
 *   8. PR_SET_NO_NEW_PRIVS 1 (also what lets an unprivileged worker load a
 *      filter);
 *   9. the seccomp allow-list; anything else kills the process (SIGSYS).
 *
 * Chroot and Landlock: the filter already denies every call that names a
 * path (open, openat, stat, exec, ...). Chroot keeps a worker started as
 * root away from the file system even with seccomp = 0 (valgrind); a
 * successor started by an authority that already dropped root cannot
 * chroot, so after no_new_privs every worker also gets a Landlock ruleset
 * that handles every file system right (and TCP bind/connect, ABI >= 4)
 * and allows none. A kernel without Landlock leaves chroot and the filter.
 * With seccomp = 0 (valgrind, sanitizer builds) Landlock is off too.
 *
 * What must happen BEFORE sandbox_enter (the filter forbids it afterwards):
 *   - gnutls_global_init(): opens /dev/urandom if getrandom is missing,
 *     loads the system priority file (/etc/gnutls/config) and the
 *     crypto back-ends;
 *   - the priority cache (gnutls_priority_init2) and the certificate
 *     credentials (gnutls_certificate_allocate_credentials);
 *   - one gnutls_rnd(GNUTLS_RND_NONCE) and one GNUTLS_RND_RANDOM call, so
 *     the random generator is seeded (its reseeds use getrandom, allowed);
 *   - event_base_new() (epoll_create1, and libevent's signal socketpair),
 *     and every listener, the authority socketpair and the log destination:
 *     log to stderr, not syslog (syslog reconnects with socket + connect);
 *   - tzset()/localtime once if times are formatted (reads /etc/localtime);
 *   - every descriptor the worker does not need closed, above all any
 *     directory: an open directory leads out of the chroot.
 *
 * The allow-list was measured with strace on a worker loop doing real
 * GnuTLS handshakes (t/sandbox/sbworker.c, and the single-process
 * mandosd's conn.c loop under mandos-storm); see sandbox_allow[].
 */
#include "config.h"

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <linux/landlock.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/securebits.h>

#include <seccomp.h>

#include "sandbox.h"
#include "xmalloc.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT		47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

static int	 sandbox_nocore(char **);
static int	 sandbox_nofile(rlim_t, char **);
static int	 sandbox_check_dir(const char *, char **);
static int	 sandbox_caps_get(struct __user_cap_data_struct[2]);
static int	 sandbox_bounding(char **);
static int	 sandbox_user(uid_t, gid_t, char **);
static int	 sandbox_caps_drop(char **);
static int	 sandbox_seccomp(char **);
static int	 sandbox_landlock(char **);
static int	 sandbox_landlock_apply(int, char **);

/*
 * Calls allowed with any arguments. Each is on descriptors the worker
 * already holds, or on its own memory, time or signals.
 *
 * Measured (strace -f, x86_64, Debian 12: GnuTLS 3.7.9, libevent 2.1.12,
 * glibc 2.36), every call after sandbox_enter:
 *   sbworker, 2,000 handshakes from mandos-storm at concurrency 100:
 *     recvfrom 24901, sendmsg 10000, read 6406, epoll_ctl 2616,
 *     epoll_wait 2206, close 2000, accept4 2000, brk 12, write 1,
 *     futex 1, exit_group 1
 *   mandosd's own conn.c loop (main process, 2,000 storm handshakes)
 *     adds: write (logs), rt_sigreturn, rt_sigaction (signal events),
 *     getrandom 1 (GnuTLS reseeding its generator); its clone, wait4,
 *     pidfd_open and fcntl(F_SETFD) are the checkers', not a worker's.
 * GnuTLS reads with recv (recvfrom) and writes with sendmsg; clock_gettime
 * stays in the vDSO. The rest are here because a worker reaches them on
 * paths the runs did not: malloc growing and trimming (mmap, munmap,
 * mremap, madvise, mprotect), the authority channel (recvmsg, readv,
 * writev, sendto), a peer going away (shutdown, getpeername, socket
 * options), abort() and signal events (rt_sig*, getpid, gettid, tgkill on
 * itself), a vDSO-less clock, epoll_pwait (newer libevent), restarts.
 */
static const char *const sandbox_allow[] = {
	/* libevent's epoll back-end (the base exists before the filter) */
	"epoll_wait", "epoll_pwait", "epoll_ctl",
	/* listeners, connections and the authority socketpair */
	"accept4", "read", "readv", "recvfrom", "recvmsg",
	"write", "writev", "sendto", "sendmsg", "shutdown", "close",
	"setsockopt", "getsockopt", "getsockname", "getpeername",
	/* time and GnuTLS' random reseeds */
	"clock_gettime", "gettimeofday", "getrandom",
	/* the bounded close_notify round at shutdown (conn_close_all) */
	"nanosleep", "clock_nanosleep",
	/* malloc; mmap and mprotect are below, without PROT_EXEC */
	"brk", "munmap", "mremap", "madvise",
	/* locks, signals, exit */
	"futex", "rt_sigreturn", "rt_sigprocmask", "rt_sigaction",
	"sigaltstack",	/* ASan's abort path; an alternate stack in our memory */
	"restart_syscall", "exit", "exit_group", "getpid", "gettid",
	NULL
};

/* Lock the calling process down as described at the top; 0 or -1. */
int
sandbox_enter(const struct sandbox_cfg *cfg, char **errstr)
{
	struct passwd	*pw;
	uid_t		 uid = (uid_t)-1;
	gid_t		 gid = (gid_t)-1;
	int		 llfd = -1;

	*errstr = NULL;
	if (sandbox_nocore(errstr) == -1)
		return (-1);
	if (cfg->user != NULL) {
		errno = 0;
		if ((pw = getpwnam(cfg->user)) == NULL) {
			xasprintf(errstr, "user \"%s\": %s", cfg->user,
			    errno != 0 ? strerror(errno) : "no such user");
			return (-1);
		}
		if (pw->pw_uid == 0 || pw->pw_gid == 0) {
			xasprintf(errstr, "user \"%s\" has uid or gid 0: refusing "
			    "to run a network worker as root", cfg->user);
			return (-1);
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	if (cfg->chroot_dir != NULL &&
	    sandbox_check_dir(cfg->chroot_dir, errstr) == -1)
		return (-1);
	/* The ruleset is a descriptor: made before the share is lowered. */
	if (cfg->seccomp && (llfd = sandbox_landlock(errstr)) == -2)
		return (-1);
	if (cfg->nofile != 0 && sandbox_nofile(cfg->nofile, errstr) == -1)
		return (-1);
	if (cfg->chroot_dir != NULL) {
		if (chroot(cfg->chroot_dir) == -1 || chdir("/") == -1) {
			xasprintf(errstr, "chroot %s: %s", cfg->chroot_dir,
			    strerror(errno));
			return (-1);
		}
	}
	if (sandbox_bounding(errstr) == -1)
		return (-1);
	if (cfg->user != NULL && sandbox_user(uid, gid, errstr) == -1)
		return (-1);
	if (sandbox_caps_drop(errstr) == -1)
		return (-1);
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		xasprintf(errstr, "prctl: %s", strerror(errno));
		return (-1);
	}
	/* seccomp = 0 is a debugging run (valgrind, sanitizers): those read
	 * and write files of their own, so neither Landlock nor the filter. */
	if (llfd >= 0 && sandbox_landlock_apply(llfd, errstr) == -1)
		return (-1);
	if (cfg->seccomp == 1 && sandbox_seccomp(errstr) == -1)
		return (-1);
	return (0);
}

/*
 * A Landlock ruleset with no rule: once applied, no file may be opened,
 * made, removed or run, and no TCP port bound or connected to, whatever
 * the uid. Its descriptor, -1 when the kernel has no Landlock (chroot and
 * seccomp remain), or -2 on error.
 */
static int
sandbox_landlock(char **errstr)
{
	struct {
		uint64_t	 fs;
		uint64_t	 net;
	}		 attr;
	long		 abi, fd;
	size_t		 size = sizeof(attr.fs);

	abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1)
		return (-1);
	memset(&attr, 0, sizeof(attr));
	attr.fs = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;	/* ABI 1 */
	if (abi >= 2)
		attr.fs |= 1ULL << 13;		/* REFER */
	if (abi >= 3)
		attr.fs |= 1ULL << 14;		/* TRUNCATE */
	if (abi >= 5)
		attr.fs |= 1ULL << 15;		/* IOCTL_DEV */
	if (abi >= 4) {
		attr.net = 3;			/* BIND_TCP | CONNECT_TCP */
		size = sizeof(attr);
	}
	if ((fd = syscall(SYS_landlock_create_ruleset, &attr, size, 0)) == -1) {
		xasprintf(errstr, "landlock_create_ruleset: %s",
		    strerror(errno));
		return (-2);
	}
	return ((int)fd);
}

/* Apply the ruleset (after no_new_privs) and close its descriptor. */
static int
sandbox_landlock_apply(int fd, char **errstr)
{
	int	 rc = 0;

	if (syscall(SYS_landlock_restrict_self, fd, 0) == -1) {
		xasprintf(errstr, "landlock_restrict_self: %s", strerror(errno));
		rc = -1;
	}
	close(fd);
	return (rc);
}

/* No core dumps, and not dumpable (no ptrace, no /proc/PID/mem). */
static int
sandbox_nocore(char **errstr)
{
	struct rlimit	 rl = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &rl) == -1 ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1) {
		xasprintf(errstr, "no core dumps: %s", strerror(errno));
		return (-1);
	}
	return (0);
}

/* The worker's share of descriptors, soft and hard. */
static int
sandbox_nofile(rlim_t nofile, char **errstr)
{
	struct rlimit	 rl = { nofile, nofile };

	if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
		xasprintf(errstr, "RLIMIT_NOFILE %llu: %s",
		    (unsigned long long)nofile, strerror(errno));
		return (-1);
	}
	return (0);
}

/* The chroot must be a directory, empty, and unwritable by the worker. */
static int
sandbox_check_dir(const char *dir, char **errstr)
{
	struct stat	 st;
	struct dirent	*de;
	DIR		*d;
	const char	*bad = NULL;

	if (stat(dir, &st) == -1) {
		xasprintf(errstr, "chroot %s: %s", dir, strerror(errno));
		return (-1);
	}
	if (!S_ISDIR(st.st_mode))
		bad = "not a directory";
	else if (st.st_uid != 0 && st.st_uid != geteuid())
		bad = "not owned by root";
	else if (st.st_mode & (S_IWGRP | S_IWOTH))
		bad = "writable by group or others";
	if (bad == NULL) {
		if ((d = opendir(dir)) == NULL) {
			xasprintf(errstr, "chroot %s: %s", dir, strerror(errno));
			return (-1);
		}
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") != 0 &&
			    strcmp(de->d_name, "..") != 0) {
				bad = "not empty";
				break;
			}
		closedir(d);
	}
	if (bad != NULL) {
		xasprintf(errstr, "chroot %s: %s", dir, bad);
		return (-1);
	}
	return (0);
}

/* The calling thread's capability sets; 0 or -1. */
static int
sandbox_caps_get(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct	 hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0
	};

	memset(data, 0, 2 * sizeof(data[0]));
	return ((int)syscall(SYS_capget, &hdr, data));
}

/*
 * Empty the bounding set and the ambient set, and lock securebits so that
 * uid 0 is no longer special. Needs CAP_SETPCAP: an unprivileged process
 * (the tests' non-root runs) has nothing to lose here, and no_new_privs
 * keeps it from gaining anything by exec.
 */
static int
sandbox_bounding(char **errstr)
{
	struct __user_cap_data_struct	 data[2];
	int				 cap;

	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1 &&
	    errno != EINVAL) {
		xasprintf(errstr, "clearing ambient capabilities: %s",
		    strerror(errno));
		return (-1);
	}
	if (sandbox_caps_get(data) == -1) {
		xasprintf(errstr, "capget: %s", strerror(errno));
		return (-1);
	}
	if (!(data[0].effective & (1U << CAP_SETPCAP)))
		return (0);
	if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
	    SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED, 0, 0, 0) == -1) {
		xasprintf(errstr, "securebits: %s", strerror(errno));
		return (-1);
	}
	/* Up to the kernel's last capability: it answers EINVAL past it. */
	for (cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == -1) {
			if (errno == EINVAL && cap > CAP_SETPCAP)
				break;
			xasprintf(errstr, "dropping capability %d from the "
			    "bounding set: %s", cap, strerror(errno));
			return (-1);
		}
	}
	return (0);
}

/* Become uid/gid with no supplementary groups, for good; 0 or -1. */
static int
sandbox_user(uid_t uid, gid_t gid, char **errstr)
{
	uid_t	 ru, eu, su;
	gid_t	 rg, eg, sg;

	if (setgroups(0, NULL) == -1 || setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1) {
		xasprintf(errstr, "dropping to uid %u gid %u: %s",
		    (unsigned)uid, (unsigned)gid, strerror(errno));
		return (-1);
	}
	if (getresuid(&ru, &eu, &su) == -1 || getresgid(&rg, &eg, &sg) == -1 ||
	    ru != uid || eu != uid || su != uid ||
	    rg != gid || eg != gid || sg != gid || getgroups(0, NULL) != 0) {
		xasprintf(errstr, "uid %u gid %u: ids did not all change",
		    (unsigned)uid, (unsigned)gid);
		return (-1);
	}
	if (setresuid(0, 0, 0) != -1 || setresgid(0, 0, 0) != -1) {
		xasprintf(errstr, "uid %u could become root again",
		    (unsigned)uid);
		return (-1);
	}
	return (0);
}

/* Empty the effective, permitted and inheritable sets, and check it. */
static int
sandbox_caps_drop(char **errstr)
{
	struct __user_cap_header_struct	 hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0
	};
	struct __user_cap_data_struct	 data[2];
	int				 i;

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) == -1 ||
	    sandbox_caps_get(data) == -1) {
		xasprintf(errstr, "dropping capabilities: %s", strerror(errno));
		return (-1);
	}
	for (i = 0; i < 2; i++)
		if (data[i].effective || data[i].permitted ||
		    data[i].inheritable) {
			xasprintf(errstr, "capabilities left after capset");
			return (-1);
		}
	return (0);
}

/*
 * The allow-list; the default kills the whole process with SIGSYS.
 * libseccomp resolves the names for the native architecture and makes the
 * filter check it: a call made through another ABI (int 0x80, x32) kills
 * too. The list was measured on x86_64; elsewhere a name the architecture
 * lacks is skipped, not an error.
 */
static int
sandbox_seccomp(char **errstr)
{
	scmp_filter_ctx	 ctx;
	const char	*what = "seccomp_init";
	pid_t		 pid = getpid();
	int		 i, nr, r = -ENOMEM;

	/* NULL also when seccomp(2) is missing: valgrind 3.19 does not
	 * emulate it. Fail closed: never run on without the filter. */
	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL) {
		xasprintf(errstr, "seccomp_init failed: no seccomp(2) here "
		    "(under valgrind? then run with seccomp off)");
		return (-1);
	}
	for (i = 0; sandbox_allow[i] != NULL; i++) {
		what = sandbox_allow[i];
		if ((nr = seccomp_syscall_resolve_name(what)) == __NR_SCMP_ERROR)
			continue;
		if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) < 0)
			goto fail;
	}
	/* Memory, never executable: no new code even after a memory bug. */
	what = "mmap";
	if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 2,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0),
	    SCMP_A3(SCMP_CMP_MASKED_EQ, MAP_ANONYMOUS, MAP_ANONYMOUS))) < 0)
		goto fail;
	what = "mprotect";
	if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
	    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0))) < 0)
		goto fail;
	/* Descriptor flags (O_NONBLOCK, FD_CLOEXEC) only; no locks, no F_DUPFD. */
	what = "fcntl";
	if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
	    SCMP_A1(SCMP_CMP_EQ, F_GETFL))) < 0 ||
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
	    SCMP_A1(SCMP_CMP_EQ, F_SETFL))) < 0 ||
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
	    SCMP_A1(SCMP_CMP_EQ, F_GETFD))) < 0 ||
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
	    SCMP_A1(SCMP_CMP_EQ, F_SETFD))) < 0)
		goto fail;
	/* abort() and raise() signal this process, never another one. */
	what = "tgkill";
	if ((r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
	    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)pid))) < 0 ||
	    (r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
	    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)pid))) < 0)
		goto fail;
	what = "seccomp_load";
	if ((r = seccomp_load(ctx)) < 0)
		goto fail;
	seccomp_release(ctx);
	return (0);
fail:
	xasprintf(errstr, "seccomp (%s): %s", what, strerror(-r));
	if (ctx != NULL)
		seccomp_release(ctx);
	return (-1);
}
