/*
 * reuseport.c - how the workers get their connections: by default each
 * worker accepts on the one listening socket itself (a duplicate
 * descriptor of its own); --reuseport gives each worker an SO_REUSEPORT
 * socket of its own per address; --accept-thread has the main thread
 * accept and hand the connections round-robin.
 *
 * IoC server, -n 2, in each mode: the listening sockets on the port (from
 * /proc/net/tcp6: two with --reuseport, else one); forty clients over
 * IPv4 and IPv6, one at a time, are all served; twenty at once are all
 * served and spread over both workers (exactly in turn with
 * --accept-thread); -m applies across the workers; SIGTERM stops the
 * server with exit 0, nothing listening and the statistics exact.
 */
#include "client.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENTS 40
#define BURST 20

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
spread(const char *mode)
{
	struct srv sv;
	struct tstats st;
	struct conn *c, *many[BURST];
	char ms[16], *err, *out;
	int port, status, i, served = 0, n, on[2] = { 0, 0 };
	int rp = mode != NULL && strcmp(mode, "--reuseport") == 0;
	int at = mode != NULL && strcmp(mode, "--accept-thread") == 0;
	long long th;

	t_note("---- %s", mode != NULL ? mode : "default: one shared socket");
	snprintf(ms, sizeof ms, "%d", BURST);
	port = srv_start_ioc(&sv, "t-srv-ioc", "-n", "2", "-m", ms, mode, NULL);
	/* One at a time, each gone before the next. */
	for (i = 0; i < CLIENTS; i++) {
		c = conn_tcp(i % 2 ? "::1" : "127.0.0.1", port, 20);
		if (c != NULL && conn_cmd(c, line, sizeof line, "PING %d", i) == 0 &&
		    strncmp(line, "PONG", 4) == 0)
			served++;
		if (i == 0) {
			n = listeners(port);
			t_ok(n == (rp ? 2 : 1), "%s listening on port %d (%d)",
			    rp ? "two sockets" : "one socket", port, n);
		}
		conn_close(c);
		srv_wait_out(&sv, "TERM id=", i + 1, 10);
	}
	t_ok(served == CLIENTS, "every client is served (%d of %d)", served,
	    CLIENTS);

	/* BURST clients at once: all served, spread over the workers. */
	for (i = 0, served = 0; i < BURST; i++)
		many[i] = conn_tcp(i % 2 ? "::1" : "127.0.0.1", port, 20);
	for (i = 0; i < BURST; i++)
		if (many[i] != NULL && conn_cmd(many[i], line, sizeof line,
		    "PING b%d", i) == 0 && strncmp(line, "PONG", 4) == 0)
			served++;
	out = srv_out(&sv);
	for (i = 0; i < BURST; i++) {
		th = many[i] == NULL ? -1 :
		    t_num(t_accept_line_from(out, i % 2 ? "::1" : "127.0.0.1",
		    conn_port(many[i])), "thread", -1);
		if (th == 0 || th == 1)
			on[th]++;
	}
	free(out);
	t_ok(served == BURST && on[0] + on[1] == BURST && (at ?
	    on[0] == on[1] : rp ? on[0] > 0 && on[1] > 0 :
	    abs(on[0] - on[1]) <= 7), "%d clients at once, all served, %s "
	    "(%d + %d)", BURST, at ? "dealt in turn" : rp ? "the kernel "
	    "spread them" : "the workers kept the balance", on[0], on[1]);

	/* -m across both workers: one more client is closed at once. */
	c = conn_tcp("127.0.0.1", port, 20);
	if (c != NULL)
		conn_sendf(c, "PING c\n");
	t_ok(c != NULL && conn_wait_eof(c, 5) > 0, "-m %d holds across the "
	    "workers: one more client is closed at once", BURST);
	conn_close(c);
	for (i = 0; i < BURST; i++)
		conn_close(many[i]);

	status = srv_stop_after(&sv, CLIENTS + BURST, NULL, &err);
	tstats_parse(err, &st);
	t_ok(status == 0 && tstats(&st, "accept_counter") == CLIENTS + BURST &&
	    tstats(&st, "session_error") == 1 &&
	    tstats(&st, "session_gauge") == 0, "SIGTERM: exit 0, "
	    "accept_counter=%lld session_error=%lld session_gauge=%lld "
	    "(status %d)", tstats(&st, "accept_counter"),
	    tstats(&st, "session_error"), tstats(&st, "session_gauge"), status);
	free(err);
	n = listeners(port);
	t_ok(n == 0, "nothing listens on port %d after the stop (%d)", port, n);
	srv_check_end(&sv, T_ALL_CLOSED);
}

T_MAIN_ON(spread, NULL, "--reuseport", "--accept-thread")
