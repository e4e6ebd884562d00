/*
 * burst.c - several sends from another thread in a row, before the
 * session's worker runs: every byte arrives, in order.
 *
 * IoC server, two workers fed in turn by the accept thread, -T 0.
 * Sessions A and B on the two workers.  Each round B's client sends HOLD,
 * which blocks B's worker inside its callback; once the server says so,
 * A's client sends BURST: A's worker makes k sends of n bytes in a row to
 * B (S_send, S_send_ref, S_send_file, or the three in turn), all queued
 * in B's worker's inbox before it runs again, then lets B's callback
 * return.  B's client gets "HELD burst=1", then exactly the k * n pattern
 * bytes: a message lost, repeated or reordered between the threads shows
 * as a mismatch or a short read.  The same bursts again without HOLD (B's
 * worker free to run while they come).  Afterwards every S_send_ref and
 * S_send_file was released, the server exits 0, and each session's
 * counters equal what the application sent.
 */
#include "client.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POOL 6

static char line[4096];
static int port;
static struct srv sv;

static const struct {
	size_t k, n;
	const char *how;
} bursts[] = {
	{ 2, 1, "copy" },
	{ 3, 100, "ref" },
	{ 4, 1000, "file" },
	{ 8, 1000, "mix" },
	{ 16, 4096, "mix" },
	{ 33, 1500, "mix" },
	{ 64, 100, "mix" },
	{ 15, 60000, "mix" },
};
#define NBURSTS (sizeof bursts / sizeof bursts[0])

/* One burst from a to b: 1 if b got exactly its bytes. */
static int
burst(struct conn *a, struct conn *b, int pb, size_t i, int hold, int *nhold)
{
	const char *why = "";
	size_t want = bursts[i].k * bursts[i].n, got;

	if (hold) {
		conn_sendf(b, "HOLD\n");
		if (srv_wait_out(&sv, "HOLD id=", ++*nhold, 10) != 0) {
			t_note("no HOLD");
			return 0;
		}
	}
	if (conn_cmd(a, line, sizeof line, "BURST 127.0.0.1 %d %zu %zu %s",
	    pb, bursts[i].k, bursts[i].n, bursts[i].how) != 0 ||
	    t_num(line, "sent", -1) != (long long)bursts[i].k ||
	    t_num(line, "rc", -1) != 0) {
		t_note("BURST answered '%s'", line);
		return 0;
	}
	if (hold && (conn_line(b, line, sizeof line, 10) != 0 ||
	    strcmp(line, "HELD burst=1") != 0)) {
		t_note("B's HOLD answered '%s'", line);
		return 0;
	}
	got = conn_read_pattern(b, 0, want, 5, &why);
	if (got != want)
		t_note("%zu x %zu bytes (%s): %zu arrived in order, then %s",
		    bursts[i].k, bursts[i].n, bursts[i].how, got, why);
	return got == want;
}

int
main(int argc, char **argv)
{
	struct conn *pool[POOL], *a = NULL, *b = NULL, *q;
	size_t i;
	int j = 0, hold, ok, nhold = 0;

	t_init(argc, argv);
	port = srv_start_ioc(&sv, "t-srv-ioc", "-i", "127.0.0.1", "-n", "2",
	    "--accept-thread", "-T", "0", NULL);
	/* A and B: the first two of the pool on different workers. */
	for (j = 0; j < POOL; j++) {
		if ((pool[j] = conn_tcp("127.0.0.1", port, 20)) == NULL ||
		    conn_cmd(pool[j], line, sizeof line, "PING") != 0) {
			srv_dump(&sv);
			t_bail("cannot connect");
		}
		if (a == NULL)
			a = pool[j];
		else if (b == NULL && srv_thread_of(&sv, conn_port(pool[j])) !=
		    srv_thread_of(&sv, conn_port(a)))
			b = pool[j];
	}
	if (a == NULL || b == NULL || srv_thread_of(&sv, conn_port(a)) < 0) {
		srv_dump(&sv);
		t_bail("no two sessions on different workers");
	}
	for (hold = 1; hold >= 0; hold--) {
		ok = 0;
		for (i = 0; i < NBURSTS; i++) {
			if (!burst(a, b, conn_port(b), i, hold, &nhold))
				break;
			ok++;
		}
		t_ok(ok == (int)NBURSTS, "%s: each burst of sends from A's "
		    "worker reached B whole and in order (%d of %zu; up to %zu "
		    "in a row)", hold ? "B's worker held until all were queued" :
		    "B's worker running", ok, NBURSTS, (size_t)64);
	}
	t_ok(conn_quiet(b, 0.2), "and nothing more");
	q = pool[0] == b ? pool[1] : pool[0];
	if (conn_cmd(q, line, sizeof line, "ZC") == 0)
		t_ok(t_num(line, "kept", -1) > 0 &&
		    t_num(line, "kept", -1) == t_num(line, "released", -2),
		    "every S_send_ref and S_send_file was released (%s)", line);
	for (j = 0; j < POOL; j++)
		conn_close(pool[j]);
	srv_wait_out(&sv, "TERM id=", POOL, 10);
	srv_end(&sv, t_secs(20), T_ALL_CLOSED | T_TX_EXACT, "server");
	return t_done();
}
