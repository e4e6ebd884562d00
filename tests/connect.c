/*
 * connect.c - outbound sessions (S_connect) on t-srv-connect
 * (tests/srv-connect.c), two workers, with backends of this program's own
 * on 127.0.0.1:
 *  - DIAL with a request sent before TYP_ACCEPT: the backend gets it
 *    first; "UP" comes from the client's own worker thread (same=1); the
 *    relay carries lines both ways; the backend's end closes the client;
 *  - half-close passed through (S_halfclose, S_shutdown): the client ends
 *    its side, the backend sees the end after the last bytes and still
 *    answers, then ends its side, which the client sees;
 *  - 8 MB relayed from a client to a backend that reads late and slowly,
 *    byte for byte (S_send -4, S_pause_read, TYP_SENDABLE), then 8 MB back;
 *  - "localhost" is resolved on the worker without blocking it
 *    (libevent's evdns reads /etc/hosts), then connected;
 *  - refused, and a backend that never answers the SYN (its accept queue
 *    full): TYP_TERM alone, once, with S_connect_error's reason ("refused",
 *    "timed out after 2 s"), and the client session goes on;
 *  - S_close right after the request: the request is written once the
 *    connection is made, then the backend sees the end; S_close before
 *    the connection is made with nothing queued: "closed before it was
 *    established";
 *  - S_STATS counts outbound sessions apart: outbound_counter,
 *    outbound_error, outbound_gauge; accept_counter counts the clients;
 *  - SIGTERM while a connection is being made: the server exits 0 at
 *    once (that session ends with its reason), no VIOLATION, and in the
 *    ASan build no leak.
 *
 * Shown to fail: with the data queued before TYP_ACCEPT not written by
 * outbound_accepted, the first backend never reads "hello" (and every
 * relay after fails); with finish_as delivering TYP_TERM only to accepted
 * sessions, no DOWN ever comes (checks 10 to 14 fail).
 */
#include "client.h"
#include "pattern.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#define BIG (8u * 1024 * 1024)

static char line[1024];

/* A listening socket on 127.0.0.1 with backlog: its port in *port. */
static int
backend_listen(int backlog, int *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		t_bail("socket: %s", strerror(errno));
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
	    listen(fd, backlog) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) != 0)
		t_bail("backend: %s", strerror(errno));
	*port = ntohs(sin.sin_port);
	return fd;
}

/* The next connection to the listening socket lfd, within 10 s. */
static struct conn *
backend_accept(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN, .revents = 0 };
	int fd;

	if (poll(&p, 1, (int)(t_secs(10) * 1000)) != 1 ||
	    (fd = accept(lfd, NULL, NULL)) < 0)
		return NULL;
	return conn_adopt(fd);
}

/* Its next line begins with prefix (kept in line). */
static int
next_has(struct conn *c, const char *prefix)
{
	return conn_line_has(c, line, sizeof line, prefix, 15);
}

struct pump {
	struct conn *c;
	size_t n;
	int rc;
};

/* Sends n bytes of the pattern on c, from a thread of its own. */
static void *
pump_run(void *arg)
{
	struct pump *pu = arg;
	unsigned char buf[65536];
	size_t off = 0, k;

	while (off < pu->n) {
		k = pu->n - off < sizeof buf ? pu->n - off : sizeof buf;
		pat_fill(buf, off, k);
		if (conn_send(pu->c, buf, k) != 0) {
			pu->rc = -1;
			return NULL;
		}
		off += k;
	}
	return NULL;
}

/* BIG bytes from `from` to `to`, read late (after a pause) and checked. */
static int
relay_big(struct conn *from, struct conn *to, const char *what)
{
	struct pump pu = { from, BIG, 0 };
	pthread_t th;
	const char *why = "";
	size_t got;

	if (pthread_create(&th, NULL, pump_run, &pu) != 0)
		t_bail("pthread_create");
	t_pause(0.5);   /* pacing: let the relay fill up and push back */
	got = conn_read_pattern(to, 0, BIG, 30, &why);
	pthread_join(th, NULL);
	return t_ok(got == BIG && pu.rc == 0, "%s: %u bytes relayed byte for "
	    "byte under back-pressure (%zu arrived%s%s)", what, BIG, got,
	    *why ? ", " : "", why);
}

static void
outbound(void)
{
	struct srv sv;
	struct conn *c, *b, *fill[2];
	int lfd, port, hole, hport, holeport, refused, up = 0, down = 0, ok;
	char tmo[16];
	double t0;
	char *out;

	(void)snprintf(tmo, sizeof tmo, "%d", (int)t_secs(2));
	port = srv_start_ioc(&sv, "t-srv-connect", "-i", "127.0.0.1", "-n",
	    "2", "--accept-thread", "-T", "0", "--connect-timeout", tmo,
	    "--write-timeout", "30",
	    NULL);
	if (srv_wait_out(&sv, "INIT", 1, 10) != 0) {
		srv_dump(&sv);
		t_bail("t-srv-connect did not start");
	}
	lfd = backend_listen(16, &hport);

	/* A request queued before the connection is made, then a relay. */
	c = srv_connect(&sv, "127.0.0.1", port);
	conn_sendf(c, "DIAL 127.0.0.1 %d 0 hello\n", hport);
	b = backend_accept(lfd);
	t_ok(b != NULL && conn_line(b, line, sizeof line, 10) == 0 &&
	    strcmp(line, "hello") == 0, "the backend gets the request sent "
	    "before TYP_ACCEPT");
	if (b == NULL)
		t_bail("no connection reached the backend");
	t_ok(next_has(c, "UP ") && t_num(line, "same", 0) == 1,
	    "TYP_ACCEPT of the outbound session runs on the client's worker "
	    "thread (%s)", line);
	up++;
	conn_sendf(c, "ping\n");
	t_ok(conn_line(b, line, sizeof line, 10) == 0 &&
	    strcmp(line, "ping") == 0, "client to backend");
	conn_sendf(b, "pong\n");
	t_ok(conn_line(c, line, sizeof line, 10) == 0 &&
	    strcmp(line, "pong") == 0, "backend to client");
	relay_big(c, b, "client to a slow backend");
	relay_big(b, c, "backend to a slow client");
	conn_close(b);
	t_ok(conn_wait_eof(c, 10) == 1, "the backend's end closes the client");
	conn_close(c);

	/* Half-close passed through: each side's end, in turn. */
	c = srv_connect(&sv, "127.0.0.1", port);
	conn_sendf(c, "DIAL 127.0.0.1 %d 0 request\n", hport);
	b = backend_accept(lfd);
	if (b == NULL)
		t_bail("no connection reached the backend");
	t_ok(conn_line(b, line, sizeof line, 10) == 0 && next_has(c, "UP "),
	    "half-close: up");
	up++;
	conn_sendf(c, "more\n");
	(void)shutdown(c->fd, SHUT_WR);
	t_ok(conn_line(b, line, sizeof line, 10) == 0 &&
	    strcmp(line, "more") == 0 && conn_wait_eof(b, 10) == 1,
	    "the client's end reaches the backend after its last bytes "
	    "(S_halfclose, S_shutdown)");
	conn_sendf(b, "the answer\n");
	t_ok(conn_line(c, line, sizeof line, 10) == 0 &&
	    strcmp(line, "the answer") == 0, "the backend still answers the "
	    "client that ended its side");
	conn_close(b);
	t_ok(conn_wait_eof(c, 10) == 1, "then the backend's end reaches the "
	    "client");
	conn_close(c);

	/* A name, resolved on the worker; its addresses tried in turn. */
	c = srv_connect(&sv, "127.0.0.1", port);
	conn_sendf(c, "DIAL localhost %d 0 byname\n", hport);
	b = backend_accept(lfd);
	t_ok(b != NULL && conn_line(b, line, sizeof line, 10) == 0 &&
	    strcmp(line, "byname") == 0 && next_has(c, "UP ") &&
	    strstr(line, "host=127.0.0.1 ") != NULL, "\"localhost\" is "
	    "resolved and connected (%s)", line);
	up++;
	if (b != NULL)
		conn_close(b);
	t_ok(conn_wait_eof(c, 10) == 1, "and its end closes the client");
	conn_close(c);

	/* Refused, then a backend that never answers, on one client. */
	refused = t_free_port();
	hole = backend_listen(0, &holeport);
	fill[0] = conn_tcp_once("127.0.0.1", holeport, 0);
	fill[1] = conn_tcp_once("127.0.0.1", holeport, 0);
	c = srv_connect(&sv, "127.0.0.1", port);
	conn_sendf(c, "DIAL 127.0.0.1 %d 0 lost\n", refused);
	t_ok(next_has(c, "DOWN why=") && strstr(line, "refused") != NULL,
	    "a refused connection: TYP_TERM alone, with the reason (%s)", line);
	down++;
	t0 = t_now();
	conn_sendf(c, "DIAL 127.0.0.1 %d 0 lost\n", holeport);
	ok = next_has(c, "DOWN why=timed out after ");
	t0 = t_now() - t0;
	t_ok(ok && t0 >= atoi(tmo) - 0.5, "a backend that never answers: "
	    "\"%s\" after %.1f s", line, t0);
	down++;
	/* S_close with nothing queued, before the connection is made. */
	conn_sendf(c, "DIAL 127.0.0.1 %d 4\n", holeport);
	t_ok(next_has(c, "DOWN why=closed before it was established"),
	    "S_close before the connection is made ends it at once (%s)",
	    line);
	down++;
	conn_sendf(c, "STATS\n");
	t_ok(next_has(c, "STATS ") && t_num(line, "outbound_counter", -1) ==
	    up && t_num(line, "outbound_error", -1) == down &&
	    t_num(line, "outbound_gauge", -1) == 0 &&
	    t_num(line, "accept_counter", -1) == 4 &&
	    t_num(line, "session_gauge", -1) == 1, "S_STATS counts outbound "
	    "sessions apart (%s)", line);

	/* S_close right after a request: written once connected, then EOF. */
	conn_sendf(c, "DIAL 127.0.0.1 %d 4 last words\n", hport);
	b = backend_accept(lfd);
	t_ok(b != NULL && conn_line(b, line, sizeof line, 10) == 0 &&
	    strcmp(line, "last words") == 0 && conn_wait_eof(b, 10) == 1,
	    "S_close right after S_send: the request is written once "
	    "connected, then the end");
	if (b != NULL)
		conn_close(b);
	t_ok(next_has(c, "UP ") && conn_wait_eof(c, 10) == 1,
	    "and the client, told UP, is closed after it");
	conn_close(c);

	/* SIGTERM while a connection is being made. */
	c = srv_connect(&sv, "127.0.0.1", port);
	conn_sendf(c, "DIAL 127.0.0.1 %d 0\n", holeport);
	t_pause(0.2);   /* pacing: the DIAL is read before the SIGTERM */
	t0 = t_now();
	srv_end(&sv, 20, 0, "t-srv-connect, stopped while connecting");
	t0 = t_now() - t0;
	out = srv_out(&sv);
	t_ok(t_count(out, "why=closed before it was established") == 2 &&
	    t_count(out, "OUTTERM ") == 8 && t_count(out, "up=1") == 4,
	    "every outbound session ended once, each with its reason "
	    "(%d OUTTERM lines)", t_count(out, "OUTTERM "));
	t_ok(t0 < atoi(tmo), "the drain did not wait for the connection "
	    "(%.1f s)", t0);
	free(out);
	conn_close(c);
	conn_close(fill[0]);
	conn_close(fill[1]);
	close(hole);
	close(lfd);
}

T_MAIN(outbound)
