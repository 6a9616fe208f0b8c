/* duration.h: durations as in Mandos configs: RFC 3339 ("PT5M") or "5m 30s". */
#ifndef MANDOS_DURATION_H
#define MANDOS_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* The longest duration (a century): strings and integers alike stop here. */
#define DURATION_MAX_MS	(100ULL * 366 * 24 * 60 * 60 * 1000)

/* Parse s into milliseconds; -1 with *errstr set on error. */
int	 duration_parse(const char *s, uint64_t *ms, const char **errstr);
/* Format ms as RFC 3339 ("PT5M", "P1DT2H", "PT0.250S", "PT0S"). */
void	 duration_format(uint64_t ms, char *buf, size_t len);

#endif
