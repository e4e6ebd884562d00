/*
 * firstread.c - a new session takes its first request in one read,
 * whether the request came with the connection or only after the
 * server had accepted it, and a session closed while its read event is
 * still added leaves nothing behind for the next connection that gets
 * the same descriptor number.
 *
 * IoC server, -n 1 (one worker, so that the serving process's reads are
 * that worker's and come in order):
 * - late: LATE clients one after another, each sending QUIT only once
 *   the server has accepted it and finished that turn of its loop (its
 *   ACCEPT line, then a PING answered on a connection opened before:
 *   the one worker has gone round its loop since).  Every one gets BYE
 *   and the end of the stream.  The serving process's read(2) calls
 *   (/proc/PID/io syscr counts every one, also a read that finds
 *   nothing), less the PINGs', are at most LATE * 9/8: a worker whose
 *   reads at accept find nothing waits for the read event of the next
 *   connections instead, but for one in 16 (it used to read at accept
 *   each time, 2 reads a connection).  Each of these sessions is closed (S_close in
 *   TYP_READ), and the next connection gets the same descriptor number:
 *   had the closed one's event stayed in libevent's map of that
 *   descriptor, libevent would add nothing to the kernel's epoll for the
 *   next one, whose client would wait for BYE in vain.
 * - same turn: SAME_TURN times, a late client's QUIT and a new
 *   connection reach the worker while the serving process is stopped
 *   (SIGSTOP), so that one turn of its loop reads the QUIT, accepts the
 *   new connection and then closes the first session (its close is made
 *   active by S_close, after the events of the turn): both clients get
 *   BYE and the end.
 * - soon: SOON clients send QUIT as soon as they are connected: all
 *   served (the worker reads at once again now and then, and then for
 *   good when the requests are there).
 * Then -n 2, BATCH clients at a time, late and soon in turn: all served,
 * and the exit statistics count every session.
 */
#include "client.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LATE 100
#define SOON 100
#define MIXED 240
#define BATCH 8
#define SAME_TURN 20

static char line[4096];

/* The serving process: the one child of the supervisor pid; or -1. */
static long
serving_pid(pid_t pid)
{
	char path[96];
	long child = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/task/%ld/children", (long)pid,
	    (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fscanf(f, "%ld", &child) != 1)
		child = -1;
	fclose(f);
	return child;
}

/* read(2) calls made so far by process pid (syscr), or -1. */
static long long
reads_of(long pid)
{
	char path[96];
	long long n = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/io", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "syscr: %lld", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* QUIT on c: BYE, then the end of the stream.  1 if so. */
static int
quit(struct conn *c)
{
	return c != NULL && conn_cmd(c, line, sizeof line, "QUIT") == 0 &&
	    strcmp(line, "BYE") == 0 && conn_wait_eof(c, 10) == 1;
}

/*
 * A connection accepted (ACCEPT lines: *accepts in all), and the worker's
 * turn of the loop that accepted it over (a PING answered on barrier,
 * which -n 1's one worker reads after that turn).  0, or -1.
 */
static int
accepted_and_idle(struct srv *sv, struct conn *barrier, int accepts)
{
	if (srv_wait_out(sv, "ACCEPT id=", accepts, 10) != 0 ||
	    conn_cmd(barrier, line, sizeof line, "PING idle") != 0 ||
	    strcmp(line, "PONG idle") != 0)
		return -1;
	return 0;
}

/* Every thread of process pid has stopped (state T): 1, or 0. */
static int
all_stopped(long pid)
{
	char path[512], state;
	struct dirent *de;
	DIR *d;
	FILE *f;
	int n = 0, stopped = 0;

	snprintf(path, sizeof path, "/proc/%ld/task", pid);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		n++;
		snprintf(path, sizeof path, "/proc/%ld/task/%s/stat", pid,
		    de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		/* pid (comm) state ...: comm may hold spaces, not ')' here */
		if (fscanf(f, "%*d (%*[^)]) %c", &state) == 1 &&
		    state == 'T')
			stopped++;
		fclose(f);
	}
	closedir(d);
	return n > 0 && stopped == n;
}

/* SIGSTOP to pid, and wait until it has stopped (10 s at most). */
static void
stop_it(long pid)
{
	double end = t_now() + t_secs(10);

	if (kill((pid_t)pid, SIGSTOP) != 0)
		t_bail("cannot stop the serving process %ld", pid);
	while (!all_stopped(pid))
		if (t_now() > end)
			t_bail("the serving process %ld did not stop", pid);
		else
			t_pause(0.001);
}

/*
 * A late client's QUIT and a new connection wait for the stopped serving
 * process spid, so that one turn of its loop closes the one and accepts
 * the other: *served counts those that got BYE and the end.
 */
static void
same_turn(struct srv *sv, long spid, struct conn *barrier, int port,
    int *accepts, int *served)
{
	struct conn *a, *b = NULL;

	a = conn_tcp("127.0.0.1", port, 20);
	++*accepts;
	if (a == NULL || accepted_and_idle(sv, barrier, *accepts) != 0)
		goto out;
	stop_it(spid);
	if (conn_sendf(a, "QUIT\n") == 0) {
		b = conn_tcp("127.0.0.1", port, 20);
		++*accepts;
	}
	if (kill((pid_t)spid, SIGCONT) != 0)
		t_bail("cannot resume the serving process %ld", spid);
	if (b == NULL || conn_line(a, line, sizeof line, 10) != 0 ||
	    strcmp(line, "BYE") != 0 || conn_wait_eof(a, 10) != 1)
		goto out;
	++*served;
	if (accepted_and_idle(sv, barrier, *accepts) == 0 && quit(b))
		++*served;
out:
	conn_close(a);
	conn_close(b);
}

static void
one_worker(void)
{
	struct srv sv;
	struct conn *barrier, *c;
	long spid;
	long long r0, r1;
	int port, i, late = 0, soon = 0, pings = 0, accepts = 0, served = 0;

	port = srv_start_ioc(&sv, "t-srv-ioc", "-i", "127.0.0.1", "-n", "1",
	    NULL);
	barrier = srv_connect(&sv, "127.0.0.1", port);
	if (conn_cmd(barrier, line, sizeof line, "PING up") != 0 ||
	    strcmp(line, "PONG up") != 0)
		t_bail("no PONG from the server");
	accepts++;
	spid = serving_pid(sv.pid);
	r0 = reads_of(spid);
	t_ok(spid > 0 && r0 >= 0, "the serving process %ld and its reads "
	    "(%lld)", spid, r0);

	for (i = 0; i < LATE; i++) {
		c = conn_tcp("127.0.0.1", port, 20);
		accepts++;
		if (c == NULL || accepted_and_idle(&sv, barrier, accepts) != 0) {
			conn_close(c);
			break;
		}
		pings++;
		if (!quit(c)) {
			conn_close(c);
			break;
		}
		late++;
		conn_close(c);
	}
	/* Every session has ended before the count is read. */
	srv_wait_out(&sv, "TERM id=", accepts - 1, 10);
	r1 = reads_of(spid);
	t_ok(late == LATE, "%d clients that speak once accepted: BYE and the "
	    "end to every one (%d)", LATE, late);
	t_ok(r1 >= 0 && r1 - r0 - pings >= LATE &&
	    r1 - r0 - pings <= LATE + LATE / 8, "their requests took %d to "
	    "%d reads in all, not one more a connection (%lld)", LATE,
	    LATE + LATE / 8, r1 - r0 - pings);

	for (i = 0; i < SAME_TURN; i++)
		same_turn(&sv, spid, barrier, port, &accepts, &served);
	t_ok(served == 2 * SAME_TURN, "%d times a session closed and a "
	    "connection accepted in one turn: BYE and the end to both (%d "
	    "of %d)", SAME_TURN, served, 2 * SAME_TURN);

	for (i = 0; i < SOON; i++) {
		c = conn_tcp("127.0.0.1", port, 20);
		accepts++;
		soon += quit(c);
		conn_close(c);
	}
	t_ok(soon == SOON, "%d clients that speak at once: BYE and the end to "
	    "every one (%d)", SOON, soon);
	conn_close(barrier);
	srv_end_after_terms(&sv, accepts, T_ALL_CLOSED, "-n 1");
}

static void
two_workers(void)
{
	struct srv sv;
	struct tstats st;
	struct conn *c[BATCH];
	char *err;
	int port, i, k, served = 0, status;

	port = srv_start_ioc(&sv, "t-srv-ioc", "-i", "127.0.0.1", "-n", "2",
	    NULL);
	for (i = 0; i < MIXED; i += BATCH) {
		for (k = 0; k < BATCH; k++) {
			c[k] = conn_tcp("127.0.0.1", port, 20);
			/* Every other one speaks at once. */
			if (k % 2 == 0)
				served += quit(c[k]);
		}
		for (k = 1; k < BATCH; k += 2)
			served += quit(c[k]);
		for (k = 0; k < BATCH; k++)
			conn_close(c[k]);
	}
	t_ok(served == MIXED, "-n 2: %d clients, %d at a time, half of them "
	    "speaking at once: BYE and the end to every one (%d)", MIXED,
	    BATCH, served);
	status = srv_stop_after(&sv, MIXED, NULL, &err);
	tstats_parse(err, &st);
	t_ok(status == 0 && tstats(&st, "accept_counter") == MIXED &&
	    tstats(&st, "session_gauge") == 0, "-n 2, SIGTERM: exit 0, "
	    "accept_counter=%lld of %d, session_gauge=%lld (status %d)",
	    tstats(&st, "accept_counter"), MIXED,
	    tstats(&st, "session_gauge"), status);
	free(err);
	srv_check_end(&sv, T_ALL_CLOSED);
}

T_MAIN(one_worker, two_workers)
