/* listen.h: listening sockets, accepting, and back-pressure on accept. */
#ifndef MANDOSD_LISTEN_H
#define MANDOSD_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>

/* Where and how to listen. */
struct lsn_config {
	const char	*address;	/* NULL: all addresses */
	const char	*port;		/* "0": any free port */
	const char	*interface;	/* NULL: all interfaces */
	int		 no_ipv6;
	unsigned	 nsocks;	/* > 1: a SO_REUSEPORT group, one per worker, */
	unsigned	 prefix4;	/* ...steered by source (these prefixes) */
	unsigned	 prefix6;
};

#define LSN_MAX_FDS	(8 + 256)	/* lsn_fds() returns at most this many */

/* Bind and listen as configured; -1 with *errstr. */
int	 lsn_open(const struct lsn_config *, char **errstr);
/* Adopt an inherited listening socket (--socket, LISTEN_FDS); -1 with *errstr. */
int	 lsn_adopt(int fd, char **errstr);
/* The listening descriptors, for the workers, and the worker each belongs
 * to (-1: every worker shares it); returns how many. */
size_t	 lsn_fds(int *fds, int *members, size_t max);
void	 lsn_close(void);
/* Port and family of the first listener (for logs and Zeroconf). */
int	 lsn_port(void);
int	 lsn_family(void);
/* Attach to one socket of a SO_REUSEPORT group of nsocks a program that
 * sends each source (address masked to prefix4 / prefix6) always to the
 * same socket; -1 with *errstr. For the network workers. */
int	 lsn_steer_by_source(int fd, unsigned nsocks, unsigned prefix4,
	    unsigned prefix6, char **errstr);
/* The group index that program picks for a peer address. */
unsigned lsn_steer_index(const struct sockaddr *, unsigned nsocks,
	    unsigned prefix4, unsigned prefix6);
/* "[addr]:port" of the first listener. */
void	 lsn_describe(char *, size_t);

#endif
