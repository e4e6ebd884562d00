/*
 * reuseport.c - --reuseport: one SO_REUSEPORT listening socket per worker
 * per address, each worker accepting its own connections.
 *
 * IoC server, -n 2 --reuseport: two listening sockets on the port (from
 * /proc/net/tcp6); forty clients over IPv4 and IPv6 are all served, and
 * both workers accept some (the kernel spreads them); -m applies across
 * the workers; SIGTERM stops the server with exit 0, nothing listening
 * and the statistics exact.
 */
#include "client.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENTS 40

static char line[4096];

/* Listening TCP sockets on port (IPv6 table: the dual-stack sockets). */
static int
listeners(int port)
{
	char buf[512], want[16];
	FILE *fp = fopen("/proc/net/tcp6", "r");
	int n = 0;

	if (fp == NULL)
		return -1;
	snprintf(want, sizeof want, ":%04X ", port);
	while (fgets(buf, sizeof buf, fp) != NULL) {
		/* "  0: 00..00:1F90 00..00:0000 0A ...": local, remote, state */
		char *local = strchr(buf, ':');

		if (local != NULL && (local = strchr(local + 1, ':')) != NULL &&
		    strncmp(local, want, strlen(want)) == 0 &&
		    strstr(local, " 0A ") != NULL)
			n++;
	}
	fclose(fp);
	return n;
}

static void
spread(void)
{
	struct srv sv;
	struct tstats st;
	struct conn *c, *keep[2];
	char ps[16], *err;
	const char *args[] = { "-x", "-p", ps, "-n", "2", "--reuseport",
	    "-m", "2", "-u", t_user(), "-g", t_group(), NULL };
	int port = t_free_port(), status, i, served = 0, n;
	long long t0, t1;

	snprintf(ps, sizeof ps, "%d", port);
	srv_start(&sv, "t-srv-ioc", args);
	/* One at a time, each gone before the next: -m 2 must not interfere. */
	for (i = 0; i < CLIENTS; i++) {
		c = conn_tcp(i % 2 ? "::1" : "127.0.0.1", port, 20);
		if (c != NULL && conn_cmd(c, line, sizeof line, "PING %d", i) == 0 &&
		    strncmp(line, "PONG", 4) == 0)
			served++;
		if (i == 0) {
			n = listeners(port);
			t_ok(n == 2, "two listening sockets on port %d (%d)",
			    port, n);
		}
		conn_close(c);
		srv_wait_out(&sv, "TERM id=", i + 1, 10);
	}
	t_ok(served == CLIENTS, "every client is served (%d of %d)", served,
	    CLIENTS);

	/* -m 2 across both workers: a third client is closed at once. */
	keep[0] = conn_tcp("127.0.0.1", port, 20);
	keep[1] = conn_tcp("::1", port, 20);
	conn_cmd(keep[0], line, sizeof line, "PING a");
	conn_cmd(keep[1], line, sizeof line, "PING b");
	c = conn_tcp("127.0.0.1", port, 20);
	if (c != NULL)
		conn_sendf(c, "PING c\n");
	t_ok(c != NULL && conn_wait_eof(c, 5) > 0, "-m 2 holds across the "
	    "workers: a third client is closed at once");
	conn_close(c);

	conn_cmd(keep[0], line, sizeof line, "STATS");
	t0 = t_num(line, "thread0", -1);
	t1 = t_num(line, "thread1", -1);
	t_ok(t0 > 0 && t1 > 0 && t0 + t1 == CLIENTS + 2, "both workers "
	    "accepted connections themselves (%lld + %lld)", t0, t1);
	conn_close(keep[0]);
	conn_close(keep[1]);

	srv_wait_out(&sv, "TERM id=", CLIENTS + 2, 10);
	status = srv_stop(&sv, SIGTERM, 20);
	err = srv_err(&sv);
	tstats_parse(err, &st);
	t_ok(status == 0 && tstats(&st, "accept_counter") == CLIENTS + 2 &&
	    tstats(&st, "session_error") == 1 &&
	    tstats(&st, "session_gauge") == 0, "SIGTERM: exit 0, "
	    "accept_counter=%lld session_error=%lld session_gauge=%lld "
	    "(status %d)", tstats(&st, "accept_counter"),
	    tstats(&st, "session_error"), tstats(&st, "session_gauge"), status);
	free(err);
	n = listeners(port);
	t_ok(n == 0, "nothing listens on port %d after the stop (%d)", port, n);
	t_check_events(&sv, T_ALL_CLOSED);
	if (t_failed())
		srv_dump(&sv);
}

int
main(int argc, char **argv)
{
	t_init(argc, argv);
	spread();
	return t_done();
}
