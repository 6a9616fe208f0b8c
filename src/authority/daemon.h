/* daemon.h: detaching, pid file, privilege drop, systemd notifications. */
#ifndef MANDOSD_DAEMON_H
#define MANDOSD_DAEMON_H

#include <sys/types.h>

#define DAEMON_PIDFILE	RUNSTATEDIR "/mandos/mandosd.pid"

/* Helpers return 0, or -1 with a static *errstr (errno kept when apt). */
int	 daemon_under_systemd(void);		/* NOTIFY_SOCKET is set */
int	 daemon_detach(char **errstr);	/* parent waits for daemon_ready() */
int	 daemon_pidfile_write(const char *path, char **errstr);
void	 daemon_pidfile_remove(void);
int	 daemon_user(const char *name, uid_t *, gid_t *, char **errstr);
int	 daemon_own_dir(const char *path, mode_t, uid_t, gid_t, char **errstr);
int	 daemon_drop_privileges(uid_t, gid_t, char **errstr);
void	 daemon_drop_capabilities(void);	/* all of them, for helpers */
int	 daemon_notify_init(void);		/* connect while privileged */
void	 daemon_notify(const char *state);	/* "READY=1", ... */
void	 daemon_ready(void);			/* READY=1, release parent */
void	 daemon_reloading(void);		/* RELOADING=1 + MONOTONIC_USEC */
void	 daemon_stopping(void);			/* STOPPING=1 */

#endif
