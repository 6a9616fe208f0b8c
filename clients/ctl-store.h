/* ctl-store.h: mandosctl's fleet-store commands (--push, --pull, --watch-store). */
#ifndef MANDOS_CTL_STORE_H
#define MANDOS_CTL_STORE_H

/* --store-ca, --store-cert, --store-key, --store-auth (name without
 * the dashes), before any command below. */
void	 ctl_store_set_opt(const char *name, const char *val);
/* Each returns mandosctl's exit status (0 ok, 1 error). */
int	 ctl_store_push(const char *url, const char *file, int is_conf);
int	 ctl_store_pull(const char *url);
int	 ctl_store_watch(const char *url);

#endif
