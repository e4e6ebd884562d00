/*
 * closerace.c - a send from another worker racing the owner's S_close
 * (issue #12, defect 4): the closing session must end once its output is
 * written, whatever order the send and the close reach its worker in.
 *
 * t-srv-ioc-hooks (the test server on the tests' build of the library),
 * two workers fed in turn by the accept thread, -T 0 (no idle timeout to
 * end a stuck close), HSVR_TEST_DELAY_SEND_US: a cross-thread send sleeps
 * between counting its bytes and posting them, so the owner's S_close
 * falls in between.  Rounds of two fresh sessions A and B (on the two
 * workers): A is asked to send to B (S_send, or S_send_ref of 1000
 * bytes) while B's client asks B's owner to close (QUIT), or resets B.
 *  - every closed B sees its end, with the bytes A's send was accepted
 *    for, within a bounded wait;
 *  - afterwards no session is left (session_gauge 1, the asking one);
 *  - every S_send_ref the server kept was released, also those that
 *    reached B only after it had closed (reset rounds: some did, as
 *    discarded_octet says);
 *  - the server exits 0 on SIGTERM, one TYP_TERM per session.
 */
#include "client.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ROUNDS 90
#define MAX_STUCK 3

static char line[4096];
static int port;

static struct conn *
dial(void)
{
	struct conn *c = conn_tcp("127.0.0.1", port, 10);

	if (c == NULL)
		t_bail("cannot connect to port %d", port);
	return c;
}

/* Bytes until the end: their count, or -1 if no end came in time. */
static long
drain(struct conn *c, double secs)
{
	unsigned char buf[4096];
	double end = t_now() + t_secs(secs);
	long total = 0;
	ssize_t n;

	while (t_now() < end) {
		n = conn_read(c, buf, sizeof buf, end - t_now());
		if (n == 0)
			return total;
		if (n < 0)
			return errno == ETIMEDOUT ? -1 : total;
		total += n;
	}
	return -1;
}

int
main(int argc, char **argv)
{
	struct srv sv;
	struct conn *a, *b, *q;
	struct linger lg = { 1, 0 };
	long got, want;
	int r, kind, rc;
	int stuck = 0, short_of = 0, accepted = 0, rounds = 0;
	int released_all, gauge_ok;

	t_init(argc, argv);
	port = srv_start_delayed(&sv, "20000");
	q = dial();
	/* q took one worker: A and B of each round take one each. */
	for (r = 0; r < ROUNDS && stuck < MAX_STUCK; r++) {
		kind = r % 3;
		a = dial();
		b = dial();
		/* Both accepted (their PONGs) before B is looked up. */
		if (conn_cmd(a, line, sizeof line, "PING") != 0 ||
		    conn_cmd(b, line, sizeof line, "PING") != 0)
			t_bail("round %d: no PONG", r);
		if (kind == 0)
			conn_sendf(a, "SENDTO 127.0.0.1 %d hi\n", conn_port(b));
		else
			conn_sendf(a, "ZTO 127.0.0.1 %d ref 1000\n",
			    conn_port(b));
		if (kind == 2) {
			setsockopt(b->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
			conn_close(b);
			b = NULL;
		} else {
			conn_sendf(b, "QUIT\n");
		}
		if (conn_line(a, line, sizeof line, 10) != 0)
			t_bail("round %d: A did not answer", r);
		rc = (int)t_num(line, "rc", -9);
		accepted += rc == 0;
		rounds++;
		if (b != NULL) {
			got = drain(b, 5);
			want = 4 + (rc == 0 ? (kind == 0 ? 3 : 1000) : 0);
			if (got < 0) {
				stuck++;
				t_note("round %d: B (port %d) still open after "
				    "A's '%s'", r, conn_port(b), line);
			} else if (got != want) {
				short_of++;
				t_note("round %d: B got %ld bytes, not %ld (%s)",
				    r, got, want, line);
			}
			conn_close(b);
		}
		conn_close(a);
	}
	t_ok(stuck == 0, "every session closed by its owner while a send "
	    "from another worker was on its way ended (%d of %d rounds "
	    "stuck; %d sends accepted)", stuck, rounds, accepted);
	t_ok(short_of == 0, "each got what the send was accepted for, then "
	    "its end (%d short)", short_of);
	gauge_ok = conn_cmd_until(q, line, sizeof line, "STATS",
	    "session_gauge", 1, 0.05);
	t_ok(gauge_ok, "no session left but the asking one (%.80s)", line);
	(void)conn_cmd(q, line, sizeof line, "STATS");
	t_note("%.300s", line);
	/* A reset round's 1000 bytes reached B after it had closed. */
	t_ok(t_num(line, "discarded_octet", 0) >= 1000, "sends from another "
	    "worker reached sessions already closed (discarded_octet=%lld)",
	    t_num(line, "discarded_octet", 0));
	released_all = 0;
	if (conn_cmd(q, line, sizeof line, "ZC") == 0)
		released_all = conn_cmd_until(q, line, sizeof line, "ZC",
		    "released", t_num(line, "kept", -1), 0.05);
	t_ok(released_all, "every S_send_ref kept was released, also those "
	    "that found their session closed (%s)", line);
	conn_close(q);
	srv_end(&sv, t_secs(20), T_ALL_CLOSED, "server");
	return t_done();
}
