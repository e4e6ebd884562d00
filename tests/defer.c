/*
 * defer.c - serv_set_defer_accept: a TCP connection whose client has
 * sent nothing is not handed to the server; once it sends, it is, and
 * its first request is answered.
 *
 * IoC server (t-srv-ioc --defer 30), one worker, so that connections are
 * taken in the order they were made: client A connects and says nothing,
 * then client B connects and sends PING.  When B's PONG is back, the
 * server has printed no ACCEPT line for A (without --defer it has: A was
 * queued before B, and that case is checked too, so that the check can
 * fail).  Then A sends PING: PONG, and A's ACCEPT line.  For the shared
 * socket, --reuseport and --accept-thread.  A UNIX socket (-l) with
 * --defer serves as before (the option is TCP's), and a number of
 * seconds out of range is refused: exit 64 with the library's line.
 */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char line[1024];

/* t-srv-ioc on 127.0.0.1, one worker, mode (or the shared socket: NULL)
 * and --defer defer (or none: NULL): its port. */
static int
start(struct srv *sv, const char *mode, const char *defer)
{
	if (mode != NULL && defer != NULL)
		return srv_start_ioc(sv, "t-srv-ioc", "-i", "127.0.0.1", "-n",
		    "1", mode, "--defer", defer, NULL);
	if (mode != NULL)
		return srv_start_ioc(sv, "t-srv-ioc", "-i", "127.0.0.1", "-n",
		    "1", mode, NULL);
	if (defer != NULL)
		return srv_start_ioc(sv, "t-srv-ioc", "-i", "127.0.0.1", "-n",
		    "1", "--defer", defer, NULL);
	return srv_start_ioc(sv, "t-srv-ioc", "-i", "127.0.0.1", "-n", "1",
	    NULL);
}

/* A silent client A, then a talking one B (see the top). */
static void
order(const char *mode, const char *defer)
{
	struct srv sv;
	struct conn *a, *b;
	const char *what = defer != NULL ? "with --defer" : "without --defer";
	char *out;
	int port, early;

	port = start(&sv, mode, defer);
	if (mode == NULL)
		mode = "shared socket";
	a = srv_connect(&sv, "127.0.0.1", port);
	b = srv_connect(&sv, "127.0.0.1", port);
	t_ok(conn_cmd(b, line, sizeof line, "PING b") == 0 &&
	    strcmp(line, "PONG b") == 0, "%s %s: the talking client is "
	    "answered (%s)", mode, what, line);
	out = srv_out(&sv);
	early = t_accept_line(out, conn_port(a)) != NULL;
	free(out);
	if (defer != NULL)
		t_ok(!early, "%s %s: the silent client was not handed to the "
		    "server", mode, what);
	else
		t_ok(early, "%s %s: the silent client, queued first, was "
		    "accepted first", mode, what);
	t_ok(conn_cmd(a, line, sizeof line, "PING a") == 0 &&
	    strcmp(line, "PONG a") == 0, "%s %s: once it talks, it is "
	    "answered (%s)", mode, what, line);
	out = srv_out(&sv);
	t_ok(t_accept_line(out, conn_port(a)) != NULL, "%s %s: and accepted",
	    mode, what);
	free(out);
	conn_close(a);
	conn_close(b);
	srv_end_after_terms(&sv, 2, T_ALL_CLOSED | T_TX_EXACT, "%s %s", mode,
	    what);
}

static void
unix_socket(void)
{
	struct srv sv;
	struct conn *c;
	char path[4400];

	snprintf(path, sizeof path, "%s", t_path("defer.sock"));
	srv_start_ioc(&sv, "t-srv-ioc", "-l", path, "-n", "1", "--defer",
	    "30", NULL);
	c = conn_must(conn_unix(path, 20), &sv);
	t_ok(conn_cmd(c, line, sizeof line, "PING u") == 0 &&
	    strcmp(line, "PONG u") == 0, "-l with --defer: served (%s)", line);
	conn_close(c);
	srv_end_after_terms(&sv, 1, T_ALL_CLOSED | T_TX_EXACT, "-l --defer");
}

static void
refused(const char *value)
{
	const char *args[] = { "-x", "--defer", value, NULL };
	char *out, *err, says[64];
	int status;

	snprintf(says, sizeof says, "serv_set_defer_accept: %s:", value);
	status = srv_run("t-srv-ioc", args, 5, &out, &err);
	t_ok(status == 64 && strstr(err, says) != NULL &&
	    strstr(err, "invalid argument for --defer") != NULL &&
	    strstr(out, "INIT") == NULL, "--defer %s: exit 64 with '%s' "
	    "(status %d, stderr %.200s)", value, says, status, err);
	free(out);
	free(err);
}

int
main(int argc, char **argv)
{
	static const char *const modes[] = {
		NULL, "--reuseport", "--accept-thread",
	};
	size_t i;

	t_init(argc, argv);
	for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		order(modes[i], "30");
		order(modes[i], NULL);
	}
	unix_socket();
	refused("-1");
	refused("3601");
	return t_done();
}
