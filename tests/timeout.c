/*
 * timeout.c - idle timeouts: S_settimer, -T, the 60 s default, and what
 * happens to the connection afterwards.
 *
 * S_start server (2 workers):
 *  - TIMER 1: TYP_TIMEOUT after about 1 s, the connection stays open and is
 *    still read (PING answered), and it fires again after another idle second;
 *  - TIMER 1 and 10 bytes every 0.4 s that get no answer: no TYP_TIMEOUT
 *    while data comes in, one about 1 s after the last bytes;
 *  - TIMER 0 disables it; a connection without S_settimer has no timeout
 *    within 5 s (the default is 60 s);
 *  - TIMER 1 and a 800,000-byte download read slowly over ~2.5 s by a
 *    client with a small window: output progress is not idleness, no
 *    TYP_TIMEOUT;
 *  - at exit rxtimeout equals the TYP_TIMEOUT callbacks.
 * IoC servers:
 *  - -T 2 with serv_on_timeout: the hook runs after about 2 s and the
 *    connection stays open; S_settimer(s, 0) disables it;
 *  - -T 1 without serv_on_timeout (all other hooks defined): the library
 *    closes the idle connection (EOF, serv_on_term, no timeout hook);
 *  - -T 1, only serv_on_read defined: the idle connection is closed;
 *  - no -T: an idle connection is still open after 2.5 s.
 */
#include "client.h"
#include "pattern.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char line[512];

/* Seconds until the line want arrives on c, or -1. */
static double
time_to(struct conn *c, const char *want, double limit)
{
	double t0 = t_now();

	if (conn_line(c, line, sizeof line, limit) != 0 ||
	    strcmp(line, want) != 0)
		return -1;
	return t_now() - t0;
}

static void
lowlevel(void)
{
	struct srv sv;
	struct tstats st;
	char *out;
	const char *why;
	struct conn *idle, *ct, *cr, *cd;
	double dt, t0, t_off;
	size_t got, n;
	int port, i, quiet_all, status;

	port = srv_start_lowlevel(&sv, 0, "100", "2");
	idle = conn_must(conn_tcp("127.0.0.1", port, 20), &sv);
	conn_cmd(idle, line, sizeof line, "PING idle");

	/* TIMER 1: fires, the session stays open and readable, fires again. */
	ct = conn_must(conn_tcp("127.0.0.1", port, 10), &sv);
	conn_cmd(ct, line, sizeof line, "TIMER 1");
	dt = time_to(ct, "TIMEOUT 1", 10);
	t_ok(dt >= 0.85 && dt <= t_secs(3), "S_settimer(s, 1): TYP_TIMEOUT "
	    "after %.2f s of silence", dt);
	t_ok(conn_cmd(ct, line, sizeof line, "PING x") == 0 &&
	    strcmp(line, "PONG x") == 0, "after TYP_TIMEOUT the connection is "
	    "open and still read (%s)", line);
	dt = time_to(ct, "TIMEOUT 2", 10);
	t_ok(dt >= 0.85 && dt <= t_secs(3), "another idle second gives "
	    "another TYP_TIMEOUT (%.2f s)", dt);
	conn_cmd(ct, line, sizeof line, "TIMER 0");
	t_off = t_now();

	/* Data coming in keeps the session from timing out, even when nothing
	 * is sent back: 60 bytes into a SINK, 10 every 0.4 s. */
	cr = conn_must(conn_tcp("127.0.0.1", port, 10), &sv);
	conn_cmd(cr, line, sizeof line, "TIMER 1");
	conn_sendf(cr, "SINK 60\n");
	for (i = 0; i < 6; i++) {
		t_pause(0.4);
		conn_send(cr, "0123456789", 10);
	}
	quiet_all = conn_line(cr, line, sizeof line, 10) == 0 &&
	    strncmp(line, "SUNK n=60 ", 10) == 0 &&
	    conn_cmd(cr, line, sizeof line, "COUNT") == 0 &&
	    strcmp(line, "COUNT timeouts=0") == 0;
	t_ok(quiet_all, "10 bytes every 0.4 s for 2.4 s, nothing sent back: "
	    "no TYP_TIMEOUT (%s)", line);
	dt = time_to(cr, "TIMEOUT 1", 10);
	t_ok(dt >= 0.85 && dt <= t_secs(3), "then one about 1 s after the "
	    "last bytes (%.2f s)", dt);

	t_ok(conn_quiet(ct, 0.01), "S_settimer(s, 0): no TYP_TIMEOUT in the "
	    "%.1f s since", t_now() - t_off);
	t_ok(conn_quiet(idle, 0.01), "without S_settimer: no TYP_TIMEOUT in "
	    "the first 5 s (the default is 60 s)");

	/* A slow download is not idle. */
	cd = conn_tcp_once("127.0.0.1", port, 8192);
	conn_must(cd, &sv);
	conn_cmd(cd, line, sizeof line, "SNDBUF 16384");
	t_note("server socket send buffer shrunk: %s", line);
	conn_cmd(cd, line, sizeof line, "TIMER 1");
	conn_sendf(cd, "DOWNLOAD 800000\n");
	t0 = t_now();
	for (got = 0; got < 800000; got += n) {
		n = 800000 - got < 32768 ? 800000 - got : 32768;
		if (conn_read_pattern(cd, got, n, 10, &why) != n)
			break;
		t_pause(0.1);
	}
	dt = t_now() - t0;
	t_ok(got == 800000, "the slow client read all 800,000 bytes (%zu%s%s)",
	    got, *why ? ", " : "", why);
	t_ok(conn_cmd(cd, line, sizeof line, "COUNT") == 0 &&
	    strcmp(line, "COUNT timeouts=0") == 0, "a download read slowly over "
	    "%.1f s with S_settimer(s, 1) has no TYP_TIMEOUT (%s)", dt, line);
	if (dt < 2)
		t_note("the download took only %.1f s: too fast to tell", dt);

	conn_close(idle);
	conn_close(ct);
	conn_close(cr);
	conn_close(cd);
	srv_wait_out(&sv, "TERM id=", 4, 10);
	status = srv_stop(&sv, SIGINT, 20);
	t_ok(status == 0, "SIGINT: exit status 0 (%d)", status);
	out = srv_out(&sv);
	tstats_parse(out, &st);
	t_ok(tstats(&st, "rxtimeout") == t_count(out, "TIMEOUT id=") &&
	    tstats(&st, "rxtimeout") >= 3, "rxtimeout=%lld counts the "
	    "TYP_TIMEOUT callbacks (%d)", tstats(&st, "rxtimeout"),
	    t_count(out, "TIMEOUT id="));
	free(out);
	srv_check_end(&sv, T_ALL_CLOSED | T_TX_EXACT);
}

static void
ioc(void)
{
	struct srv hk, nt, mn, df;
	char p1[16], p2[16], p3[16], p4[16], *out;
	const char *a_hook[] = { "-x", "-p", p1, "-T", "2", "-n", "2", "-u",
	    t_user(), "-g", t_group(), NULL };
	const char *a_noto[] = { "-x", "-p", p2, "-T", "1", "-u", t_user(), "-g",
	    t_group(), NULL };
	const char *a_min[] = { "-x", "-p", p3, "--timeout=1", "-u", t_user(),
	    "-g", t_group(), NULL };
	const char *a_def[] = { "-x", "-p", p4, "-u", t_user(), "-g", t_group(),
	    NULL };
	struct conn *c, *off, *cn, *cm, *cdef;
	double dt, t0, t_def;
	int eof;

	snprintf(p1, sizeof p1, "%d", t_free_port());
	snprintf(p2, sizeof p2, "%d", t_free_port());
	snprintf(p3, sizeof p3, "%d", t_free_port());
	snprintf(p4, sizeof p4, "%d", t_free_port());
	srv_start(&hk, "t-srv-ioc", a_hook);
	srv_start(&nt, "t-srv-ioc-notimeout", a_noto);
	srv_start(&mn, "t-srv-ioc-min", a_min);
	srv_start(&df, "t-srv-ioc-notimeout", a_def);

	cdef = conn_must(conn_tcp("127.0.0.1", atoi(p4), 20), &df);
	conn_cmd(cdef, line, sizeof line, "PING default");
	t_def = t_now();

	/* -T 2 with serv_on_timeout. */
	off = conn_must(conn_tcp("127.0.0.1", atoi(p1), 20), &hk);
	conn_cmd(off, line, sizeof line, "TIMER 0");
	c = conn_must(conn_tcp("127.0.0.1", atoi(p1), 20), &hk);
	conn_cmd(c, line, sizeof line, "PING 1");
	dt = time_to(c, "TIMEOUT 1", 10);
	t_ok(dt >= 1.8 && dt <= t_secs(4), "IoC -T 2: serv_on_timeout after "
	    "%.2f s of silence", dt);
	t_ok(conn_cmd(c, line, sizeof line, "PING 2") == 0 &&
	    strcmp(line, "PONG 2") == 0, "IoC: the connection stays open after "
	    "serv_on_timeout");
	t_ok(conn_quiet(off, 0.3), "IoC: S_settimer(s, 0) overrides -T 2");
	conn_close(c);
	conn_close(off);

	/* -T 1 without serv_on_timeout: the library closes the connection. */
	cn = conn_must(conn_tcp("127.0.0.1", atoi(p2), 20), &nt);
	conn_cmd(cn, line, sizeof line, "PING 3");
	t0 = t_now();
	eof = conn_wait_eof(cn, 10);
	dt = t_now() - t0;
	t_ok(eof >= 1 && dt >= 0.85 && dt <= t_secs(3), "IoC -T 1 without "
	    "serv_on_timeout: the idle connection is closed after %.2f s", dt);
	t_ok(srv_wait_out(&nt, "TERM id=", 1, 10) == 0,
	    "IoC: serv_on_term ran for the session closed by the timeout");
	out = srv_out(&nt);
	t_ok(t_line(out, "TIMEOUT", 0) == NULL, "IoC: no timeout hook ran");
	free(out);
	conn_close(cn);

	/* Only serv_on_read: echo, then closed when idle. */
	cm = conn_must(conn_tcp("127.0.0.1", atoi(p3), 20), &mn);
	conn_sendf(cm, "hi\n");
	t_ok(conn_line(cm, line, sizeof line, 10) == 0 && strcmp(line, "hi") == 0,
	    "IoC with serv_on_read only: it echoes");
	t0 = t_now();
	eof = conn_wait_eof(cm, 10);
	dt = t_now() - t0;
	t_ok(eof >= 1 && dt >= 0.85 && dt <= t_secs(3), "IoC with serv_on_read "
	    "only, --timeout=1: closed after %.2f s idle", dt);
	conn_close(cm);

	/* No -T: still open after 2.5 s of silence. */
	if (t_now() - t_def < 2.5)
		t_pause(2.5 - (t_now() - t_def));
	t_ok(conn_cmd(cdef, line, sizeof line, "PING default") == 0 &&
	    strcmp(line, "PONG default") == 0, "IoC without -T: an idle "
	    "connection is neither timed out nor closed within 2.5 s");
	conn_close(cdef);
	srv_wait_out(&df, "TERM id=", 1, 10);
	srv_wait_out(&hk, "TERM id=", 2, 10);

	t_ok(srv_stop(&hk, SIGTERM, 20) == 0 && srv_stop(&nt, SIGTERM, 20) == 0 &&
	    srv_stop(&mn, SIGTERM, 20) == 0 && srv_stop(&df, SIGTERM, 20) == 0,
	    "IoC servers exit 0 on SIGTERM");
	t_check_events(&hk, T_ALL_CLOSED | T_TX_EXACT);
	t_check_events(&nt, T_ALL_CLOSED | T_TX_EXACT | T_NO_TIMEOUT_HOOK);
	t_check_events(&df, T_ALL_CLOSED | T_TX_EXACT | T_NO_TIMEOUT_HOOK);
	if (t_failed()) {
		srv_dump(&hk);
		srv_dump(&nt);
		srv_dump(&mn);
		srv_dump(&df);
	}
}

T_MAIN(lowlevel, ioc)
