/* stormkey.h: deterministic test clients (key pair and secret) from a seed. */
#ifndef MANDOS_STORMKEY_H
#define MANDOS_STORMKEY_H

#include <stddef.h>
#include <stdint.h>

#include <gnutls/abstract.h>

#include "keyid.h"

/*
 * Client idx of seed: its Ed25519 private key, its public key and its key
 * ID. priv/pub may be NULL when not wanted. 0 on success, -1 on error.
 */
int	 stormkey_derive(const char *seed, unsigned idx, gnutls_privkey_t *priv,
	    gnutls_pubkey_t *pub, uint8_t keyid[KEYID_LEN]);
/* Client idx's secret: len pseudo-random bytes from the seed. */
void	 stormkey_secret(const char *seed, unsigned idx, uint8_t *buf, size_t len);
/* Client idx's name in generated tables: "storm-<idx>". */
void	 stormkey_name(unsigned idx, char *buf, size_t len);

#endif
