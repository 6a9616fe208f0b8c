/* sockaddr.c: one way to print an address, for logs and start-up lines. */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>

#include "sockaddr.h"

unsigned
sockaddr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6)
		return (ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port));
	return (ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port));
}

void
sockaddr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	char		 host[INET6_ADDRSTRLEN];
	const void	*a;

	if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	else
		a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	if (inet_ntop(sa->sa_family, a, host, sizeof(host)) == NULL)
		snprintf(host, sizeof(host), "?");
	snprintf(buf, len, "[%s]:%u", host, sockaddr_port(sa));
}
