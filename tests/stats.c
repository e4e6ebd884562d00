/*
 * stats.c - the statistics: S_stats snapshots during a run and the
 * name=value lines printed at SIGINT/SIGTERM, counted exactly.
 *
 * S_start server, 3 workers.  Clients 1-3 are open at once and send known
 * lines (each answered before the next, so each is one TYP_READ); client 1
 * also waits for one TYP_TIMEOUT.  Then clients 4-6 come and go one after
 * the other, and client 7 asks for S_stats.  Every byte and call is counted
 * by the test, and:
 *  - the snapshot says accept_counter=7, session_gauge=1, session_high=3,
 *    rxtimeout=1, thread_session[] sums to 7 spread round robin, and the
 *    byte and call counters are those of the finished sessions (plus client
 *    7's own so far, if live sessions are counted);
 *  - on SIGINT the server exits 0 and prints on stdout, in this order,
 *    session_gauge=0 session_high=3 accept_counter=7 session_error=0
 *    rxoctet rxcount txoctet txcount (exact) rxtimeout=1 discarded_*=0
 *    connect_error=0 and "thread N session=M" for N = 0, 1, 2;
 *  - SIGTERM with a client still connected also stops an S_start server.
 * IoC server (-n 2): the statistics go to stderr (not stdout), then
 * serv_exit runs.
 */
#include "client.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the test sent and received, as the server should count it. */
struct count {
	long long rxoctet, rxcount, txoctet, txcount;
};

static struct count done;       /* of closed sessions */
static char line[4096];

/* One request line and its one-line answer, counted into n. */
static int
cmd(struct conn *c, struct count *n, const char *req)
{
	if (conn_cmd(c, line, sizeof line, "%s", req) != 0)
		return -1;
	n->rxoctet += (long long)strlen(req) + 1;
	n->rxcount++;
	n->txoctet += (long long)strlen(line) + 1;
	n->txcount++;
	return 0;
}

static void
add(struct count *to, const struct count *n)
{
	to->rxoctet += n->rxoctet;
	to->rxcount += n->rxcount;
	to->txoctet += n->txoctet;
	to->txcount += n->txcount;
}

static int
either(long long got, long long a, long long b)
{
	return got == a || got == b;
}

static int
one_of(long long got, long long a, long long b, long long c)
{
	return got == a || got == b || got == c;
}

static void
lowlevel(void)
{
	struct srv sv;
	struct tstats st;
	struct count n1 = { 0 }, n2 = { 0 }, n3 = { 0 }, n7 = { 0 }, nb;
	struct conn *c1, *c2, *c3, *c, *c7;
	char *out;
	double end;
	int port, i, status;
	long long sum;

	port = srv_start_lowlevel(&sv, 0, "100", "3");
	c1 = srv_connect(&sv, "127.0.0.1", port);
	c2 = srv_connect(&sv, "::1", port);
	c3 = srv_connect(&sv, "127.0.0.1", port);
	cmd(c1, &n1, "PING one");
	cmd(c2, &n2, "PING two-two");
	cmd(c3, &n3, "PING three");
	cmd(c2, &n2, "PING 2b");
	cmd(c1, &n1, "TIMER 1");
	if (conn_line(c1, line, sizeof line, 10) != 0 ||
	    strcmp(line, "TIMEOUT 1") != 0)
		t_bail("no TYP_TIMEOUT for S_settimer(s, 1): '%s'", line);
	n1.txoctet += (long long)strlen(line) + 1;
	n1.txcount++;
	cmd(c1, &n1, "TIMER 0");
	add(&done, &n1);
	add(&done, &n2);
	add(&done, &n3);
	conn_close(c1);
	conn_close(c2);
	conn_close(c3);
	srv_wait_out(&sv, "TERM id=", 3, 10);

	for (i = 0; i < 3; i++) {
		memset(&nb, 0, sizeof nb);
		if ((c = conn_tcp(i == 1 ? "::1" : "127.0.0.1", port, 10)) == NULL)
			t_bail("cannot connect");
		cmd(c, &nb, i == 0 ? "PING four" : i == 1 ? "PING five!" :
		    "PING six six six");
		add(&done, &nb);
		conn_close(c);
		srv_wait_out(&sv, "TERM id=", 4 + i, 10);
	}

	/* The snapshot, once the server has closed clients 1-6. */
	if ((c7 = conn_tcp("127.0.0.1", port, 10)) == NULL)
		t_bail("cannot connect");
	end = t_now() + t_secs(10);
	do {
		cmd(c7, &n7, "STATS");
	} while (t_num(line, "session_gauge", -1) != 1 && t_now() < end);
	t_note("%s", line);
	t_ok(t_num(line, "rc", -1) == 0, "S_stats returns 0 while the server "
	    "runs");
	t_ok(t_num(line, "accept_counter", -1) == 7 &&
	    t_num(line, "session_gauge", -1) == 1 &&
	    t_num(line, "session_high", -1) == 3 &&
	    t_num(line, "session_error", -1) == 0, "snapshot: accept_counter=7 "
	    "session_gauge=1 session_high=3 session_error=0");
	t_ok(t_num(line, "rxtimeout", -1) == 1, "snapshot: rxtimeout=1");
	/* Client 7's own traffic counts only if live sessions count: then its
	 * last STATS line may or may not be in yet, its answer is not. */
	t_ok(one_of(t_num(line, "rxoctet", -1), done.rxoctet,
	    done.rxoctet + n7.rxoctet - 6, done.rxoctet + n7.rxoctet) &&
	    one_of(t_num(line, "rxcount", -1), done.rxcount,
	    done.rxcount + n7.rxcount - 1, done.rxcount + n7.rxcount), "snapshot: rxoctet=%lld rxcount=%lld "
	    "(closed sessions: %lld, %lld)", t_num(line, "rxoctet", -1),
	    t_num(line, "rxcount", -1), done.rxoctet, done.rxcount);
	t_ok(either(t_num(line, "txoctet", -1), done.txoctet,
	    done.txoctet + n7.txoctet - (long long)strlen(line) - 1) &&
	    either(t_num(line, "txcount", -1), done.txcount,
	    done.txcount + n7.txcount - 1), "snapshot: txoctet=%lld "
	    "txcount=%lld (closed sessions: %lld, %lld)",
	    t_num(line, "txoctet", -1), t_num(line, "txcount", -1),
	    done.txoctet, done.txcount);
	sum = t_num(line, "thread0", 0) + t_num(line, "thread1", 0) +
	    t_num(line, "thread2", 0);
	t_ok(t_num(line, "threads", -1) == 3 && sum == 7,
	    "snapshot: 3 threads, thread_session[] sums to accept_counter");
	t_ok(t_num(line, "thread0", 0) >= 2 && t_num(line, "thread1", 0) >= 2 &&
	    t_num(line, "thread2", 0) >= 2, "round robin: 7 connections over "
	    "3 workers, at least 2 each");
	add(&done, &n7);
	conn_close(c7);
	srv_wait_out(&sv, "TERM id=", 7, 10);

	status = srv_stop(&sv, SIGINT, 20);
	out = srv_out(&sv);
	t_ok(status == 0 && t_line(out, "S_START_RETURNED 0", 0) != NULL,
	    "SIGINT: S_start returns 0, exit status 0 (%d)", status);
	t_ok(tstats_parse(out, &st) == TSTATS_N && st.in_order,
	    "stdout has the 12 name=value lines in the documented order");
	t_ok(tstats(&st, "session_gauge") == 0 &&
	    tstats(&st, "session_high") == 3 &&
	    tstats(&st, "accept_counter") == 7 &&
	    tstats(&st, "session_error") == 0, "session_gauge=%lld "
	    "session_high=%lld accept_counter=%lld session_error=%lld",
	    tstats(&st, "session_gauge"), tstats(&st, "session_high"),
	    tstats(&st, "accept_counter"), tstats(&st, "session_error"));
	t_ok(tstats(&st, "rxoctet") == done.rxoctet &&
	    tstats(&st, "rxcount") == done.rxcount, "rxoctet=%lld rxcount=%lld "
	    "(sent: %lld bytes in %lld lines)", tstats(&st, "rxoctet"),
	    tstats(&st, "rxcount"), done.rxoctet, done.rxcount);
	t_ok(tstats(&st, "txoctet") == done.txoctet &&
	    tstats(&st, "txcount") == done.txcount, "txoctet=%lld txcount=%lld "
	    "(received: %lld bytes in %lld lines)", tstats(&st, "txoctet"),
	    tstats(&st, "txcount"), done.txoctet, done.txcount);
	t_ok(tstats(&st, "rxtimeout") == 1 &&
	    tstats(&st, "discarded_octet") == 0 &&
	    tstats(&st, "discarded_packet") == 0 &&
	    tstats(&st, "connect_error") == 0, "rxtimeout=1, discarded_octet=0, "
	    "discarded_packet=0, connect_error=0");
	t_ok(st.nthreads == 3 && st.threads_numbered && st.thread_sum == 7 &&
	    st.thread_max - st.thread_min <= 1, "thread 0..2 session= lines sum "
	    "to 7, spread round robin (%lld..%lld)", st.thread_min,
	    st.thread_max);
	t_ok(t_line(out, "S_START_RETURNED", 0) > t_line(out, "thread 2 ", 0),
	    "the statistics are printed before S_start returns");
	free(out);
	srv_check_end(&sv, T_ALL_CLOSED | T_TX_EXACT);
}

/* SIGTERM stops an S_start server even with a client connected. */
static void
lowlevel_busy(void)
{
	struct srv sv;
	struct tstats st;
	char *out;
	struct conn *c;
	int port, status;

	port = srv_start_lowlevel(&sv, 0, "100", "1");
	if ((c = conn_tcp("127.0.0.1", port, 20)) == NULL)
		t_bail("cannot connect");
	conn_cmd(c, line, sizeof line, "PING");
	status = srv_stop(&sv, SIGTERM, 10);
	out = srv_out(&sv);
	t_ok(status == 0 && tstats_parse(out, &st) == TSTATS_N &&
	    st.nthreads == 1, "SIGTERM with a client connected: the S_start "
	    "server prints its statistics and exits 0 (status %d)", status);
	free(out);
	conn_close(c);
}

static void
ioc(void)
{
	struct srv sv;
	struct tstats st;
	char *out, *err;
	struct conn *a, *b;
	int port, status;

	/* --accept-thread: connections go round-robin, one per worker. */
	port = srv_start_ioc(&sv, "t-srv-ioc", "-n", "2", "--accept-thread",
	    NULL);
	a = srv_connect(&sv, "127.0.0.1", port);
	b = srv_connect(&sv, "127.0.0.1", port);
	conn_cmd(a, line, sizeof line, "PING a");
	conn_cmd(b, line, sizeof line, "PING b");
	conn_close(a);
	conn_close(b);
	status = srv_stop_after(&sv, 2, &out, &err);
	t_ok(status == 0, "IoC: SIGTERM, exit status 0 (%d)", status);
	t_ok(tstats_parse(err, &st) == TSTATS_N && st.in_order &&
	    st.nthreads == 2 && st.threads_numbered,
	    "IoC: the statistics are on stderr, in order, with 2 thread lines");
	t_ok(tstats(&st, "accept_counter") == 2 && st.thread[0] == 1 &&
	    st.thread[1] == 1 && tstats(&st, "session_gauge") == 0,
	    "IoC: accept_counter=2, one connection per worker");
	t_ok(strstr(out, "accept_counter=") == NULL,
	    "IoC: no statistics on stdout");
	t_ok(t_line(err, "SERV_EXIT", 0) != NULL &&
	    t_line(err, "SERV_EXIT", 0) > t_line(err, "thread 1 ", 0),
	    "IoC: serv_exit runs after the statistics are printed");
	free(out);
	free(err);
	srv_check_end(&sv, T_ALL_CLOSED | T_TX_EXACT);
}

T_MAIN(lowlevel, lowlevel_busy, ioc)
