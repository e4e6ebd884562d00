/*
 * discard.c - discarded_octet counts exactly the output a session's end
 * threw away.
 *
 * IoC server, two workers, -T 0, --write-timeout 1, -t.  Each scenario
 * leaves a known number of bytes queued and unsent when the session ends;
 * the server's TERM line says how many the application had queued
 * (app_txoctet, S_send calls that returned 0), how many were written
 * (txoctet) and how many S_send refused with -4 (minus4_octets, which
 * discarded_octet counts too), so what was lost is
 * app_txoctet - txoctet + minus4_octets, to the byte:
 *  - reset: a 2,000,000-byte S_send to a client that reads nothing (small
 *    socket buffers), then the client resets the connection;
 *  - closing: SOURCECLOSE (S_send until -4, then S_close), then the
 *    client resets while the close is flushing;
 *  - write timeout: a download the client never reads, until
 *    --write-timeout closes the session (write_timeout goes up by one);
 *  - exit: a download still queued when SIGTERM stops the server (-t).
 * After each, S_stats' discarded_octet went up by exactly that session's
 * loss (seen from a control connection), and the exit statistics say the
 * sum of all of them.  The bug this catches: a session's end that frees
 * its output queue without counting it (discarded_octet stays at the -4
 * refusals, or above 0 only by luck).
 */
#include "client.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char line[4096];
static struct srv sv;
static int port;
static long long total_lost;

static long long
stat_of(struct conn *q, const char *name)
{
	if (conn_cmd(q, line, sizeof line, "STATS") != 0)
		t_bail("no STATS answer");
	return t_num(line, name, -1);
}

/* A client with small buffers that will read nothing; its session id. */
static struct conn *
stalled(long long *id)
{
	struct conn *c = conn_tcp_once("127.0.0.1", port, 4096);
	char *out;

	if (c == NULL)
		t_bail("cannot connect");
	if (conn_cmd(c, line, sizeof line, "SNDBUF 4096") != 0 ||
	    strcmp(line, "SNDBUF 1") != 0)
		t_bail("SNDBUF: '%s'", line);
	out = srv_out(&sv);
	*id = t_num(t_accept_line(out, conn_port(c)), "id", -1);
	free(out);
	return c;
}

static void
reset(struct conn *c)
{
	struct linger lg = { 1, 0 };

	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	conn_close(c);
}

/* The bytes session id lost by its TERM line: -1 without one in time. */
static long long
lost_of(long long id)
{
	char needle[64], *out;
	const char *l;
	long long lost = -1;

	snprintf(needle, sizeof needle, "TERM id=%lld ", id);
	if (srv_wait_out(&sv, needle, 1, 20) != 0)
		return -1;
	out = srv_out(&sv);
	if ((l = strstr(out, needle)) != NULL)
		lost = t_num(l, "app_txoctet", 0) - t_num(l, "txoctet", 0) +
		    t_num(l, "minus4_octets", 0);
	if (l != NULL)
		t_note("%.*s", (int)strcspn(l, "\n"), l);
	free(out);
	return lost;
}

static void
verdict(const char *what, long long before, long long after, long long lost)
{
	t_ok(lost > 0 && after - before == lost, "%s: discarded_octet went up "
	    "by the %lld bytes queued and unsent at the end (%lld -> %lld)",
	    what, lost, before, after);
	if (lost > 0)
		total_lost += lost;
}

/* A stalled client asks for cmd, the server says event (its first), the
 * client resets: the verdict on what its session lost. */
static void
reset_queued(struct conn *q, const char *cmd, const char *event,
    const char *what)
{
	long long before = stat_of(q, "discarded_octet"), id, lost;
	struct conn *c = stalled(&id);

	conn_sendf(c, "%s\n", cmd);
	if (srv_wait_out(&sv, event, 1, 10) != 0)
		t_bail("no %s", event);
	reset(c);
	lost = lost_of(id);
	verdict(what, before, stat_of(q, "discarded_octet"), lost);
}

int
main(int argc, char **argv)
{
	struct conn *q, *c;
	struct tstats st;
	char *err;
	long long id, before, lost, wt;
	int status;

	t_init(argc, argv);
	port = srv_start_ioc(&sv, "t-srv-ioc", "-t", "-i", "127.0.0.1",
	    "-n", "2", "-T", "0", "--write-timeout", "1", NULL);
	q = srv_connect(&sv, "127.0.0.1", port);

	/* The peer resets with 2 MB queued. */
	reset_queued(q, "DOWNLOAD 2000000", "DOWNLOAD id=", "reset");
	/* S_close with output queued, then a reset. */
	reset_queued(q, "SOURCECLOSE 1000000", "CLOSEAT id=",
	    "reset while closing");

	/* --write-timeout ends a session whose output does not move. */
	before = stat_of(q, "discarded_octet");
	wt = stat_of(q, "write_timeout");
	c = stalled(&id);
	conn_sendf(c, "DOWNLOAD 2000000\n");
	lost = lost_of(id);
	verdict("write timeout", before, stat_of(q, "discarded_octet"), lost);
	t_ok(stat_of(q, "write_timeout") == wt + 1, "the write timeout ended "
	    "it (write_timeout %lld -> %s)", wt, line);
	conn_close(c);

	/* A download still queued when the server stops. */
	c = stalled(&id);
	conn_sendf(c, "DOWNLOAD 2000000\n");
	if (srv_wait_out(&sv, "DOWNLOAD id=", 3, 10) != 0)
		t_bail("no third DOWNLOAD");
	status = srv_stop(&sv, SIGTERM, t_secs(20));
	t_ok(status == 0, "server exits 0 on SIGTERM (%d)", status);
	lost = lost_of(id);
	t_ok(lost > 0, "the session stopped with output queued (%lld bytes)",
	    lost);
	if (lost > 0)
		total_lost += lost;
	err = srv_err(&sv);
	tstats_parse(err, &st);
	free(err);
	t_ok(tstats(&st, "discarded_octet") == total_lost, "exit statistics: "
	    "discarded_octet=%lld, the sum of what every session lost (%lld)",
	    tstats(&st, "discarded_octet"), total_lost);
	conn_close(c);
	conn_close(q);
	/* Not T_TX_EXACT: SESSION.txoctet counts what was written. */
	srv_check_end(&sv, T_ALL_CLOSED);
	return t_done();
}
