/*
 * stormkey.c: the keys and secrets of mandos-storm's clients, derived from a
 * seed so that the table and the load generator agree without a file.
 * An Ed25519 private key is 32 bytes; we hash (seed, index) into them and
 * wrap them in a fixed PKCS#8 header for GnuTLS to import.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "stormkey.h"

/* PKCS#8 PrivateKeyInfo for Ed25519 (RFC 8410) up to the 32-byte key. */
static const uint8_t stormkey_pkcs8_head[16] = {
	0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
	0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
};

/* SHA-256 of "label:seed:idx:block". */
static void
stormkey_hash(const char *label, const char *seed, unsigned idx,
    unsigned block, uint8_t out[32])
{
	char	 buf[512];
	int	 n;

	n = snprintf(buf, sizeof(buf), "%s:%s:%u:%u", label, seed, idx, block);
	if (n < 0 || (size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	gnutls_hash_fast(GNUTLS_DIG_SHA256, buf, (size_t)n, out);
}

int
stormkey_derive(const char *seed, unsigned idx, gnutls_privkey_t *privp,
    gnutls_pubkey_t *pubp, uint8_t keyid[KEYID_LEN])
{
	uint8_t			 der[sizeof(stormkey_pkcs8_head) + 32];
	gnutls_datum_t		 d = { der, sizeof(der) };
	gnutls_x509_privkey_t	 x = NULL;
	gnutls_privkey_t	 priv = NULL;
	gnutls_pubkey_t		 pub = NULL;
	size_t			 idlen = KEYID_LEN;
	int			 ret = -1;

	memcpy(der, stormkey_pkcs8_head, sizeof(stormkey_pkcs8_head));
	stormkey_hash("mandos-storm key", seed, idx, 0,
	    der + sizeof(stormkey_pkcs8_head));
	if (gnutls_x509_privkey_init(&x) < 0 ||
	    gnutls_x509_privkey_import_pkcs8(x, &d, GNUTLS_X509_FMT_DER, NULL,
	    GNUTLS_PKCS_PLAIN) < 0)
		goto out;
	if (gnutls_privkey_init(&priv) < 0 ||
	    gnutls_privkey_import_x509(priv, x,
	    GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE) < 0)
		goto out;
	x = NULL;
	if (gnutls_pubkey_init(&pub) < 0 ||
	    gnutls_pubkey_import_privkey(pub, priv, 0, 0) < 0 ||
	    gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA256, keyid,
	    &idlen) < 0 || idlen != KEYID_LEN)
		goto out;
	ret = 0;
	if (privp != NULL) {
		*privp = priv;
		priv = NULL;
	}
	if (pubp != NULL) {
		*pubp = pub;
		pub = NULL;
	}
out:
	explicit_bzero(der, sizeof(der));
	if (x != NULL)
		gnutls_x509_privkey_deinit(x);
	if (priv != NULL)
		gnutls_privkey_deinit(priv);
	if (pub != NULL)
		gnutls_pubkey_deinit(pub);
	return (ret);
}

void
stormkey_secret(const char *seed, unsigned idx, uint8_t *buf, size_t len)
{
	uint8_t		 block[32];
	unsigned	 b;
	size_t		 n;

	for (b = 0; len > 0; b++) {
		stormkey_hash("mandos-storm secret", seed, idx, b, block);
		n = len < sizeof(block) ? len : sizeof(block);
		memcpy(buf, block, n);
		buf += n;
		len -= n;
	}
}

void
stormkey_name(unsigned idx, char *buf, size_t len)
{
	snprintf(buf, len, "storm-%u", idx);
}
