/*
 * storm-table.c: the client table that matches mandos-storm's clients, in
 * mandosd's JSON format or as the reference server's clients.conf, and the
 * public keys for cross-checking key IDs with certtool.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <jansson.h>

#include "keyid.h"
#include "log.h"
#include "storm.h"
#include "stormkey.h"
#include "xmalloc.h"

static char	*storm_b64(const uint8_t *, size_t);
static int	 storm_table_json(const char *, unsigned, size_t);
static int	 storm_table_conf(const char *, unsigned, size_t);

/* Base64 of buf, NUL-terminated, on the heap. */
static char *
storm_b64(const uint8_t *buf, size_t len)
{
	gnutls_datum_t	 in = { (unsigned char *)buf, (unsigned)len }, out;
	char		*s;

	if (gnutls_base64_encode2(&in, &out) < 0)
		fatalx("base64 encoding failed");
	s = xmalloc(out.size + 1);
	memcpy(s, out.data, out.size);
	s[out.size] = '\0';
	gnutls_free(out.data);
	return (s);
}

/* The mandosd clients.json: {"clients": {"storm-0": {key_id, secret}}}. */
static int
storm_table_json(const char *seed, unsigned n, size_t size)
{
	json_t		*root, *clients;
	uint8_t		 id[KEYID_LEN], *secret;
	char		 hex[KEYID_HEXLEN + 1], name[32], *b64;
	unsigned	 i;
	int		 ret;

	secret = xmalloc(size > 0 ? size : 1);
	clients = json_object();
	for (i = 0; i < n; i++) {
		if (stormkey_derive(seed, i, NULL, NULL, id) == -1)
			fatalx("cannot derive key %u", i);
		keyid_format(id, hex);
		stormkey_secret(seed, i, secret, size);
		b64 = storm_b64(secret, size);
		stormkey_name(i, name, sizeof(name));
		json_object_set_new(clients, name,
		    json_pack("{s:s, s:s}", "key_id", hex, "secret", b64));
		free(b64);
	}
	root = json_pack("{s:o}", "clients", clients);
	ret = json_dumpf(root, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(root);
	free(secret);
	return (ret == 0 && fflush(stdout) == 0 ? 0 : -1);
}

/*
 * The reference's clients.conf.  It crashes on a section without a
 * fingerprint, so each gets a dummy one: the first 40 digits of its key ID.
 */
static int
storm_table_conf(const char *seed, unsigned n, size_t size)
{
	uint8_t		 id[KEYID_LEN], *secret;
	char		 hex[KEYID_HEXLEN + 1], name[32], *b64;
	unsigned	 i;

	secret = xmalloc(size > 0 ? size : 1);
	printf("# mandos-storm clients, seed \"%s\"\n[DEFAULT]\nchecker = true\n",
	    seed);
	for (i = 0; i < n; i++) {
		if (stormkey_derive(seed, i, NULL, NULL, id) == -1)
			fatalx("cannot derive key %u", i);
		keyid_format(id, hex);
		stormkey_secret(seed, i, secret, size);
		b64 = storm_b64(secret, size);
		stormkey_name(i, name, sizeof(name));
		printf("\n[%s]\nkey_id = %s\nfingerprint = %.40s\nsecret = %s\n",
		    name, hex, hex, b64);
		free(b64);
	}
	free(secret);
	return (fflush(stdout) == 0 ? 0 : -1);
}

int
storm_table_print(const char *seed, unsigned n, size_t size, const char *format)
{
	if (strcmp(format, "json") == 0)
		return (storm_table_json(seed, n, size));
	if (strcmp(format, "conf") == 0)
		return (storm_table_conf(seed, n, size));
	log_warnx("unknown table format \"%s\" (json or conf)", format);
	return (-1);
}

int
storm_print_pubkey(const char *seed, unsigned idx)
{
	gnutls_pubkey_t	 pub;
	gnutls_datum_t	 pem;
	uint8_t		 id[KEYID_LEN];

	if (stormkey_derive(seed, idx, NULL, &pub, id) == -1)
		return (-1);
	if (gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_PEM, &pem) < 0) {
		gnutls_pubkey_deinit(pub);
		return (-1);
	}
	fwrite(pem.data, 1, pem.size, stdout);
	gnutls_free(pem.data);
	gnutls_pubkey_deinit(pub);
	return (fflush(stdout) == 0 ? 0 : -1);
}
