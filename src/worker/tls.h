/* tls.h: GnuTLS credentials, priority and sessions for mandosd (the TLS client). */
#ifndef MANDOSD_TLS_H
#define MANDOSD_TLS_H

#include <stdint.h>

#include <gnutls/gnutls.h>

#include "keyid.h"

#include "priority.h"

/* X25519 as the only key share (lib/priority.h says why). */
#define TLS_DEFAULT_PRIORITY	MANDOSD_DEFAULT_PRIORITY

/* Create the shared credentials and priority cache; -1 with *errstr. */
int	 tls_init(const char *priority, char **errstr);
void	 tls_shutdown(void);
/* A nonblocking client session on fd; NULL on failure (with *why). */
gnutls_session_t tls_session_new(int fd, const char **why);
/* Free a session from tls_session_new(). */
void	 tls_session_free(gnutls_session_t);
/* Key ID of the peer's raw public key; -1 with *why if it has none. */
int	 tls_peer_keyid(gnutls_session_t, uint8_t id[KEYID_LEN], const char **why);

#endif
