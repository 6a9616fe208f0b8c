/*
 * daemon.c: the process side of mandosd: detaching from the terminal, the
 * pid file, dropping root, and sd_notify(3)-style messages written to
 * NOTIFY_SOCKET directly (no libsystemd).
 *
 * Privileges: mandosd binds, reads its keys and its table as root, then
 * becomes the unprivileged user with no supplementary groups.  A reload
 * must still read clients.json and secret files that are typically
 * root-owned 0600, so the process keeps exactly one capability,
 * CAP_DAC_READ_SEARCH (read any file, nothing else: no writes, no
 * signals, no chown), through PR_SET_KEEPCAPS across setresuid().  A
 * privileged reader process would need its own protocol and a second
 * process to supervise for the same result; one capability is smaller.
 * Children (checkers) get no capability: the inheritable and ambient
 * sets are empty, so execve() clears the permitted set.
 */
#include "config.h"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include <linux/capability.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

static int	 daemon_pipe = -1;	/* to the waiting parent, if detached */
static int	 daemon_notify_fd = -1;
static int	 daemon_pid_fd = -1;
static char	*daemon_pid_path;

static int	 daemon_notify_connect(void);

/* Whether systemd (or a test standing in for it) wants notifications. */
int
daemon_under_systemd(void)
{
	const char	*s = getenv("NOTIFY_SOCKET");

	return (s != NULL && *s != '\0');
}

/*
 * Fork into the background; the parent exits 0 once the child calls
 * daemon_ready(), or 1 if the child dies first, so errors during the rest
 * of the startup still reach the caller's terminal and exit status.
 */
int
daemon_detach(char **errstr)
{
	int	 p[2];
	pid_t	 pid;
	ssize_t	 n;
	char	 c = 0;

	if (pipe2(p, O_CLOEXEC) == -1) {
		*errstr = "pipe";
		return (-1);
	}
	switch ((pid = fork())) {
	case -1:
		close(p[0]);
		close(p[1]);
		*errstr = "fork";
		return (-1);
	case 0:
		close(p[0]);
		daemon_pipe = p[1];
		if (setsid() == -1) {
			*errstr = "setsid";
			return (-1);
		}
		if (chdir("/") == -1) {
			*errstr = "chdir /";
			return (-1);
		}
		return (0);
	default:
		close(p[1]);
		while ((n = read(p[0], &c, 1)) == -1 && errno == EINTR)
			;
		_exit(n == 1 && c == 'R' ? 0 : 1);
	}
}

/*
 * Write our pid, locked so that a second instance fails instead of
 * overwriting a live one's file; a stale file from a crash is reused.
 */
int
daemon_pidfile_write(const char *path, char **errstr)
{
	char	 buf[32];
	int	 fd, n;

	if (path == NULL || *path == '\0')
		return (0);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd == -1) {
		*errstr = "cannot open pid file";
		return (-1);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		*errstr = errno == EWOULDBLOCK ?
		    "pid file locked: another mandosd is running" :
		    "cannot lock pid file";
		close(fd);
		return (-1);
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, n, 0) != n) {
		*errstr = "cannot write pid file";
		close(fd);
		return (-1);
	}
	daemon_pid_fd = fd;	/* held open: the lock lives with us */
	free(daemon_pid_path);
	if ((daemon_pid_path = strdup(path)) == NULL) {
		*errstr = "strdup";
		return (-1);
	}
	return (0);
}

/* Remove our pid file if it is still ours; empty it if we may not. */
void
daemon_pidfile_remove(void)
{
	struct stat	 a, b;

	if (daemon_pid_fd == -1)
		return;
	if (fstat(daemon_pid_fd, &a) == 0 && stat(daemon_pid_path, &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino &&
	    unlink(daemon_pid_path) == -1) {
		/* Directory not writable after the drop: leave no live pid. */
		log_warn("%s: unlink %s", __func__, daemon_pid_path);
		if (ftruncate(daemon_pid_fd, 0) == -1)
			log_warn("%s: truncate %s", __func__, daemon_pid_path);
	}
	close(daemon_pid_fd);
	daemon_pid_fd = -1;
	free(daemon_pid_path);
	daemon_pid_path = NULL;
}

/*
 * Look up the user to run as: name, or the first of _mandos (Debian's),
 * mandos and nobody; the group is the user's primary group.
 */
int
daemon_user(const char *name, uid_t *uid, gid_t *gid, char **errstr)
{
	static const char *const defaults[] = { "_mandos", "mandos", "nobody" };
	struct passwd	*pw = NULL;
	size_t		 i;

	if (name != NULL && *name != '\0')
		pw = getpwnam(name);
	else
		for (i = 0; pw == NULL && i < 3; i++)
			pw = getpwnam(defaults[i]);
	if (pw == NULL) {
		*errstr = "no such user";
		return (-1);
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return (0);
}

/*
 * Make sure a directory of ours (state, runtime) exists and belongs to the
 * user we run as, so that files in it can be replaced and unlinked after
 * the drop; an existing directory owned by someone else than root is left
 * as the operator made it.
 */
int
daemon_own_dir(const char *path, mode_t mode, uid_t uid, gid_t gid,
    char **errstr)
{
	struct stat	 st;
	int		 fd;

	if (mkdir(path, mode) == -1 && errno != EEXIST) {
		*errstr = "cannot create directory";
		return (-1);
	}
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		*errstr = "cannot open directory";
		return (-1);
	}
	if (fstat(fd, &st) == -1) {
		*errstr = "cannot stat directory";
		close(fd);
		return (-1);
	}
	if (st.st_uid == 0 && uid != 0 && fchown(fd, uid, gid) == -1) {
		*errstr = "cannot chown directory";
		close(fd);
		return (-1);
	}
	close(fd);
	return (0);
}

/* Give up every capability: for helper processes that read nothing. */
void
daemon_drop_capabilities(void)
{
	struct __user_cap_header_struct	 hdr;
	struct __user_cap_data_struct	 data[_LINUX_CAPABILITY_U32S_3];

	memset(&hdr, 0, sizeof(hdr));
	memset(data, 0, sizeof(data));
	hdr.version = _LINUX_CAPABILITY_VERSION_3;
	if (syscall(SYS_capset, &hdr, data) == -1)
		log_warn("%s: capset", __func__);
}

/*
 * Become uid/gid with no supplementary groups, keeping only
 * CAP_DAC_READ_SEARCH (see the top of this file); then check that root
 * cannot be regained.  Not root: nothing to drop.
 */
int
daemon_drop_privileges(uid_t uid, gid_t gid, char **errstr)
{
	struct __user_cap_header_struct	 hdr;
	struct __user_cap_data_struct	 data[_LINUX_CAPABILITY_U32S_3];

	if (geteuid() != 0) {
		log_info("%s: not root, running as uid %ld", __func__,
		    (long)geteuid());
		return (0);
	}
	if (uid == 0) {
		errno = EINVAL;
		*errstr = "refusing to run as root";
		return (-1);
	}
	if (setgroups(0, NULL) == -1) {
		*errstr = "setgroups";
		return (-1);
	}
	if (setresgid(gid, gid, gid) == -1) {
		*errstr = "setresgid";
		return (-1);
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == -1) {
		*errstr = "PR_SET_KEEPCAPS";
		return (-1);
	}
	if (setresuid(uid, uid, uid) == -1) {
		*errstr = "setresuid";
		return (-1);
	}
	memset(&hdr, 0, sizeof(hdr));
	memset(data, 0, sizeof(data));
	hdr.version = _LINUX_CAPABILITY_VERSION_3;
	data[CAP_TO_INDEX(CAP_DAC_READ_SEARCH)].permitted =
	    CAP_TO_MASK(CAP_DAC_READ_SEARCH);
	data[CAP_TO_INDEX(CAP_DAC_READ_SEARCH)].effective =
	    CAP_TO_MASK(CAP_DAC_READ_SEARCH);
	if (syscall(SYS_capset, &hdr, data) == -1) {
		*errstr = "capset";
		return (-1);
	}
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) == -1) {
		*errstr = "PR_SET_KEEPCAPS";
		return (-1);
	}
	if (setresuid(0, 0, 0) != -1 || setegid(0) != -1) {
		*errstr = "root could be regained";
		return (-1);
	}
	log_debug("%s: running as uid %ld gid %ld", __func__, (long)uid,
	    (long)gid);
	return (0);
}

/* Open a datagram socket connected to NOTIFY_SOCKET ('@' = abstract). */
static int
daemon_notify_connect(void)
{
	struct sockaddr_un	 sun;
	const char		*path = getenv("NOTIFY_SOCKET");
	socklen_t		 len;
	size_t			 n;
	int			 fd;

	if (path == NULL || *path == '\0')
		return (-1);
	n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sun.sun_path)) {
		log_warnx("%s: unusable NOTIFY_SOCKET", __func__);
		return (-1);
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, n);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	len = offsetof(struct sockaddr_un, sun_path) + n;
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("%s: socket", __func__);
		return (-1);
	}
	if (connect(fd, (struct sockaddr *)&sun, len) == -1) {
		log_warn("%s: connect %s", __func__, path);
		close(fd);
		return (-1);
	}
	return (fd);
}

/*
 * Connect to the notification socket now, while root: the socket file may
 * not be writable by the user we drop to, and a connected datagram socket
 * keeps working after the drop.
 */
int
daemon_notify_init(void)
{
	if (daemon_notify_fd == -1)
		daemon_notify_fd = daemon_notify_connect();
	return (daemon_notify_fd == -1 ? -1 : 0);
}

/* Send one notification; silently nothing outside systemd. */
void
daemon_notify(const char *state)
{
	if (daemon_notify_fd == -1 && daemon_under_systemd())
		daemon_notify_init();
	if (daemon_notify_fd == -1)
		return;
	if (send(daemon_notify_fd, state, strlen(state), MSG_NOSIGNAL) == -1)
		log_warn("%s: %s", __func__, state);
	else
		log_debug("%s: %s", __func__, state);
}

/*
 * Startup is complete: tell systemd, release a waiting parent, and cut
 * the last ties to its terminal.
 */
void
daemon_ready(void)
{
	int	 fd;

	daemon_notify("READY=1\nSTATUS=serving");
	if (daemon_pipe == -1)
		return;
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	while (write(daemon_pipe, "R", 1) == -1 && errno == EINTR)
		;
	close(daemon_pipe);
	daemon_pipe = -1;
}

/* A reload starts; systemd wants the monotonic time with it (v253+). */
void
daemon_reloading(void)
{
	struct timespec	 ts;
	char		 buf[96];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
	daemon_notify(buf);
}

/* Shutdown starts. */
void
daemon_stopping(void)
{
	daemon_notify("STOPPING=1");
}
