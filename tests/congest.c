/*
 * congest.c - S_send's congestion rule (-4, writewait, one TYP_SENDABLE).
 *
 * S_start server, 2 workers.
 * 1. The client asks for 8 MiB and does not read.  The server starts with
 *    one S_send of 2 MiB + 90 bytes (larger than the 1 MiB high mark;
 *    accepted because nothing is queued yet), then sends 64 KiB pieces until
 *    S_send returns -4.  Right after that writewait is 1 and four more
 *    S_send calls (3 pieces, 1 byte) return -4; in a later callback (the
 *    client sends TRY) S_send still returns -4; no TYP_SENDABLE comes while
 *    the client reads nothing.  Then the client reads everything: one
 *    TYP_SENDABLE per -4 episode (writewait 0 each time), the server resends
 *    what was refused, and the client receives all 8 MiB in order: the
 *    refused data was not queued.
 * 2. With small kernel buffers on both sides (so that what the library
 *    queues is what was sent): the first -4 comes once a little over 1 MiB
 *    is queued, and TYP_SENDABLE once the client has read all but about
 *    128 KiB of it.
 * At exit discarded_packet and discarded_octet equal the -4 calls and their
 * bytes, txoctet and txcount what was queued.
 */
#include "client.h"
#include "hsvr.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOTAL (8u * 1024 * 1024)
#define FIRST (2u * 1024 * 1024 + 90)
#define MARKS_TOTAL (3u * 1024 * 1024)
/* What the kernel may hold beyond the library's queue with a 16 KiB send
 * buffer on the server and an 8 KiB receive buffer on the client. */
#define SLACK (256 * 1024)

/* Sums a TERM-line field over every session. */
static long long
sum_terms(const char *out, const char *key)
{
	const char *l;
	long long sum = 0;
	int i;

	for (i = 0; (l = t_line(out, "TERM id=", i)) != NULL; i++)
		sum += t_num(l, key, 0);
	return sum;
}

/* The -4 rule itself: a single call above the high mark, then -4 for
 * every S_send until TYP_SENDABLE, and the refused data not queued. */
static void
big_first(struct srv *sv, int port)
{
	char *out;
	const char *l, *why;
	struct conn *c;
	size_t got;

	if ((c = conn_tcp("127.0.0.1", port, 20)) == NULL) {
		srv_dump(sv);
		t_bail("cannot connect");
	}
	conn_sendf(c, "CONGEST %u %u\n", TOTAL, FIRST);
	if (srv_wait_out(sv, "CONGEST id=", 1, 20) != 0) {
		srv_dump(sv);
		t_bail("the server never saw S_send return -4 for a client that "
		    "reads nothing");
	}
	out = srv_out(sv);
	l = t_line(out, "CONGEST id=", 0);
	t_note("%.*s", (int)strcspn(l, "\n"), l);
	t_ok(t_num(l, "queued", 0) >= FIRST, "the first S_send of %u bytes "
	    "(above the high mark, nothing queued) returned 0 (%lld bytes "
	    "queued before the first -4)", FIRST, t_num(l, "queued", 0));
	t_ok(t_num(l, "writewait", 0) == 1 && t_num(l, "probes_ok", 0) == 1,
	    "after -4: writewait is 1 and every further S_send returns -4");
	free(out);

	conn_sendf(c, "TRY\n");
	srv_wait_out(sv, "TRY id=", 1, 10);
	out = srv_out(sv);
	l = t_line(out, "TRY id=", 0);
	t_ok(t_num(l, "rc", 0) == S_ERR_CONGESTED && t_num(l, "writewait", 0) == 1,
	    "in a later callback S_send still returns -4 (rc=%lld writewait=%lld)",
	    t_num(l, "rc", 0), t_num(l, "writewait", -1));
	free(out);

	t_pause(t_secs(0.3));
	out = srv_out(sv);
	t_ok(t_line(out, "SENDABLE", 0) == NULL,
	    "no TYP_SENDABLE while the client reads nothing");
	free(out);

	got = conn_read_pattern(c, 0, TOTAL, 60, &why);
	t_ok(got == TOTAL, "the client receives all %u bytes in order, none "
	    "twice (%zu matched%s%s)", TOTAL, got, *why ? ", " : "", why);
	t_ok(srv_wait_out(sv, "SOURCE-DONE", 1, 10) == 0,
	    "the server resent from TYP_SENDABLE until all was queued");
	conn_close(c);
	srv_wait_out(sv, "TERM id=", 1, 10);
	out = srv_out(sv);
	l = t_line(out, "TERM id=", 0);
	t_ok(t_num(l, "episodes", -1) >= 1 &&
	    t_num(l, "episodes", -1) == t_num(l, "sendable", -2),
	    "exactly one TYP_SENDABLE per congestion episode (%lld episodes, "
	    "%lld TYP_SENDABLE)", t_num(l, "episodes", -1),
	    t_num(l, "sendable", -1));
	free(out);
}

/* Where the marks are: with small kernel buffers on both sides, the first
 * -4 comes once a little over 1 MiB is queued, and TYP_SENDABLE once the
 * client has read all but about 128 KiB of it. */
static void
marks(struct srv *sv, int port)
{
	char line[256], sendable[64], *out;
	const char *l, *why = "";
	struct conn *c = NULL;
	double end = t_now() + t_secs(20);
	long long queued;
	size_t got = 0, early, late;
	int seen = 0;

	while (c == NULL && t_now() < end)
		c = conn_tcp_once("127.0.0.1", port, 8192);
	if (c == NULL)
		t_bail("cannot connect");
	conn_cmd(c, line, sizeof line, "SNDBUF 16384");
	t_note("server socket: %s", line);
	conn_sendf(c, "CONGEST %u 65536\n", MARKS_TOTAL);
	srv_wait_out(sv, "CONGEST id=", 2, 20);
	out = srv_out(sv);
	l = t_line(out, "CONGEST id=", 1);
	queued = t_num(l, "queued", 0);
	snprintf(sendable, sizeof sendable, "SENDABLE id=%lld ",
	    t_num(l, "id", -1));
	free(out);
	t_ok(queued > HSVR_HIGH_MARK && queued <= HSVR_HIGH_MARK + SLACK + 65536,
	    "64 KiB pieces: the first -4 comes when a little over the high mark "
	    "is queued (%lld bytes accepted)", queued);

	/* Read 16 KiB at a time until TYP_SENDABLE; it must come once at most
	 * 128 KiB is left, and not while more than 128 KiB + SLACK is. */
	early = queued > HSVR_LOW_MARK + SLACK ?
	    (size_t)queued - HSVR_LOW_MARK - SLACK : 0;
	late = (size_t)queued - 65536;
	while (*why == '\0') {
		out = srv_out(sv);
		seen = strstr(out, sendable) != NULL;
		free(out);
		if (seen)
			break;
		if (got >= late) {
			seen = srv_wait_out(sv, sendable, 1, 5) == 0;
			break;
		}
		got += conn_read_pattern(c, got, 16384, 20, &why);
	}
	t_ok(seen && got >= early, "TYP_SENDABLE comes when the output has "
	    "drained to the low mark (after the client read %zu of %lld bytes)",
	    got, queued);
	got += conn_read_pattern(c, got, MARKS_TOTAL - got, 30, &why);
	t_ok(got == MARKS_TOTAL, "the client receives all %u bytes in order "
	    "(%zu%s%s)", MARKS_TOTAL, got, *why ? ", " : "", why);
	conn_close(c);
	srv_wait_out(sv, "TERM id=", 2, 10);
}

int
main(int argc, char **argv)
{
	struct srv sv;
	struct tstats st;
	char *out;
	int port, status;

	t_init(argc, argv);
	port = srv_start_lowlevel(&sv, 0, "100", "2");
	big_first(&sv, port);
	marks(&sv, port);

	status = srv_stop(&sv, SIGTERM, 20);
	t_ok(status == 0, "SIGTERM: exit status 0 (%d)", status);
	out = srv_out(&sv);
	tstats_parse(out, &st);
	t_ok(tstats(&st, "discarded_packet") == sum_terms(out, "minus4"),
	    "discarded_packet=%lld counts the S_send calls refused with -4 (%lld)",
	    tstats(&st, "discarded_packet"), sum_terms(out, "minus4"));
	t_ok(tstats(&st, "discarded_octet") == sum_terms(out, "minus4_octets"),
	    "discarded_octet=%lld counts their bytes (%lld)",
	    tstats(&st, "discarded_octet"), sum_terms(out, "minus4_octets"));
	t_ok(tstats(&st, "txoctet") == sum_terms(out, "app_txoctet") &&
	    tstats(&st, "txoctet") > TOTAL + MARKS_TOTAL,
	    "txoctet=%lld: every byte queued (%lld)", tstats(&st, "txoctet"),
	    sum_terms(out, "app_txoctet"));
	t_ok(tstats(&st, "txcount") == sum_terms(out, "app_tx"),
	    "txcount=%lld: the S_send calls that returned 0 (%lld)",
	    tstats(&st, "txcount"), sum_terms(out, "app_tx"));
	t_ok(tstats(&st, "rxoctet") == sum_terms(out, "app_rxoctet") &&
	    tstats(&st, "rxcount") == sum_terms(out, "app_rx"),
	    "rxoctet=%lld rxcount=%lld: the command lines",
	    tstats(&st, "rxoctet"), tstats(&st, "rxcount"));
	free(out);
	srv_check_end(&sv, T_ALL_CLOSED | T_TX_EXACT);
	return t_done();
}
