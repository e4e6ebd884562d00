/*
 * close.c - S_close writes out what is queued, then closes, then TYP_TERM.
 *
 * Scenario (S_start server, 2 workers):
 *  - the client asks for 10 MiB and reads it at about 12 MB/s: the server
 *    sends it in pieces, honouring -4 and TYP_SENDABLE, keeps sending until S_send says -4 again, and calls
 *    S_close while congested.  The client receives every byte the server
 *    queued, in order, then a clean EOF (no reset).  S_send after S_close
 *    returns -1; no TYP_SENDABLE comes after S_close; TYP_TERM comes once,
 *    with SESSION.txoctet equal to all that was queued;
 *  - client B makes the server S_send 300,000 bytes to client A and S_close
 *    A from B's callback (A lives on the other worker): A receives the
 *    300,000 bytes, then EOF;
 *  - A gets 2,000,000 bytes by S_send then S_close from B's callback, and
 *    sends 300 KB the server never reads: A still receives the whole
 *    reply, then EOF, since the close lingers instead of resetting (which
 *    would drop what the kernel has not sent yet).
 */
#include "client.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOTAL (10u * 1024 * 1024)

int
main(int argc, char **argv)
{
	struct srv sv;
	char line[256], *out;
	const char *l, *why;
	struct conn *c, *a, *b;
	size_t got;
	long long total, id;
	int port, eof, i, late;

	t_init(argc, argv);
	port = srv_start_lowlevel(&sv, 0, "100", "2");
	c = srv_connect(&sv, "127.0.0.1", port);
	conn_close(c);
	/* Small kernel buffers, so that the output drains in small steps. */
	c = conn_tcp_once("127.0.0.1", port, 8192);
	if (c == NULL || conn_cmd(c, line, sizeof line, "SNDBUF 16384") != 0)
		t_bail("cannot connect");

	/* 10 MiB and more, S_close while congested.  The client reads at about
	 * 12 MB/s, slower than the server queues, so that S_send says -4. */
	conn_sendf(c, "SOURCECLOSE %u\n", TOTAL);
	got = 0;
	do {
		got += conn_read_pattern(c, got, 256 * 1024, 60, &why);
		t_pause(0.02);
	} while (*why == '\0' && got < 128u * 1024 * 1024);
	eof = strcmp(why, "eof") == 0;
	srv_wait_out(&sv, "CLOSEAT", 1, 10);
	out = srv_out(&sv);
	l = t_line(out, "CLOSEAT", 0);
	total = t_num(l, "total", -1);
	id = t_num(l, "id", -1);
	t_note("%.*s", l ? (int)strcspn(l, "\n") : 0, l ? l : "");
	t_ok(l != NULL && total >= TOTAL && t_num(l, "congested", 0) == 1,
	    "the server queued at least %u bytes and called S_close while "
	    "congested", TOTAL);
	t_ok(eof && (long long)got == total, "the client received all %lld "
	    "queued bytes in order, then EOF (%zu bytes, stopped by %s)", total,
	    got, why);
	t_ok(conn_wait_eof(c, 1) == 1, "the connection ended with a FIN, "
	    "not a reset");
	t_ok(t_num(l, "rc_after", 0) == -1, "S_send after S_close returns -1 "
	    "(%lld)", t_num(l, "rc_after", 0));
	free(out);
	conn_close(c);
	srv_wait_out(&sv, "TERM id=", 2, 10);
	out = srv_out(&sv);
	late = 0;
	for (i = 0; (l = t_line(out, "SENDABLE id=", i)) != NULL; i++)
		if (l > t_line(out, "CLOSEAT", 0))
			late++;
	t_ok(late == 0, "no TYP_SENDABLE after S_close (%d)", late);
	l = t_line(out, "TERM id=", 1);
	t_ok(l != NULL && t_num(l, "id", -2) == id &&
	    t_num(l, "txoctet", -1) >= total &&
	    t_num(l, "txoctet", -1) == t_num(l, "app_txoctet", -2),
	    "TYP_TERM came after the output was written (SESSION.txoctet=%lld)",
	    t_num(l, "txoctet", -1));
	free(out);

	/* Another worker's S_send then S_close: the data, then EOF. */
	a = conn_tcp("127.0.0.1", port, 10);
	b = conn_tcp("127.0.0.1", port, 10);
	if (a == NULL || b == NULL)
		t_bail("cannot connect");
	conn_cmd(a, line, sizeof line, "PING a");
	conn_cmd(b, line, sizeof line, "PING b");
	out = srv_out(&sv);
	t_note("A on thread %lld, B on thread %lld",
	    t_num(t_accept_line(out, conn_port(a)), "thread", -1),
	    t_num(t_accept_line(out, conn_port(b)), "thread", -1));
	free(out);
	t_ok(conn_cmd(b, line, sizeof line, "SENDCLOSE 127.0.0.1 %d 300000",
	    conn_port(a)) == 0 && strcmp(line, "SENDCLOSE rc=0") == 0,
	    "S_send to A from B's callback returns 0 (%s)", line);
	got = conn_read_pattern(a, 0, 400000, 30, &why);
	t_ok(got == 300000 && strcmp(why, "eof") == 0,
	    "A receives the 300,000 bytes sent before S_close, then EOF "
	    "(%zu bytes, %s)", got, why);
	conn_close(a);
	conn_close(b);
	srv_wait_out(&sv, "TERM id=", 4, 10);

	/*
	 * S_close while the peer's input is still unread: closing the socket
	 * then would answer with a reset, and a reset makes the kernel drop
	 * the reply it has not sent yet.  The close lingers instead: the
	 * whole reply, then EOF.  A sends 300 KB the server will never read,
	 * and waits before reading.  The reply fits in the kernel's send
	 * buffer, so the server's close is usually over (TYP_TERM) before the
	 * junk arrives: nothing is unread then, but the reply is still unsent.
	 */
	a = conn_tcp_once("127.0.0.1", port, 16384);
	b = conn_tcp("127.0.0.1", port, 10);
	if (a == NULL || b == NULL || conn_cmd(a, line, sizeof line, "PING a"))
		t_bail("cannot connect");
	t_ok(conn_cmd(b, line, sizeof line, "SENDCLOSE 127.0.0.1 %d 2000000",
	    conn_port(a)) == 0 && strcmp(line, "SENDCLOSE rc=0") == 0,
	    "S_send of 2,000,000 bytes to A, then S_close (%s)", line);
	t_note("the close was %s when the junk was sent",
	    srv_wait_out(&sv, "TERM id=", 5, 3) == 0 ? "over" : "not over");
	{
		static char junk[300 * 1024];

		memset(junk, 'j', sizeof junk);
		conn_send(a, junk, sizeof junk);
	}
	t_pause(0.5);
	got = conn_read_pattern(a, 0, 2000000, 30, &why);
	t_ok(got == 2000000 && strcmp(why, "") == 0 &&
	    conn_wait_eof(a, 10) == 1, "input the server never reads, sent as it closes: "
	    "the whole 2,000,000-byte reply arrives, then EOF, no reset (%zu "
	    "bytes, %s)", got, *why ? why : "complete");
	conn_close(a);
	conn_close(b);
	srv_wait_out(&sv, "TERM id=", 6, 10);

	srv_end(&sv, 20, T_ALL_CLOSED | T_TX_EXACT, "server");
	return t_done();
}
