/*
 * httpmetrics.c: GET /metrics over HTTP with libevent's evhttp, on the
 * same loop as everything else, so a scrape sees the same counters as the
 * control socket. Anything but GET (or HEAD) /metrics is refused.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "httpmetrics.h"
#include "log.h"
#include "metrics.h"
#include "sockaddr.h"
#include "xmalloc.h"

static struct evhttp	*httpm;
static char		 httpm_bound[SOCKADDR_STRLEN];

static void
httpm_cb(struct evhttp_request *req, void *arg)
{
	struct evbuffer	*b;
	const char	*path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

	if (path == NULL || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, "only /metrics is here");
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD");
		evhttp_send_error(req, HTTP_BADMETHOD, NULL);
		return;
	}
	b = evbuffer_new();
	metric_render(b);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

int
httpm_open(struct event_base *base, const char *spec, char **errstr)
{
	struct evhttp_bound_socket *bs;
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	char			*host, *colon, *end;
	long			 port;

	host = xstrdup(spec);
	if ((colon = strrchr(host, ':')) == NULL) {
		xasprintf(errstr, "--metrics-listen %s: want ADDR:PORT", spec);
		free(host);
		return (-1);
	}
	*colon = '\0';
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || port < 0 || port > 65535) {
		xasprintf(errstr, "--metrics-listen %s: bad port", spec);
		free(host);
		return (-1);
	}
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		host[strlen(host) - 1] = '\0';
		memmove(host, host + 1, strlen(host));
	}
	if (host[0] == '\0') {
		free(host);
		host = xstrdup("127.0.0.1");
	}
	if ((httpm = evhttp_new(base)) == NULL) {
		xasprintf(errstr, "evhttp_new failed");
		free(host);
		return (-1);
	}
	evhttp_set_allowed_methods(httpm, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_max_headers_size(httpm, 8192);
	evhttp_set_max_body_size(httpm, 4096);
	evhttp_set_timeout(httpm, 10);
	evhttp_set_gencb(httpm, httpm_cb, NULL);
	if ((bs = evhttp_bind_socket_with_handle(httpm, host,
	    (uint16_t)port)) == NULL) {
		xasprintf(errstr, "--metrics-listen %s: cannot bind", spec);
		evhttp_free(httpm);
		httpm = NULL;
		free(host);
		return (-1);
	}
	if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss,
	    &len) == 0) {
		sockaddr_format((struct sockaddr *)&ss, httpm_bound,
		    sizeof(httpm_bound));
	}
	free(host);
	return (0);
}

const char *
httpm_where(void)
{
	return (httpm_bound);
}

void
httpm_close(void)
{
	if (httpm != NULL)
		evhttp_free(httpm);
	httpm = NULL;
}
