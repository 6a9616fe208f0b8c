/* sockaddr.h: socket addresses as people read them: "[addr]:port". */
#ifndef MANDOS_SOCKADDR_H
#define MANDOS_SOCKADDR_H

#include <stddef.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define SOCKADDR_STRLEN	(INET6_ADDRSTRLEN + 8)	/* "[" addr "]:" port NUL */

/* The port of an IPv4 or IPv6 address, in host order. */
unsigned	 sockaddr_port(const struct sockaddr *);
/* Write "[addr]:port" (IPv4 too, so one pattern parses both) into buf. */
void		 sockaddr_format(const struct sockaddr *, char *buf, size_t len);

#endif
