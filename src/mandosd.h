/* mandosd.h: the server's configuration and entry point. */
#ifndef MANDOSD_MANDOSD_H
#define MANDOSD_MANDOSD_H

#include <stdint.h>

struct keytab;

struct mandosd_config {
	const char	*configdir;
	const char	*clients_path;	/* NULL: configdir/clients.json */
	const char	*address;
	const char	*port;
	const char	*interface;
	const char	*priority;
	int		 socket_fd;	/* --socket, -1 if none */
	int		 no_ipv6;
	int		 foreground;
	int		 debug;
	int		 check_config;
	uint64_t	 version_timeout_ms;
	uint64_t	 handshake_timeout_ms;
	uint64_t	 send_timeout_ms;
	long		 max_connections;	/* 0: from RLIMIT_NOFILE */
};

/* The client table in force. */
const struct keytab *mandosd_keytab(void);
int	 mandosd_main(int, char **);

#endif
