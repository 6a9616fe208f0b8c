/*
 * tls.c: mandosd is the TLS *client* and authenticates nobody: it asks the
 * booting machine for its raw public key (RFC 7250) and looks the key's ID
 * up. Credentials and the priority cache are made once and shared by every
 * session: per-connection work must be the handshake and nothing else.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>

#include "log.h"
#include "tls.h"
#include "tlsio.h"
#include "xmalloc.h"

static gnutls_certificate_credentials_t tls_cred;
static gnutls_priority_t tls_prio;

int
tls_init(const char *priority, char **errstr)
{
	const char	*errpos = NULL;
	int		 r;

	if ((r = gnutls_global_init()) < 0) {
		xasprintf(errstr, "gnutls_global_init: %s", gnutls_strerror(r));
		return (-1);
	}
	if ((r = gnutls_certificate_allocate_credentials(&tls_cred)) < 0) {
		xasprintf(errstr, "credentials: %s", gnutls_strerror(r));
		return (-1);
	}
	if ((r = gnutls_priority_init2(&tls_prio, priority, &errpos, 0)) < 0) {
		xasprintf(errstr, "priority \"%s\": %s at \"%s\"", priority,
		    gnutls_strerror(r), errpos != NULL ? errpos : "");
		gnutls_certificate_free_credentials(tls_cred);
		tls_cred = NULL;
		return (-1);
	}
	return (0);
}

void
tls_shutdown(void)
{
	if (tls_prio != NULL)
		gnutls_priority_deinit(tls_prio);
	if (tls_cred != NULL)
		gnutls_certificate_free_credentials(tls_cred);
	tls_prio = NULL;
	tls_cred = NULL;
	gnutls_global_deinit();
}

gnutls_session_t
tls_session_new(int fd, const char **why)
{
	gnutls_session_t	 s;
	int			 r;

	r = gnutls_init(&s, GNUTLS_CLIENT | GNUTLS_NONBLOCK |
	    GNUTLS_NO_TICKETS | GNUTLS_ENABLE_RAWPK);
	if (r < 0) {
		*why = gnutls_strerror(r);
		return (NULL);
	}
	if ((r = gnutls_priority_set(s, tls_prio)) < 0 ||
	    (r = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE,
	    tls_cred)) < 0) {
		*why = gnutls_strerror(r);
		gnutls_deinit(s);
		return (NULL);
	}
	/* Buffered: one recv() and one send() per flight (lib/tlsio.c). */
	if (tlsio_attach(s, fd) == -1) {
		*why = "out of memory";
		gnutls_deinit(s);
		return (NULL);
	}
	return (s);
}

void
tls_session_free(gnutls_session_t s)
{
	tlsio_detach(s);
	gnutls_deinit(s);
}

int
tls_peer_keyid(gnutls_session_t s, uint8_t id[KEYID_LEN], const char **why)
{
	const gnutls_datum_t	*peers;
	unsigned int		 npeers = 0;
	gnutls_pubkey_t		 pub;
	size_t			 len = KEYID_LEN;
	int			 r;

	if (gnutls_certificate_type_get2(s, GNUTLS_CTYPE_PEERS) !=
	    GNUTLS_CRT_RAWPK) {
		*why = "peer did not present a raw public key";
		return (-1);
	}
	if ((peers = gnutls_certificate_get_peers(s, &npeers)) == NULL ||
	    npeers == 0) {
		*why = "peer presented no key";
		return (-1);
	}
	/* Re-encode through GnuTLS as the reference does: the ID is of the key. */
	if (gnutls_pubkey_init(&pub) < 0) {
		*why = "out of memory";
		return (-1);
	}
	r = gnutls_pubkey_import(pub, &peers[0], GNUTLS_X509_FMT_DER);
	if (r >= 0)
		r = gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA256, id, &len);
	gnutls_pubkey_deinit(pub);
	if (r < 0 || len != KEYID_LEN) {
		*why = r < 0 ? gnutls_strerror(r) : "bad key ID length";
		return (-1);
	}
	return (0);
}
