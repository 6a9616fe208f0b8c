/* spawner.h: the helper process that starts, kills and reaps checkers. */
#ifndef MANDOSD_SPAWNER_H
#define MANDOSD_SPAWNER_H

#include <stdint.h>
#include <sys/types.h>

struct spawner_msg {
	char		 type;	/* 'R' running, 'E' exited, 'F' failed to start */
	uint32_t	 id;
	int32_t		 a;	/* R: pid; E: exit status or -1; F: errno */
	int32_t		 b;	/* E: signal or 0 */
};

/* Fork the helper; its socket (to watch for reports), or -1 + *errstr. */
int	 spawner_start(char **errstr);
int	 spawner_available(void);
/* Ask for /bin/sh -c cmd as job id; -1 if that cannot be asked now. */
int	 spawner_spawn(uint32_t id, const char *cmd);
/* Kill job id's process group (reported as exited later). */
void	 spawner_kill(uint32_t id);
/* One report: 1, 0 if none is waiting, -1 if the helper is gone. */
int	 spawner_read(struct spawner_msg *);
/* Start sh -c cmd here, in its own process group, stdin and stdout on
 * /dev/null, every signal at its default; -1 with *err (an errno). Used by
 * the helper, and by the server itself when there is no helper. */
pid_t	 spawner_run(const char *cmd, int *err);
/* Close the socket: the helper kills and reaps its children; wait for it. */
void	 spawner_stop(void);

#endif
