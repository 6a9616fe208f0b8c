/*
 * storm-inproc.c: the in-process TLS limit.  Both ends of each handshake run
 * in this process over a socketpair, no network and no event loop: the
 * booting client's side (TLS server, raw key) and the Mandos server's side
 * (TLS client, as mandosd: peer key ID, secret, close_notify).  CPU time is
 * measured per side, so the server side's cost bounds what mandosd can do
 * on one core.
 */
#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <jansson.h>

#include "keyid.h"
#include "log.h"
#include "storm.h"
#include "tlsio.h"
#include "xmalloc.h"

static uint64_t	 storm_thread_cpu_us(void);
static int	 storm_inproc_one(const struct storm_conf *, struct storm_keys *,
		    gnutls_certificate_credentials_t, unsigned, uint64_t *,
		    uint64_t *);
static int	 storm_inproc_peer_ok(gnutls_session_t, const uint8_t *);
static gnutls_session_t storm_inproc_session(struct storm_keys *, unsigned,
		    gnutls_certificate_credentials_t, int);

/* This thread's CPU time in microseconds. */
static uint64_t
storm_thread_cpu_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}

/* A session for one side: GNUTLS_CLIENT is mandosd's, GNUTLS_SERVER ours. */
static gnutls_session_t
storm_inproc_session(struct storm_keys *k, unsigned role,
    gnutls_certificate_credentials_t cred, int fd)
{
	gnutls_session_t	 s;

	if (gnutls_init(&s, role | GNUTLS_NONBLOCK | GNUTLS_NO_TICKETS |
	    GNUTLS_ENABLE_RAWPK) < 0)
		return (NULL);
	/* Each side its own priority: mandosd's decides the key shares. */
	if (gnutls_priority_set(s, role == GNUTLS_CLIENT ? k->sprio :
	    k->prio) < 0 ||
	    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred) < 0) {
		gnutls_deinit(s);
		return (NULL);
	}
	if (role == GNUTLS_SERVER)
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_IGNORE);
	/* The transport mandosd and the storm use: a flight is one send. */
	if (tlsio_attach(s, fd) == -1) {
		gnutls_deinit(s);
		return (NULL);
	}
	return (s);
}

/* Whether the peer's raw key has the expected key ID, as mandosd checks it. */
static int
storm_inproc_peer_ok(gnutls_session_t s, const uint8_t *want)
{
	const gnutls_datum_t	*certs;
	gnutls_pubkey_t		 pub;
	uint8_t			 id[KEYID_LEN];
	size_t			 idlen = sizeof(id);
	unsigned		 n = 0;
	int			 ok = 0;

	if (gnutls_certificate_type_get2(s, GNUTLS_CTYPE_PEERS) !=
	    GNUTLS_CRT_RAWPK)
		return (0);
	if ((certs = gnutls_certificate_get_peers(s, &n)) == NULL || n == 0)
		return (0);
	if (gnutls_pubkey_init(&pub) < 0)
		return (0);
	if (gnutls_pubkey_import(pub, &certs[0], GNUTLS_X509_FMT_DER) >= 0 &&
	    gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA256, id,
	    &idlen) >= 0 && idlen == KEYID_LEN && memcmp(id, want,
	    KEYID_LEN) == 0)
		ok = 1;
	gnutls_pubkey_deinit(pub);
	return (ok);
}

#define SIDE(acc, call) do {					\
	uint64_t t0_ = storm_thread_cpu_us();			\
	call;							\
	*(acc) += storm_thread_cpu_us() - t0_;			\
} while (0)

/*
 * One complete exchange for client idx; adds each side's CPU time.
 * 0 on success, -1 on failure.
 */
static int
storm_inproc_one(const struct storm_conf *conf, struct storm_keys *k,
    gnutls_certificate_credentials_t empty, unsigned idx, uint64_t *srv_us,
    uint64_t *cli_us)
{
	gnutls_session_t	 srv = NULL, cli = NULL;	/* mandosd, booting client */
	const uint8_t		*secret = storm_keys_secret(k, idx);
	uint8_t			 buf[16384];
	size_t			 sent = 0, got = 0;
	int			 sv[2], rs = GNUTLS_E_AGAIN, rc = GNUTLS_E_AGAIN;
	int			 ret = -1, steps;
	ssize_t			 r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) == -1) {
		log_warn("socketpair");
		return (-1);
	}
	SIDE(srv_us, srv = storm_inproc_session(k, GNUTLS_CLIENT, empty, sv[0]));
	SIDE(cli_us, cli = storm_inproc_session(k, GNUTLS_SERVER,
	    k->cred[idx - k->first], sv[1]));
	if (srv == NULL || cli == NULL)
		goto out;

	/* Alternate the two sides until both finish; bounded. */
	for (steps = 0; (rs != 0 || rc != 0) && steps < 100; steps++) {
		if (rs != 0) {
			SIDE(srv_us, rs = gnutls_handshake(srv);
			    if (tlsio_flush(srv) == -1) rs = GNUTLS_E_PUSH_ERROR);
			if (rs < 0 && gnutls_error_is_fatal(rs))
				goto fail_tls;
		}
		if (rc != 0) {
			SIDE(cli_us, rc = gnutls_handshake(cli);
			    if (tlsio_flush(cli) == -1) rc = GNUTLS_E_PUSH_ERROR);
			if (rc < 0 && gnutls_error_is_fatal(rc))
				goto fail_tls;
		}
	}
	if (rs != 0 || rc != 0)
		goto fail_tls;

	/* mandosd: check the key, send the secret, close_notify. */
	SIDE(srv_us, rs = storm_inproc_peer_ok(srv, k->keyid[idx - k->first]));
	if (!rs) {
		log_warnx("inproc: client %u: wrong peer key", idx);
		goto out;
	}
	while (sent < k->size) {
		SIDE(srv_us, r = gnutls_record_send(srv, secret + sent,
		    k->size - sent));
		if (r < 0)
			goto fail_tls;
		sent += (size_t)r;
	}
	SIDE(srv_us, rs = gnutls_bye(srv, GNUTLS_SHUT_WR);
	    if (rs == 0 && tlsio_flush(srv) != 0) rs = GNUTLS_E_PUSH_ERROR);
	if (rs < 0)
		goto fail_tls;

	/* The booting client reads to close_notify. */
	for (steps = 0; steps < 1000; steps++) {
		SIDE(cli_us, r = gnutls_record_recv(cli, buf, sizeof(buf)));
		if (r == 0)
			break;
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			continue;
		if (r < 0) {
			rc = (int)r;
			goto fail_tls;
		}
		if (got + (size_t)r > k->size ||
		    memcmp(buf, secret + got, (size_t)r) != 0) {
			log_warnx("inproc: client %u: secret mismatch", idx);
			goto out;
		}
		got += (size_t)r;
	}
	if (r != 0 || got != k->size) {
		log_warnx("inproc: client %u: no close_notify or short secret",
		    idx);
		goto out;
	}
	ret = 0;
	goto out;
fail_tls:
	log_warnx("inproc: client %u: %s / %s", idx,
	    rs < 0 ? gnutls_strerror(rs) : "ok",
	    rc < 0 ? gnutls_strerror(rc) : "ok");
out:
	SIDE(srv_us, if (srv != NULL) { tlsio_detach(srv); gnutls_deinit(srv); });
	SIDE(cli_us, if (cli != NULL) { tlsio_detach(cli); gnutls_deinit(cli); });
	close(sv[0]);
	close(sv[1]);
	return (ret);
}

int
storm_inproc_run(const struct storm_conf *conf, struct storm_keys *k)
{
	gnutls_certificate_credentials_t	 empty;
	struct rusage				 ru0, ru1;
	uint64_t				 i, ok = 0, srv_us = 0, cli_us = 0;
	uint64_t				 t0, t1, ts, cpu;
	double					*lat, secs, p50, p99;
	json_t					*o;

	if (gnutls_certificate_allocate_credentials(&empty) < 0)
		fatalx("gnutls_certificate_allocate_credentials failed");
	lat = xcalloc(conf->inproc, sizeof(*lat));
	getrusage(RUSAGE_SELF, &ru0);
	t0 = storm_now_us();
	for (i = 0; i < conf->inproc; i++) {
		ts = storm_now_us();
		if (storm_inproc_one(conf, k, empty,
		    conf->first + (unsigned)(i % conf->nclients), &srv_us,
		    &cli_us) == 0)
			lat[ok++] = (double)(storm_now_us() - ts) / 1e3;
	}
	t1 = storm_now_us();
	getrusage(RUSAGE_SELF, &ru1);
	cpu = (uint64_t)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec +
	    ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1000000 +
	    (uint64_t)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec +
	    ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec);
	secs = (double)(t1 - t0) / 1e6;
	storm_sort(lat, ok);
	p50 = storm_quantile(lat, ok, 0.50);
	p99 = storm_quantile(lat, ok, 0.99);
	if (conf->json) {
		o = json_pack("{s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:f, s:f, "
		    "s:f}",
		    "ok", (json_int_t)ok, "failed", (json_int_t)(conf->inproc - ok),
		    "seconds", secs,
		    "rate", secs > 0 ? (double)ok / secs : 0.0,
		    "cpu_us", (double)cpu / (double)conf->inproc,
		    "server_cpu_us", (double)srv_us / (double)conf->inproc,
		    "client_cpu_us", (double)cli_us / (double)conf->inproc,
		    "server_limit_rate", srv_us > 0 ?
		    (double)conf->inproc * 1e6 / (double)srv_us : 0.0,
		    "p50_ms", p50, "p99_ms", p99);
		json_dumpf(o, stdout, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
		putchar('\n');
		json_decref(o);
	} else {
		printf("inproc: ok %llu, failed %llu, %.3f s, %.1f handshakes/s\n",
		    (unsigned long long)ok,
		    (unsigned long long)(conf->inproc - ok), secs,
		    secs > 0 ? (double)ok / secs : 0.0);
		printf("CPU us/handshake: %.1f total, %.1f server side "
		    "(limit %.0f/s on one core), %.1f client side\n",
		    (double)cpu / (double)conf->inproc,
		    (double)srv_us / (double)conf->inproc,
		    srv_us > 0 ? (double)conf->inproc * 1e6 / (double)srv_us :
		    0.0, (double)cli_us / (double)conf->inproc);
		printf("latency ms: p50 %.3f, p99 %.3f\n", p50, p99);
	}
	fflush(stdout);
	free(lat);
	gnutls_certificate_free_credentials(empty);
	return (ok == conf->inproc ? 0 : 1);
}
