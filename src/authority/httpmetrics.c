/*
 * httpmetrics.c: GET /metrics over HTTP on the same loop as everything
 * else, so a scrape sees the same counters as the control socket. Anything
 * but GET (or HEAD) /metrics is refused. Not evhttp: its connections can
 * be neither counted nor given an absolute deadline from outside, and its
 * listener spins on EMFILE. Here one request per connection (then close),
 * a bounded request, at most httpm_max connections (their share of
 * descriptors), each for HTTPM_DEADLINE_S at most, and a pause on EMFILE.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "httpmetrics.h"
#include "log.h"
#include "metrics.h"
#include "sockaddr.h"
#include "xmalloc.h"

#define HTTPM_DEADLINE_S	10	/* a whole connection, idle or trickling */
#define HTTPM_MAXREQ		8192	/* request line and headers */

struct httpm_conn {
	LIST_ENTRY(httpm_conn)	 entry;
	struct bufferevent	*bev;
	struct event		*deadline;
	int			 replied;	/* closing once the reply is out */
};

static LIST_HEAD(, httpm_conn) httpm_conns = LIST_HEAD_INITIALIZER(httpm_conns);
static struct evconnlistener *httpm_lsn;
static struct event	*httpm_retry_ev;
static struct event_base *httpm_base;
static char		 httpm_bound[SOCKADDR_STRLEN];
static size_t		 httpm_max = 8, httpm_n;

static void	 httpm_resume(void);

/* Close a connection: one slot back. */
static void
httpm_free(struct httpm_conn *hc)
{
	LIST_REMOVE(hc, entry);
	bufferevent_free(hc->bev);
	event_free(hc->deadline);
	free(hc);
	httpm_n--;
	httpm_resume();
}

static void
httpm_deadline(evutil_socket_t fd, short what, void *arg)
{
	httpm_free(arg);
}

/* Queue the whole reply, stop reading, close once it is written. */
static void
httpm_reply(struct httpm_conn *hc, const char *status, const char *extra,
    struct evbuffer *body, int head)
{
	struct evbuffer	*out = bufferevent_get_output(hc->bev);
	size_t		 len = body != NULL ? evbuffer_get_length(body) : 0;

	evbuffer_add_printf(out, "HTTP/1.1 %s\r\n%sContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n", status, extra != NULL ? extra : "",
	    len);
	if (body != NULL && !head)
		evbuffer_add_buffer(out, body);
	hc->replied = 1;
	bufferevent_disable(hc->bev, EV_READ);
}

/* The request line, once the headers are complete: answer it. */
static void
httpm_request(struct httpm_conn *hc, char *line)
{
	struct evbuffer	*b;
	char		*method, *path, *q, *last;
	int		 head;

	method = strtok_r(line, " ", &last);
	path = strtok_r(NULL, " ", &last);
	if (method == NULL || path == NULL || strtok_r(NULL, " ", &last) ==
	    NULL) {
		httpm_reply(hc, "400 Bad Request", NULL, NULL, 0);
		return;
	}
	if ((q = strchr(path, '?')) != NULL)
		*q = '\0';
	head = strcmp(method, "HEAD") == 0;
	if (strcmp(path, "/metrics") != 0) {
		httpm_reply(hc, "404 Not Found", NULL, NULL, head);
		return;
	}
	if (strcmp(method, "GET") != 0 && !head) {
		httpm_reply(hc, "405 Method Not Allowed",
		    "Allow: GET, HEAD\r\n", NULL, 0);
		return;
	}
	b = evbuffer_new();
	metric_render(b);
	httpm_reply(hc, "200 OK", "Content-Type: text/plain; version=0.0.4; "
	    "charset=utf-8\r\n", b, head);
	evbuffer_free(b);
}

static void
httpm_read(struct bufferevent *bev, void *arg)
{
	struct httpm_conn	*hc = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_ptr	 end;
	char			*line;

	if (hc->replied)
		return;
	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos == -1)
		end = evbuffer_search(in, "\n\n", 2, NULL);
	if (end.pos == -1) {
		if (evbuffer_get_length(in) >= HTTPM_MAXREQ)
			httpm_reply(hc, "431 Request Header Fields Too Large",
			    NULL, NULL, 0);
		return;
	}
	if ((line = evbuffer_readln(in, NULL, EVBUFFER_EOL_CRLF)) == NULL) {
		httpm_reply(hc, "400 Bad Request", NULL, NULL, 0);
		return;
	}
	httpm_request(hc, line);
	free(line);
}

static void
httpm_write(struct bufferevent *bev, void *arg)
{
	struct httpm_conn	*hc = arg;

	if (hc->replied)
		httpm_free(hc);		/* all written */
}

static void
httpm_event(struct bufferevent *bev, short what, void *arg)
{
	/* EOF before a request, or an error: nothing more to say. */
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		httpm_free(arg);
}

static void
httpm_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct httpm_conn	*hc;
	struct timeval		 tv = { HTTPM_DEADLINE_S, 0 };

	hc = xcalloc(1, sizeof(*hc));
	if ((hc->bev = bufferevent_socket_new(httpm_base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL ||
	    (hc->deadline = evtimer_new(httpm_base, httpm_deadline, hc)) ==
	    NULL) {
		if (hc->bev != NULL)
			bufferevent_free(hc->bev);
		else
			evutil_closesocket(fd);
		free(hc);
		return;
	}
	LIST_INSERT_HEAD(&httpm_conns, hc, entry);
	/* Stop reading past a maximal request: memory stays bounded. */
	bufferevent_setwatermark(hc->bev, EV_READ, 0, HTTPM_MAXREQ);
	bufferevent_setcb(hc->bev, httpm_read, httpm_write, httpm_event, hc);
	bufferevent_enable(hc->bev, EV_READ);
	evtimer_add(hc->deadline, &tv);
	if (++httpm_n >= httpm_max)
		evconnlistener_disable(httpm_lsn);
}

/* Accept again when below the cap and not waiting out an EMFILE. */
static void
httpm_resume(void)
{
	if (httpm_lsn == NULL || httpm_n >= httpm_max ||
	    evtimer_pending(httpm_retry_ev, NULL))
		return;
	evconnlistener_enable(httpm_lsn);
}

/* Out of descriptors: pause 1 s, never spin (libevent would retry at once). */
static void
httpm_accept_error(struct evconnlistener *l, void *arg)
{
	struct timeval	 one = { 1, 0 };
	static time_t	 warned;

	if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
		return;
	if (time(NULL) - warned >= 60) {
		log_warn("metrics: accept: pausing 1 s");
		warned = time(NULL);
	}
	evconnlistener_disable(l);
	evtimer_add(httpm_retry_ev, &one);
}

static void
httpm_retry(evutil_socket_t fd, short what, void *arg)
{
	httpm_resume();
}

void
httpm_set_max(size_t n)
{
	httpm_max = n > 0 ? n : 1;
}

int
httpm_open(struct event_base *base, const char *spec, char **errstr)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof(ss);
	struct evutil_addrinfo	 hints, *ai = NULL;
	char			*host, *colon, *end, portstr[8];
	long			 port;
	int			 r;

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
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_NUMERICHOST | EVUTIL_AI_PASSIVE;
	snprintf(portstr, sizeof(portstr), "%ld", port);
	if ((r = evutil_getaddrinfo(host, portstr, &hints, &ai)) != 0) {
		xasprintf(errstr, "--metrics-listen %s: %s", spec,
		    evutil_gai_strerror(r));
		free(host);
		return (-1);
	}
	free(host);
	httpm_base = base;
	httpm_lsn = evconnlistener_new_bind(base, httpm_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    16, ai->ai_addr, (int)ai->ai_addrlen);
	evutil_freeaddrinfo(ai);
	if (httpm_lsn == NULL) {
		xasprintf(errstr, "--metrics-listen %s: cannot bind: %s", spec,
		    strerror(errno));
		return (-1);
	}
	evconnlistener_set_error_cb(httpm_lsn, httpm_accept_error);
	httpm_retry_ev = evtimer_new(base, httpm_retry, NULL);
	if (getsockname(evconnlistener_get_fd(httpm_lsn),
	    (struct sockaddr *)&ss, &len) == 0)
		sockaddr_format((struct sockaddr *)&ss, httpm_bound,
		    sizeof(httpm_bound));
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
	while (!LIST_EMPTY(&httpm_conns))
		httpm_free(LIST_FIRST(&httpm_conns));
	if (httpm_lsn != NULL)
		evconnlistener_free(httpm_lsn);
	httpm_lsn = NULL;
	if (httpm_retry_ev != NULL)
		event_free(httpm_retry_ev);
	httpm_retry_ev = NULL;
}
