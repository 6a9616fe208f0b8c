/* client-browse.h: Zeroconf browsing for _mandos._tcp with an embedded mDNS stack. */
#ifndef MANDOS_CLIENT_BROWSE_H
#define MANDOS_CLIENT_BROWSE_H

#include <sys/socket.h>

/* Called for each resolved service: a numeric address, its port, its interface. */
typedef void	 browse_found_cb(const struct sockaddr *, socklen_t, const char *name,
		    void *arg);

struct browse;

/*
 * Start browsing on the interfaces in ifaces (comma-separated; NULL or "" for
 * all). NULL with *errstr on failure.
 */
struct browse	*browse_start(const char *ifaces, int use_ipv6, browse_found_cb *,
		    void *arg, char **errstr);
/* Run the mDNS stack for at most timeout_ms milliseconds (0: no waiting). */
void		 browse_run(struct browse *, int timeout_ms);
/*
 * Run the mDNS stack until fd is ready for events or timeout_ms pass
 * (perhaps sooner: the caller loops). 1 if fd is ready, else 0.
 */
int		 browse_wait(struct browse *, int fd, short events, int timeout_ms);
/* Stop browsing and free everything. */
void		 browse_stop(struct browse *);

#endif
