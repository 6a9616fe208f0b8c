/*
 * spawner.c: a helper process that starts, kills and reaps checkers for
 * mandosd. Starting a process costs its parent a blocked vfork/exec (and
 * reaping it, a wake-up); at 1,000 checkers a second that would stall the
 * loop that serves handshakes. The helper pays instead, in SCHED_IDLE (its
 * children inherit it), so checkers use the CPU the handshakes leave.
 * It is forked once at start-up (after the privilege drop) and talks over
 * a SOCK_SEQPACKET pair: one message, one request or report.
 *   parent -> helper: 'S' id command (spawn), 'K' id (kill its group)
 *   helper -> parent: 'R' id pid (running), 'E' id status signo (exited),
 *                     'F' id errno (could not start)
 * When the parent goes away, the helper kills its children, reaps them and
 * exits.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "daemon.h"
#include "proctitle.h"
#include "spawner.h"

extern char **environ;

#define SPAWNER_MAXMSG	(64 * 1024)

struct spawner_hdr {
	char		 type;
	uint32_t	 id;
	int32_t		 a, b;		/* pid | status, signo | errno */
};

struct spawner_child {
	uint32_t	 id;
	pid_t		 pid;
};

static int	 spawner_sock = -1;	/* parent's end */
static pid_t	 spawner_pid = -1;

/* ---- the helper ---- */

static void
spawner_send(int fd, char type, uint32_t id, int32_t a, int32_t b)
{
	struct spawner_hdr	 h;

	memset(&h, 0, sizeof(h));	/* no uninitialised padding on the wire */
	h.type = type;
	h.id = id;
	h.a = a;
	h.b = b;
	while (send(fd, &h, sizeof(h), 0) == -1 && errno == EINTR)
		;
}

/* Start one checker: sh -c cmd, own process group, stdin/stdout null. */
pid_t
spawner_run(const char *cmd, int *err)
{
	posix_spawnattr_t		 attr;
	posix_spawn_file_actions_t	 fa;
	sigset_t			 none, dfl;
	char				*argv[4];
	pid_t				 pid;
	int				 e;

	sigemptyset(&none);
	sigfillset(&dfl);
	sigdelset(&dfl, SIGKILL);
	sigdelset(&dfl, SIGSTOP);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addchdir_np(&fa, "/");
	argv[0] = "sh";
	argv[1] = "-c";
	argv[2] = (char *)cmd;
	argv[3] = NULL;
	e = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (e != 0) {
		*err = e;
		return (-1);
	}
	return (pid);
}

static void __attribute__((noreturn))
spawner_main(int fd)
{
	struct spawner_child	*kids = NULL;
	size_t			 nkids = 0, cap = 0, i;
	struct sched_param	 sp = { 0 };
	struct pollfd		 pfd[2];
	struct signalfd_siginfo	 si;
	struct spawner_hdr	*h;
	sigset_t		 chld;
	char			*buf;
	ssize_t			 n;
	pid_t			 pid;
	int			 sfd, st, err;

	proctitle_set_title("checker spawner");
	/* Only what we need: the socket (fd 3) and stderr for messages. */
	if (fd != 3) {
		dup2(fd, 3);
		close(fd);
	}
	fd = 3;
	close_range(4, ~0U, 0);
	signal(SIGPIPE, SIG_IGN);
	for (i = 1; i < NSIG; i++)
		if (i != SIGPIPE && i != SIGKILL && i != SIGSTOP &&
		    i != SIGCHLD)
			signal((int)i, SIG_DFL);
	signal(SIGINT, SIG_IGN);	/* the terminal's ^C is for mandosd */
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	signal(SIGTERM, SIG_IGN);	/* we leave when mandosd does */
	if (sched_setscheduler(0, SCHED_IDLE, &sp) == -1)
		setpriority(PRIO_PROCESS, 0, 19);
	/* The server keeps CAP_DAC_READ_SEARCH to reload; checkers need none. */
	if (geteuid() != 0)
		daemon_drop_capabilities();
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	if ((sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK)) == -1)
		_exit(1);
	if ((buf = malloc(SPAWNER_MAXMSG + 1)) == NULL)
		_exit(1);
	pfd[0].fd = fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = sfd;
	pfd[1].events = POLLIN;
	for (;;) {
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents & POLLIN) {
			while (read(sfd, &si, sizeof(si)) > 0)
				;
			while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
				for (i = 0; i < nkids; i++) {
					if (kids[i].pid != pid)
						continue;
					spawner_send(fd, 'E', kids[i].id,
					    WIFEXITED(st) ? WEXITSTATUS(st) : -1,
					    WIFSIGNALED(st) ? WTERMSIG(st) : 0);
					kids[i] = kids[--nkids];
					break;
				}
		}
		if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = recv(fd, buf, SPAWNER_MAXMSG, MSG_DONTWAIT);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			break;		/* mandosd is gone */
		if ((size_t)n < sizeof(*h))
			continue;
		h = (struct spawner_hdr *)buf;
		if (h->type == 'K') {
			for (i = 0; i < nkids; i++)
				if (kids[i].id == h->id) {
					kill(-kids[i].pid, SIGKILL);
					kill(kids[i].pid, SIGKILL);
				}
			continue;
		}
		if (h->type != 'S')
			continue;
		buf[n] = '\0';
		err = 0;
		if ((pid = spawner_run(buf + sizeof(*h), &err)) == -1) {
			spawner_send(fd, 'F', h->id, err, 0);
			continue;
		}
		if (nkids == cap) {
			struct spawner_child *nk;

			cap = cap ? cap * 2 : 64;
			if ((nk = realloc(kids, cap * sizeof(*kids))) == NULL) {
				kill(-pid, SIGKILL);
				spawner_send(fd, 'F', h->id, ENOMEM, 0);
				continue;
			}
			kids = nk;
		}
		kids[nkids].id = h->id;
		kids[nkids++].pid = pid;
		spawner_send(fd, 'R', h->id, pid, 0);
	}
	for (i = 0; i < nkids; i++) {
		kill(-kids[i].pid, SIGKILL);
		kill(kids[i].pid, SIGKILL);
	}
	while (nkids > 0 && (pid = waitpid(-1, &st, 0)) > 0)
		nkids--;
	_exit(0);
}

/* ---- mandosd's side ---- */

int
spawner_start(char **errstr)
{
	int	 sv[2];
	pid_t	 pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		*errstr = "socketpair";
		return (-1);
	}
	switch ((pid = fork())) {
	case -1:
		close(sv[0]);
		close(sv[1]);
		*errstr = "fork";
		return (-1);
	case 0:
		close(sv[0]);
		spawner_main(sv[1]);
	}
	close(sv[1]);
	spawner_sock = sv[0];
	spawner_pid = pid;
	fcntl(spawner_sock, F_SETFL, fcntl(spawner_sock, F_GETFL) | O_NONBLOCK);
	return (spawner_sock);
}

int
spawner_available(void)
{
	return (spawner_sock != -1);
}

/* Send a request; -1 if the helper is gone or its queue is full. */
int
spawner_spawn(uint32_t id, const char *cmd)
{
	struct spawner_hdr	 h;
	struct iovec		 iov[2];
	struct msghdr		 msg;
	size_t			 len = strlen(cmd);

	memset(&h, 0, sizeof(h));
	h.type = 'S';
	h.id = id;
	if (spawner_sock == -1 || len > SPAWNER_MAXMSG - sizeof(h))
		return (-1);
	iov[0].iov_base = &h;
	iov[0].iov_len = sizeof(h);
	iov[1].iov_base = (void *)(uintptr_t)cmd;
	iov[1].iov_len = len;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	return (sendmsg(spawner_sock, &msg, MSG_DONTWAIT) == -1 ? -1 : 0);
}

void
spawner_kill(uint32_t id)
{
	struct spawner_hdr	 h;

	memset(&h, 0, sizeof(h));
	h.type = 'K';
	h.id = id;
	if (spawner_sock != -1)
		send(spawner_sock, &h, sizeof(h), MSG_DONTWAIT);
}

int
spawner_read(struct spawner_msg *m)
{
	struct spawner_hdr	 h;
	ssize_t			 n;

	n = recv(spawner_sock, &h, sizeof(h), MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return (0);
	if (n <= 0 || (size_t)n < sizeof(h))
		return (-1);
	m->type = h.type;
	m->id = h.id;
	m->a = h.a;
	m->b = h.b;
	return (1);
}

void
spawner_stop(void)
{
	int	 st;

	if (spawner_sock == -1)
		return;
	close(spawner_sock);
	spawner_sock = -1;
	while (waitpid(spawner_pid, &st, 0) == -1 && errno == EINTR)
		;
	spawner_pid = -1;
}
