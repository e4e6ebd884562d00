/*
 * http-libevent.c - the raw libevent HTTP anchor: a minimal single-threaded
 * responder on libevent's evhttp, as the libevent samples (http-server.c)
 * write one.  GET / answers with -b BYTES bytes of application/octet-stream
 * (default 1000000, the same bytes as hsvr-http's --body-size), or with
 * "Hello, world\n" given --hello; other paths are 404.  Keep-alive and
 * HTTP/1.0 "Connection: close" are evhttp's own.  The body is added to each
 * reply by reference (evbuffer_add_reference): no copy of it per request.
 *
 *   http-libevent -p PORT [-a ADDR] [-b BYTES | --hello]
 *
 * SIGTERM and SIGINT leave the loop and exit 0.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

static unsigned char *body;
static size_t body_len = 1000000;
static unsigned char hello[] = "Hello, world\n";

static void
on_request(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct evbuffer *out;

	(void)arg;
	if (path == NULL || strcmp(path, "/") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, NULL);
		return;
	}
	if ((out = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evbuffer_add_reference(out, body, body_len, NULL, NULL);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/octet-stream");
	evhttp_send_reply(req, HTTP_OK, "OK", out);
	evbuffer_free(out);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig, (void)what;
	event_base_loopexit(arg, NULL);
}

int
main(int argc, char **argv)
{
	struct event_base *base;
	struct evhttp *http;
	struct event *sigterm, *sigint;
	const char *host = "127.0.0.1";
	long port = 0;
	int i, use_hello = 0;
	size_t k;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--hello") == 0)
			use_hello = 1;
		else if (strcmp(argv[i], "-p") == 0 && i + 1 < argc)
			port = atol(argv[++i]);
		else if (strcmp(argv[i], "-a") == 0 && i + 1 < argc)
			host = argv[++i];
		else if (strcmp(argv[i], "-b") == 0 && i + 1 < argc)
			body_len = (size_t)atol(argv[++i]);
		else
			port = -1;
	}
	if (port < 1 || port > 65535) {
		fprintf(stderr, "usage: http-libevent -p PORT [-a ADDR] "
		    "[-b BYTES | --hello]\n");
		return 64;
	}
	if (use_hello) {
		body = hello;
		body_len = sizeof hello - 1;
	} else {
		if ((body = malloc(body_len > 0 ? body_len : 1)) == NULL) {
			fprintf(stderr, "http-libevent: out of memory\n");
			return 1;
		}
		for (k = 0; k < body_len; k++)
			body[k] = (unsigned char)('a' + k % 26);
	}
	signal(SIGPIPE, SIG_IGN);
	if ((base = event_base_new()) == NULL ||
	    (http = evhttp_new(base)) == NULL) {
		fprintf(stderr, "http-libevent: cannot set up libevent\n");
		return 1;
	}
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(http, on_request, NULL);
	if (evhttp_bind_socket(http, host, (ev_uint16_t)port) != 0) {
		fprintf(stderr, "http-libevent: cannot listen on %s:%ld\n",
		    host, port);
		return 1;
	}
	sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	sigint = evsignal_new(base, SIGINT, on_signal, base);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	event_base_dispatch(base);
	event_free(sigterm);
	event_free(sigint);
	evhttp_free(http);
	event_base_free(base);
	if (!use_hello)
		free(body);
	return 0;
}
