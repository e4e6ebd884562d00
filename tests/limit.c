/*
 * limit.c - the connection limit (S_start's limit, -m N).
 *
 * S_start server with limit 3: three clients are served; a fourth is
 * closed at once, no callback runs for it, session_error becomes 1; when
 * one of the three leaves, a new client is served again.  At exit:
 * accept_counter=4, session_error=1, session_high=3.
 * IoC server with -m 2: the third client is closed at once; the statistics
 * on stderr say session_error=1, accept_counter=2.
 */
#include "client.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char line[1024];

static struct conn *
served(const char *ip, int port, struct srv *s, const char *what)
{
	struct conn *c = conn_tcp(ip, port, 20);
	int ok = c != NULL && conn_cmd(c, line, sizeof line, "PING %s", what) == 0 &&
	    strncmp(line, "PONG", 4) == 0;

	t_ok(ok, "client %s is served", what);
	if (!ok) {
		srv_dump(s);
		t_bail("a client under the limit was not served");
	}
	return c;
}

/* A client past the limit: connected by the kernel, then closed at once. */
static void
refused(const char *ip, int port, const char *what)
{
	struct conn *c = conn_tcp(ip, port, 20);
	int eof;

	if (c == NULL) {
		t_ok(0, "client %s past the limit could not even connect", what);
		return;
	}
	conn_sendf(c, "PING %s\n", what);
	eof = conn_wait_eof(c, 5);
	t_ok(eof == 1 || eof == 2, "client %s past the limit is closed at once "
	    "(%s)", what, eof == 1 ? "EOF" : eof == 2 ? "reset" : eof == 0 ?
	    "it was answered" : "still open after 5 s");
	conn_close(c);
}

static void
lowlevel(void)
{
	struct srv sv;
	struct tstats st;
	char *out;
	struct conn *c1, *c2, *c3, *c5;
	double end;
	int port, status;

	port = srv_start_lowlevel(&sv, 0, "3", "2");
	c1 = served("127.0.0.1", port, &sv, "1");
	c2 = served("::1", port, &sv, "2");
	c3 = served("127.0.0.1", port, &sv, "3");
	refused("127.0.0.1", port, "4");

	conn_cmd(c1, line, sizeof line, "STATS");
	t_ok(t_num(line, "session_error", -1) == 1 &&
	    t_num(line, "accept_counter", -1) == 3 &&
	    t_num(line, "session_gauge", -1) == 3, "S_stats: session_error=1, "
	    "accept_counter=3, session_gauge=3 (%s)", line);
	out = srv_out(&sv);
	t_ok(t_count(out, "ACCEPT id=") == 3, "no callback ran for the refused "
	    "client (%d TYP_ACCEPT)", t_count(out, "ACCEPT id="));
	free(out);

	/* One leaves: there is room again. */
	conn_close(c3);
	end = t_now() + t_secs(10);
	do {
		conn_cmd(c1, line, sizeof line, "STATS");
	} while (t_num(line, "session_gauge", -1) != 2 && t_now() < end);
	t_ok(t_num(line, "session_gauge", -1) == 2, "session_gauge drops to 2 "
	    "when a client leaves");
	c5 = served("127.0.0.1", port, &sv, "5");

	conn_close(c1);
	conn_close(c2);
	conn_close(c5);
	status = srv_stop_after(&sv, 4, &out, NULL);
	tstats_parse(out, &st);
	t_ok(status == 0 && tstats(&st, "session_error") == 1 &&
	    tstats(&st, "accept_counter") == 4 &&
	    tstats(&st, "session_high") == 3 &&
	    tstats(&st, "session_gauge") == 0, "at exit: session_error=%lld "
	    "accept_counter=%lld session_high=%lld session_gauge=%lld (status %d)",
	    tstats(&st, "session_error"), tstats(&st, "accept_counter"),
	    tstats(&st, "session_high"), tstats(&st, "session_gauge"), status);
	free(out);
	srv_check_end(&sv, T_ALL_CLOSED | T_TX_EXACT);
}

static void
ioc(void)
{
	struct srv sv;
	struct tstats st;
	char *out, *err;
	struct conn *c1, *c2;
	int port, status;

	port = srv_start_ioc(&sv, "t-srv-ioc", "-m", "2", "-n", "2", NULL);
	c1 = served("127.0.0.1", port, &sv, "IoC-1");
	c2 = served("::1", port, &sv, "IoC-2");
	refused("127.0.0.1", port, "IoC-3 (-m 2)");
	conn_close(c1);
	conn_close(c2);
	status = srv_stop_after(&sv, 2, &out, &err);
	tstats_parse(err, &st);
	t_ok(status == 0 && tstats(&st, "session_error") == 1 &&
	    tstats(&st, "accept_counter") == 2 &&
	    t_count(out, "ACCEPT id=") == 2, "IoC -m 2: session_error=%lld "
	    "accept_counter=%lld on stderr, %d serv_on_accept (status %d)",
	    tstats(&st, "session_error"), tstats(&st, "accept_counter"),
	    t_count(out, "ACCEPT id="), status);
	free(out);
	free(err);
	srv_check_end(&sv, T_ALL_CLOSED | T_TX_EXACT);
}

T_MAIN(lowlevel, ioc)
