/*
 * linger.c - S_linger: after S_linger(s, 0) a close lingers only for input
 * left unread, no longer for a reply merely unacknowledged; by default it
 * lingers for both.
 *
 * t-srv-linger (S_start, 2 workers) serves at most 2 connections at once
 * (-m 2): a control connection B, and A, whose close is under test.  A
 * lingering close still counts against that limit (lib/linger.c), so
 * whether a third connection C is served tells whether A's socket is
 * closed or lingering; HSVR_TEST_LINGER_MS (10 minutes) holds a linger as
 * long as the test needs.  A has a small receive buffer and does not read
 * until asked: the 2,000,000-byte reply B's CLOSE command sends it (from
 * B's worker: S_send, S_linger, S_close) is still unsent when the session
 * closes.
 *  - quiet: S_linger(A, 0), nothing unread: A's socket is closed at once
 *    (C is served while A has read nothing), and A still gets the whole
 *    reply, then EOF;
 *  - pending: S_linger(A, 0), but A had paused its reading (S_pause_read)
 *    and sent 4 KB the server never read: the close lingers (C refused),
 *    A gets the whole reply and EOF, no reset; once A closes, C is served;
 *  - default: no S_linger, nothing unread: the close lingers for the
 *    unacknowledged reply (C refused), A gets it whole, then EOF; once A
 *    closes, C is served.
 * How each was shown to fail: S_linger made a no-op (quiet: C refused);
 * linger.c closing at once after S_linger(s, 0) whatever is unread
 * (pending: A reset, its reply cut); linger.c no longer lingering for
 * unacknowledged output by default (default: C served).
 */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLY 2000000

static struct srv sv;
static int port;
static char line[256];

static void
start(void)
{
	char p[16];

	port = t_free_port();
	(void)snprintf(p, sizeof p, "%d", port);
	setenv("HSVR_TEST_LINGER_MS", "600000", 1);
	if (srv_start(&sv, "t-srv-linger", (const char *const[]){ p, "2",
	    NULL }) != 0)
		t_bail("cannot start t-srv-linger");
	unsetenv("HSVR_TEST_LINGER_MS");
}

/* A third connection is served (PING answered) at once: 1, else 0. */
static int
served(void)
{
	struct conn *c = conn_tcp_once("127.0.0.1", port, 0);
	int ok;

	if (c == NULL)
		return 0;
	ok = conn_cmd(c, line, sizeof line, "PING") == 0 &&
	    strcmp(line, "PONG") == 0;
	conn_close(c);
	return ok;
}

/* served() within secs (a closed socket is uncounted right after its
 * TYP_TERM, not before): 1, else 0. */
static int
served_within(double secs)
{
	double end = t_now() + t_secs(secs);

	do {
		if (served())
			return 1;
		t_pause(0.05);
	} while (t_now() < end);
	return 0;
}

/* B, then A (receive buffer 16 KB), each answering PING. */
static void
connect_both(struct conn **b, struct conn **a)
{
	*b = conn_must(conn_tcp("127.0.0.1", port, 20), &sv);
	if (conn_cmd(*b, line, sizeof line, "PING") != 0)
		t_bail("B is not served");
	*a = conn_tcp_once("127.0.0.1", port, 16384);
	if (*a == NULL || conn_cmd(*a, line, sizeof line, "PING") != 0)
		t_bail("A is not served");
}

/* B makes the server send REPLY bytes to A and close it; A's TYP_TERM. */
static void
close_a(struct conn *b, struct conn *a, int quick)
{
	char term[32];

	t_ok(conn_cmd(b, line, sizeof line, "CLOSE %d %d %d", conn_port(a),
	    REPLY, quick) == 0 && strcmp(line, "CLOSE rc=0") == 0,
	    "S_send of %d bytes to A,%s S_close (%s)", REPLY,
	    quick ? " S_linger(A, 0)," : "", line);
	(void)snprintf(term, sizeof term, "TERM port=%d", conn_port(a));
	if (srv_wait_out(&sv, term, 1, 10) != 0)
		t_bail("A's session did not end");
}

/* A reads the whole reply, then the end: 1, else 0 (noted). */
static int
reply_whole(struct conn *a)
{
	const char *why;
	size_t got = conn_read_pattern(a, 0, REPLY, 30, &why);
	int eof = *why == '\0' ? conn_wait_eof(a, 10) : -1;

	t_note("A got %zu bytes (%s), then %s", got, *why ? why : "all",
	    eof == 1 ? "EOF" : eof == 2 ? "a reset" : "no end");
	return got == REPLY && eof == 1;
}

static void
quiet(void)
{
	struct conn *a, *b;

	start();
	connect_both(&b, &a);
	close_a(b, a, 1);
	t_ok(served_within(5), "S_linger(A, 0), nothing unread: A's socket "
	    "is closed at once, with the reply unacknowledged (a third "
	    "connection is served under -m 2)");
	t_ok(reply_whole(a), "A still gets the whole reply, then EOF");
	conn_close(a);
	conn_close(b);
	srv_stop(&sv, SIGTERM, 20);
}

static void
pending(void)
{
	static char junk[4096];
	struct conn *a, *b;

	start();
	connect_both(&b, &a);
	memset(junk, 'j', sizeof junk);
	if (conn_cmd(a, line, sizeof line, "PAUSE") != 0 ||
	    strcmp(line, "PAUSED") != 0 || conn_send(a, junk, sizeof junk))
		t_bail("A cannot pause");
	close_a(b, a, 1);
	t_ok(!served(), "S_linger(A, 0) with A's input unread: the close "
	    "lingers (a third connection is refused under -m 2)");
	t_ok(reply_whole(a), "A gets the whole reply, then EOF, no reset");
	conn_close(a);
	t_ok(served_within(10), "once A closes, the lingering socket is "
	    "closed (a third connection is served)");
	conn_close(b);
	srv_stop(&sv, SIGTERM, 20);
}

static void
dflt(void)
{
	struct conn *a, *b;

	start();
	connect_both(&b, &a);
	close_a(b, a, 0);
	t_ok(!served(), "by default, nothing unread but the reply "
	    "unacknowledged: the close lingers (a third connection is "
	    "refused under -m 2)");
	t_ok(reply_whole(a), "A gets the whole reply, then EOF");
	conn_close(a);
	t_ok(served_within(10), "once A closes, the lingering socket is "
	    "closed (a third connection is served)");
	conn_close(b);
	srv_stop(&sv, SIGTERM, 20);
}

T_MAIN(quiet, pending, dflt)
