/*
 * cork.c - the sends of one callback leave together, and a lone reply at
 * once (lib/session.c, "one callback's output").
 *
 * t-srv-cork, one worker, over TCP on 127.0.0.1.  What is counted, not
 * timed: the data segments the client's socket received (TCP_INFO
 * tcpi_data_segs_in) for each whole reply, and the server's own count of
 * bytes written but not sent (SIOCOUTQNSD) on a session's socket.
 *  - FILE 1000: a head by S_send, then 1,000 bytes by S_send_file, as
 *    hsvr-http answers: once the worker has seen that its callbacks send
 *    more than once, every such reply arrives in one segment (the head
 *    rides the file's first one: MSG_MORE), where writing the head at once
 *    makes two;
 *  - TWO: two S_send of one callback arrive in one segment;
 *  - SMALL: one S_send and nothing after it.  The reply must have left by
 *    the end of its callback: asked over a second connection (which the
 *    one worker serves after that callback), the server finds no unsent
 *    byte on the first one's socket.  A reply held back for a write that
 *    never comes (MSG_MORE with nothing after it) would wait there for the
 *    kernel's 200 ms probe.
 *  - FILE 300000: a file range that sendfile hands over in batches goes
 *    corked (TCP_CORK, asked by the server inside the callback; without it
 *    each batch's partial last segment leaves alone when an ACK comes
 *    between two batches), and the callback's return takes the cork off
 *    (asked over the second connection): a cork left on would hold the
 *    reply's last partial segment up to 200 ms.  A 1,000-byte range is
 *    not corked (MSG_MORE suffices: no system call more).
 *  - FILECLOSE 300000: the same with S_close in the callback, which keeps
 *    the cork (the close sends the rest): the whole reply and the end of
 *    file arrive.
 */
#include "client.h"

#include <netinet/in.h>
#include <stddef.h>
#include <linux/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define ROUNDS 8

static char line[4096];
static unsigned char body[65536];

/* Data segments received so far on c's socket, or -1. */
static long long
segs_in(struct conn *c)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;

	memset(&ti, 0, sizeof ti);
	if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
	    len < offsetof(struct tcp_info, tcpi_data_segs_in) +
	    sizeof ti.tcpi_data_segs_in)
		return -1;
	return ti.tcpi_data_segs_in;
}

/* n bytes of 'x' on c: 1 if they all came. */
static int
read_body(struct conn *c, size_t n)
{
	size_t got = 0, i;
	ssize_t r;

	while (got < n) {
		r = conn_read(c, body, n - got < sizeof body ? n - got :
		    sizeof body, 10);
		if (r <= 0)
			return 0;
		for (i = 0; i < (size_t)r; i++)
			if (body[i] != 'x')
				return 0;
		got += (size_t)r;
	}
	return 1;
}

/* FILE n on c, read whole: the data segments it took, or -1. */
static long long
file_reply(struct conn *c, size_t n)
{
	long long before = segs_in(c);
	char want[64];

	snprintf(want, sizeof want, "HEAD %zu", n);
	if (before < 0 || conn_cmd(c, line, sizeof line, "FILE %zu", n) != 0 ||
	    strcmp(line, want) != 0 || !read_body(c, n))
		return -1;
	return segs_in(c) - before;
}

static void
cork(void)
{
	struct srv sv;
	struct conn *a, *b, *c;
	long long segs, worst = 0;
	char cmd[64];
	int port, i, together = 0, small_ok = 0;

	port = srv_start_ioc(&sv, "t-srv-cork", "-i", "127.0.0.1", "-n", "1",
	    NULL);
	a = srv_connect(&sv, "127.0.0.1", port);
	b = srv_connect(&sv, "127.0.0.1", port);
	t_ok(segs_in(a) == 0, "TCP_INFO counts the data segments received "
	    "(%lld so far)", segs_in(a));

	/* The first reply of two sends teaches the worker to stage. */
	t_ok(file_reply(a, 1000) > 0, "FILE 1000: head and body arrive");
	for (i = 0; i < ROUNDS; i++) {
		segs = file_reply(a, 1000);
		if (segs == 1)
			together++;
		else if (segs > worst || segs < 0)
			worst = segs;
	}
	t_ok(together == ROUNDS, "a head by S_send and 1,000 bytes by "
	    "S_send_file in one callback arrive in one segment: %d of %d "
	    "replies (else %lld segments)", together, ROUNDS, worst);

	segs = segs_in(a);
	if (conn_cmd(a, line, sizeof line, "TWO") != 0 ||
	    strcmp(line, "ONE") != 0 || conn_line(a, line, sizeof line, 10) !=
	    0 || strcmp(line, "TWO") != 0)
		segs = -1;
	else
		segs = segs_in(a) - segs;
	t_ok(segs == 1, "two S_send of one callback arrive in one segment "
	    "(%lld)", segs);

	/* A lone reply: on its way once its callback has returned. */
	for (i = 1; i <= ROUNDS; i++) {
		if (conn_send(a, "SMALL\n", 6) != 0)
			break;
		/* Until the worker has answered it (b may come first). */
		snprintf(cmd, sizeof cmd, "UNSENT %d", conn_port(a));
		if (conn_cmd_until(b, line, sizeof line, cmd, "small", i,
		    0.001) != 1 || t_num(line, "n", -1) != 0) {
			t_note("SMALL %d: %s", i, line);
			break;
		}
		if (conn_line(a, line, sizeof line, 10) != 0 ||
		    strcmp(line, "SMALL") != 0)
			break;
		small_ok++;
	}
	t_ok(small_ok == ROUNDS, "a lone S_send has left its socket when its "
	    "callback returns, and arrives: %d of %d", small_ok, ROUNDS);

	/* Short file ranges (the FILE 1000 above) go uncorked. */
	snprintf(cmd, sizeof cmd, "CORKED %d", conn_port(a));
	if (conn_cmd(b, line, sizeof line, "%s", cmd) != 0)
		line[0] = '\0';
	t_ok(t_num(line, "in_cb", -1) == 0, "a head and 1,000 bytes of a file "
	    "are sent without TCP_CORK: %s", line);

	/* A long one: corked in the callback, uncorked by its return. */
	t_ok(file_reply(a, 300000) > 0, "FILE 300000: head and body arrive");
	if (conn_cmd_until(b, line, sizeof line, cmd, "files", ROUNDS + 2,
	    0.001) != 1)
		line[0] = '\0';
	t_ok(t_num(line, "in_cb", -1) == 1, "a head and 300,000 bytes of a "
	    "file are sent corked: %s", line);
	t_ok(t_num(line, "now", -1) == 0, "the cork is off once the "
	    "callback has returned (the session stays open): %s", line);

	c = srv_connect(&sv, "127.0.0.1", port);
	if (conn_cmd(c, line, sizeof line, "FILECLOSE 300000") != 0)
		line[0] = '\0';
	t_ok(strcmp(line, "HEAD 300000") == 0 && read_body(c, 300000) &&
	    conn_wait_eof(c, 10) == 1, "S_close after a corked file range: "
	    "the whole reply, then the end of file, arrive");
	conn_close(c);

	conn_close(a);
	conn_close(b);
	srv_end(&sv, 20, 0, "t-srv-cork");
}

int
main(int argc, char **argv)
{
	t_init(argc, argv);
	cork();
	return t_done();
}
