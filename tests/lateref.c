/*
 * lateref.c - the release of an S_send_ref from another thread whose
 * message reaches its session after the session closed runs, once, on the
 * session's worker, after its TYP_TERM (hsvr.h, S_send_ref).
 *
 * t-srv-ioc-hooks (the tests' build of the library), two workers fed in
 * turn by the accept thread, -T 0, HSVR_TEST_DELAY_SEND_US=1000000: a
 * send from another thread sleeps a second between being accepted and
 * being posted to the session's worker.  Each round, sessions A and B on
 * the two workers:
 *  - A makes one S_send_ref of 1000 bytes to B (ZLATE); once the server
 *    says the call is under way (ZLATE-GO), B's client resets B, so B
 *    closes (TYP_TERM) while the send, already accepted, is asleep;
 *  - the send returns 0 (the library kept the reference), and its
 *    message then finds B closed.
 * Then: every kept reference was released exactly once (none twice, none
 * missing), after B's TYP_TERM (each, unless the machine was so loaded
 * that a reset took the server more than the second) and on B's worker,
 * discarded_octet went up by the 1000 bytes of each, and the server exits 0 with one
 * TYP_TERM per session.  The deterministic form of what t-closerace sees
 * by chance in its reset rounds.
 */
#include "client.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ROUNDS 4
#define TRIES 12
#define LEN 1000

static char line[4096];
static int port;
static struct srv sv;

static struct conn *
dial(void)
{
	struct conn *c = conn_tcp("127.0.0.1", port, 10);

	if (c == NULL || conn_cmd(c, line, sizeof line, "PING") != 0) {
		srv_dump(&sv);
		t_bail("cannot connect to port %d", port);
	}
	return c;
}

int
main(int argc, char **argv)
{
	struct conn *q, *a, *b;
	struct linger lg = { 1, 0 };
	long long before, after, kept, after_term, wa;
	int r, tries, go = 0, done_ok;

	t_init(argc, argv);
	port = srv_start_delayed(&sv, "1000000");
	q = dial();
	if (conn_cmd(q, line, sizeof line, "STATS") != 0)
		t_bail("no STATS");
	before = t_num(line, "discarded_octet", -1);
	for (r = 0, tries = 0; r < ROUNDS && tries < TRIES; tries++) {
		a = dial();
		b = dial();
		wa = srv_thread_of(&sv, conn_port(a));
		if (wa == srv_thread_of(&sv, conn_port(b)) || wa < 0) {
			t_note("A and B on one worker (%lld): again", wa);
			conn_close(a);
			conn_close(b);
			continue;
		}
		conn_sendf(a, "ZLATE 127.0.0.1 %d %d\n", conn_port(b), LEN);
		if (srv_wait_out(&sv, "ZLATE-GO", ++go, 10) != 0)
			t_bail("round %d: no ZLATE-GO", r);
		setsockopt(b->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		conn_close(b);
		if (conn_line(a, line, sizeof line, 10) != 0)
			t_bail("round %d: A did not answer", r);
		t_ok(strcmp(line, "ZLATE rc=0") == 0, "round %d: the "
		    "S_send_ref from A's worker to B was accepted (%s)", r,
		    line);
		conn_close(a);
		r++;
	}
	t_ok(r == ROUNDS, "%d rounds with A and B on different workers (%d "
	    "tries)", r, tries);
	if (conn_cmd(q, line, sizeof line, "ZLATEC") != 0)
		t_bail("no ZLATEC");
	kept = t_num(line, "kept", -1);
	done_ok = conn_cmd_until(q, line, sizeof line, "ZLATEC", "released",
	    kept, 0.02);
	t_ok(kept == r && done_ok, "every reference kept was released (%s)",
	    line);
	t_ok(t_num(line, "twice", -1) == 0, "none was released twice");
	after_term = t_num(line, "after_term", -1);
	/* A round whose reset the server saw only after the second
	 * (a loaded machine) is a send that reached B open: released with
	 * its output instead, still once. */
	t_ok(after_term >= 1, "releases that ran after their session's "
	    "TYP_TERM, the message finding the session closed: %lld of %lld",
	    after_term, kept);
	t_ok(t_num(line, "on_owner", -1) == t_num(line, "released", -2),
	    "each ran on the closed session's worker (%lld of %lld)",
	    t_num(line, "on_owner", -1), t_num(line, "released", -2));
	if (conn_cmd(q, line, sizeof line, "STATS") != 0)
		t_bail("no STATS");
	after = t_num(line, "discarded_octet", -1);
	if (after_term == kept)
		t_ok(after - before == kept * LEN, "discarded_octet went up by "
		    "the %d bytes of each (%lld -> %lld)", LEN, before, after);
	else
		t_ok(after - before >= after_term * LEN, "discarded_octet went "
		    "up by at least the %d bytes of each that found its session "
		    "closed (%lld -> %lld)", LEN, before, after);
	conn_close(q);
	srv_end(&sv, t_secs(20), T_ALL_CLOSED, "server");
	return t_done();
}
