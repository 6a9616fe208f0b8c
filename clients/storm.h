/* storm.h: mandos-storm's shared configuration, keys and helpers. */
#ifndef MANDOS_STORM_H
#define MANDOS_STORM_H

#include <stddef.h>
#include <stdint.h>

#include <gnutls/gnutls.h>

#include "priority.h"

/* The booting client's side: the real mandos-client's default. */
#define STORM_DEFAULT_PRIORITY	MANDOS_REFERENCE_PRIORITY
#define STORM_MAXJOBS		64

enum storm_stage { STAGE_NONE, STAGE_CONNECT, STAGE_VERSION, STAGE_HANDSHAKE };

struct storm_conf {
	const char		*connect;	/* HOST:PORT as given */
	const char		*seed;
	const char		*priority;
	const char		*server_priority; /* --inproc: mandosd's side */
	unsigned		 nclients;
	unsigned		 first;		/* first client index */
	unsigned		 concurrency;
	uint64_t		 count;		/* 0: run for duration */
	double			 duration;	/* seconds; 0: none */
	uint64_t		 warmup;
	double			 timeout;	/* per-connection, seconds */
	size_t			 secret_size;
	int			 json;
	int			 split;
	int			 expect_none;
	int			 quiet;
	uint64_t		 hold;		/* hold mode: connections */
	enum storm_stage	 stage;
	uint64_t		 inproc;	/* in-process mode: handshakes */
	unsigned		 jobs;		/* processes sharing a load run */
	unsigned		 job;		/* this one's number, from 0 */
};

/* What every mode shares: one credential per client, one priority cache. */
struct storm_keys {
	unsigned				 n;
	unsigned				 first;
	gnutls_certificate_credentials_t	*cred;
	uint8_t					*secret;	/* n * size */
	size_t					 size;
	uint8_t					(*keyid)[32];
	gnutls_priority_t			 prio;
	gnutls_priority_t			 sprio;	/* --inproc: mandosd's side */
};

/* Build credentials and expected secrets for the configured clients. */
void	 storm_keys_init(struct storm_keys *, const struct storm_conf *);
/* Client idx's expected secret (idx absolute). */
const uint8_t	*storm_keys_secret(const struct storm_keys *, unsigned idx);

/* Print the client table for n clients; 0 on success. */
int	 storm_table_print(const char *seed, unsigned n, size_t secret_size,
	    const char *format);
/* Print client idx's public key in PEM; 0 on success. */
int	 storm_print_pubkey(const char *seed, unsigned idx);

/* Run the in-process TLS benchmark; exit status. */
int	 storm_inproc_run(const struct storm_conf *, struct storm_keys *);

/* Monotonic clock in microseconds. */
uint64_t storm_now_us(void);
/* The q-quantile (nearest rank) of n sorted values. */
double	 storm_quantile(const double *sorted, size_t n, double q);
/* Sort n doubles ascending. */
void	 storm_sort(double *, size_t n);

#endif
