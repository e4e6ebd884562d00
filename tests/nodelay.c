/*
 * nodelay.c - TCP_NODELAY on every accepted TCP connection.
 *
 * hsvr sets TCP_NODELAY on its listening sockets and relies on the kernel
 * copying it to each accepted one: without it a reply written in two
 * pieces waits for the peer's delayed ACK (40 ms on Linux) before its
 * second piece goes out.  The test servers' NODELAY command reads the
 * option on the session's own socket (getsockopt), so the check does not
 * depend on timing.  Each listening set-up the library has:
 *  - S_start (t-srv-lowlevel): one dual-stack socket, an IPv4 and an IPv6
 *    client;
 *  - IoC server, -i 127.0.0.1, --accept-thread, two workers;
 *  - IoC server, -i ::1, --reuseport: a socket per worker, connections
 *    until both workers have served one.
 * Every session says fds=1 on=1.
 */
#include "client.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONNS 24

static char line[1024];

/* NODELAY over c: 1 if its session's socket has the option. */
static int
nodelay_on(struct conn *c, const char *what)
{
	if (conn_cmd(c, line, sizeof line, "NODELAY") != 0) {
		t_note("%s: no answer to NODELAY", what);
		return 0;
	}
	if (t_num(line, "fds", -1) != 1 || t_num(line, "on", -1) != 1) {
		t_note("%s: %s", what, line);
		return 0;
	}
	return 1;
}

static void
lowlevel(void)
{
	struct srv sv;
	struct conn *a, *b;
	int port;

	port = srv_start_lowlevel(&sv, 0, "100", "2");
	a = srv_connect(&sv, "127.0.0.1", port);
	b = srv_connect(&sv, "::1", port);
	t_ok(nodelay_on(a, "S_start, IPv4"), "S_start: an IPv4 client's "
	    "session has TCP_NODELAY (%s)", line);
	t_ok(nodelay_on(b, "S_start, IPv6"), "S_start: an IPv6 client's "
	    "session has TCP_NODELAY (%s)", line);
	conn_close(a);
	conn_close(b);
	srv_end_after_terms(&sv, 2, T_ALL_CLOSED | T_TX_EXACT,
	    "S_start server");
}

static void
ioc(const char *ip, const char *mode)
{
	struct srv sv;
	struct conn *c[CONNS];
	const char *l;
	char *out;
	int port, i, n, on = 0;
	int workers[2] = { 0, 0 }, w;

	port = srv_start_ioc(&sv, "t-srv-ioc", "-i", ip, "-n", "2", mode, NULL);
	/* Until both workers have a session (with --reuseport the kernel
	 * chooses the socket, so which worker is up to it). */
	for (n = 0; n < CONNS; n++) {
		if ((c[n] = conn_tcp(ip, port, 20)) == NULL) {
			srv_dump(&sv);
			t_bail("cannot connect to %s port %d", ip, port);
		}
		on += nodelay_on(c[n], mode);
		out = srv_out(&sv);
		l = t_accept_line(out, conn_port(c[n]));
		w = (int)t_num(l, "thread", -1);
		if (w == 0 || w == 1)
			workers[w] = 1;
		free(out);
		if (n >= 1 && workers[0] && workers[1]) {
			n++;
			break;
		}
	}
	t_ok(on == n, "%s %s: every session has TCP_NODELAY (%d of %d)", ip,
	    mode, on, n);
	t_ok(workers[0] && workers[1], "%s %s: sessions on both workers",
	    ip, mode);
	for (i = 0; i < n; i++)
		conn_close(c[i]);
	srv_end_after_terms(&sv, n, T_ALL_CLOSED | T_TX_EXACT, "%s %s", ip,
	    mode);
}

int
main(int argc, char **argv)
{
	t_init(argc, argv);
	lowlevel();
	ioc("127.0.0.1", "--accept-thread");
	ioc("::1", "--reuseport");
	return t_done();
}
