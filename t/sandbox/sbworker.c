/*
 * sbworker.c: a network worker for the sandbox tests. It initializes
 * GnuTLS and libevent the way mandosd's workers do, listens on loopback,
 * enters sandbox_enter(), says "ready PORT" on stdout, then serves --serve
 * connections the worker's way (nonblocking GnuTLS in one libevent loop:
 * version line, handshake as the TLS client with raw public keys, send a
 * blob naming the peer's key ID, or the --blob file read before the
 * sandbox, close_notify). Afterwards, --then NAME
 * makes one forbidden call; the seccomp filter must kill it with SIGSYS.
 *
 * Exit status: 0 served; 2 usage or set-up; 3 the forbidden call returned
 * (the sandbox let it through); 4 a connection failed.
 */
#include "config.h"

#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "keyid.h"
#include "proctitle.h"
#include "sandbox.h"

#define SB_PRIORITY \
	"SECURE128:!CTYPE-X.509:+CTYPE-RAWPK:!RSA:!VERS-ALL:+VERS-TLS1.3:%PROFILE_ULTRA"

#define FAIL(s)		do { why = (s); goto fail; } while (0)

enum sb_state { SB_VERSION, SB_HANDSHAKE, SB_SEND, SB_BYE };

struct sb_conn {
	int			 fd;
	enum sb_state		 state;
	gnutls_session_t	 tls;
	struct event		*ev;
	char			 line[64];
	size_t			 linelen;
	char			 own[128];	/* "sandboxed secret for ID" */
	const char		*blob;
	size_t			 len, sent;
};

static struct event_base	*sb_base;
static gnutls_certificate_credentials_t sb_cred;
static gnutls_priority_t	 sb_prio;
static int			 sb_left, sb_failed;
static const char		*sb_then;
static char			 sb_file[65536];	/* --blob */
static size_t			 sb_filelen;

static void	 sb_accept(evutil_socket_t, short, void *);
static void	 sb_io(evutil_socket_t, short, void *);
static void	 sb_step(struct sb_conn *);
static void	 sb_close(struct sb_conn *, const char *);
static int	 sb_forbidden(const char *);

/* What mandosd's workers must do before sandbox_enter (see sandbox.c). */
static int
sb_tls_init(void)
{
	unsigned char	 b[16];

	if (gnutls_global_init() < 0 ||
	    gnutls_certificate_allocate_credentials(&sb_cred) < 0 ||
	    gnutls_priority_init2(&sb_prio, SB_PRIORITY, NULL, 0) < 0 ||
	    gnutls_rnd(GNUTLS_RND_NONCE, b, sizeof(b)) < 0 ||
	    gnutls_rnd(GNUTLS_RND_RANDOM, b, sizeof(b)) < 0)
		return (-1);
	return (0);
}

/* Accept a connection; the listener stops after --serve of them. */
static void
sb_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct sb_conn	*c;
	int		 fd;

	if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1)
		return;
	if (--sb_left == 0)
		event_del(arg);
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		sb_failed++;
		return;
	}
	c->fd = fd;
	c->ev = event_new(sb_base, fd, 0, sb_io, c);
	if (gnutls_init(&c->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK |
	    GNUTLS_NO_TICKETS | GNUTLS_ENABLE_RAWPK) < 0) {
		c->tls = NULL;
		sb_close(c, "gnutls_init");
		return;
	}
	gnutls_priority_set(c->tls, sb_prio);
	gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, sb_cred);
	gnutls_transport_set_int(c->tls, fd);
	sb_step(c);
}

static void
sb_io(evutil_socket_t fd, short what, void *arg)
{
	sb_step(arg);
}

/* Wait for the direction GnuTLS (or the version line) needs. */
static void
sb_wait(struct sb_conn *c, short what)
{
	event_assign(c->ev, sb_base, c->fd, what, sb_io, c);
	event_add(c->ev, NULL);
}

/* The worker's state machine, advanced as far as the socket allows. */
static void
sb_step(struct sb_conn *c)
{
	const gnutls_datum_t	*peer;
	gnutls_pubkey_t		 pub;
	uint8_t			 id[KEYID_LEN];
	char			 hex[KEYID_HEXLEN + 1];
	const char		*why = NULL;
	size_t			 idlen = sizeof(id);
	unsigned int		 n = 0;
	ssize_t			 r;

	for (;;) {
		switch (c->state) {
		case SB_VERSION:
			r = read(c->fd, c->line + c->linelen, 1);
			if (r == -1 && errno == EAGAIN) {
				sb_wait(c, EV_READ);
				return;
			}
			if (r <= 0 || ++c->linelen == sizeof(c->line))
				FAIL("version line");
			if (c->line[c->linelen - 1] == '\n')
				c->state = SB_HANDSHAKE;
			break;
		case SB_HANDSHAKE:
			r = gnutls_handshake(c->tls);
			if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
				goto wait;
			if (r < 0 && !gnutls_error_is_fatal((int)r))
				break;
			if (r < 0)
				FAIL(gnutls_strerror((int)r));
			if (gnutls_certificate_type_get2(c->tls,
			    GNUTLS_CTYPE_PEERS) != GNUTLS_CRT_RAWPK ||
			    (peer = gnutls_certificate_get_peers(c->tls,
			    &n)) == NULL || n == 0 ||
			    gnutls_pubkey_init(&pub) < 0)
				FAIL("no raw public key");
			r = gnutls_pubkey_import(pub, &peer[0], GNUTLS_X509_FMT_DER);
			if (r >= 0)
				r = gnutls_pubkey_get_key_id(pub,
				    GNUTLS_KEYID_USE_SHA256, id, &idlen);
			gnutls_pubkey_deinit(pub);
			if (r < 0)
				FAIL("key ID");
			keyid_format(id, hex);
			c->len = (size_t)snprintf(c->own, sizeof(c->own),
			    "sandboxed secret for %s\n", hex);
			c->blob = c->own;
			if (sb_filelen > 0) {
				char	 msg[KEYID_HEXLEN + 8];
				int	 m;

				m = snprintf(msg, sizeof(msg), "peer %s\n", hex);
				if (write(STDERR_FILENO, msg, (size_t)m) != m)
					FAIL("stderr");
				c->blob = sb_file;
				c->len = sb_filelen;
			}
			c->state = SB_SEND;
			break;
		case SB_SEND:
			r = gnutls_record_send(c->tls, c->blob + c->sent,
			    c->len - c->sent);
			if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
				goto wait;
			if (r < 0)
				FAIL(gnutls_strerror((int)r));
			if ((c->sent += (size_t)r) == c->len)
				c->state = SB_BYE;
			break;
		case SB_BYE:
			r = gnutls_bye(c->tls, GNUTLS_SHUT_WR);
			if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
				goto wait;
			if (r < 0)
				FAIL(gnutls_strerror((int)r));
			sb_close(c, NULL);
			return;
		}
	}
wait:
	sb_wait(c, gnutls_record_get_direction(c->tls) ? EV_WRITE : EV_READ);
	return;
fail:
	sb_close(c, why);
}

/* End a connection; why != NULL counts it as failed. The loop ends with
 * the last one. */
static void
sb_close(struct sb_conn *c, const char *why)
{
	char	 msg[160];
	int	 n;

	if (why != NULL) {
		sb_failed++;
		n = snprintf(msg, sizeof(msg), "sbworker: connection: %s\n", why);
		if (write(STDERR_FILENO, msg, (size_t)n) == -1)
			sb_failed++;
	}
	event_free(c->ev);
	if (c->tls != NULL)
		gnutls_deinit(c->tls);
	close(c->fd);
	free(c);
	if (sb_left == 0)
		event_base_loopbreak(sb_base);
}

/* Make the forbidden call NAME; returns only if the sandbox allowed it. */
static int
sb_forbidden(const char *name)
{
	int	 fd[2];

	if (strcmp(name, "open") == 0)		/* glibc: openat */
		return (open("/etc/passwd", O_RDONLY));
	if (strcmp(name, "open-raw") == 0)
		return ((int)syscall(SYS_open, "/", O_RDONLY));
	if (strcmp(name, "execve") == 0)
		return (execl("/bin/true", "true", (char *)NULL));
	if (strcmp(name, "socket") == 0)
		return (socket(AF_INET, SOCK_STREAM, 0));
	if (strcmp(name, "socketpair") == 0)
		return (socketpair(AF_UNIX, SOCK_STREAM, 0, fd));
	if (strcmp(name, "fork") == 0)
		return ((int)fork());
	if (strcmp(name, "ptrace") == 0)
		return ((int)ptrace(PTRACE_TRACEME, 0, NULL, NULL));
	if (strcmp(name, "connect") == 0) {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		return (connect(STDIN_FILENO, (struct sockaddr *)&sin, sizeof(sin)));
	}
	if (strcmp(name, "mmap-exec") == 0)
		return (mmap(NULL, 4096, PROT_READ | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED ? -1 : 0);
	if (strcmp(name, "mprotect-exec") == 0) {
		static char page[8192] __attribute__((aligned(4096)));
		return (mprotect(page, 4096, PROT_READ | PROT_EXEC));
	}
	if (strcmp(name, "kill-other") == 0)	/* only itself may be signalled */
		return (kill(1, 0));
	if (strcmp(name, "setuid") == 0)
		return (setuid(0));
	if (strcmp(name, "abort") == 0)	/* allowed: must end in SIGABRT */
		abort();
	if (strcmp(name, "overflow") == 0) {	/* for ASan's report */
		size_t		 len = strlen(name);
		volatile char	*p = malloc(len);

		p[len] = 1;
		free((void *)p);
		return (0);
	}
#if defined(__x86_64__)
	if (strcmp(name, "x32") == 0)	/* getpid through the x32 ABI */
		return ((int)syscall(0x40000000 | SYS_getpid));
	if (strcmp(name, "i386") == 0) {	/* getpid (20) through int 0x80 */
		long	 r = 20;

		__asm__ volatile ("int $0x80" : "+a"(r) : : "memory");
		return ((int)r);
	}
#endif
	fprintf(stderr, "sbworker: unknown --then %s\n", name);
	exit(2);
}

static void
sb_usage(void)
{
	fprintf(stderr,
"usage: sbworker [--user U] [--chroot DIR] [--nofile N] [--no-seccomp] [--landlock-only]\n"
"                [--serve N] [--blob FILE] [--then CALL] [--title N]\n"
"  --blob FILE   send FILE's bytes and print each peer's key ID on stderr\n"
"  --serve N     connections to serve after the sandbox (default 1)\n"
"  --then CALL   then make a forbidden call: open open-raw execve socket\n"
"                socketpair fork ptrace connect mmap-exec mprotect-exec\n"
"                kill-other setuid x32 i386; abort, overflow (allowed:\n"
"                SIGABRT, a heap overflow for ASan)\n"
"  --title N     proctitle \"worker N\" (default 1)\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "blob", required_argument, NULL, 'b' },
		{ "chroot", required_argument, NULL, 'c' },
		{ "no-seccomp", no_argument, NULL, 'S' },
		{ "landlock-only", no_argument, NULL, 'L' },
		{ "nofile", required_argument, NULL, 'n' },
		{ "serve", required_argument, NULL, 's' },
		{ "then", required_argument, NULL, 't' },
		{ "title", required_argument, NULL, 'T' },
		{ "user", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 }
	};
	struct sandbox_cfg	 cfg = { NULL, NULL, 0, 1 };
	struct sockaddr_in	 sin = { .sin_family = AF_INET };
	socklen_t		 slen = sizeof(sin);
	struct event		*lev;
	char			*err, msg[64];
	const char		*blob = NULL;
	FILE			*f;
	int			 ch, lfd, n, title = 1;

	proctitle_init(argc, argv);
	sb_left = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'b': blob = optarg; break;
		case 'c': cfg.chroot_dir = optarg; break;
		case 'S': cfg.seccomp = 0; break;
		case 'L': cfg.seccomp = 2; break;
		case 'n': cfg.nofile = strtoul(optarg, NULL, 10); break;
		case 's': sb_left = atoi(optarg); break;
		case 't': sb_then = optarg; break;
		case 'T': title = atoi(optarg); break;
		case 'u': cfg.user = optarg; break;
		default: sb_usage();
		}
	}
	if (optind != argc)
		sb_usage();
	proctitle_set("worker %d", title);
	if (blob != NULL) {	/* files are read before the sandbox */
		if ((f = fopen(blob, "r")) == NULL) {
			perror(blob);
			return (2);
		}
		sb_filelen = fread(sb_file, 1, sizeof(sb_file), f);
		fclose(f);
		if (sb_filelen == 0 || sb_filelen == sizeof(sb_file)) {
			fprintf(stderr, "sbworker: %s: empty or too long\n", blob);
			return (2);
		}
	}
	/* The title overwrote environ's old strings: getenv must not care. */
	if (getenv("SB_TEST_VARIABLE") != NULL)
		fprintf(stderr, "getenv SB_TEST_VARIABLE=%s\n",
		    getenv("SB_TEST_VARIABLE"));
	if (sb_tls_init() == -1) {
		fprintf(stderr, "sbworker: GnuTLS initialization failed\n");
		return (2);
	}
	if ((sb_base = event_base_new()) == NULL ||
	    strcmp(event_base_get_method(sb_base), "epoll") != 0) {
		fprintf(stderr, "sbworker: no libevent epoll base\n");
		return (2);
	}
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1 || bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(lfd, 16) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &slen) == -1) {
		perror("sbworker: listen");
		return (2);
	}
	lev = event_new(sb_base, lfd, EV_READ | EV_PERSIST, sb_accept,
	    event_self_cbarg());
	if (sandbox_enter(&cfg, &err) == -1) {
		fprintf(stderr, "sbworker: sandbox: %s\n", err);
		return (2);
	}
	/* From here on only what the filter allows: no stdio set-up. */
	n = snprintf(msg, sizeof(msg), "ready %u\n", ntohs(sin.sin_port));
	if (write(STDOUT_FILENO, msg, (size_t)n) != n)
		return (2);
	if (sb_left > 0) {
		event_add(lev, NULL);
		event_base_dispatch(sb_base);
	}
	if (sb_then != NULL) {
		errno = 0;
		n = sb_forbidden(sb_then);
		n = snprintf(msg, sizeof(msg), "survived %s: %d errno=%d\n",
		    sb_then, n, n == -1 ? errno : 0);
		if (write(STDERR_FILENO, msg, (size_t)n) != n)
			return (2);
		return (3);
	}
	event_free(lev);
	event_base_free(sb_base);
	gnutls_priority_deinit(sb_prio);
	gnutls_certificate_free_credentials(sb_cred);
	gnutls_global_deinit();
	return (sb_failed ? 4 : 0);
}
