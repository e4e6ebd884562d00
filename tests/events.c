/*
 * events.c - the callbacks a connection sees, in order and on the right
 * thread, and what S_send answers to good and bad arguments.
 *
 * Scenario (S_start server, 2 workers, then an IoC server with -n 2):
 *  - a client pings: TYP_ACCEPT on a worker (not the S_start thread), then
 *    TYP_READ on the same thread; S_stats before S_start answered -1;
 *  - a client writes a 1,000,000-byte block at once: every TYP_READ holds at
 *    most 64000 bytes, NUL-terminated and writable, and all bytes arrive;
 *  - a client over ::1 streams 300,000 bytes through an echo: same bytes back;
 *  - the server answers with one S_send of 1,000,090 bytes: all arrive;
 *  - S_send's answers: -2 for NULL arguments, 0 for len 0, -1 for a SESSION
 *    the application made, -1 once S_close was called;
 *  - TYP_TERM comes exactly once per session, with the session's counters;
 *  - a second S_start on the same port returns -1 with a message;
 *  - SIGTERM: exit status 0 and S_start returned 0.
 */
#include "client.h"
#include "hsvr.h"
#include "pattern.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct srv sv;

static struct conn *
must_connect(const char *ip, int port)
{
	struct conn *c = conn_tcp(ip, port, 20);

	if (c == NULL) {
		srv_dump(&sv);
		t_bail("cannot connect to %s port %d", ip, port);
	}
	return c;
}

static void
lowlevel(void)
{
	char line[4096], want[128], *out, *err;
	const char *l, *why;
	struct conn *c1, *c2, *c3;
	struct srv dup;
	unsigned char *block;
	size_t n, got;
	int port, status;

	port = srv_start_lowlevel(&sv, 0, "100", "2");

	c1 = must_connect("127.0.0.1", port);
	t_ok(conn_cmd(c1, line, sizeof line, "PING hello") == 0 &&
	    strcmp(line, "PONG hello") == 0, "PING answered with PONG (got '%s')",
	    line);
	out = srv_out(&sv);
	l = t_accept_line(out, conn_port(c1));
	t_ok(t_line(out, "PRESTART stats_rc=-1", 0) != NULL,
	    "S_stats before S_start returns -1");
	t_ok(l != NULL && t_num(l, "main", 1) == 0 && t_num(l, "thread", -1) >= 0,
	    "TYP_ACCEPT ran on a worker thread, not the S_start thread");
	t_ok(l != NULL && t_word(l, "host", want, sizeof want) != NULL &&
	    strcmp(want, "127.0.0.1") == 0, "SESSION.host is 127.0.0.1");
	free(out);

	/* One write of 1,000,000 bytes: the reads are cut at 64000 bytes. */
	n = 1000000;
	if ((block = malloc(n + 32)) == NULL)
		abort();
	memcpy(block, "SINK 1000000\n", 13);
	pat_fill(block + 13, 0, n);
	snprintf(want, sizeof want, "hash=%016llx",
	    (unsigned long long)fnv64(FNV64_INIT, block + 13, n));
	conn_send(c1, block, n + 13);
	free(block);
	t_ok(conn_line(c1, line, sizeof line, 30) == 0 &&
	    strstr(line, want) != NULL && t_num(line, "n", -1) == 1000000,
	    "a 1,000,000-byte write arrives whole and in order (%s)", line);
	t_ok(t_num(line, "maxblen", 1 << 30) <= 64000 &&
	    t_num(line, "reads", 0) >= 16,
	    "no TYP_READ delivers more than 64000 bytes (maxblen=%lld, "
	    "reads=%lld)", t_num(line, "maxblen", -1), t_num(line, "reads", -1));

	/* Echo over IPv6: 300,000 bytes out, the same 300,000 back. */
	c2 = must_connect("::1", port);
	conn_sendf(c2, "ECHO\n");
	n = 300000;
	if ((block = malloc(n)) == NULL)
		abort();
	pat_fill(block, 0, n);
	conn_send(c2, block, n);
	free(block);
	got = conn_read_pattern(c2, 0, n, 30, &why);
	t_ok(got == n, "300,000 bytes echoed back over ::1 in order "
	    "(%zu bytes matched%s%s)", got, *why ? ", " : "", why);

	/* One S_send of 1,000,090 bytes (the original's HTTP reply size). */
	conn_sendf(c1, "SOURCE 1000090 1000090\n");
	got = conn_read_pattern(c1, 0, 1000090, 30, &why);
	t_ok(got == 1000090, "one S_send of 1,000,090 bytes is accepted and "
	    "all of it arrives (%zu bytes matched%s%s)", got, *why ? ", " : "",
	    why);
	t_ok(srv_wait_out(&sv, "SOURCE-DONE", 1, 10) == 0,
	    "the server queued it with one S_send");

	/* S_send's answers to bad arguments. */
	conn_cmd(c1, line, sizeof line, "SELFTEST");
	t_note("%s", line);
	t_ok(t_num(line, "null_session", 0) == S_ERR_PARAM,
	    "S_send(NULL, buf, 3) returns -2");
	t_ok(t_num(line, "null_buf", 0) == S_ERR_PARAM,
	    "S_send(s, NULL, 3) returns -2");
	t_ok(t_num(line, "null_buf_zero", 9) == 0 &&
	    t_num(line, "zero_len", 9) == 0, "S_send with len 0 returns 0");
	t_ok(t_num(line, "app_zeroed", 0) == -1 &&
	    t_num(line, "app_fields", 0) == -1,
	    "S_send on a SESSION the application filled in itself returns -1");
	t_ok(t_num(line, "app_copy", 0) == -1,
	    "S_send on an application's copy of a live SESSION returns -1");
	t_ok(t_num(line, "status", -1) == 0 &&
	    conn_cmd(c1, line, sizeof line, "PING after") == 0 &&
	    strcmp(line, "PONG after") == 0,
	    "S_close/S_settimer on NULL or made-up sessions leave the real one "
	    "open");

	/* After S_close, S_send returns -1; queued output still arrives. */
	c3 = must_connect("127.0.0.1", port);
	t_ok(conn_cmd(c3, line, sizeof line, "CLOSESEND") == 0 &&
	    strcmp(line, "BYE") == 0 && conn_wait_eof(c3, 10) == 1,
	    "output queued before S_close arrives, then EOF");
	srv_wait_out(&sv, "CLOSESEND", 1, 10);
	out = srv_out(&sv);
	l = t_line(out, "CLOSESEND", 0);
	t_ok(t_num(l, "rc_after", 0) == -1, "S_send after S_close returns -1");
	t_ok(t_num(l, "status", 0) != 0,
	    "SESSION.status is no longer HSVR_ST_OPEN after S_close");
	free(out);

	conn_close(c1);
	conn_close(c2);
	conn_close(c3);
	t_ok(srv_wait_out(&sv, "TERM id=", 3, 10) == 0,
	    "closing the three clients gives three TYP_TERM");

	/* A second server on the same port cannot start. */
	srv_start_lowlevel(&dup, port, "100", "2");
	status = srv_wait_exit(&dup, 20);
	out = srv_out(&dup);
	err = srv_err(&dup);
	t_ok(status == 1 && t_line(out, "S_START_RETURNED -1", 0) != NULL &&
	    strlen(err) > 0, "S_start on a port in use returns -1 with a "
	    "message on stderr (status %d, stderr '%.*s')", status,
	    (int)strcspn(err, "\n"), err);
	free(out);
	free(err);

	status = srv_stop(&sv, SIGTERM, 20);
	out = srv_out(&sv);
	t_ok(status == 0 && t_line(out, "S_START_RETURNED 0", 0) != NULL,
	    "SIGTERM: S_start returns 0 and the server exits 0 (status %d)",
	    status);
	free(out);
	srv_check_end(&sv, T_ALL_CLOSED | T_TX_EXACT);
}

static void
ioc(void)
{
	struct srv io;
	char line[256], *out, *err;
	const char *l;
	struct conn *a, *b;
	int port, status, w0, w1, i, ordered;

	port = srv_start_ioc(&io, "t-srv-ioc", "-n", "2", NULL);
	a = srv_connect(&io, "127.0.0.1", port);
	b = conn_tcp("::1", port, 20);
	t_ok(b != NULL && conn_cmd(a, line, sizeof line, "PING a") == 0 &&
	    conn_cmd(b, line, sizeof line, "PING b") == 0 &&
	    strcmp(line, "PONG b") == 0, "IoC: serv_on_read answers both clients");
	out = srv_out(&io);
	w0 = t_line(out, "WORKER_INIT 0", 0) != NULL;
	w1 = t_line(out, "WORKER_INIT 1", 0) != NULL;
	t_ok(w0 && w1 && t_line(out, "WORKER_INIT 2", 0) == NULL,
	    "IoC -n 2: serv_worker_init ran for workers 0 and 1 only");
	for (i = 0, ordered = 1; (l = t_line(out, "ACCEPT ", i)) != NULL; i++) {
		snprintf(line, sizeof line, "WORKER_INIT %lld",
		    t_num(l, "thread", -1));
		if (t_line(out, line, 0) == NULL || t_line(out, line, 0) > l)
			ordered = 0;
	}
	t_ok(i == 2 && ordered, "IoC: each worker ran serv_worker_init before "
	    "its first serv_on_accept");
	t_ok(t_line(out, "INIT ", 0) != NULL && t_line(out, "INIT ", 0) <
	    t_line(out, "WORKER_INIT", 0), "IoC: serv_init ran before the workers");
	free(out);
	conn_close(a);
	conn_close(b);
	status = srv_stop_after(&io, 2, &out, &err);
	t_ok(status == 0, "IoC: SIGTERM with no connection left: exit status 0 "
	    "(%d)", status);
	t_ok(t_line(out, "SERV_EXIT", 0) != NULL, "IoC: serv_exit ran");
	free(out);
	free(err);
	srv_check_end(&io, T_ALL_CLOSED | T_TX_EXACT);
}

T_MAIN(lowlevel, ioc)
