/*
 * balance.c - a few long-lived connections spread over the workers from
 * the first one, whichever worker the kernel wakes for them.
 *
 * IoC server, default accepting (the shared socket), -n 2 then -n 3:
 * clients connect one at a time and stay; after each is served (its
 * PONG), the workers that opened them (the ACCEPT lines' thread) hold
 * counts that differ by at most one: 1/1 after two, 2/2 after four (and
 * 1/1/1 with three workers).  Then they all leave, and again, ROUNDS
 * times: on a shared socket an idle worker tends to win each connection,
 * so a server that only balanced by a slack of a few would put them all
 * on one worker.  Then short connections (each one gone before the
 * next) are all served and the statistics are exact.
 *
 * Herd-free: in the serving process (the supervisor's child), each
 * worker's epoll holds the shared socket with EPOLLEXCLUSIVE (fdinfo
 * "events:" with bit 28), so a connection wakes one worker: -n 2 and -n
 * 3, one registration per worker; --reuseport (a socket per worker,
 * nothing shared), none.
 */
#include "client.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ROUNDS 4
#define LONG 4                  /* long connections a round, -n 2 */
#define SHORT 200               /* short ones, one after another */
#define MAXW 3

static char line[4096];

#define EXCLUSIVE_BIT 0x10000000ul     /* EPOLLEXCLUSIVE, (1U << 28) */

/*
 * Registrations with EPOLLEXCLUSIVE in the epolls of process pid (its
 * /proc/PID/fdinfo: one "tfd: N events: HEX ..." line each), or -1.
 */
static int
exclusive_in(long pid)
{
	char path[512], buf[256];
	struct dirent *de;
	unsigned long ev;
	DIR *d;
	FILE *f;
	int n = 0;

	snprintf(path, sizeof path, "/proc/%ld/fdinfo", pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/%ld/fdinfo/%s", pid,
		    de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (fgets(buf, sizeof buf, f) != NULL)
			if (sscanf(buf, "tfd: %*d events: %lx", &ev) == 1 &&
			    (ev & EXCLUSIVE_BIT))
				n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

/* The same in the children of pid (the serving process), summed; or -1. */
static int
exclusive_regs(pid_t pid)
{
	char path[96];
	long child;
	FILE *f;
	int n = -1, k;

	snprintf(path, sizeof path, "/proc/%ld/task/%ld/children", (long)pid,
	    (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fscanf(f, "%ld", &child) == 1)
		if ((k = exclusive_in(child)) >= 0)
			n = (n < 0 ? 0 : n) + k;
	fclose(f);
	return n;
}

/* After a client was served (the workers are all up): the registrations. */
static void
check_exclusive(struct srv *sv, int port, int want, const char *what)
{
	struct conn *c = conn_tcp("127.0.0.1", port, 20);
	int n = -1;

	if (c != NULL && conn_cmd(c, line, sizeof line, "PING x") == 0)
		n = exclusive_regs(sv->pid);
	conn_close(c);
	t_ok(n == want, "%s: %d registration%s of the listening socket with "
	    "EPOLLEXCLUSIVE in the serving process (%d)", what, want,
	    want == 1 ? "" : "s", n);
}

/*
 * workers long connections one at a time, each kept; after each, the
 * spread so far: ok when the counts never differ by more than one.
 * Closes them and waits for their ends; terms counts the ends so far.
 */
static void
one_round(struct srv *sv, int port, int workers, int n, int round,
    int *terms)
{
	struct conn *c[LONG];
	int on[MAXW] = { 0 }, i, k, lo, hi, worst = 0, bad = 0;
	long long th;
	char seen[64] = "", *p = seen;

	for (i = 0; i < n; i++) {
		c[i] = conn_tcp("127.0.0.1", port, 20);
		th = -1;
		if (c[i] != NULL && conn_cmd(c[i], line, sizeof line,
		    "PING r%d.%d", round, i) == 0 &&
		    strncmp(line, "PONG", 4) == 0)
			th = srv_thread_of(sv, conn_port(c[i]));
		if (th < 0 || th >= workers) {
			bad = 1;
			break;
		}
		on[th]++;
		p += snprintf(p, (size_t)(seen + sizeof seen - p), "%lld",
		    th);
		for (k = 0, lo = hi = on[0]; k < workers; k++) {
			lo = on[k] < lo ? on[k] : lo;
			hi = on[k] > hi ? on[k] : hi;
		}
		worst = hi - lo > worst ? hi - lo : worst;
	}
	t_ok(!bad && worst <= 1, "-n %d round %d: %d long connections one "
	    "at a time spread as they come (workers %s, the largest "
	    "difference %d)", workers, round, n, seen, worst);
	for (k = 0; k <= i && k < n; k++)
		if (c[k] != NULL) {
			conn_close(c[k]);
			++*terms;
		}
	srv_wait_out(sv, "TERM id=", *terms, 10);
}

static void
spread(void)
{
	struct srv sv;
	struct tstats st;
	struct conn *c;
	char *err;
	int port, status, i, r, served = 0, terms = 0;

	port = srv_start_ioc(&sv, "t-srv-ioc", "-i", "127.0.0.1", "-n", "2",
	    NULL);
	check_exclusive(&sv, port, 2, "-n 2, one shared socket");
	terms++;
	/* Its connection gone before the rounds count sessions per worker. */
	srv_wait_out(&sv, "TERM id=", terms, 10);
	for (r = 0; r < ROUNDS; r++)
		one_round(&sv, port, 2, r % 2 ? LONG : 2, r, &terms);

	/* Short connections: each served, and gone before the next. */
	for (i = 0; i < SHORT; i++) {
		c = conn_tcp("127.0.0.1", port, 20);
		if (c != NULL && conn_cmd(c, line, sizeof line, "PING s%d", i)
		    == 0 && strncmp(line, "PONG", 4) == 0)
			served++;
		conn_close(c);
	}
	terms += SHORT;
	t_ok(served == SHORT, "%d short connections one after another all "
	    "served (%d)", SHORT, served);
	status = srv_stop_after(&sv, terms, NULL, &err);
	tstats_parse(err, &st);
	t_ok(status == 0 && tstats(&st, "accept_counter") == terms &&
	    tstats(&st, "session_gauge") == 0, "SIGTERM: exit 0, "
	    "accept_counter=%lld of %d, session_gauge=%lld (status %d)",
	    tstats(&st, "accept_counter"), terms,
	    tstats(&st, "session_gauge"), status);
	free(err);
	srv_check_end(&sv, T_ALL_CLOSED);

	/* Three workers, three connections: one each. */
	port = srv_start_ioc(&sv, "t-srv-ioc", "-i", "127.0.0.1", "-n", "3",
	    NULL);
	check_exclusive(&sv, port, 3, "-n 3, one shared socket");
	terms = 1;
	srv_wait_out(&sv, "TERM id=", terms, 10);
	for (r = 0; r < ROUNDS; r++)
		one_round(&sv, port, 3, 3, r, &terms);
	status = srv_stop_after(&sv, terms, NULL, NULL);
	t_ok(status == 0, "-n 3: SIGTERM, exit 0 (status %d)", status);
	srv_check_end(&sv, T_ALL_CLOSED);

	/* --reuseport: a socket per worker, nothing to be exclusive about. */
	port = srv_start_ioc(&sv, "t-srv-ioc", "-i", "127.0.0.1", "-n", "2",
	    "--reuseport", NULL);
	check_exclusive(&sv, port, 0, "--reuseport");
	status = srv_stop_after(&sv, 1, NULL, NULL);
	t_ok(status == 0, "--reuseport: SIGTERM, exit 0 (status %d)", status);
	srv_check_end(&sv, T_ALL_CLOSED);
}

T_MAIN(spread)
