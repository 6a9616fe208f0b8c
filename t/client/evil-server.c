/*
 * evil-server.c: a misbehaving Mandos server for client tests. Listens on
 * [::1]:0, prints its port, and for every connection reads the version line,
 * runs the TLS client side (as mandosd does) and then, per mode: sends 10 MiB
 * ("big"), sends FILE and closes properly ("file") or without close_notify
 * ("noclose"), or says nothing more ("stall").
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#define EV_PRIORITY	"SECURE128:!CTYPE-X.509:+CTYPE-RAWPK:!RSA:" \
			"!VERS-ALL:+VERS-TLS1.3:%PROFILE_ULTRA"

static void	 ev_serve(int, const char *, gnutls_datum_t *,
		    gnutls_certificate_credentials_t);

/* One connection: version line, handshake, then misbehave per mode. */
static void
ev_serve(int fd, const char *mode, gnutls_datum_t *data,
    gnutls_certificate_credentials_t cred)
{
	gnutls_session_t	 s;
	char			 c, *big;
	size_t			 off, n, total;
	int			 r, i;

	for (i = 0; i < 64; i++)	/* "1\r\n", bounded */
		if (read(fd, &c, 1) != 1 || c == '\n')
			break;
	gnutls_init(&s, GNUTLS_CLIENT | GNUTLS_NO_TICKETS | GNUTLS_ENABLE_RAWPK);
	gnutls_priority_set_direct(s, EV_PRIORITY, NULL);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
	gnutls_transport_set_int(s, fd);
	do
		r = gnutls_handshake(s);
	while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0) {
		fprintf(stderr, "evil-server: handshake: %s\n",
		    gnutls_strerror(r));
		goto out;
	}
	if (strcmp(mode, "stall") == 0) {
		sleep(3600);
		goto out;
	}
	if (strcmp(mode, "big") == 0) {
		total = 10 * 1024 * 1024;
		big = calloc(1, 16384);
		for (off = 0; off < total; off += (size_t)r) {
			n = total - off < 16384 ? total - off : 16384;
			if ((r = (int)gnutls_record_send(s, big, n)) < 0)
				break;
		}
		free(big);
		if (r >= 0)
			gnutls_bye(s, GNUTLS_SHUT_WR);
		goto out;
	}
	for (off = 0; off < data->size; off += (size_t)r)
		if ((r = (int)gnutls_record_send(s, data->data + off,
		    data->size - off)) < 0)
			goto out;
	if (strcmp(mode, "file") == 0)
		gnutls_bye(s, GNUTLS_SHUT_WR);
out:
	gnutls_deinit(s);
	close(fd);
}

int
main(int argc, char *argv[])
{
	gnutls_certificate_credentials_t cred;
	struct sockaddr_in6	 sin6;
	socklen_t		 len = sizeof(sin6);
	gnutls_datum_t		 data = { NULL, 0 };
	int			 lfd, fd, one = 1;

	if (argc < 2 || (strcmp(argv[1], "big") != 0 &&
	    strcmp(argv[1], "stall") != 0 && argc != 3)) {
		fprintf(stderr, "usage: evil-server big|stall|file FILE|"
		    "noclose FILE\n");
		return (1);
	}
	if (argc == 3 && gnutls_load_file(argv[2], &data) < 0) {
		fprintf(stderr, "evil-server: cannot read %s\n", argv[2]);
		return (1);
	}
	signal(SIGPIPE, SIG_IGN);
	gnutls_global_init();
	gnutls_certificate_allocate_credentials(&cred);
	if ((lfd = socket(AF_INET6, SOCK_STREAM, 0)) == -1)
		return (1);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	if (bind(lfd, (struct sockaddr *)&sin6, sizeof(sin6)) == -1 ||
	    listen(lfd, 16) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin6, &len) == -1) {
		perror("evil-server");
		return (1);
	}
	printf("%u\n", ntohs(sin6.sin6_port));
	fflush(stdout);
	for (;;) {
		if ((fd = accept(lfd, NULL, NULL)) == -1)
			continue;
		ev_serve(fd, argv[1], &data, cred);
	}
}
