/*
 * tclient.c: a scriptable Mandos client for the integration tests. It can
 * play a good client (a storm key from --seed/--idx), send any version line,
 * stay silent, stall after the version line, or present an X.509
 * certificate instead of a raw key. Blocking I/O with poll() deadlines:
 * simplicity over speed here.
 *
 * Exit status: 0 secret received then close_notify; 3 close_notify with no
 * data; 4 TLS handshake failed; 5 closed without close_notify; 6 our own
 * deadline passed; 7 closed by the server before TLS; 2 usage or set-up.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "keyid.h"
#include "stormkey.h"

#define TC_PRIORITY \
	"SECURE128:!CTYPE-X.509:+CTYPE-RAWPK:!RSA:!VERS-ALL:+VERS-TLS1.3:%PROFILE_ULTRA"
#define TC_X509_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3"

static double	 tc_timeout = 10.0;
static double	 tc_start;
static int	 tc_rcvbuf;	/* --stall: a small window, so the server waits */

static double
tc_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

/* Wait for fd to be readable (or writable) until our deadline; 0 or -1. */
static int
tc_wait(int fd, short what)
{
	struct pollfd	 p = { .fd = fd, .events = what };
	double		 left = tc_start + tc_timeout - tc_now();

	if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) <= 0)
		return (-1);
	return (0);
}

static int
tc_connect(const char *target)
{
	struct addrinfo	 hints = { .ai_socktype = SOCK_STREAM }, *ai;
	char		 host[256], *port;
	int		 fd, r;

	snprintf(host, sizeof(host), "%s", target);
	if ((port = strrchr(host, ':')) == NULL)
		return (-1);
	*port++ = '\0';
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	if ((r = getaddrinfo(host, port, &hints, &ai)) != 0) {
		fprintf(stderr, "tclient: %s: %s\n", target, gai_strerror(r));
		return (-1);
	}
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd != -1 && tc_rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &tc_rcvbuf,
		    sizeof(tc_rcvbuf));
	if (fd == -1 || connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		fprintf(stderr, "tclient: connect %s: %s\n", target, strerror(errno));
		freeaddrinfo(ai);
		return (-1);
	}
	freeaddrinfo(ai);
	return (fd);
}

/* Wait until the server closes; 7 if it did, 6 if our deadline passed. */
static int
tc_wait_close(int fd)
{
	char	 buf[256];
	ssize_t	 n;
	size_t	 total = 0;

	for (;;) {
		if (tc_wait(fd, POLLIN) == -1) {
			fprintf(stderr, "result: still open after %.1fs\n",
			    tc_now() - tc_start);
			return (6);
		}
		if ((n = read(fd, buf, sizeof(buf))) <= 0)
			break;
		total += (size_t)n;
	}
	fprintf(stderr, "result: closed by server after %.2fs, %zu bytes\n",
	    tc_now() - tc_start, total);
	return (7);
}

/* Credentials: a storm raw key, PEM files, or a fresh self-signed X.509 certificate. */
static gnutls_certificate_credentials_t
tc_credentials(const char *seed, unsigned idx, int x509)
{
	gnutls_certificate_credentials_t cred;
	gnutls_privkey_t	 priv;
	gnutls_pubkey_t		 pub;
	gnutls_pcert_st		*pcert;
	uint8_t			 id[KEYID_LEN];
	gnutls_x509_privkey_t	 xkey;
	gnutls_x509_crt_t	 crt;
	unsigned char		 serial = 1;

	gnutls_certificate_allocate_credentials(&cred);
	if (stormkey_derive(seed, idx, &priv, &pub, id) == -1)
		return (NULL);
	if (!x509) {
		pcert = calloc(1, sizeof(*pcert));
		if (gnutls_pcert_import_rawpk(pcert, pub, 0) < 0 ||
		    gnutls_certificate_set_key(cred, NULL, 0, pcert, 1, priv) < 0)
			return (NULL);
		free(pcert);	/* set_key copied the array, owns its content */
		return (cred);
	}
	/* An X.509 certificate for the same key: only the type differs. */
	gnutls_privkey_deinit(priv);
	gnutls_x509_privkey_init(&xkey);
	gnutls_x509_privkey_generate(xkey, GNUTLS_PK_ECDSA,
	    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
	gnutls_x509_crt_init(&crt);
	gnutls_x509_crt_set_key(crt, xkey);
	gnutls_x509_crt_set_version(crt, 3);
	gnutls_x509_crt_set_serial(crt, &serial, 1);
	gnutls_x509_crt_set_activation_time(crt, time(NULL) - 60);
	gnutls_x509_crt_set_expiration_time(crt, time(NULL) + 3600);
	gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
	    "tclient", 7);
	if (gnutls_x509_crt_sign2(crt, crt, xkey, GNUTLS_DIG_SHA256, 0) < 0 ||
	    gnutls_certificate_set_x509_key(cred, &crt, 1, xkey) < 0)
		return (NULL);
	/* set_x509_key copied both; the raw key's pub is not used here. */
	gnutls_x509_crt_deinit(crt);
	gnutls_x509_privkey_deinit(xkey);
	gnutls_pubkey_deinit(pub);
	return (cred);
}

static gnutls_certificate_credentials_t tc_cred;
static gnutls_session_t tc_session;

/* At exit: main returns from many places, LeakSanitizer checks after. */
static void
tc_free_credentials(void)
{
	if (tc_session != NULL)
		gnutls_deinit(tc_session);
	gnutls_certificate_free_credentials(tc_cred);
}

static void
tc_usage(void)
{
	fprintf(stderr,
"usage: tclient --connect HOST:PORT [options]\n"
"       tclient --keyid [--seed S] [--idx N]\n"
"  --seed S, --idx N   play storm client N of seed S (default \"test\", 0)\n"
"  --line STR          version line to send (default \"1\\r\\n\")\n"
"  --split             send the line as \"1\" then \"\\r\\n\", like the real client\n"
"  --silent            send nothing; wait for the server to close\n"
"  --no-tls            send the line, then only wait for the server to close\n"
"  --delay SECS        pause between the version line and TLS\n"
"  --stall SECS        a slow reader: small receive buffer, and nothing read\n"
"                      for SECS after the handshake (the server stays sending)\n"
"  --x509              present an X.509 certificate instead of a raw key\n"
"  --timeout SECS      our own deadline (default 10)\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "delay", required_argument, NULL, 'D' },
		{ "idx", required_argument, NULL, 'i' },
		{ "keyid", no_argument, NULL, 'k' },
		{ "line", required_argument, NULL, 'l' },
		{ "no-tls", no_argument, NULL, 'n' },
		{ "seed", required_argument, NULL, 's' },
		{ "silent", no_argument, NULL, 'S' },
		{ "split", no_argument, NULL, 'p' },
		{ "stall", required_argument, NULL, 'T' },
		{ "timeout", required_argument, NULL, 't' },
		{ "x509", no_argument, NULL, 'x' },
		{ NULL, 0, NULL, 0 }
	};
	const char	*target = NULL, *seed = "test", *line = "1\r\n";
	unsigned	 idx = 0;
	int		 ch, silent = 0, notls = 0, x509 = 0, split = 0, keyid = 0;
	int		 fd, r;
	double		 delay = 0, stall = 0;
	gnutls_certificate_credentials_t cred;
	gnutls_session_t s;
	char		 buf[4096], hex[KEYID_HEXLEN + 1];
	uint8_t		 id[KEYID_LEN];
	size_t		 total = 0;
	ssize_t		 n;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': target = optarg; break;
		case 'D': delay = atof(optarg); break;
		case 'i': idx = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'k': keyid = 1; break;
		case 'l': line = optarg; break;
		case 'n': notls = 1; break;
		case 's': seed = optarg; break;
		case 'S': silent = 1; break;
		case 'p': split = 1; break;
		case 't': tc_timeout = atof(optarg); break;
		case 'T': stall = atof(optarg); tc_rcvbuf = 2048; break;
		case 'x': x509 = 1; break;
		default: tc_usage();
		}
	}
	if (keyid) {
		if (stormkey_derive(seed, idx, NULL, NULL, id) == -1)
			return (2);
		keyid_format(id, hex);
		printf("%s\n", hex);
		return (0);
	}
	if (target == NULL)
		tc_usage();
	if ((cred = tc_credentials(seed, idx, x509)) == NULL) {
		fprintf(stderr, "tclient: cannot make credentials\n");
		return (2);
	}
	tc_cred = cred;
	atexit(tc_free_credentials);
	tc_start = tc_now();
	if ((fd = tc_connect(target)) == -1)
		return (2);
	if (silent)
		return (tc_wait_close(fd));
	if (split) {
		if (write(fd, "1", 1) != 1 || (usleep(20000), write(fd, "\r\n", 2)) != 2)
			return (5);
	} else if (write(fd, line, strlen(line)) != (ssize_t)strlen(line))
		return (5);
	if (notls)
		return (tc_wait_close(fd));
	if (delay > 0)
		usleep((useconds_t)(delay * 1e6));

	gnutls_init(&s, GNUTLS_SERVER | GNUTLS_NO_TICKETS | GNUTLS_ENABLE_RAWPK);
	tc_session = s;
	gnutls_priority_set_direct(s, x509 ? TC_X509_PRIORITY : TC_PRIORITY, NULL);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
	gnutls_certificate_server_set_request(s, GNUTLS_CERT_IGNORE);
	gnutls_transport_set_int(s, fd);
	gnutls_handshake_set_timeout(s, (unsigned)(tc_timeout * 1000));
	do {
		r = gnutls_handshake(s);
	} while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0) {
		fprintf(stderr, "result: handshake failed: %s\n", gnutls_strerror(r));
		return (4);
	}
	if (stall > 0)
		usleep((useconds_t)(stall * 1e6));
	for (;;) {
		if (gnutls_record_check_pending(s) == 0 && tc_wait(fd, POLLIN) == -1) {
			fprintf(stderr, "result: no close_notify after %.1fs\n",
			    tc_now() - tc_start);
			return (6);
		}
		n = gnutls_record_recv(s, buf, sizeof(buf));
		if (n == 0)
			break;
		if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
			continue;
		if (n < 0) {
			fprintf(stderr, "result: closed without close_notify (%s), "
			    "%zu bytes\n", gnutls_strerror((int)n), total);
			return (5);
		}
		fwrite(buf, 1, (size_t)n, stdout);
		total += (size_t)n;
	}
	fflush(stdout);
	fprintf(stderr, "result: close_notify after %zu bytes in %.2fs\n", total,
	    tc_now() - tc_start);
	gnutls_deinit(s);
	tc_session = NULL;
	close(fd);
	return (total > 0 ? 0 : 3);
}
