/*
 * tlsio.c: GnuTLS's own transport reads a record header, then its body,
 * then once more to hear EAGAIN, and writes every flight as soon as it is
 * made: a dozen system calls for a handshake's two flights.  Here the pull
 * function serves from one recv() of up to TLSIO_READ bytes into a buffer
 * shared by every session (one thread per process), keeping only what
 * GnuTLS has not yet asked for, in an allocation of that size freed once
 * taken; the push function holds what GnuTLS writes until tlsio_flush(), so
 * a flight, or the last flight with the secret and close_notify, is one
 * send().  An idle session keeps no buffer at all.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "tlsio.h"

struct tlsio {
	gnutls_session_t	 s;
	int			 fd;
	uint8_t			*in;		/* read, not yet taken */
	size_t			 in_off, in_len;
	uint8_t			*out;		/* written, not yet sent */
	size_t			 out_len, out_cap;
};

static uint8_t	 tlsio_rbuf[TLSIO_READ];

static ssize_t	 tlsio_pull(gnutls_transport_ptr_t, void *, size_t);
static int	 tlsio_pull_timeout(gnutls_transport_ptr_t, unsigned int);
static ssize_t	 tlsio_push(gnutls_transport_ptr_t, const giovec_t *, int);

int
tlsio_attach(gnutls_session_t s, int fd)
{
	struct tlsio	*io;

	if ((io = calloc(1, sizeof(*io))) == NULL)
		return (-1);
	io->s = s;
	io->fd = fd;
	gnutls_transport_set_ptr(s, io);
	gnutls_transport_set_pull_function(s, tlsio_pull);
	gnutls_transport_set_pull_timeout_function(s, tlsio_pull_timeout);
	gnutls_transport_set_vec_push_function(s, tlsio_push);
	return (0);
}

void
tlsio_detach(gnutls_session_t s)
{
	struct tlsio	*io = gnutls_transport_get_ptr(s);

	if (io == NULL)
		return;
	free(io->in);
	free(io->out);
	free(io);
	gnutls_transport_set_ptr(s, NULL);
}

/* Keep n bytes of src as unread input (there is none yet: they come first). */
static int
tlsio_keep(struct tlsio *io, const uint8_t *src, size_t n)
{
	if ((io->in = malloc(n)) == NULL)
		return (-1);
	memcpy(io->in, src, n);
	io->in_off = 0;
	io->in_len = n;
	return (0);
}

int
tlsio_preload(gnutls_session_t s, const void *p, size_t n)
{
	struct tlsio	*io = gnutls_transport_get_ptr(s);

	if (n == 0)
		return (0);
	if (io == NULL || io->in != NULL)
		return (-1);
	return (tlsio_keep(io, p, n));
}

size_t
tlsio_pending(gnutls_session_t s)
{
	struct tlsio	*io = gnutls_transport_get_ptr(s);

	return (io != NULL ? io->in_len : 0);
}

/* GnuTLS asks for exactly what it needs next: a header, then a body. */
static ssize_t
tlsio_pull(gnutls_transport_ptr_t p, void *data, size_t size)
{
	struct tlsio	*io = p;
	ssize_t		 r;
	size_t		 n;

	if (io->in_len > 0) {
		n = size < io->in_len ? size : io->in_len;
		memcpy(data, io->in + io->in_off, n);
		io->in_off += n;
		if ((io->in_len -= n) == 0) {
			free(io->in);
			io->in = NULL;
		}
		return ((ssize_t)n);
	}
	/*
	 * Output is held, so the peer has not had our flight and cannot have
	 * answered it: no recv() to hear EAGAIN.  Anything it sent anyway
	 * wakes the socket once the flight is out.
	 */
	if (io->out_len > 0) {
		gnutls_transport_set_errno(io->s, EAGAIN);
		errno = EAGAIN;
		return (-1);
	}
	if (size >= sizeof(tlsio_rbuf))		/* no gain in copying */
		r = recv(io->fd, data, size, 0);
	else
		r = recv(io->fd, tlsio_rbuf, sizeof(tlsio_rbuf), 0);
	if (r <= 0) {
		gnutls_transport_set_errno(io->s, errno);
		return (r);
	}
	if (size >= sizeof(tlsio_rbuf))
		return (r);
	n = (size_t)r < size ? (size_t)r : size;
	memcpy(data, tlsio_rbuf, n);
	if ((size_t)r > n && tlsio_keep(io, tlsio_rbuf + n, (size_t)r - n) == -1) {
		gnutls_transport_set_errno(io->s, ENOMEM);
		return (-1);	/* the bytes are lost: the session cannot go on */
	}
	return ((ssize_t)n);
}

/* Called by GnuTLS before a read it may not block on: is there input? */
static int
tlsio_pull_timeout(gnutls_transport_ptr_t p, unsigned int ms)
{
	struct tlsio	*io = p;
	struct pollfd	 pfd = { .fd = io->fd, .events = POLLIN };
	int		 r;

	if (io->in_len > 0)
		return (1);
	r = poll(&pfd, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
	if (r == -1)
		gnutls_transport_set_errno(io->s, errno);
	return (r);
}

/* Send the held bytes followed by iov[0..n): bytes of iov taken, or -1 EAGAIN. */
static ssize_t
tlsio_sendv(struct tlsio *io, const giovec_t *iov, int n, int flags)
{
	struct iovec	 v[64];
	struct msghdr	 msg;
	ssize_t		 r;
	int		 i, k = 0;

	if (io->out_len > 0) {
		v[k].iov_base = io->out;
		v[k++].iov_len = io->out_len;
	}
	for (i = 0; i < n && k < (int)(sizeof(v) / sizeof(v[0])); i++) {
		v[k].iov_base = iov[i].iov_base;
		v[k++].iov_len = iov[i].iov_len;
	}
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = v;
	msg.msg_iovlen = (size_t)k;
	if ((r = sendmsg(io->fd, &msg, MSG_NOSIGNAL | flags)) == -1) {
		gnutls_transport_set_errno(io->s, errno);
		return (-1);
	}
	if ((size_t)r < io->out_len) {
		memmove(io->out, io->out + r, io->out_len - (size_t)r);
		io->out_len -= (size_t)r;
		errno = EAGAIN;
		gnutls_transport_set_errno(io->s, EAGAIN);
		return (-1);	/* none of iov went: GnuTLS keeps it */
	}
	r -= (ssize_t)io->out_len;
	free(io->out);
	io->out = NULL;
	io->out_len = io->out_cap = 0;
	if (r == 0 && n > 0) {
		errno = EAGAIN;
		gnutls_transport_set_errno(io->s, EAGAIN);
		return (-1);
	}
	return (r);
}

/* Hold a flight for tlsio_flush(); a flight past TLSIO_HOLD goes at once. */
static ssize_t
tlsio_push(gnutls_transport_ptr_t p, const giovec_t *iov, int n)
{
	struct tlsio	*io = p;
	size_t		 total = 0, cap;
	uint8_t		*nb;
	int		 i;

	for (i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (io->out_len + total > TLSIO_HOLD || n > 32)
		return (tlsio_sendv(io, iov, n, 0));
	if (io->out_len + total > io->out_cap) {
		cap = io->out_len + total < 1024 ? 1024 : io->out_len + total;
		if ((nb = realloc(io->out, cap)) == NULL)
			return (tlsio_sendv(io, iov, n, 0));
		io->out = nb;
		io->out_cap = cap;
	}
	for (i = 0; i < n; i++) {
		memcpy(io->out + io->out_len, iov[i].iov_base, iov[i].iov_len);
		io->out_len += iov[i].iov_len;
	}
	return ((ssize_t)total);
}

static int
tlsio_flush_flags(gnutls_session_t s, int flags)
{
	struct tlsio	*io = gnutls_transport_get_ptr(s);

	if (io == NULL || io->out_len == 0)
		return (0);
	if (tlsio_sendv(io, NULL, 0, flags) == -1)
		return (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR ? 1 : -1);
	return (0);
}

int
tlsio_flush(gnutls_session_t s)
{
	return (tlsio_flush_flags(s, 0));
}

/*
 * MSG_MORE keeps a short last flight in the socket (TCP_NODELAY or not)
 * until close(), and Linux then sends it with the FIN in one segment
 * (tcp_send_fin puts the FIN on the unsent tail): one segment less to
 * send, and for the peer to receive and ACK, which on loopback is all
 * the sender's CPU.
 */
int
tlsio_flush_last(gnutls_session_t s)
{
	return (tlsio_flush_flags(s, MSG_MORE));
}
