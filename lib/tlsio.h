/* tlsio.h: a GnuTLS transport over a nonblocking socket in few system calls. */
#ifndef MANDOS_TLSIO_H
#define MANDOS_TLSIO_H

#include <stddef.h>

#include <gnutls/gnutls.h>

/* One recv() takes up to this much; what GnuTLS has not asked for yet is kept. */
#define TLSIO_READ	16384
/* Output held for one send() at most; past it, the send happens at once. */
#define TLSIO_HOLD	(16384 + 1024)

/* Attach s to fd with the buffered transport; -1 when out of memory. */
int	 tlsio_attach(gnutls_session_t s, int fd);
/* Free the transport state (before gnutls_deinit; output still held is lost). */
void	 tlsio_detach(gnutls_session_t s);
/* Queue bytes that arrived before TLS started, as if read; -1 if no memory. */
int	 tlsio_preload(gnutls_session_t s, const void *, size_t);
/* Send the held output: 0 all sent, 1 the socket is full (wait for write), -1 errno. */
int	 tlsio_flush(gnutls_session_t s);
/* The same for the last bytes before close(): they leave with the FIN. */
int	 tlsio_flush_last(gnutls_session_t s);
/* Bytes read from the socket that GnuTLS has not taken yet. */
size_t	 tlsio_pending(gnutls_session_t s);

#endif
