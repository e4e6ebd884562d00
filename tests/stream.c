/*
 * stream.c - streaming from release callbacks: the next S_send_ref or
 * S_send_file piece handed over from the release of an earlier one, and
 * S_close from the last release (issue #12, defect 3).
 *
 * IoC server with two workers, over TCP and over a UNIX socket:
 *  - four slow readers at once (small receive buffer, 16 KiB reads with
 *    pauses), two by S_send_ref and two by S_send_file, each get 10 MiB as
 *    a chain of 64 KiB pieces, 32 out at a time: more than the high mark,
 *    so S_send_* says -4 inside a release and TYP_SENDABLE goes on; every
 *    byte arrives in order, then the end of the stream;
 *  - a fast reader gets 10 MiB in 4 KiB pieces one at a time (ref and
 *    file): mostly written at once, so a release sends the next piece that
 *    is written at once, whose release sends the next...; it must not
 *    recurse (no release ever runs inside another: maxdepth 1);
 *  - each session's TYP_TERM comes with txoctet 10 MiB and every piece
 *    released before it; every reference kept was released once, and no
 *    session is left (its pending bytes came back to 0, or S_close would
 *    not have ended it).
 */
#include "client.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define TOTAL ((size_t)10 * 1024 * 1024)
#define NSLOW 4

static char line[4096];
static const char *where;
static int port;

struct reader {
	pthread_t th;
	const char *how;
	size_t piece, window;
	int slow;
	size_t got;
	const char *why;
	int eof;
};

static struct conn *
dial(int rcvbuf)
{
	struct conn *c = NULL;
	double end = t_now() + t_secs(10);

	if (port == 0)
		return conn_unix(where, 10);
	while (c == NULL && t_now() < end)
		c = conn_tcp_once(where, port, rcvbuf);
	return c;
}

static void *
reader(void *arg)
{
	struct reader *r = arg;
	struct conn *c = dial(r->slow ? 32768 : 0);
	size_t k, step = 16384;

	r->why = "connect";
	if (c == NULL)
		return NULL;
	conn_sendf(c, "ZCHAIN %s %zu %zu %zu\n", r->how, TOTAL, r->piece,
	    r->window);
	if (!r->slow) {
		r->got = conn_read_pattern(c, 0, TOTAL, 30, &r->why);
	} else {
		r->why = "";
		while (r->got < TOTAL && *r->why == '\0') {
			k = conn_read_pattern(c, r->got, step, 10, &r->why);
			r->got += k;
			if (r->got % (2 * step) == 0)
				t_pause(0.002);
		}
	}
	if (r->got == TOTAL)
		r->eof = conn_wait_eof(c, 10);
	conn_close(c);
	return NULL;
}

static int
all_released(struct conn *q)
{
	double end = t_now() + t_secs(10);

	do {
		if (conn_cmd(q, line, sizeof line, "ZC") == 0 &&
		    t_num(line, "kept", -1) == t_num(line, "released", -2))
			return 1;
		t_pause(0.05);
	} while (t_now() < end);
	return 0;
}

static int
gauge_is(struct conn *q, long long want)
{
	double end = t_now() + t_secs(10);

	do {
		if (conn_cmd(q, line, sizeof line, "STATS") == 0 &&
		    t_num(line, "session_gauge", -1) == want)
			return 1;
		t_pause(0.05);
	} while (t_now() < end);
	return 0;
}

/* The ZCHAIN lines the server printed at TYP_TERM, checked. */
static void
check_chains(struct srv *sv, const char *tr, int want)
{
	char *out;
	const char *l;
	int i, intact = 0, flat = 0, bp = 0, resumed = 1;

	(void)srv_wait_out(sv, "ZCHAIN id=", want, 10);
	out = srv_out(sv);
	for (i = 0; (l = t_line(out, "ZCHAIN id=", i)) != NULL; i++) {
		intact += t_num(l, "sent", -1) == (long long)TOTAL &&
		    t_num(l, "txoctet", -1) == (long long)TOTAL &&
		    t_num(l, "closed", 0) == 1;
		flat += t_num(l, "maxdepth", 99) == 1;
		bp += t_num(l, "minus4", 0) > 0;
		resumed &= t_num(l, "sendables", -1) == t_num(l, "minus4", -2);
		if (t_num(l, "maxdepth", 99) != 1 ||
		    t_num(l, "sent", -1) != (long long)TOTAL)
			t_note("%.200s", l);
	}
	t_ok(i == want && intact == want, "%s: %d sessions ended by S_close "
	    "from a release, each with all 10 MiB written (%d of %d)", tr,
	    want, intact, i);
	t_ok(flat == want, "%s: no release ran inside another (maxdepth 1 in "
	    "%d of %d)", tr, flat, i);
	t_ok(bp >= 1 && resumed, "%s: -4 from inside a release, one "
	    "TYP_SENDABLE each (%d chains met -4)", tr, bp);
	free(out);
}

static void
run(const char *tr)
{
	static const char *const hows[] = { "ref", "file" };
	struct reader r[NSLOW + 2];
	struct srv sv;
	struct conn *q;
	int n;

	memset(r, 0, sizeof r);
	port = srv_start_ioc_on(&sv, tr, "stream.sock", &where);
	if ((q = dial(0)) == NULL)
		t_bail("cannot connect to %s", where);
	for (n = 0; n < NSLOW + 2; n++) {
		r[n].how = hows[n % 2];
		r[n].slow = n < NSLOW;
		r[n].piece = r[n].slow ? 65536 : 4096;
		r[n].window = r[n].slow ? 32 : 1;
	}
	/* The slow readers at once, then the fast ones (their own pace). */
	for (n = 0; n < NSLOW; n++)
		if (pthread_create(&r[n].th, NULL, reader, &r[n]) != 0)
			t_bail("pthread_create");
	for (n = 0; n < NSLOW; n++)
		pthread_join(r[n].th, NULL);
	for (n = NSLOW; n < NSLOW + 2; n++)
		reader(&r[n]);
	for (n = 0; n < NSLOW + 2; n++)
		t_ok(r[n].got == TOTAL && r[n].eof == 1, "%s %s %s reader: "
		    "10 MiB in %zu-byte pieces from release callbacks arrive "
		    "intact, then the end (%zu bytes, %s, eof %d)", tr,
		    r[n].slow ? "slow" : "fast", r[n].how, r[n].piece,
		    r[n].got, *r[n].why ? r[n].why : "all", r[n].eof);
	check_chains(&sv, tr, NSLOW + 2);
	t_ok(all_released(q), "%s: every reference kept was released once "
	    "(%s)", tr, line);
	t_ok(gauge_is(q, 1), "%s: no session left but the asking one (%.60s)",
	    tr, line);
	conn_close(q);
	srv_end(&sv, t_secs(20), T_ALL_CLOSED, "%s", tr);
}

T_MAIN_ON(run, "tcp", "unix")
