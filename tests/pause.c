/*
 * pause.c - S_pause_read: a paused session gets no TYP_READ, its peer is
 * slowed down by the kernel's flow control, and it resumes from its own
 * or from another worker's thread.
 *
 * IoC server with two workers; client A's session pauses itself (PAUSE):
 *  - a line A sends then is not answered;
 *  - A can send far more than the server's 64,000-byte read buffer, but
 *    not without bound: the kernel stops it (flow control, not buffering),
 *    well before 16 MiB;
 *  - the idle timeout still runs while paused (TIMER 1 -> "TIMEOUT 1");
 *  - client B's session, on the other worker, resumes A (RESUME ip port):
 *    A's line and everything after it is answered, in order, nothing lost;
 *  - a paused session's end of file is noticed after the resume.
 */
#include "client.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define JUNK ((size_t)16 * 1024 * 1024)

static char line[4096];

static void
pause_resume(void)
{
	struct srv sv;
	struct conn *a, *b, *c;
	char sink[64];
	unsigned char chunk[16384];
	size_t sent = 0;
	int port, ok, hdr;

	port = srv_start_ioc(&sv, "t-srv-ioc", "-n", "2", NULL);
	a = conn_tcp("127.0.0.1", port, 20);
	b = conn_tcp("127.0.0.1", port, 20);
	if (a == NULL || b == NULL)
		t_bail("cannot connect");
	t_ok(conn_cmd(a, line, sizeof line, "PAUSE") == 0 &&
	    strcmp(line, "PAUSE rc=0") == 0, "PAUSE: S_pause_read returns 0 "
	    "(%s)", line);
	conn_sendf(a, "PING one\n");
	t_ok(conn_quiet(a, t_secs(0.5)), "paused: a line sent is not "
	    "answered (no TYP_READ)");
	conn_cmd(b, line, sizeof line, "COUNT");
	t_ok(strncmp(line, "COUNT", 5) == 0, "the other session is served "
	    "meanwhile (%s)", line);

	/*
	 * Flow control: the peer is stopped by the kernel, not buffered.  The
	 * bytes go to a SINK command (no reply per line), so that the replies
	 * stay one line each.
	 */
	hdr = snprintf(sink, sizeof sink, "SINK %zu\n", (size_t)JUNK);
	conn_send(a, sink, (size_t)hdr);
	memset(chunk, 'x', sizeof chunk);
	while (sent < JUNK) {
		size_t want = JUNK - sent < sizeof chunk ? JUNK - sent :
		    sizeof chunk;
		ssize_t n = send(a->fd, chunk, want, MSG_DONTWAIT);

		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	t_ok(sent > 64000 && sent < JUNK, "paused: the peer sent %zu bytes, "
	    "then the kernel stopped it", sent);

	t_ok(conn_cmd(b, line, sizeof line, "RESUME 127.0.0.1 %d",
	    conn_port(a)) == 0 && strcmp(line, "RESUME rc=0") == 0, "RESUME "
	    "from the other worker's thread returns 0 (%s)", line);
	ok = conn_line(a, line, sizeof line, t_secs(10)) == 0;
	t_ok(ok && strcmp(line, "PONG one") == 0, "resumed: the line sent "
	    "while paused is answered (%.60s)", ok ? line : "nothing");
	while (sent < JUNK) {
		size_t want = JUNK - sent < sizeof chunk ? JUNK - sent :
		    sizeof chunk;

		if (conn_send(a, chunk, want) != 0)
			break;
		sent += want;
	}
	conn_sendf(a, "PING two\n");
	ok = conn_line(a, line, sizeof line, t_secs(20)) == 0 &&
	    t_num(line, "n", -1) == JUNK;
	t_ok(ok, "resumed: every byte sent while paused arrives (%.60s)",
	    line);
	ok = conn_line(a, line, sizeof line, t_secs(10)) == 0 &&
	    strcmp(line, "PONG two") == 0;
	t_ok(ok, "resumed: and what follows, in order");

	/* The idle timeout runs while paused. */
	conn_cmd(a, line, sizeof line, "TIMER 1");
	conn_cmd(a, line, sizeof line, "PAUSE");
	ok = conn_line(a, line, sizeof line, t_secs(5)) == 0 &&
	    strncmp(line, "TIMEOUT", 7) == 0;
	t_ok(ok, "paused: TYP_TIMEOUT still comes (%s)", ok ? line : "-");
	conn_cmd(b, line, sizeof line, "RESUME 127.0.0.1 %d", conn_port(a));

	/* End of file while paused: seen after the resume. */
	c = conn_tcp("127.0.0.1", port, 20);
	if (c == NULL || conn_cmd(c, line, sizeof line, "PAUSE") != 0)
		t_bail("cannot connect");
	shutdown(c->fd, SHUT_WR);
	t_ok(conn_quiet(c, t_secs(0.5)), "paused: the peer's end of file is "
	    "not acted on");
	conn_cmd(b, line, sizeof line, "RESUME 127.0.0.1 %d", conn_port(c));
	t_ok(conn_wait_eof(c, t_secs(10)) == 1, "resumed: the end of file "
	    "closes the session");
	conn_close(c);
	conn_close(a);
	conn_close(b);
	srv_end_after_terms(&sv, 3, T_ALL_CLOSED, "server");
}

T_MAIN(pause_resume)
