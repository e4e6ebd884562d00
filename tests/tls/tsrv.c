/*
 * tsrv.c - the TLS test server.  Built twice: t-tsrv on the serv_* hooks
 * and the library's main() (run with -x -p PORT -c CERT -k KEY ...), and
 * t-tsrv-low (TSRV_LOWLEVEL) on S_start with one CALLBACK_T:
 *     t-tsrv-low PORT CERT KEY THREADS [ALPN|none]
 *
 * It speaks a line protocol over TLS; every request line gets exactly one
 * reply line, except where said:
 *   INFO           "INFO id=N version=V cipher=C alpn=A verified=0|1 peer=P"
 *                  (S_tls_info of this session)
 *   PID            "PID pid=N uid=N euid=N gid=N egid=N" of the serving process
 *   STATS          "STATS tls_handshake_error=N accept_counter=N ..." (S_stats)
 *   SLEEP MS       "SLEEPING", then the worker sleeps MS ms in the callback
 *                  (lets a client's next data pile up in the socket)
 *   GEN N SEED [close] [ref|file] [chain|chain1]  no reply line: N bytes of
 *                  stream SEED (tpattern.h), pushed with back-pressure
 *                  (S_send -4, TYP_SENDABLE), then S_close if "close";
 *                  with "ref" by S_send_ref of 256 KiB pieces (each freed
 *                  by its release), with "file" by S_send_file of 256 KiB
 *                  pieces of an unlinked temporary file holding the
 *                  stream; with "chain" at most CHAIN_WINDOW pieces out at
 *                  a time (with "chain1" one), the next one sent from a
 *                  release
 *   SINK N         the next N bytes are data; "SUM n=N sha256=HEX" after them
 *   ECHO N         the next N bytes are data, echoed back as they come (kept
 *                  in a backlog while S_send says -4); no reply line
 *   CLOSE          "BYE", then S_close
 *   anything else  echoed back as it came, with its '\n'
 * What it observes goes to stdout, one line per event (one write(2) each):
 *   INIT, ACCEPT, TERM, TIMEOUT, DRAIN, GEN-DONE, SINK-DONE, ECHO-DONE, and
 *   VIOLATION lines where the library broke a promise (the tests fail on
 *   any).
 * IoC options: --alpn LIST (serv_set_alpn in serv_init; default
 * "h2,http/1.1", "none" for no call); --keep-on-drain (serv_on_drain leaves
 * sessions open instead of S_close: they survive a reload until the client
 * ends them or --drain-timeout).
 */
#include "hsvr.h"
#include "../tbuf.h"
#include "../tline.h"
#include "../topt.h"
#include "tpattern.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#define LINE_MAX_ 4096
#define GEN_CHUNK 16384
#define FLUSH_CHUNK 65536

enum mode { M_LINE, M_SINK, M_ECHO };

struct sess {
	char line[LINE_MAX_];
	size_t llen;
	enum mode mode;
	uint64_t remain;          /* M_SINK, M_ECHO: data bytes still due */
	uint64_t total;
	EVP_MD_CTX *md;           /* M_SINK */
	unsigned long long app_rxoctet;
	/* output that S_send refused (-4), in order */
	struct tbuf backlog;
	size_t bmax;
	/* GEN */
	uint64_t gen_left, gen_off, gen_n, gen_seed;
	int gen_close;
	int gen_chain;            /* pieces out at once, a release sending the
	                             next; 0: no chain */
	int gen_done;             /* GEN-DONE said */
	SESSION *s;               /* for the releases */
	int gen_how;              /* GEN_COPY, GEN_REF, GEN_FILE */
	int gen_fd;               /* GEN_FILE: the stream, -1 when none */
	unsigned long zc_kept;    /* S_send_ref/_file calls that said 0 */
	unsigned long zc_released; /* their release calls */
	unsigned long refused, sendables;
	int term_seen;
};

static const char *alpn_list = "h2,http/1.1";

static void
info_text(SESSION *s, char *buf, size_t cap)
{
	S_TLS_INFO ti;
	int rc = S_tls_info(s, &ti);

	if (rc != 0) {
		snprintf(buf, cap, "none rc=%d", rc);
		return;
	}
	snprintf(buf, cap, "version=%s cipher=%s alpn=%s verified=%d peer=%s",
	    ti.version, ti.cipher, ti.alpn, ti.verified, ti.peer);
}

/* Keep n bytes of refused output for TYP_SENDABLE. */
static void
keep(struct sess *st, const unsigned char *p, size_t n)
{
	tbuf_add(&st->backlog, p, n);
	if (st->backlog.len > st->bmax)
		st->bmax = st->backlog.len;
}

/* Send in order: after what is kept, or now (kept if S_send says -4). */
static void
out(SESSION *s, struct sess *st, const void *p, size_t n)
{
	int r;

	if (n == 0)
		return;
	if (st->backlog.len > 0) {
		keep(st, p, n);
		return;
	}
	r = S_send(s, (unsigned char *)(uintptr_t)p, n);
	if (r == S_ERR_CONGESTED) {
		st->refused++;
		keep(st, p, n);
	} else if (r != S_OK && s->status == HSVR_ST_OPEN) {
		tline_say("VIOLATION id=%u S_send returned %d on an open session",
		    s->id, r);
	}
}

static int
reply_put(SESSION *s, void *st, const void *p, size_t n)
{
	out(s, st, p, n);
	return 0;
}

#define reply(s, st, ...) (void)tline_send(reply_put, s, st, __VA_ARGS__)

/* Push the kept output; 1 when nothing is left. */
static int
flush_backlog(SESSION *s, struct sess *st)
{
	struct tbuf *b = &st->backlog;
	size_t done = 0, n;
	int r;

	while (done < b->len) {
		n = b->len - done < FLUSH_CHUNK ? b->len - done : FLUSH_CHUNK;
		r = S_send(s, b->p + done, n);
		if (r == S_ERR_CONGESTED) {
			st->refused++;
			break;
		}
		if (r != S_OK)
			break;  /* closing: the rest can never go */
		done += n;
	}
	if (done > 0 && done < b->len)
		memmove(b->p, b->p + done, b->len - done);
	b->len -= done;
	return b->len == 0;
}

enum { GEN_COPY, GEN_REF, GEN_FILE };
#define ZC_CHUNK (256 * 1024)
/* GEN chain: 2 MiB out at a time, over the high mark (-4 in a release). */
#define CHAIN_WINDOW 8

static void gen_pump(SESSION *s, struct sess *st);

/* A piece is released: in a chain, the next one goes now. */
static void
gen_released(struct sess *st)
{
	st->zc_released++;
	if (st->gen_chain > 0 && st->gen_left > 0)
		gen_pump(st->s, st);
}

/* A piece sent by reference: released on its session's worker. */
struct piece {
	struct sess *st;
	unsigned char data[];
};

static void
piece_released(void *arg)
{
	struct piece *p = arg;
	struct sess *st = p->st;

	free(p);
	gen_released(st);
}

static void
file_released(void *arg)
{
	gen_released(arg);
}

/* The stream SEED's first n bytes in an unlinked temporary file: its fd. */
static int
gen_file(uint64_t seed, uint64_t n)
{
	unsigned char buf[GEN_CHUNK];
	char path[512];
	const char *dir = getenv("TMPDIR");
	uint64_t off;
	size_t k;
	int fd;

	snprintf(path, sizeof path, "%s/tsrv-gen.XXXXXX",
	    dir != NULL && *dir != '\0' ? dir : "/tmp");
	if ((fd = mkstemp(path)) < 0) {
		tline_say("VIOLATION cannot make %s", path);
		abort();
	}
	(void)unlink(path);
	for (off = 0; off < n; off += k) {
		k = n - off < sizeof buf ? (size_t)(n - off) : sizeof buf;
		tp_fill(buf, seed, off, k);
		if (write(fd, buf, k) != (ssize_t)k) {
			tline_say("VIOLATION cannot write %s", path);
			abort();
		}
	}
	return fd;
}

/*
 * One piece of GEN from the stream's offset: S_send_*'s answer.  The
 * stream moves on before the call (its release may send the next piece
 * before the call returns), and back if the piece was not taken.
 */
static int
gen_send(SESSION *s, struct sess *st)
{
	unsigned char buf[GEN_CHUNK];
	struct piece *p;
	uint64_t off = st->gen_off;
	size_t n;
	int r;

	if (st->gen_how == GEN_COPY) {
		n = st->gen_left < sizeof buf ? (size_t)st->gen_left : sizeof buf;
		tp_fill(buf, st->gen_seed, off, n);
		if ((r = S_send(s, buf, n)) == S_OK) {
			st->gen_off += n;
			st->gen_left -= n;
		}
		return r;
	}
	n = st->gen_left < ZC_CHUNK ? (size_t)st->gen_left : ZC_CHUNK;
	st->gen_off += n;
	st->gen_left -= n;
	st->zc_kept++;
	if (st->gen_how == GEN_FILE) {
		r = S_send_file(s, st->gen_fd, (off_t)off, n, file_released,
		    st);
	} else {
		if ((p = malloc(sizeof *p + n)) == NULL)
			abort();
		p->st = st;
		tp_fill(p->data, st->gen_seed, off, n);
		r = S_send_ref(s, p->data, n, piece_released, p);
		if (r != S_OK)
			free(p);        /* not kept: never released */
	}
	if (r != S_OK) {
		st->gen_off -= n;
		st->gen_left += n;
		st->zc_kept--;
	}
	return r;
}

static void
gen_pump(SESSION *s, struct sess *st)
{
	int r;

	while (st->gen_left > 0) {
		if (st->gen_chain > 0 &&
		    st->zc_kept - st->zc_released >= (unsigned long)st->gen_chain)
			return;         /* a release sends the next piece */
		r = gen_send(s, st);
		if (r == S_ERR_CONGESTED) {
			st->refused++;
			return;         /* TYP_SENDABLE goes on */
		}
		if (r != S_OK) {
			tline_say("GEN-ABORTED id=%u at=%llu rc=%d", s->id,
			    (unsigned long long)st->gen_off, r);
			st->gen_left = 0;
			st->gen_done = 1;
			return;
		}
	}
	if (st->gen_done)
		return;         /* a release in a chain got here first */
	st->gen_done = 1;
	tline_say("GEN-DONE id=%u n=%llu refused=%lu sendables=%lu zc=%lu", s->id,
	    (unsigned long long)st->gen_n, st->refused, st->sendables,
	    st->zc_kept);
	if (st->gen_close)
		S_close(s);
}

static void
hex(const unsigned char *d, size_t n, char *buf)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		buf[2 * i] = digits[d[i] >> 4];
		buf[2 * i + 1] = digits[d[i] & 15];
	}
	buf[2 * n] = '\0';
}

static int
parse_u64(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(s, &end, 10);
	if (*s == '\0' || errno != 0 || (*end != '\0' && *end != ' '))
		return -1;
	*v = x;
	return 0;
}

static void
command(SESSION *s, struct sess *st, char *line, size_t len)
{
	char text[700], word[16];
	unsigned long long gn, gseed;
	uint64_t n, ms;
	S_STATS sst;
	struct timespec ts;

	if (strcmp(line, "INFO") == 0) {
		info_text(s, text, sizeof text);
		reply(s, st, "INFO id=%u %s", s->id, text);
	} else if (strcmp(line, "PID") == 0) {
		reply(s, st, "PID pid=%ld uid=%ld euid=%ld gid=%ld egid=%ld",
		    (long)getpid(), (long)getuid(), (long)geteuid(),
		    (long)getgid(), (long)getegid());
	} else if (strcmp(line, "STATS") == 0) {
		if (S_stats(&sst) != 0) {
			reply(s, st, "STATS none");
			return;
		}
		tline_stats(text, sizeof text, &sst);
		reply(s, st, "STATS %s", text);
	} else if (strncmp(line, "SLEEP ", 6) == 0 &&
	    parse_u64(line + 6, &ms) == 0 && ms <= 5000) {
		reply(s, st, "SLEEPING");
		ts.tv_sec = (time_t)(ms / 1000);
		ts.tv_nsec = (long)(ms % 1000) * 1000000L;
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
			;
	} else if (strncmp(line, "GEN ", 4) == 0 &&
	    sscanf(line + 4, "%llu %llu %15s", &gn, &gseed, word) >= 2) {
		st->gen_n = st->gen_left = gn;
		st->gen_off = 0;
		st->gen_seed = gseed;
		st->gen_close = strstr(line + 4, " close") != NULL;
		st->gen_chain = strstr(line + 4, " chain1") != NULL ? 1 :
		    strstr(line + 4, " chain") != NULL ? CHAIN_WINDOW : 0;
		st->gen_done = 0;
		st->gen_how = strstr(line + 4, " ref") != NULL ? GEN_REF :
		    strstr(line + 4, " file") != NULL ? GEN_FILE : GEN_COPY;
		if (st->gen_fd >= 0)
			close(st->gen_fd);
		st->gen_fd = st->gen_how == GEN_FILE ? gen_file(gseed, gn) : -1;
		st->refused = st->sendables = 0;
		if (st->backlog.len == 0)
			gen_pump(s, st);
	} else if (strncmp(line, "SINK ", 5) == 0 &&
	    parse_u64(line + 5, &n) == 0) {
		if ((st->md = EVP_MD_CTX_new()) == NULL ||
		    EVP_DigestInit_ex(st->md, EVP_sha256(), NULL) != 1) {
			tline_say("VIOLATION cannot start a digest");
			abort();
		}
		st->mode = M_SINK;
		st->remain = st->total = n;
	} else if (strncmp(line, "ECHO ", 5) == 0 &&
	    parse_u64(line + 5, &n) == 0) {
		st->mode = M_ECHO;
		st->remain = st->total = n;
		st->refused = st->sendables = 0;
		st->bmax = 0;
	} else if (strcmp(line, "CLOSE") == 0) {
		reply(s, st, "BYE");
		S_close(s);
	} else {
		line[len] = '\n';
		out(s, st, line, len + 1);
	}
}

static void
data_done(SESSION *s, struct sess *st)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;
	char h[2 * EVP_MAX_MD_SIZE + 1];

	if (st->mode == M_SINK) {
		EVP_DigestFinal_ex(st->md, d, &dl);
		EVP_MD_CTX_free(st->md);
		st->md = NULL;
		hex(d, dl, h);
		tline_say("SINK-DONE id=%u n=%llu", s->id,
		    (unsigned long long)st->total);
		reply(s, st, "SUM n=%llu sha256=%s",
		    (unsigned long long)st->total, h);
	} else {
		tline_say("ECHO-DONE id=%u n=%llu refused=%lu sendables=%lu "
		    "backlog_max=%zu", s->id, (unsigned long long)st->total,
		    st->refused, st->sendables, st->bmax);
	}
	st->mode = M_LINE;
}

static void
on_data(SESSION *s, struct sess *st, const unsigned char *p, size_t n)
{
	size_t i, take;
	char *nl;

	while (n > 0) {
		if (st->mode != M_LINE) {
			if (st->remain == 0) {
				data_done(s, st);
				continue;
			}
			take = n < st->remain ? n : (size_t)st->remain;
			if (st->mode == M_SINK)
				EVP_DigestUpdate(st->md, p, take);
			else
				out(s, st, p, take);
			st->remain -= take;
			p += take;
			n -= take;
			if (st->remain == 0)
				data_done(s, st);
			continue;
		}
		nl = memchr(p, '\n', n);
		take = nl ? (size_t)((const unsigned char *)nl - p) + 1 : n;
		for (i = 0; i < take; i++) {
			if (p[i] == '\n' || st->llen == sizeof st->line - 2) {
				while (st->llen > 0 &&
				    st->line[st->llen - 1] == '\r')
					st->llen--;
				st->line[st->llen] = '\0';
				command(s, st, st->line, st->llen);
				st->llen = 0;
				if (p[i] != '\n')
					st->line[st->llen++] = (char)p[i];
			} else {
				st->line[st->llen++] = (char)p[i];
			}
		}
		p += take;
		n -= take;
	}
	if (st->mode != M_LINE && st->remain == 0)
		data_done(s, st);
}

static struct sess *
sess_of(SESSION *s, const char *event)
{
	struct sess *st = s->usr;

	if (st == NULL)
		tline_say("VIOLATION id=%u %s before TYP_ACCEPT", s->id, event);
	return st;
}

static void
ev_accept(SESSION *s)
{
	char text[700];
	struct sess *st;

	if (s->usr != NULL)
		tline_say("VIOLATION id=%u second TYP_ACCEPT", s->id);
	if ((st = calloc(1, sizeof *st)) == NULL)
		abort();
	st->gen_fd = -1;
	st->s = s;
	s->usr = st;
	info_text(s, text, sizeof text);
	if (strncmp(text, "none", 4) == 0)
		tline_say("VIOLATION id=%u S_tls_info failed in TYP_ACCEPT", s->id);
	tline_say("ACCEPT id=%u port=%u %s", s->id, s->port, text);
}

static void
ev_read(SESSION *s)
{
	struct sess *st = sess_of(s, "TYP_READ");

	if (st == NULL)
		return;
	if (s->buff == NULL || s->blen == 0 || s->buff[s->blen] != '\0')
		tline_say("VIOLATION id=%u TYP_READ buff/blen", s->id);
	st->app_rxoctet += s->blen;
	on_data(s, st, s->buff, s->blen);
}

static void
ev_sendable(SESSION *s)
{
	struct sess *st = sess_of(s, "TYP_SENDABLE");

	if (st == NULL)
		return;
	st->sendables++;
	if (flush_backlog(s, st) && st->gen_left > 0)
		gen_pump(s, st);
}

static void
ev_timeout(SESSION *s)
{
	tline_say("TIMEOUT id=%u", s->id);
}

static void
ev_term(SESSION *s)
{
	struct sess *st = sess_of(s, "TYP_TERM");
	S_TLS_INFO ti;

	if (st == NULL)
		return;
	if (S_tls_info(s, &ti) != 0)
		snprintf(ti.version, sizeof ti.version, "none");
	if (s->rxoctet != st->app_rxoctet)
		tline_say("VIOLATION id=%u TERM rxoctet=%zu but %llu delivered",
		    s->id, s->rxoctet, st->app_rxoctet);
	/* The session's output is gone: so is every reference to its data. */
	if (st->zc_released != st->zc_kept)
		tline_say("VIOLATION id=%u TERM with %lu of %lu zero-copy sends not "
		    "released", s->id, st->zc_kept - st->zc_released,
		    st->zc_kept);
	tline_say("TERM id=%u port=%u rx=%zu rxoctet=%zu txoctet=%zu backlog=%zu "
	    "tls=%s zc=%lu", s->id, s->port, s->rx, s->rxoctet, s->txoctet,
	    st->backlog.len, ti.version, st->zc_kept);
	if (st->gen_fd >= 0)
		close(st->gen_fd);
	if (st->md != NULL)
		EVP_MD_CTX_free(st->md);
	free(st->backlog.p);
	free(st);
	s->usr = NULL;
}

#ifdef TSRV_LOWLEVEL

static void
callback(CTYPE type, SESSION *s)
{
	switch (type) {
	case TYP_ACCEPT:
		ev_accept(s);
		break;
	case TYP_READ:
		ev_read(s);
		break;
	case TYP_TERM:
		ev_term(s);
		break;
	case TYP_TIMEOUT:
		ev_timeout(s);
		break;
	case TYP_SENDABLE:
		ev_sendable(s);
		break;
	default:
		tline_say("VIOLATION event type %d", (int)type);
		break;
	}
}

int
main(int argc, char **argv)
{
	int port, threads, rc;

	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: %s PORT CERT KEY THREADS [ALPN|none]\n",
		    argv[0]);
		return 2;
	}
	port = atoi(argv[1]);
	threads = atoi(argv[4]);
	if (argc == 6)
		alpn_list = argv[5];
	if (strcmp(alpn_list, "none") != 0)
		serv_set_alpn(alpn_list);
	tline_say("INIT pid=%ld euid=%ld", (long)getpid(), (long)geteuid());
	rc = S_start((uint16_t)port, 100, threads, callback, 1, argv[2],
	    argv[3]);
	tline_say("S_START_RETURNED %d", rc);
	return rc == 0 ? 0 : 1;
}

#else

static int keep_on_drain;

TOPT_TEXT(opt_alpn, alpn_list)

TOPT_FLAG(opt_keep, keep_on_drain)

const struct serv_option *
serv_options(void)
{
	static const struct serv_option opts[] = {
		{ "alpn", 0, "LIST", "ALPN protocols (serv_set_alpn), or none",
		    opt_alpn },
		{ "keep-on-drain", 0, NULL, "leave sessions open on a drain",
		    opt_keep },
		{ NULL, 0, NULL, NULL, NULL }
	};
	return opts;
}

void
serv_init(void)
{
	if (strcmp(alpn_list, "none") != 0)
		serv_set_alpn(alpn_list);
	tline_say("INIT pid=%ld euid=%ld", (long)getpid(), (long)geteuid());
}

void
serv_on_accept(SESSION *s)
{
	ev_accept(s);
}

void
serv_on_read(SESSION *s)
{
	ev_read(s);
}

void
serv_on_sendable(SESSION *s)
{
	ev_sendable(s);
}

void
serv_on_timeout(SESSION *s)
{
	ev_timeout(s);
}

void
serv_on_term(SESSION *s)
{
	ev_term(s);
}

void
serv_on_drain(SESSION *s)
{
	tline_say("DRAIN id=%u pid=%ld keep=%d", s->id, (long)getpid(),
	    keep_on_drain);
	if (!keep_on_drain)
		S_close(s);
}

#endif
