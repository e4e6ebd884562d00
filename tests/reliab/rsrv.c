/*
 * rsrv.c - the test server of the fault and abuse suite: serv_* hooks and
 * the library's main(), a line protocol for well-behaved and hostile
 * clients, and the application's own count of every session's TYP_TERM.
 *
 * Every connection starts in line mode; each '\n'-terminated line (at most
 * LINE_CAP bytes, longer ones are dropped and counted) is a command:
 *   PING x           -> "PONG x"
 *   ECHO                every byte from now on is sent back (kept in order
 *                       while S_send says -4; more than ECHO_CAP kept: the
 *                       session is closed)
 *   GET n [close]       n bytes of the pattern (pattern.h, offset 0), in
 *                       PIECE-byte S_send calls honouring -4 and
 *                       TYP_SENDABLE; then S_close if "close"
 *   PUT n               the next n bytes are data -> "GOT n=.. hash=.."
 *   TO port seq text    S_search(this peer's address, port) and S_send it
 *                       "FROM <this port> <seq> <text>\n"; when that is
 *                       not done -> "NAK <port> <seq> <rc|nf>" to the sender
 *   STATS            -> "STATS name=value ..." (S_stats, then app_* counts)
 *   LIVE             -> "LIVE n=N" and up to 20 of the sessions the
 *                       application holds: " id:port:status:closed
 *   QUIT             -> "BYE", then S_close
 *   anything else    -> "ERR"
 * On stdout: "SERVING pid=N" once the serving process runs, "VIOLATION ..."
 * when the library breaks a promise (an event before TYP_ACCEPT or after
 * TYP_TERM, a second TYP_TERM, TYP_SENDABLE without -4), and at orderly
 * exit "EXITCHECK accepts=N terms=N missing=N dup=N".
 * Option --sigpipe-default puts SIGPIPE back to its default action and
 * unblocks it in the workers once they run: the server without the
 * library's SIGPIPE protection, which the tests must catch.
 */
#include "hsvr.h"
#include "../tbuf.h"
#include "../tline.h"
#include "../topt.h"
#include "rpattern.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINE_CAP 1024
#define PIECE (64 * 1024)
#define ECHO_CAP ((size_t)8 * 1024 * 1024)

enum mode { M_LINE, M_ECHO, M_PUT };

struct sess {
	unsigned id;
	char line[LINE_CAP];
	size_t llen;
	int overlong;           /* dropping the rest of a too long line */
	enum mode mode;
	uint64_t put_n, put_left, put_hash;
	uint64_t get_n, get_off;
	int get_close;
	struct tbuf blog;       /* echo output refused with -4 */
	int congested;          /* a -4 and no TYP_SENDABLE since */
	int closed;             /* S_close called */
	SESSION *s;
	struct sess *prev, *next;       /* live sessions, under rec_lock */
};

static int sigpipe_default;

/* Every session the application saw: bit 7 accepted, bits 0-6 TERMs. */
static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char *recs;
static size_t nrecs;
static struct sess *live;
static unsigned long long nlive;

static atomic_ullong n_accepts, n_terms, n_dup, n_send_err, n_send_cong,
    n_naks, n_overlong, n_echo_overflow, n_violations;

#define VIOLATION(...) do { \
	atomic_fetch_add(&n_violations, 1); \
	tline_say("VIOLATION " __VA_ARGS__); \
} while (0)

/* Set bits of id's record under the lock; returns the record before. */
static unsigned char
rec_update(unsigned id, int accept, int term)
{
	unsigned char old;
	size_t n;

	pthread_mutex_lock(&rec_lock);
	if (id >= nrecs) {
		n = nrecs ? nrecs : 4096;
		while (n <= id)
			n *= 2;
		if ((recs = realloc(recs, n)) == NULL)
			abort();
		memset(recs + nrecs, 0, n - nrecs);
		nrecs = n;
	}
	old = recs[id];
	if (accept)
		recs[id] |= 0x80;
	if (term && (recs[id] & 0x7f) < 0x7f)
		recs[id]++;
	pthread_mutex_unlock(&rec_lock);
	return old;
}

static struct sess *
sess_of(SESSION *s, const char *ev)
{
	struct sess *u = s->usr;

	if (u == NULL || u->id != s->id) {
		VIOLATION("%s id=%u without a live TYP_ACCEPT'ed session",
		    ev, s->id);
		return NULL;
	}
	return u;
}

/* S_send with the application's bookkeeping of -1 and -4. */
static int
send_counted(SESSION *s, struct sess *u, const void *p, size_t len)
{
	int rc = S_send(s, (unsigned char *)p, len);

	if (rc == S_ERR_CONGESTED) {
		atomic_fetch_add(&n_send_cong, 1);
		u->congested = 1;
	} else if (rc != S_OK) {
		atomic_fetch_add(&n_send_err, 1);
	}
	return rc;
}

static int
reply_put(SESSION *s, void *u, const void *p, size_t n)
{
	return send_counted(s, u, p, n);
}

#define reply(s, u, ...) (void)tline_send(reply_put, s, u, __VA_ARGS__)

static void
close_session(SESSION *s, struct sess *u)
{
	u->closed = 1;
	S_close(s);
}

/* ---- GET: a long reply with back-pressure ---------------------------- */

static void
pump(SESSION *s, struct sess *u)
{
	static _Thread_local unsigned char piece[PIECE];
	size_t n;
	int rc;

	while (!u->closed && u->get_off < u->get_n) {
		n = u->get_n - u->get_off > PIECE ? PIECE :
		    (size_t)(u->get_n - u->get_off);
		pat_fill4(piece, u->get_off, n);
		rc = send_counted(s, u, piece, n);
		if (rc == S_ERR_CONGESTED)
			return;         /* until TYP_SENDABLE */
		if (rc != S_OK) {
			u->get_n = u->get_off;  /* closing: give up */
			return;
		}
		u->get_off += n;
	}
	if (!u->closed && u->get_n > 0 && u->get_off == u->get_n) {
		u->get_n = u->get_off = 0;
		if (u->get_close)
			close_session(s, u);
	}
}

/* ---- ECHO -------------------------------------------------------------- */

static void
echo(SESSION *s, struct sess *u, const unsigned char *p, size_t n)
{
	if (u->blog.len == 0 && send_counted(s, u, p, n) != S_ERR_CONGESTED)
		return;
	if (u->blog.len + n > ECHO_CAP) {
		atomic_fetch_add(&n_echo_overflow, 1);
		close_session(s, u);
		return;
	}
	tbuf_add(&u->blog, p, n);
}

static void
echo_flush(SESSION *s, struct sess *u)
{
	if (u->blog.len > 0 &&
	    send_counted(s, u, u->blog.p, u->blog.len) == S_OK)
		u->blog.len = 0;
}

/* ---- commands ------------------------------------------------------------ */

static void
cmd_to(SESSION *s, struct sess *u, unsigned port, const char *seq,
    const char *text)
{
	char msg[LINE_CAP + 64];
	SESSION *x;
	int n, rc;

	x = S_search(s->host, (uint16_t)port);
	if (x == NULL) {
		atomic_fetch_add(&n_naks, 1);
		reply(s, u, "NAK %u %s nf", port, seq);
		return;
	}
	n = snprintf(msg, sizeof msg, "FROM %u %s %s\n", s->port, seq, text);
	if (n < 0 || (size_t)n >= sizeof msg)
		return;
	/* x may be a session of another worker: plain S_send, no usr. */
	rc = S_send(x, (unsigned char *)msg, (size_t)n);
	if (rc != S_OK) {
		atomic_fetch_add(rc == S_ERR_CONGESTED ? &n_send_cong :
		    &n_send_err, 1);
		atomic_fetch_add(&n_naks, 1);
		reply(s, u, "NAK %u %s %d", port, seq, rc);
	}
}

static void
cmd_stats(SESSION *s, struct sess *u)
{
	unsigned long long accepts, terms;
	S_STATS st;
	char words[1024];
	int rc;

	/*
	 * The application's counts first: the library counts a session's
	 * accept and end before the callback, so counts read after S_stats
	 * may include sessions that began or ended after its snapshot.
	 */
	accepts = atomic_load(&n_accepts);
	terms = atomic_load(&n_terms);
	memset(&st, 0, sizeof st);
	rc = S_stats(&st);
	tline_stats(words, sizeof words, &st);
	reply(s, u, "STATS rc=%d %s app_accepts=%llu app_terms=%llu "
	    "app_dup=%llu app_send_err=%llu app_send_cong=%llu app_naks=%llu "
	    "app_overlong=%llu app_echo_overflow=%llu app_violations=%llu", rc,
	    words, accepts, terms, atomic_load(&n_dup), atomic_load(&n_send_err),
	    atomic_load(&n_send_cong), atomic_load(&n_naks),
	    atomic_load(&n_overlong), atomic_load(&n_echo_overflow),
	    atomic_load(&n_violations));
}

/* The sessions between TYP_ACCEPT and TYP_TERM: what is left over. */
static void
cmd_live(SESSION *s, struct sess *u)
{
	char buf[1024];
	struct sess *x;
	size_t len;
	int n = 0;

	pthread_mutex_lock(&rec_lock);
	len = (size_t)snprintf(buf, sizeof buf, "LIVE n=%llu", nlive);
	for (x = live; x != NULL && n < 20 && len < sizeof buf - 48;
	    x = x->next, n++)
		len += (size_t)snprintf(buf + len, sizeof buf - len,
		    " %u:%u:%d:%d", x->id, x->s->port,
		    __atomic_load_n(&x->s->status, __ATOMIC_RELAXED),
		    x->closed);
	pthread_mutex_unlock(&rec_lock);
	reply(s, u, "%s", buf);
}

static void
command(SESSION *s, struct sess *u, char *line)
{
	char seq[32], word[16];
	unsigned long long n;
	unsigned port;
	int off = 0;

	if (strncmp(line, "PING", 4) == 0) {
		reply(s, u, "PONG%s", line + 4);
	} else if (strcmp(line, "ECHO") == 0) {
		u->mode = M_ECHO;
	} else if (sscanf(line, "GET %llu %15s", &n, word) >= 1) {
		u->get_n = n;
		u->get_off = 0;
		u->get_close = sscanf(line, "GET %llu %15s", &n, word) == 2 &&
		    strcmp(word, "close") == 0;
		pump(s, u);
	} else if (sscanf(line, "PUT %llu", &n) == 1) {
		u->put_n = u->put_left = n;
		u->put_hash = FNV64_INIT;
		u->mode = M_PUT;
		if (n == 0) {
			u->mode = M_LINE;
			reply(s, u, "GOT n=0 hash=%016llx",
			    (unsigned long long)u->put_hash);
		}
	} else if (sscanf(line, "TO %u %31s %n", &port, seq, &off) == 2 &&
	    off > 0) {
		cmd_to(s, u, port, seq, line + off);
	} else if (strcmp(line, "STATS") == 0) {
		cmd_stats(s, u);
	} else if (strcmp(line, "LIVE") == 0) {
		cmd_live(s, u);
	} else if (strcmp(line, "QUIT") == 0) {
		reply(s, u, "BYE");
		close_session(s, u);
	} else {
		reply(s, u, "ERR");
	}
}

/* Received bytes, in order, through the session's current mode. */
static void
feed(SESSION *s, struct sess *u, const unsigned char *p, size_t n)
{
	const unsigned char *nl;
	size_t take;

	while (n > 0 && !u->closed) {
		if (u->mode == M_ECHO) {
			echo(s, u, p, n);
			return;
		}
		if (u->mode == M_PUT) {
			take = n < u->put_left ? n : (size_t)u->put_left;
			u->put_hash = fnv64(u->put_hash, p, take);
			u->put_left -= take;
			p += take;
			n -= take;
			if (u->put_left == 0) {
				u->mode = M_LINE;
				reply(s, u, "GOT n=%llu hash=%016llx",
				    (unsigned long long)u->put_n,
				    (unsigned long long)u->put_hash);
			}
			continue;
		}
		nl = memchr(p, '\n', n);
		take = nl ? (size_t)(nl - p) : n;
		if (u->llen + take >= sizeof u->line) {
			if (!u->overlong)
				atomic_fetch_add(&n_overlong, 1);
			u->overlong = 1;
			u->llen = 0;
		} else if (!u->overlong) {
			memcpy(u->line + u->llen, p, take);
			u->llen += take;
		}
		p += take;
		n -= take;
		if (nl == NULL)
			break;
		p++;
		n--;
		if (u->overlong) {
			u->overlong = 0;
			continue;
		}
		if (u->llen > 0 && u->line[u->llen - 1] == '\r')
			u->llen--;
		u->line[u->llen] = '\0';
		u->llen = 0;
		command(s, u, u->line);
	}
}

/* ---- hooks ----------------------------------------------------------------- */

TOPT_FLAG(set_sigpipe_default, sigpipe_default)

static const struct serv_option options[] = {
	{ "sigpipe-default", 0, NULL,
	    "SIGPIPE neither ignored nor blocked in the workers (tests only)",
	    set_sigpipe_default },
	{ NULL, 0, NULL, NULL, NULL }
};

const struct serv_option *
serv_options(void)
{
	return options;
}

void
serv_init(void)
{
	static char name[64];

	/* Its own name: no pidfile or log tag shared with another run. */
	snprintf(name, sizeof name, "hsvr-reliab-%ld", (long)getpid());
	serv_set_name(name);
}

void
serv_worker_init(int worker)
{
	sigset_t pipe;

	if (sigpipe_default) {
		/* Neither ignored nor blocked in the workers, which write. */
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&pipe);
		sigaddset(&pipe, SIGPIPE);
		pthread_sigmask(SIG_UNBLOCK, &pipe, NULL);
	}
	if (worker == 0)
		tline_say("SERVING pid=%ld", (long)getpid());
}

void
serv_exit(void)
{
	unsigned long long missing = 0, dup = 0, accepts = 0;
	size_t i;

	pthread_mutex_lock(&rec_lock);
	for (i = 0; i < nrecs; i++) {
		if (recs[i] == 0)
			continue;
		accepts += (recs[i] & 0x80) != 0;
		missing += (recs[i] & 0x80) && (recs[i] & 0x7f) == 0;
		dup += (recs[i] & 0x7f) > 1;
	}
	free(recs);
	recs = NULL;
	nrecs = 0;
	pthread_mutex_unlock(&rec_lock);
	tline_say("EXITCHECK accepts=%llu terms=%llu missing=%llu dup=%llu "
	    "violations=%llu", accepts, atomic_load(&n_terms), missing, dup,
	    atomic_load(&n_violations));
}

void
serv_on_accept(SESSION *s)
{
	struct sess *u;

	if (s->usr != NULL)
		VIOLATION("ACCEPT id=%u: usr already set", s->id);
	if (rec_update(s->id, 1, 0) != 0)
		VIOLATION("ACCEPT id=%u: the id was seen before", s->id);
	if ((u = calloc(1, sizeof *u)) == NULL)
		abort();
	u->id = s->id;
	u->s = s;
	s->usr = u;
	pthread_mutex_lock(&rec_lock);
	u->next = live;
	if (live != NULL)
		live->prev = u;
	live = u;
	nlive++;
	pthread_mutex_unlock(&rec_lock);
	atomic_fetch_add(&n_accepts, 1);
}

void
serv_on_read(SESSION *s)
{
	struct sess *u = sess_of(s, "READ");

	if (u == NULL)
		return;
	if (s->buff == NULL || s->blen == 0) {
		VIOLATION("READ id=%u: no data", s->id);
		return;
	}
	feed(s, u, s->buff, s->blen);
}

void
serv_on_timeout(SESSION *s)
{
	struct sess *u = sess_of(s, "TIMEOUT");

	/* The idle period is over: reclaim the slot. */
	if (u != NULL)
		close_session(s, u);
}

void
serv_on_sendable(SESSION *s)
{
	struct sess *u = sess_of(s, "SENDABLE");

	if (u == NULL)
		return;
	if (u->closed)
		VIOLATION("SENDABLE id=%u after S_close", s->id);
	u->congested = 0;
	echo_flush(s, u);
	pump(s, u);
}

void
serv_on_term(SESSION *s)
{
	struct sess *u = s->usr;
	unsigned char old = rec_update(s->id, 0, 1);

	atomic_fetch_add(&n_terms, 1);
	if (!(old & 0x80))
		VIOLATION("TERM id=%u without TYP_ACCEPT", s->id);
	if ((old & 0x7f) != 0) {
		atomic_fetch_add(&n_dup, 1);
		VIOLATION("TERM id=%u: TERM number %d", s->id,
		    (old & 0x7f) + 1);
	}
	if (u == NULL || u->id != s->id)
		return;
	pthread_mutex_lock(&rec_lock);
	if (u->prev != NULL)
		u->prev->next = u->next;
	else
		live = u->next;
	if (u->next != NULL)
		u->next->prev = u->prev;
	nlive--;
	pthread_mutex_unlock(&rec_lock);
	free(u->blog.p);
	free(u);
	s->usr = NULL;
}
