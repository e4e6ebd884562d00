/*
 * timer.c - the worker's loop for the application: S_timer_start and
 * S_timer_stop, S_worker_base and S_worker_atexit, on t-srv-timer
 * (tests/srv-timer.c) with two workers fed in turn by the accept thread,
 * so that two connections are on two workers:
 *  - a timer started in serv_worker_init runs on that worker; the calls'
 *    errors (EINVAL; EPERM from serv_init's main thread and from a thread
 *    of the application, where S_worker_base is NULL) are right;
 *  - ONCE: a one-shot timer runs once, on the worker and the thread that
 *    started it, and its S_send reaches the session ("AFTER once=1" is
 *    the next line, later than a second run would be);
 *  - EVERY 10 5: a periodic timer runs 5 times on its worker, stopped by
 *    its own 5th callback: nothing after "EVERY done 5" but the AFTER
 *    asked 5 periods later;
 *  - CANCEL: a timer stopped at once and one stopped by another timer
 *    before they are due never run;
 *  - XSTOP: S_timer_stop from another thread is refused (EPERM) and the
 *    timer still runs;
 *  - POKE: an eventfd watched on S_worker_base delivers, on its worker,
 *    what another thread wrote;
 *  - a session closed with two timers pending stops them in serv_on_term;
 *  - LEAVE: timers left pending at shutdown do not run, the atexit
 *    function runs on each worker and may stop one; the server exits 0
 *    with no sanitizer report (in the ASan build: no leak).
 *
 * Shown to fail: with apptimer.c's on_timer() not freeing a one-shot
 * timer, the ASan build reports leaks; with its event assigned EV_PERSIST
 * for one-shot timers too, ONCE runs again before AFTER; with S_timer_stop
 * not calling event_del, CANCEL's victims run and EVERY goes on ticking;
 * with thread_end() not freeing the timers left, the ASan build reports
 * the LEAVE timers as leaks; with S_timer_stop not checking the owner,
 * XSTOP says stop=0 and XFIRED never comes; with S_timer_start using
 * worker 0's base, the timers of worker 1's session run on worker 0.
 */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char line[512];

/* The next line of c is want. */
static int
next_is(struct conn *c, const char *want)
{
	if (conn_line(c, line, sizeof line, 10) != 0) {
		t_note("no line where \"%s\" was due", want);
		return 0;
	}
	if (strcmp(line, want) != 0) {
		t_note("got \"%s\" where \"%s\" was due", line, want);
		return 0;
	}
	return 1;
}

/* Its next line begins with prefix (kept in line). */
static int
next_has(struct conn *c, const char *prefix)
{
	return conn_line_has(c, line, sizeof line, prefix, 10);
}

static void
worker_loop(void)
{
	struct srv sv;
	struct conn *c[2], *gone;
	char want[128], *out, *err;
	long long w[2];
	int port, i, k, ok, status;

	port = srv_start_ioc(&sv, "t-srv-timer", "-i", "127.0.0.1", "-n", "2",
	    "--accept-thread", "-T", "0", NULL);
	if (srv_wait_out(&sv, "INITTIMER ", 2, 10) != 0) {
		srv_dump(&sv);
		t_bail("t-srv-timer did not start");
	}
	out = srv_out(&sv);
	for (i = 0, ok = 1; i < 2; i++) {
		const char *l = t_line(out, "INITTIMER ", i);

		ok &= l != NULL && t_num(l, "worker", -1) ==
		    t_num(l, "ran", -2) && t_num(l, "same", 0) == 1;
	}
	t_ok(ok, "a 0 ms timer from serv_worker_init runs on its worker");
	t_ok(t_count(out, "MAIN checked") == 1,
	    "serv_init ran its checks (EPERM off the workers)");
	free(out);

	for (i = 0; i < 2; i++) {
		c[i] = srv_connect(&sv, "127.0.0.1", port);
		conn_sendf(c[i], "ONCE 20\n");
		ok = next_has(c[i], "ONCE ");
		w[i] = t_num(line, "started", -1);
		t_ok(ok && w[i] >= 0 && t_num(line, "ran", -2) == w[i] &&
		    t_num(line, "same", 0) == 1, "connection %d: the one-shot "
		    "timer ran on its worker's thread (%s)", i, line);
		conn_sendf(c[i], "AFTER 100\n");
		t_ok(next_is(c[i], "AFTER once=1 ticks=0 victims=0"),
		    "connection %d: it ran once", i);
	}
	t_ok(w[0] != w[1], "the two connections are on two workers (%lld, "
	    "%lld)", w[0], w[1]);

	for (i = 0; i < 2; i++) {
		conn_sendf(c[i], "EVERY 10 5\n");
		for (k = 1, ok = 1; k <= 5 && ok; k++) {
			snprintf(want, sizeof want, "TICK %d ran=%lld same=1", k,
			    w[i]);
			ok = next_is(c[i], want);
		}
		t_ok(ok, "connection %d: the periodic timer ran 5 times on "
		    "its worker", i);
		snprintf(want, sizeof want, "EVERY done 5");
		t_ok(next_is(c[i], want), "connection %d: stopped by its "
		    "own 5th callback", i);
		conn_sendf(c[i], "AFTER 50\n");
		t_ok(next_is(c[i], "AFTER once=1 ticks=5 victims=0"),
		    "connection %d: no 6th run 5 periods later", i);
	}

	conn_sendf(c[0], "CANCEL 40\n");
	t_ok(next_is(c[0], "CANCEL rc=0"), "S_timer_stop before it is due: 0");
	conn_sendf(c[0], "AFTER 150\n");
	t_ok(next_is(c[0], "AFTER once=1 ticks=5 victims=0"),
	    "timers stopped before they were due never ran");

	conn_sendf(c[1], "XSTOP 20\n");
	t_ok(next_is(c[1], "XSTOP stop=-1 EPERM start=NULL EPERM base=NULL "
	    "atexit=-1 EPERM"), "from a thread of the application: EPERM, "
	    "S_worker_base NULL");
	t_ok(next_is(c[1], "XFIRED"), "the timer it tried to stop still ran");

	for (i = 0; i < 2; i++) {
		conn_sendf(c[i], "POKE\n");
		snprintf(want, sizeof want, "POKED ran=%lld same=1", w[i]);
		t_ok(next_is(c[i], want), "connection %d: an eventfd on "
		    "S_worker_base delivered on its worker", i);
	}

	gone = srv_connect(&sv, "127.0.0.1", port);
	conn_sendf(gone, "ONCE 600000\nEVERY 600000 3\nAFTER 10\n");
	t_ok(next_is(gone, "AFTER once=0 ticks=0 victims=0"),
	    "a session with two timers due in minutes");
	conn_close(gone);
	t_ok(srv_wait_out(&sv, "stopped=2", 1, 10) == 0,
	    "its serv_on_term stopped both");

	for (i = 0; i < 2; i++) {
		conn_sendf(c[i], "LEAVE\n");
		t_ok(next_is(c[i], "LEFT"), "connection %d: two timers left "
		    "pending", i);
	}
	status = srv_stop(&sv, SIGTERM, 20);
	t_ok(status == 0, "SIGTERM: exit status 0 (%d)", status);
	out = srv_out(&sv);
	err = srv_err(&sv);
	for (i = 0; i < 2; i++) {
		snprintf(want, sizeof want, "ATEXIT worker=%d stop=0\n", i);
		t_ok(strstr(out, want) != NULL, "worker %d ran its atexit "
		    "function, which stopped a timer", i);
	}
	t_ok(t_count(out, "TERM id=") == 3, "3 sessions ended");
	t_ok(t_count(out, "VIOLATION") == 0, "no VIOLATION: no pending "
	    "timer ran at shutdown, every call's errno right");
	t_ok(strstr(err, "Sanitizer") == NULL &&
	    strstr(err, "runtime error") == NULL,
	    "no sanitizer report (no timer leaked)");
	if (t_failed())
		srv_dump(&sv);
	free(out);
	free(err);
	for (i = 0; i < 2; i++)
		conn_close(c[i]);
}

T_MAIN(worker_loop)
