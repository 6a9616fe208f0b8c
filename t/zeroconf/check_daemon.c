/* check_daemon.c: pid file locking and removal, notifications, own dirs. */
#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "daemon.h"
#include "log.h"

static char	 dir[64];

static void
setup(void)
{
	strcpy(dir, "/tmp/check_daemon.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void
teardown(void)
{
	char	 cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Read a small file into buf. */
static ssize_t
slurp(const char *path, char *buf, size_t len)
{
	ssize_t	 n;
	int	 fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return (-1);
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return (n);
}

START_TEST(test_pidfile)
{
	char	 path[128], buf[32], want[32];
	char	*errstr = NULL;
	pid_t	 pid;
	int	 st;

	snprintf(path, sizeof(path), "%s/test.pid", dir);
	ck_assert_int_eq(daemon_pidfile_write(path, &errstr), 0);
	snprintf(want, sizeof(want), "%ld\n", (long)getpid());
	ck_assert_int_gt(slurp(path, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, want);
	/* A second instance finds it locked and leaves it alone. */
	if ((pid = fork()) == 0) {
		errstr = NULL;
		_exit(daemon_pidfile_write(path, &errstr) == -1 &&
		    strstr(errstr, "another") != NULL ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_int_gt(slurp(path, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, want);
	daemon_pidfile_remove();
	ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST

START_TEST(test_pidfile_stale_and_none)
{
	char	 path[128], buf[32];
	char	*errstr = NULL;
	int	 fd;

	ck_assert_int_eq(daemon_pidfile_write("", &errstr), 0);
	daemon_pidfile_remove();		/* nothing written: no-op */
	snprintf(path, sizeof(path), "%s/stale.pid", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	ck_assert_int_eq(write(fd, "999999999999\n", 13), 13);
	close(fd);
	ck_assert_int_eq(daemon_pidfile_write(path, &errstr), 0);
	ck_assert_int_gt(slurp(path, buf, sizeof(buf)), 0);
	ck_assert_int_eq(atol(buf), getpid());	/* no leftover digits */
	daemon_pidfile_remove();
}
END_TEST

START_TEST(test_notify)
{
	struct sockaddr_un	 sun;
	char			 path[128], buf[128];
	ssize_t			 n;
	int			 fd;

	snprintf(path, sizeof(path), "%s/notify", dir);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	unsetenv("NOTIFY_SOCKET");
	ck_assert_int_eq(daemon_under_systemd(), 0);
	ck_assert_int_eq(daemon_notify_init(), -1);
	setenv("NOTIFY_SOCKET", path, 1);
	ck_assert_int_eq(daemon_under_systemd(), 1);
	ck_assert_int_eq(daemon_notify_init(), 0);
	daemon_ready();
	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_ptr_nonnull(strstr(buf, "READY=1"));
	daemon_reloading();
	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_int_eq(strncmp(buf, "RELOADING=1\nMONOTONIC_USEC=", 27), 0);
	daemon_stopping();
	n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	ck_assert_int_eq(n, 10);
	ck_assert_int_eq(memcmp(buf, "STOPPING=1", 10), 0);
	close(fd);
}
END_TEST

START_TEST(test_own_dir)
{
	struct stat	 st;
	char		 path[128];
	char		*errstr = NULL;

	snprintf(path, sizeof(path), "%s/run", dir);
	ck_assert_int_eq(daemon_own_dir(path, 0750, getuid(), getgid(),
	    &errstr), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(daemon_own_dir(path, 0750, getuid(), getgid(),
	    &errstr), 0);			/* exists: fine */
	snprintf(path, sizeof(path), "%s/missing/run", dir);
	ck_assert_int_eq(daemon_own_dir(path, 0750, getuid(), getgid(),
	    &errstr), -1);
}
END_TEST

START_TEST(test_user)
{
	uid_t	 uid;
	gid_t	 gid;
	char	*errstr = NULL;

	ck_assert_int_eq(daemon_user("root", &uid, &gid, &errstr), 0);
	ck_assert_int_eq(uid, 0);
	ck_assert_int_eq(daemon_user(NULL, &uid, &gid, &errstr), 0);
	ck_assert_int_ne(uid, 0);		/* _mandos, mandos or nobody */
	ck_assert_int_eq(daemon_user("no-such-user-zc", &uid, &gid, &errstr),
	    -1);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("daemon");
	TCase	*tc = tcase_create("daemon");
	SRunner	*sr;
	int	 failed;

	log_init("check_daemon", 1, 0);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_pidfile);
	tcase_add_test(tc, test_pidfile_stale_and_none);
	tcase_add_test(tc, test_notify);
	tcase_add_test(tc, test_own_dir);
	tcase_add_test(tc, test_user);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
