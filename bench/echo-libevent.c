/*
 * echo-libevent.c - the raw libevent anchor: a single-threaded echo server
 * written the way the libevent book ("Programming with Libevent", chapter
 * "Connection listeners") writes it: an evconnlistener, one bufferevent per
 * connection, and a read callback that moves the input buffer to the
 * output buffer.
 *
 * Two departures from the book, both recorded in bench/RESULTS.md:
 *  - TCP_NODELAY is set on every accepted socket (without it, a reply of
 *    several segments waits ~40 ms for the peer's delayed ACK);
 *  - the listen backlog is 1024, as hsvr's default (-q), not libevent's 128.
 * The bufferevent's 4 KB-per-call reads and writes are libevent 2.1's
 * default; -r BYTES raises them with bufferevent_set_max_single_read/write
 * (not used by the suite's comparisons, which take the book's server as is).
 *
 *   echo-libevent -p PORT [-a ADDR] [-r BYTES]
 *
 * SIGTERM and SIGINT leave the loop and exit 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

static size_t max_single;

static void
echo_read_cb(struct bufferevent *bev, void *ctx)
{
	struct evbuffer *input = bufferevent_get_input(bev);
	struct evbuffer *output = bufferevent_get_output(bev);

	(void)ctx;
	/* Copy all the data from the input buffer to the output buffer. */
	evbuffer_add_buffer(output, input);
}

static void
echo_event_cb(struct bufferevent *bev, short events, void *ctx)
{
	(void)ctx;
	if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		bufferevent_free(bev);
}

static void
accept_conn_cb(struct evconnlistener *listener, evutil_socket_t fd,
    struct sockaddr *address, int socklen, void *ctx)
{
	struct event_base *base = evconnlistener_get_base(listener);
	struct bufferevent *bev;
	int on = 1;

	(void)address, (void)socklen, (void)ctx;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
	bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		evutil_closesocket(fd);
		return;
	}
	if (max_single > 0) {
		bufferevent_set_max_single_read(bev, max_single);
		bufferevent_set_max_single_write(bev, max_single);
	}
	bufferevent_setcb(bev, echo_read_cb, NULL, echo_event_cb, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void
accept_error_cb(struct evconnlistener *listener, void *ctx)
{
	(void)ctx;
	fprintf(stderr, "echo-libevent: accept: %s\n",
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	/* Out of descriptors: stop instead of spinning (a benchmark anchor). */
	event_base_loopexit(evconnlistener_get_base(listener), NULL);
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
	struct evconnlistener *listener;
	struct event *sigterm, *sigint;
	struct sockaddr_in sin;
	const char *host = "127.0.0.1";
	long port = 0;
	int ch;

	while ((ch = getopt(argc, argv, "a:p:r:")) != -1) {
		switch (ch) {
		case 'a': host = optarg; break;
		case 'p': port = atol(optarg); break;
		case 'r': max_single = (size_t)atol(optarg); break;
		default:
			fprintf(stderr, "usage: echo-libevent -p PORT [-a ADDR] "
			    "[-r BYTES]\n");
			return 64;
		}
	}
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (port < 1 || port > 65535 ||
	    inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		fprintf(stderr, "echo-libevent: need -p PORT and an IPv4 -a\n");
		return 64;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((base = event_base_new()) == NULL) {
		fprintf(stderr, "echo-libevent: cannot open an event base\n");
		return 1;
	}
	listener = evconnlistener_new_bind(base, accept_conn_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
	    (struct sockaddr *)&sin, sizeof sin);
	if (listener == NULL) {
		perror("echo-libevent: cannot listen");
		return 1;
	}
	evconnlistener_set_error_cb(listener, accept_error_cb);
	sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	sigint = evsignal_new(base, SIGINT, on_signal, base);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	event_base_dispatch(base);
	event_free(sigterm);
	event_free(sigint);
	evconnlistener_free(listener);
	event_base_free(base);
	return 0;
}
