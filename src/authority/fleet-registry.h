/*
 * fleet-registry.h: the live-server registry of a fleet and the checker
 * assignment over it (issue 10). Each server keeps PREFIX/servers/ID
 * under its own lease, watches PREFIX/servers/ for the live set, runs the
 * checkers only of the clients it owns by rendezvous hashing, and shares
 * their results under PREFIX/checks/NAME, which every server applies.
 */
#ifndef MANDOSD_FLEET_REGISTRY_H
#define MANDOSD_FLEET_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct etcd;

#define FREGISTRY_TTL_MS	5000	/* default lease of a server */

/* Register as id (no '/') under a lease of ttl_ms (whole seconds, at
 * least 1 s), kept alive every ttl/3, and take the checker hooks. */
int	 fregistry_init(struct event_base *, struct etcd *, const char *id,
	    uint64_t ttl_ms, char **errstr);
/* Whether our lease was renewed at the last try (the store answers). */
int	 fregistry_up(void);
/* The live server that checks name: highest fregistry_hash(id, name). */
const char *fregistry_owner(const char *name);
/* FNV-1a 64 over server, a NUL byte and client, then splitmix64's
 * finalizer (FNV alone mixes the last bytes poorly). */
uint64_t fregistry_hash(const char *server, const char *client);
size_t	 fregistry_live(void);
/* Leave the registry (delete our key, so a takeover need not wait out
 * the TTL) if the store answers, waiting at most its deadline. */
void	 fregistry_shutdown(void);

#endif
