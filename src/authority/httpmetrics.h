/* httpmetrics.h: Prometheus exposition over HTTP (evhttp on the server's loop). */
#ifndef MANDOSD_HTTPMETRICS_H
#define MANDOSD_HTTPMETRICS_H

struct event_base;

/* Listen on "ADDR:PORT", "[V6]:PORT" or ":PORT" (loopback); -1 + *errstr. */
int	 httpm_open(struct event_base *, const char *spec, char **errstr);
/* "[addr]:port" actually bound (port 0 picks one). */
const char *httpm_where(void);
void	 httpm_close(void);
/* At most n connections at once (default 8): its share of descriptors. */
void	 httpm_set_max(size_t n);

#endif
