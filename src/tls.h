/* tls.h: GnuTLS credentials, priority and sessions for mandosd (the TLS client). */
#ifndef MANDOSD_TLS_H
#define MANDOSD_TLS_H

#include <stdint.h>

#include <gnutls/gnutls.h>

#include "keyid.h"

/*
 * The reference's string with X25519 as the only group: GnuTLS would
 * otherwise send two key shares (secp256r1 and X25519), and the reference
 * client picks secp256r1, the dearer of the two.  One share is one key
 * generation, a shorter ClientHello and a cheaper exchange on both ends.
 */
#define TLS_REFERENCE_PRIORITY \
	"SECURE128:!CTYPE-X.509:+CTYPE-RAWPK:!RSA:!VERS-ALL:+VERS-TLS1.3:%PROFILE_ULTRA"
#define TLS_DEFAULT_PRIORITY \
	TLS_REFERENCE_PRIORITY ":-GROUP-ALL:+GROUP-X25519"

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
