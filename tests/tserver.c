/*
 * tserver.c - event handlers and line commands of the test servers.
 *
 * Every connection starts in line mode: each '\n'-terminated line is a
 * command, answered with one line (unless said otherwise):
 *
 *   PING x              -> "PONG x"
 *   ECHO                   from now on every byte received is sent back
 *   SINK n                 the next n bytes are counted ->
 *                          "SUNK n=.. hash=.. maxblen=.. reads=.."
 *   SOURCE n [first]       sends n pattern bytes (first piece 'first' bytes
 *                          in one S_send), honouring -4 and TYP_SENDABLE;
 *                          prints "SOURCE-DONE id=.." when all is queued
 *   CONGEST n first        as SOURCE, and at the first -4 checks that the
 *                          session stays congested; prints "CONGEST id=.."
 *   SOURCECLOSE n          as SOURCE, then keeps sending until a -4 and
 *                          calls S_close; prints "CLOSEAT id=.. total=.."
 *   DOWNLOAD n             one S_send of n pattern bytes; prints
 *                          "DOWNLOAD id=.. rc=.."
 *   ZSOURCE how n [first]  as SOURCE, each piece by S_send (how "copy"),
 *                          S_send_ref ("ref") or S_send_file ("file")
 *   ZONE how n             one such call of n pattern bytes; prints
 *                          "ZONE id=.. rc=..", then answers (after the
 *                          bytes) "ZONE rc=.. early=1" if the release ran
 *                          before the call returned
 *   ZCHAIN how n piece window
 *                          n pattern bytes as a chain of S_send_ref
 *                          ("ref") or S_send_file ("file") pieces of
 *                          piece bytes, window at a time, each next piece
 *                          sent from an earlier one's release, then
 *                          S_close from a release; prints "ZCHAIN id=.."
 *                          at TYP_TERM (tzc.h)
 *   ZTO ip port how n      one such call of n pattern bytes to that session
 *                          (on another worker) -> "ZTO rc=.."
 *   ZSHRINK n              one S_send_file of n bytes, the file then cut
 *                          to n/8; prints "ZSHRINK id=.. rc=.."
 *   ZPATH path             one S_send_file of the whole file at path;
 *                          prints "ZPATH id=.. rc=.."
 *   ZBAD                -> "ZBAD ok=1" if every bad S_send_file/_ref
 *                          said -2 and released nothing
 *   ZC                  -> "ZC kept=.. released=.. early=..": zero-copy
 *                          calls that said 0, their releases, and those
 *                          that ran before the call returned
 *   COUNT               -> "COUNT timeouts=N" (timeouts of this session)
 *   TRY                    one S_send of 1 byte; prints "TRY id=.. rc=.."
 *   TIMER sec              S_settimer -> "TIMER sec"
 *   SNDBUF bytes           shrinks the kernel send buffer of this socket
 *                          -> "SNDBUF n" (n sockets changed)
 *   NODELAY             -> "NODELAY fds=n on=m": this session's sockets
 *                          (found by peer address) and how many of them
 *                          have TCP_NODELAY set
 *   HOLD                   prints "HOLD id=..", then blocks this worker
 *                          until a BURST (or 30 s) -> "HELD burst=0|1"
 *   BURST ip port k n how  k sends in a row of n pattern bytes each (at
 *                          offsets 0, n, 2n...) to that session (on another
 *                          worker), how "copy", "ref", "file" or "mix"
 *                          (the three in turn), stopping at the first
 *                          that fails; then ends a HOLD
 *                          -> "BURST sent=.. rc=.."
 *   ZLATE ip port n        prints "ZLATE-GO id=.. to=..", then one
 *                          S_send_ref of n pattern bytes to that session
 *                          whose release records whether that session's
 *                          TYP_TERM came first and which thread it runs
 *                          on -> "ZLATE rc=.."
 *   ZLATEC              -> "ZLATEC kept=.. released=.. after_term=..
 *                          on_owner=.. twice=.." for the ZLATE sends
 *   SEARCH ip port      -> "FOUND id=.. host=.. port=.." or "NOTFOUND"
 *   SENDTO ip port text    S_send "text\n" to that session -> "SENT rc=.."
 *   PAUSE               -> "PAUSE rc=..": S_pause_read(this session, 1)
 *   RESUME ip port      -> "RESUME rc=..": S_pause_read(that session, 0),
 *                          from this session's thread
 *   SENDCLOSE ip port n    S_send n pattern bytes to that session, then
 *                          S_close it -> "SENDCLOSE rc=.."
 *   CLOSEWAIT ip port      S_close that session (on another worker), wait
 *                          for its TYP_TERM, then S_send to it ->
 *                          "CLOSEWAIT waited=.. rc=.. search=.."
 *   SELFTEST            -> S_send return codes for bad arguments
 *   CLOSESEND              "BYE", S_close, then S_send: prints
 *                          "CLOSESEND id=.. rc_after=.."
 *   STATS               -> "STATS rc=.. name=value ..."
 *   PID                 -> "PID pid=.. uid=.. gid=.. cwd=.."
 *   INFO                -> the serv_* configuration variables
 *   QUIT                -> "BYE", then S_close
 *
 * On TYP_TIMEOUT a session in line mode is sent "TIMEOUT n".
 */
#include "tserver.h"
#include "tbuf.h"
#include "tline.h"
#include "pattern.h"
#include "tzc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define PIECE (64 * 1024)
#define EXTRA_MAX ((size_t)64 * 1024 * 1024) /* SOURCECLOSE: send until -4 */

int ts_ioc;
const char *ts_greeting;

/* ---- threads ---------------------------------------------------------- */

static _Thread_local int th_index = -1;
static _Thread_local int th_main;
static atomic_int th_next;

/* Event lines reach the file as they are printed. */
__attribute__((constructor)) static void
line_buffered(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
}

void
ts_mark_main(void)
{
	th_main = 1;
}

void
ts_worker_init(int worker)
{
	th_index = worker;
}

/* The calling thread's number: its worker index in IoC servers, the order
 * of first appearance in S_start servers. */
static int
th_id(void)
{
	if (th_index < 0 && !ts_ioc && !th_main)
		th_index = atomic_fetch_add(&th_next, 1);
	return th_index;
}

/* ---- what every thread may know about a session --------------------------- */

/* Shared record of a session, under mu; never freed. */
struct rec {
	unsigned id;
	int thread;             /* th_id() at TYP_ACCEPT */
	int terms;              /* TYP_TERM callbacks */
	size_t tx, txoctet;     /* S_send calls that returned 0, their bytes */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t term_cv = PTHREAD_COND_INITIALIZER;
static struct rec **recs;
static size_t nrecs;

/* The record of id (mu held); created if create, else NULL when unknown. */
static struct rec *
rec_get(unsigned id, int create)
{
	size_t n;

	if (id >= nrecs) {
		if (!create)
			return NULL;
		n = nrecs ? nrecs : 1024;
		while (n <= id)
			n *= 2;
		if ((recs = realloc(recs, n * sizeof *recs)) == NULL)
			abort();
		memset(recs + nrecs, 0, (n - nrecs) * sizeof *recs);
		nrecs = n;
	}
	if (recs[id] == NULL && create) {
		if ((recs[id] = calloc(1, sizeof *recs[id])) == NULL)
			abort();
		recs[id]->id = id;
	}
	return recs[id];
}

static void
rec_sent(unsigned id, size_t len)
{
	struct rec *r;

	pthread_mutex_lock(&mu);
	if ((r = rec_get(id, 0)) != NULL) {
		r->tx++;
		r->txoctet += len;
	}
	pthread_mutex_unlock(&mu);
}

/* ---- what only the owning worker knows (SESSION.usr) ---------------------- */

enum { IN_LINE, IN_ECHO, IN_SINK };

struct usr {
	unsigned id;
	int thread;
	char line[2048];
	size_t llen;
	int in;                 /* IN_* */
	size_t rx, rxoctet, maxblen, timeouts;
	/* SINK */
	size_t sink_n, sink_left, sink_reads;
	uint64_t sink_hash;
	/* ECHO output refused with -4, in order */
	struct tbuf pend;
	/* SOURCE, CONGEST, SOURCECLOSE, DOWNLOAD */
	int pumping, close_at_end, probe, quiet;
	int how;                /* TZC_*: how the pump sends */
	size_t target, off, first;
	/* congestion as the application sees it */
	int congested;          /* a -4 came and no TYP_SENDABLE yet */
	size_t episodes, sendables, minus4, minus4_octets;
	int closed;             /* the application called S_close */
	struct tzc_chain *chain; /* ZCHAIN */
};

static void
check_thread(SESSION *s, const char *ev, struct usr *u)
{
	int me = th_id();

	if (th_main)
		TLINE_VIOLATION("%s id=%u on the main thread", ev, s->id);
	if (ts_ioc && me < 0)
		TLINE_VIOLATION("%s id=%u on a thread that had no "
		    "serv_worker_init", ev, s->id);
	if (u != NULL && u->thread != me)
		TLINE_VIOLATION("%s id=%u on thread %d, accepted on thread %d",
		    ev, s->id, me, u->thread);
}

/* s->usr, or NULL after a violation (an event before ACCEPT or after TERM);
 * and the thread check every event of a session gets (check_thread). */
static struct usr *
usr_of(SESSION *s, const char *ev)
{
	struct usr *u = s->usr;

	if (u == NULL || u->id != s->id) {
		TLINE_VIOLATION("%s id=%u without a live TYP_ACCEPT'ed session "
		    "(usr=%p)", ev, s->id, (void *)u);
		u = NULL;
	}
	check_thread(s, ev, u);
	return u;
}

/* The application's bookkeeping of an S_send* by the owner: rc. */
static int
account(SESSION *s, struct usr *u, int rc, size_t len)
{
	if (rc == S_OK && len > 0) {
		rec_sent(s->id, len);
	} else if (rc == S_ERR_CONGESTED) {
		u->minus4++;
		u->minus4_octets += len;
		if (!u->congested) {
			u->congested = 1;
			u->episodes++;
		}
		if (s->writewait != 1)
			TLINE_VIOLATION("S_send id=%u returned -4 but writewait=%d",
			    s->id, s->writewait);
	}
	return rc;
}

/* S_send from the owner, with the application's bookkeeping. */
static int
own_send(SESSION *s, struct usr *u, const void *p, size_t len)
{
	return account(s, u, S_send(s, (unsigned char *)p, len), len);
}

/* A reply line (tline_put): own_send, which must take it. */
static int
reply_put(SESSION *s, void *u, const void *p, size_t n)
{
	int rc = own_send(s, u, p, n);

	if (rc != S_OK)
		TLINE_VIOLATION("reply to id=%u: S_send returned %d", s->id, rc);
	return rc;
}

#define reply(s, u, ...) (void)tline_send(reply_put, s, u, __VA_ARGS__)

/* ---- output pump (SOURCE, CONGEST, SOURCECLOSE) ---------------------------- */

static void
close_now(SESSION *s, struct usr *u)
{
	int rc, st;

	S_close(s);
	u->closed = 1;
	st = s->status;
	rc = S_send(s, (unsigned char *)"x", 1);
	S_close(s);             /* a no-op now */
	tline_say("CLOSEAT id=%u total=%zu congested=%d rc_after=%d status=%d",
	    s->id, u->off, u->congested, rc, st);
}

/* After the first -4 of CONGEST: the session must stay congested. */
static void
probe_congestion(SESSION *s, struct usr *u)
{
	unsigned char *buf = malloc(PIECE);
	int i, rc, all = 1;

	if (buf == NULL)
		abort();
	pat_fill(buf, u->off, PIECE);
	for (i = 0; i < 3; i++)
		if ((rc = own_send(s, u, buf, PIECE)) != S_ERR_CONGESTED) {
			TLINE_VIOLATION("CONGEST id=%u: S_send %d after -4 "
			    "returned %d", s->id, i, rc);
			all = 0;
		}
	if ((rc = own_send(s, u, buf, 1)) != S_ERR_CONGESTED) {
		TLINE_VIOLATION("CONGEST id=%u: 1-byte S_send after -4 returned "
		    "%d", s->id, rc);
		all = 0;
	}
	free(buf);
	tline_say("CONGEST id=%u first=%zu queued=%zu probes_ok=%d writewait=%d",
	    s->id, u->first, u->off, all, s->writewait);
	u->probe = 0;
}

static void
pump(SESSION *s, struct usr *u)
{
	unsigned char *buf;
	size_t want;
	int rc;

	while (u->pumping && !u->closed) {
		if (u->off < u->target) {
			want = u->off == 0 && u->first > 0 ? u->first : PIECE;
			if (want > u->target - u->off)
				want = u->target - u->off;
		} else if (u->close_at_end && u->off - u->target < EXTRA_MAX) {
			want = PIECE;   /* more, until S_send says -4 */
		} else {
			u->pumping = 0;
			if (u->close_at_end)
				close_now(s, u);
			else
				tline_say("SOURCE-DONE id=%u total=%zu "
				    "episodes=%zu sendable=%zu minus4=%zu",
				    s->id, u->off, u->episodes, u->sendables,
				    u->minus4);
			return;
		}
		if (u->how != TZC_COPY) {
			rc = account(s, u, tzc_send(s, u->how, u->off, want),
			    want);
		} else {
			if ((buf = malloc(want)) == NULL)
				abort();
			pat_fill(buf, u->off, want);
			rc = own_send(s, u, buf, want);
			free(buf);
		}
		if (rc == S_OK) {
			u->off += want;
			continue;
		}
		if (rc != S_ERR_CONGESTED) {
			TLINE_VIOLATION("pump id=%u: S_send returned %d", s->id, rc);
			u->pumping = 0;
			return;
		}
		if (u->probe)
			probe_congestion(s, u);
		if (u->close_at_end && u->off >= u->target) {
			u->pumping = 0;
			close_now(s, u);
		}
		return;                 /* until TYP_SENDABLE */
	}
}

/* ---- echo -------------------------------------------------------------------- */

static void
echo(SESSION *s, struct usr *u, const unsigned char *p, size_t n)
{
	if (u->pend.len > 0 || own_send(s, u, p, n) == S_ERR_CONGESTED)
		tbuf_add(&u->pend, p, n);
}

static void
echo_flush(SESSION *s, struct usr *u)
{
	if (u->pend.len > 0 && own_send(s, u, u->pend.p, u->pend.len) == S_OK)
		u->pend.len = 0;
}

/* ---- commands ------------------------------------------------------------------ */

/* The sockets of s, found by their peer address: for SNDBUF and NODELAY
 * only.  Their number (at most cap are stored in fds). */
static int
session_fds(SESSION *s, int *fds, int cap)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char host[INET6_ADDRSTRLEN];
	const char *h;
	int fd, port, n = 0;

	for (fd = 3; fd < 4096; fd++) {
		len = sizeof ss;
		if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
			continue;
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
			port = ntohs(a->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
			port = ntohs(a->sin6_port);
		} else {
			continue;
		}
		h = strncmp(host, "::ffff:", 7) == 0 ? host + 7 : host;
		if (port == s->port && strcmp(h, s->host) == 0) {
			if (n < cap)
				fds[n] = fd;
			n++;
		}
	}
	return n;
}

static int
shrink_sndbuf(SESSION *s, int bytes)
{
	int fds[4], i, k, n = 0;

	k = session_fds(s, fds, 4);
	for (i = 0; i < k && i < 4; i++)
		if (setsockopt(fds[i], SOL_SOCKET, SO_SNDBUF, &bytes,
		    sizeof bytes) == 0)
			n++;
	return n;
}

static void
cmd_nodelay(SESSION *s, struct usr *u)
{
	socklen_t len;
	int fds[4], i, k, on = 0, v;

	k = session_fds(s, fds, 4);
	for (i = 0; i < k && i < 4; i++) {
		v = 0;
		len = sizeof v;
		if (getsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0 &&
		    v != 0)
			on++;
	}
	reply(s, u, "NODELAY fds=%d on=%d", k, on);
}

/* ---- HOLD and BURST: several cross-thread sends before the owner runs ---- */

static pthread_cond_t hold_cv = PTHREAD_COND_INITIALIZER;
static int holding;             /* a HOLD waits (mu) */

static void
cmd_hold(SESSION *s, struct usr *u)
{
	struct timespec end;
	int burst;

	pthread_mutex_lock(&mu);
	holding = 1;
	pthread_mutex_unlock(&mu);
	tline_say("HOLD id=%u", s->id);
	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += 30;
	pthread_mutex_lock(&mu);
	while (holding &&
	    pthread_cond_timedwait(&hold_cv, &mu, &end) != ETIMEDOUT)
		;
	burst = !holding;
	holding = 0;
	pthread_mutex_unlock(&mu);
	reply(s, u, "HELD burst=%d", burst);
}

static void
cmd_burst(SESSION *s, struct usr *u, char *ip, unsigned port, size_t k,
    size_t n, const char *how)
{
	static const int cycle[3] = { TZC_COPY, TZC_REF, TZC_FILE };
	SESSION *x = S_search(ip, (uint16_t)port);
	int mix = strcmp(how, "mix") == 0, one = tzc_how(how), rc = S_OK;
	size_t i;

	if (x == NULL || (!mix && one < 0) || n == 0 ||
	    k * n > TZC_FILE_MAX) {
		reply(s, u, "BURST %s", x == NULL ? "NOTFOUND" : "bad");
		return;
	}
	for (i = 0; i < k; i++) {
		rc = tzc_send(x, mix ? cycle[i % 3] : one, i * n, n);
		if (rc != S_OK)
			break;
		rec_sent(x->id, n);
	}
	pthread_mutex_lock(&mu);
	holding = 0;
	pthread_cond_broadcast(&hold_cv);
	pthread_mutex_unlock(&mu);
	reply(s, u, "BURST sent=%zu rc=%d", i, rc);
}

/* ---- ZLATE: an S_send_ref that reaches its session after it closed ---- */

#define LATE_MAX 64

static struct late {
	unsigned id;            /* the session sent to */
	atomic_int releases;
	int after_term;         /* its TYP_TERM came before the release */
	int on_owner;           /* the release ran on its worker */
	unsigned char *buf;
} lates[LATE_MAX];
static atomic_int nlates, late_kept, late_released, late_twice;

static void
late_release(void *arg)
{
	struct late *l = arg;
	struct rec *r;

	if (atomic_fetch_add(&l->releases, 1) > 0) {
		atomic_fetch_add(&late_twice, 1);
		TLINE_VIOLATION("ZLATE to id=%u released twice", l->id);
		return;
	}
	pthread_mutex_lock(&mu);
	if ((r = rec_get(l->id, 0)) != NULL) {
		l->after_term = r->terms > 0;
		l->on_owner = r->thread == th_id();
	}
	pthread_mutex_unlock(&mu);
	tline_say("ZLATE-RELEASE to=%u after_term=%d on_owner=%d", l->id,
	    l->after_term, l->on_owner);
	free(l->buf);
	l->buf = NULL;
	atomic_fetch_add(&late_released, 1);
}

static void
cmd_zlate(SESSION *s, struct usr *u, char *ip, unsigned port, size_t n)
{
	SESSION *x = S_search(ip, (uint16_t)port);
	struct late *l;
	int i, rc;

	if (x == NULL || n == 0 || (i = atomic_fetch_add(&nlates, 1)) >=
	    LATE_MAX) {
		reply(s, u, "ZLATE %s", x == NULL ? "NOTFOUND" : "bad");
		return;
	}
	l = &lates[i];
	l->id = x->id;
	if ((l->buf = malloc(n)) == NULL)
		abort();
	pat_fill(l->buf, 0, n);
	tline_say("ZLATE-GO id=%u to=%u", s->id, x->id);
	if ((rc = S_send_ref(x, l->buf, n, late_release, l)) == S_OK) {
		atomic_fetch_add(&late_kept, 1);
		rec_sent(l->id, n);
	} else {
		free(l->buf);   /* not kept: never released */
		l->buf = NULL;
	}
	reply(s, u, "ZLATE rc=%d", rc);
}

static void
cmd_zlatec(SESSION *s, struct usr *u)
{
	int i, n = atomic_load(&nlates), after = 0, owner = 0;

	pthread_mutex_lock(&mu);
	for (i = 0; i < n && i < LATE_MAX; i++)
		if (atomic_load(&lates[i].releases) > 0) {
			after += lates[i].after_term;
			owner += lates[i].on_owner;
		}
	pthread_mutex_unlock(&mu);
	reply(s, u, "ZLATEC kept=%d released=%d after_term=%d on_owner=%d "
	    "twice=%d", atomic_load(&late_kept), atomic_load(&late_released),
	    after, owner, atomic_load(&late_twice));
}

static void
cmd_closewait(SESSION *s, struct usr *u, char *ip, unsigned port)
{
	SESSION *x = S_search(ip, (uint16_t)port), *y;
	struct rec *r;
	struct timespec end;
	unsigned xid;
	int same, waited, rc;

	if (x == NULL) {
		reply(s, u, "NOTFOUND");
		return;
	}
	xid = x->id;
	pthread_mutex_lock(&mu);
	r = rec_get(xid, 0);
	same = r != NULL && r->thread == u->thread;
	pthread_mutex_unlock(&mu);
	if (r == NULL || same) {
		reply(s, u, "CLOSEWAIT %s", r == NULL ? "norec" : "same-thread");
		return;
	}
	S_close(x);
	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += 20;
	pthread_mutex_lock(&mu);
	while (r->terms == 0 &&
	    pthread_cond_timedwait(&term_cv, &mu, &end) != ETIMEDOUT)
		;
	waited = r->terms > 0;
	pthread_mutex_unlock(&mu);
	/* x has closed, but stays valid until this callback returns. */
	rc = S_send(x, (unsigned char *)"late\n", 5);
	S_close(x);
	S_settimer(x, 1);
	y = S_search(ip, (uint16_t)port);
	reply(s, u, "CLOSEWAIT waited=%d rc=%d search=%s", waited, rc,
	    y == NULL ? "null" : y == x ? "same" : "other");
}

static void
cmd_selftest(SESSION *s, struct usr *u)
{
	SESSION zero, fields, copy;
	unsigned char b[4] = "abc";
	int r_null, r_nullbuf, r_nullzero, r_zero, r_fzero, r_ffields, r_copy;

	memset(&zero, 0, sizeof zero);
	memset(&fields, 0, sizeof fields);
	fields.id = s->id;
	memcpy(fields.host, s->host, sizeof fields.host);
	fields.port = s->port;
	memcpy(&copy, s, sizeof copy);
	r_null = S_send(NULL, b, 3);
	r_nullbuf = S_send(s, NULL, 3);
	r_nullzero = S_send(s, NULL, 0);
	r_zero = S_send(s, b, 0);
	r_fzero = S_send(&zero, b, 3);
	r_ffields = S_send(&fields, b, 3);
	r_copy = S_send(&copy, b, 3);
	S_close(NULL);
	S_settimer(NULL, 1);
	S_close(&zero);
	S_settimer(&zero, 1);
	S_close(&fields);
	reply(s, u, "SELFTEST null_session=%d null_buf=%d null_buf_zero=%d "
	    "zero_len=%d app_zeroed=%d app_fields=%d app_copy=%d status=%d",
	    r_null, r_nullbuf, r_nullzero, r_zero, r_fzero, r_ffields, r_copy,
	    s->status);
}

static void
cmd_stats(SESSION *s, struct usr *u)
{
	S_STATS st;
	char buf[4096];
	size_t len;
	int rc, i;

	memset(&st, 0, sizeof st);
	rc = S_stats(&st);
	len = (size_t)snprintf(buf, sizeof buf, "STATS rc=%d ", rc);
	len += tline_stats(buf + len, sizeof buf - len, &st);
	len += (size_t)snprintf(buf + len, sizeof buf - len, " threads=%d",
	    st.threads);
	for (i = 0; i < st.threads && i < HSVR_MAX_THREADS &&
	    len < sizeof buf - 64; i++)
		len += (size_t)snprintf(buf + len, sizeof buf - len,
		    " thread%d=%llu", i,
		    (unsigned long long)st.thread_session[i]);
	reply(s, u, "%s", buf);
}

static void
command(SESSION *s, struct usr *u, char *line)
{
	char ip[128], text[1024], cwd[1024];
	unsigned port;
	size_t n, first, pn;
	int sec, rc, st, how;
	SESSION *x;

	if (strncmp(line, "PING", 4) == 0) {
		reply(s, u, "PONG%s", line + 4);
	} else if (strcmp(line, "ECHO") == 0) {
		u->in = IN_ECHO;
	} else if (sscanf(line, "SINK %zu", &n) == 1) {
		u->in = IN_SINK;
		u->sink_n = u->sink_left = n;
		u->sink_reads = 0;
		u->sink_hash = FNV64_INIT;
	} else if (sscanf(line, "SOURCECLOSE %zu", &n) == 1) {
		u->pumping = u->close_at_end = u->quiet = 1;
		u->target = n;
		u->how = TZC_COPY;
		pump(s, u);
	} else if (sscanf(line, "CONGEST %zu %zu", &n, &first) == 2) {
		u->pumping = u->probe = u->quiet = 1;
		u->target = n;
		u->how = TZC_COPY;
		u->first = first;
		pump(s, u);
	} else if (strncmp(line, "SOURCE ", 7) == 0 &&
	    sscanf(line, "SOURCE %zu", &n) == 1) {
		first = 0;
		(void)sscanf(line, "SOURCE %zu %zu", &n, &first);
		u->pumping = u->quiet = 1;
		u->target = n;
		u->how = TZC_COPY;
		u->first = first;
		pump(s, u);
	} else if (sscanf(line, "DOWNLOAD %zu", &n) == 1) {
		unsigned char *buf = malloc(n ? n : 1);
		if (buf == NULL)
			abort();
		pat_fill(buf, 0, n);
		u->quiet = 1;
		if ((rc = own_send(s, u, buf, n)) != S_OK)
			TLINE_VIOLATION("DOWNLOAD id=%u: S_send of %zu returned %d",
			    s->id, n, rc);
		free(buf);
		tline_say("DOWNLOAD id=%u n=%zu rc=%d", s->id, n, rc);
	} else if (sscanf(line, "ZSOURCE %15s %zu", text, &n) == 2 &&
	    (how = tzc_how(text)) >= 0) {
		first = 0;
		(void)sscanf(line, "ZSOURCE %15s %zu %zu", text, &n, &first);
		u->pumping = u->quiet = 1;
		u->how = how;
		u->target = n;
		u->first = first;
		pump(s, u);
	} else if (sscanf(line, "ZONE %15s %zu", text, &n) == 2 &&
	    (how = tzc_how(text)) >= 0) {
		u->quiet = 1;
		rc = account(s, u, tzc_send(s, how, 0, n), n);
		tline_say("ZONE id=%u n=%zu rc=%d", s->id, n, rc);
		reply(s, u, "ZONE rc=%d early=%d", rc, tzc_early());
	} else if (sscanf(line, "ZCHAIN %15s %zu %zu %zu", text, &n, &first,
	    &pn) == 4 && (how = tzc_how(text)) >= 0) {
		u->quiet = 1;
		if (u->chain != NULL)
			TLINE_VIOLATION("ZCHAIN id=%u: a chain is running", s->id);
		else
			u->chain = tzc_chain_start(s, how, n, first, pn);
	} else if (sscanf(line, "ZTO %127s %u %15s %zu", ip, &port, text,
	    &n) == 4 && (how = tzc_how(text)) >= 0) {
		if ((x = S_search(ip, (uint16_t)port)) == NULL) {
			reply(s, u, "NOTFOUND");
		} else {
			if ((rc = tzc_send(x, how, 0, n)) == S_OK && n > 0)
				rec_sent(x->id, n);
			reply(s, u, "ZTO rc=%d", rc);
		}
	} else if (sscanf(line, "ZSHRINK %zu", &n) == 1) {
		u->quiet = 1;
		rc = account(s, u, tzc_shrink(s, n), n);
		tline_say("ZSHRINK id=%u n=%zu rc=%d", s->id, n, rc);
	} else if (sscanf(line, "ZPATH %1000s", text) == 1) {
		u->quiet = 1;
		tline_say("ZPATH id=%u rc=%d", s->id, tzc_path(s, text));
	} else if (strcmp(line, "ZBAD") == 0) {
		reply(s, u, "ZBAD ok=%d", tzc_bad(s));
	} else if (strcmp(line, "ZC") == 0) {
		tzc_counts(text, sizeof text);
		reply(s, u, "ZC %s", text);
	} else if (strcmp(line, "COUNT") == 0) {
		u->quiet = 0;
		reply(s, u, "COUNT timeouts=%zu", u->timeouts);
	} else if (strcmp(line, "TRY") == 0) {
		rc = own_send(s, u, "x", 1);
		tline_say("TRY id=%u rc=%d writewait=%d", s->id, rc, s->writewait);
	} else if (sscanf(line, "TIMER %d", &sec) == 1) {
		S_settimer(s, sec);
		reply(s, u, "TIMER %d", sec);
	} else if (sscanf(line, "SNDBUF %d", &sec) == 1) {
		reply(s, u, "SNDBUF %d", shrink_sndbuf(s, sec));
	} else if (strcmp(line, "NODELAY") == 0) {
		cmd_nodelay(s, u);
	} else if (strcmp(line, "HOLD") == 0) {
		cmd_hold(s, u);
	} else if (sscanf(line, "BURST %127s %u %zu %zu %15s", ip, &port, &n,
	    &first, text) == 5) {
		cmd_burst(s, u, ip, port, n, first, text);
	} else if (sscanf(line, "ZLATE %127s %u %zu", ip, &port, &n) == 3) {
		cmd_zlate(s, u, ip, port, n);
	} else if (strcmp(line, "ZLATEC") == 0) {
		cmd_zlatec(s, u);
	} else if (sscanf(line, "SEARCH %127s %u", ip, &port) == 2) {
		if ((x = S_search(ip, (uint16_t)port)) == NULL)
			reply(s, u, "NOTFOUND");
		else
			reply(s, u, "FOUND id=%u host=%s port=%u", x->id,
			    x->host, x->port);
	} else if (strcmp(line, "PAUSE") == 0) {
		rc = S_pause_read(s, 1);
		reply(s, u, "PAUSE rc=%d", rc);
	} else if (sscanf(line, "RESUME %127s %u", ip, &port) == 2) {
		if ((x = S_search(ip, (uint16_t)port)) == NULL)
			reply(s, u, "NOTFOUND");
		else
			reply(s, u, "RESUME rc=%d", S_pause_read(x, 0));
	} else if (sscanf(line, "SENDTO %127s %u %1000s", ip, &port, text) == 3) {
		if ((x = S_search(ip, (uint16_t)port)) == NULL) {
			reply(s, u, "NOTFOUND");
		} else {
			strcat(text, "\n");
			n = strlen(text);
			if ((rc = S_send(x, (unsigned char *)text, n)) == S_OK)
				rec_sent(x->id, n);
			reply(s, u, "SENT rc=%d", rc);
		}
	} else if (sscanf(line, "SENDCLOSE %127s %u %zu", ip, &port, &n) == 3) {
		unsigned char *buf = malloc(n ? n : 1);
		if (buf == NULL)
			abort();
		pat_fill(buf, 0, n);
		if ((x = S_search(ip, (uint16_t)port)) == NULL) {
			reply(s, u, "NOTFOUND");
		} else {
			if ((rc = S_send(x, buf, n)) == S_OK && n > 0)
				rec_sent(x->id, n);
			S_close(x);
			reply(s, u, "SENDCLOSE rc=%d", rc);
		}
		free(buf);
	} else if (sscanf(line, "CLOSEWAIT %127s %u", ip, &port) == 2) {
		cmd_closewait(s, u, ip, port);
	} else if (strcmp(line, "SELFTEST") == 0) {
		cmd_selftest(s, u);
	} else if (strcmp(line, "CLOSESEND") == 0) {
		reply(s, u, "BYE");
		S_close(s);
		u->closed = 1;
		st = s->status;
		rc = S_send(s, (unsigned char *)"x", 1);
		S_close(s);
		tline_say("CLOSESEND id=%u rc_after=%d status=%d", s->id, rc, st);
	} else if (strcmp(line, "STATS") == 0) {
		cmd_stats(s, u);
	} else if (strcmp(line, "PID") == 0) {
		if (getcwd(cwd, sizeof cwd) == NULL)
			snprintf(cwd, sizeof cwd, "?");
		reply(s, u, "PID pid=%ld uid=%ld gid=%ld cwd=%s", (long)getpid(),
		    (long)getuid(), (long)getgid(), cwd);
	} else if (strcmp(line, "INFO") == 0) {
		reply(s, u, "INFO port=%s interface=\"%s\" config=%s root=%s "
		    "user=%s group=%s", serv_port ? serv_port : "(null)",
		    serv_interface ? serv_interface : "(null)",
		    serv_config_file ? serv_config_file : "(null)",
		    serv_root_dir ? serv_root_dir : "(null)",
		    serv_user ? serv_user : "(null)",
		    serv_group ? serv_group : "(null)");
	} else if (strcmp(line, "QUIT") == 0) {
		reply(s, u, "BYE");
		S_close(s);
		u->closed = 1;
	} else {
		reply(s, u, "ERROR unknown command '%s'", line);
	}
}

/* Bytes received, in order, through the session's current input mode. */
static void
feed(SESSION *s, struct usr *u, const unsigned char *p, size_t n)
{
	const unsigned char *nl;
	size_t take;

	while (n > 0 && !u->closed) {
		switch (u->in) {
		case IN_ECHO:
			echo(s, u, p, n);
			return;
		case IN_SINK:
			take = n < u->sink_left ? n : u->sink_left;
			u->sink_hash = fnv64(u->sink_hash, p, take);
			u->sink_reads++;
			u->sink_left -= take;
			p += take;
			n -= take;
			if (u->sink_left == 0) {
				u->in = IN_LINE;
				reply(s, u, "SUNK n=%zu hash=%016llx maxblen=%zu "
				    "reads=%zu", u->sink_n,
				    (unsigned long long)u->sink_hash,
				    u->maxblen, u->sink_reads);
			}
			break;
		default:
			nl = memchr(p, '\n', n);
			take = nl ? (size_t)(nl - p) : n;
			if (u->llen + take < sizeof u->line) {
				memcpy(u->line + u->llen, p, take);
				u->llen += take;
			}
			p += take;
			n -= take;
			if (nl == NULL)
				break;
			p++;
			n--;
			if (u->llen > 0 && u->line[u->llen - 1] == '\r')
				u->llen--;
			u->line[u->llen] = '\0';
			u->llen = 0;
			command(s, u, u->line);
			break;
		}
	}
}

/* ---- events ------------------------------------------------------------------ */

void
ts_accept(SESSION *s)
{
	struct usr *u;
	struct rec *r;
	int dup;

	check_thread(s, "ACCEPT", NULL);
	if (s->usr != NULL)
		TLINE_VIOLATION("ACCEPT id=%u: usr is %p, not NULL", s->id, s->usr);
	if (s->status != HSVR_ST_OPEN)
		TLINE_VIOLATION("ACCEPT id=%u: status %d", s->id, s->status);
	if (s->id == 0)
		TLINE_VIOLATION("ACCEPT: id 0 (ids start from 1)");
	if ((u = calloc(1, sizeof *u)) == NULL)
		abort();
	u->id = s->id;
	u->thread = th_id();
	pthread_mutex_lock(&mu);
	dup = rec_get(s->id, 0) != NULL;
	r = rec_get(s->id, 1);
	r->thread = u->thread;
	pthread_mutex_unlock(&mu);
	if (dup)
		TLINE_VIOLATION("ACCEPT id=%u: id given twice", s->id);
	s->usr = u;
	tline_say("ACCEPT id=%u host=%s port=%u thread=%d main=%d", s->id,
	    s->host, s->port, u->thread, th_main);
	if (ts_greeting != NULL)
		reply(s, u, "HELLO %s", ts_greeting);
}

void
ts_read(SESSION *s)
{
	struct usr *u = usr_of(s, "READ");
	volatile unsigned char *b = s->buff;
	unsigned char v;
	size_t i;

	if (u == NULL)
		return;
	if (s->buff == NULL) {
		TLINE_VIOLATION("READ id=%u: buff is NULL", s->id);
		return;
	}
	if (s->blen == 0)
		TLINE_VIOLATION("READ id=%u: blen 0", s->id);
	if (s->blen > HSVR_READ_MAX)
		TLINE_VIOLATION("READ id=%u: blen %zu > %d", s->id, s->blen,
		    HSVR_READ_MAX);
	if (s->buff[s->blen] != '\0')
		TLINE_VIOLATION("READ id=%u: buff[blen] is %d, not NUL", s->id,
		    s->buff[s->blen]);
	if (s->status == HSVR_ST_CLOSED)
		TLINE_VIOLATION("READ id=%u: status CLOSED", s->id);
	/* The buffer is the application's to write. */
	for (i = 0; i < s->blen; i++) {
		v = b[i];
		b[i] = (unsigned char)~v;
		b[i] = v;
	}
	u->rx++;
	u->rxoctet += s->blen;
	if (s->blen > u->maxblen)
		u->maxblen = s->blen;
	feed(s, u, s->buff, s->blen);
}

void
ts_timeout(SESSION *s)
{
	struct usr *u = usr_of(s, "TIMEOUT");

	if (u == NULL)
		return;
	u->timeouts++;
	tline_say("TIMEOUT id=%u n=%zu", s->id, u->timeouts);
	if (!u->quiet && !u->pumping && !u->closed && u->in == IN_LINE)
		reply(s, u, "TIMEOUT %zu", u->timeouts);
}

void
ts_sendable(SESSION *s)
{
	struct usr *u = usr_of(s, "SENDABLE");

	if (u == NULL)
		return;
	if (u->closed)
		TLINE_VIOLATION("SENDABLE id=%u after S_close", s->id);
	if (!u->congested && (u->chain == NULL ||
	    !tzc_chain_congested(u->chain)))
		TLINE_VIOLATION("SENDABLE id=%u without a -4 since the last one",
		    s->id);
	if (s->writewait != 0)
		TLINE_VIOLATION("SENDABLE id=%u: writewait=%d", s->id,
		    s->writewait);
	u->congested = 0;
	u->sendables++;
	tline_say("SENDABLE id=%u n=%zu", s->id, u->sendables);
	if (u->closed)
		return;
	echo_flush(s, u);
	if (u->pumping)
		pump(s, u);
	if (u->chain != NULL && tzc_chain_congested(u->chain))
		tzc_chain_sendable(u->chain);
}

void
ts_term(SESSION *s)
{
	struct usr *u = usr_of(s, "TERM");
	struct rec *r;
	size_t tx = 0, txoctet = 0;
	int terms = 0;

	if (s->status != HSVR_ST_CLOSED)
		TLINE_VIOLATION("TERM id=%u: status %d, not CLOSED", s->id,
		    s->status);
	pthread_mutex_lock(&mu);
	if ((r = rec_get(s->id, 0)) != NULL) {
		terms = ++r->terms;
		tx = r->tx;
		txoctet = r->txoctet;
	}
	pthread_cond_broadcast(&term_cv);
	pthread_mutex_unlock(&mu);
	if (terms != 1)
		TLINE_VIOLATION("TERM id=%u: TERM number %d", s->id, terms);
	if (u == NULL)
		return;
	tline_say("TERM id=%u host=%s port=%u rx=%zu app_rx=%zu rxoctet=%zu "
	    "app_rxoctet=%zu tx=%zu app_tx=%zu txoctet=%zu app_txoctet=%zu "
	    "timeout=%zu app_timeout=%zu episodes=%zu sendable=%zu "
	    "minus4=%zu minus4_octets=%zu closed=%d", s->id, s->host, s->port,
	    s->rx, u->rx, s->rxoctet, u->rxoctet, s->tx, tx, s->txoctet,
	    txoctet, s->timeout, u->timeouts, u->episodes, u->sendables,
	    u->minus4, u->minus4_octets, u->closed);
	if (u->chain != NULL)
		tzc_chain_end(s, u->chain);
	free(u->pend.p);
	free(u);
	s->usr = NULL;
}
