/* fuzz-http-server.c - libFuzzer target: examples/http.c on a stand-in for libhsvr must answer exactly the requests its parser finds. */
/*
 * An input is what one client sends.  It reaches serv_on_read in reads of
 * pseudo-random sizes (at most HSVR_READ_MAX bytes, in a heap block of
 * exactly that size plus the library's NUL), while the stand-in S_send
 * says -4 at random and TYP_SENDABLE comes soon or late; the choices are
 * derived from the input, so every seed replays the same way.  What the
 * server sent is then read back as HTTP responses and held against what
 * http-parser.c makes of the same bytes at once: one response per request
 * in order with its status, "Connection: close" on every error, and the
 * connection closed after it.  While S_send never pushes back, that must
 * hold exactly; when it does, the server may stop early (pipelining far
 * ahead of a slow answer), but only by closing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hsvr.h"
#include "http-parser.h"

#define BODY_SIZE "600"  /* GET / answers this much: past the head's buffer */
#define CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the server must answer to one request. */
struct want {
	int status;
	int head_only;  /* HEAD answered with 200 or 404: no body */
	int close;      /* Connection: close, and then the connection closes */
	int cont;       /* 100 Continue is due before the answer */
};

/* The stand-in for the library's side of the one connection. */
static struct {
	SESSION s;
	int closing;         /* S_close was called */
	int congested;       /* S_send says -4 until TYP_SENDABLE */
	unsigned pushback;   /* S_send says -4 once in this many calls; 0: never */
	uint64_t rnd;
	unsigned char *out;  /* everything S_send accepted */
	size_t outlen, outcap;
} fake;

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz-http-server: %s\n", what);
	abort();
}

#define CHECK(cond) do { if (!(cond)) fail(#cond); } while (0)

/* xorshift64, seeded from the input. */
static uint64_t
next(void)
{
	fake.rnd ^= fake.rnd << 13;
	fake.rnd ^= fake.rnd >> 7;
	fake.rnd ^= fake.rnd << 17;
	return fake.rnd;
}

int
S_send(SESSION *s, unsigned char *buff, size_t len)
{
	unsigned char *out;

	CHECK(s == &fake.s);
	CHECK(buff != NULL || len == 0);
	if (fake.closing)
		return S_ERR_INTERNAL;
	if (len == 0)
		return S_OK;
	if (fake.congested || (fake.pushback > 0 && next() % fake.pushback == 0)) {
		fake.congested = 1;
		s->writewait = 1;
		return S_ERR_CONGESTED;
	}
	if (fake.outlen + len > fake.outcap) {
		fake.outcap = (fake.outlen + len) * 2;
		if ((out = realloc(fake.out, fake.outcap)) == NULL)
			abort();
		fake.out = out;
	}
	memcpy(fake.out + fake.outlen, buff, len);
	fake.outlen += len;
	return S_OK;
}

/* The body lives as long as the server: what it says now is what goes. */
int
S_send_ref(SESSION *s, const void *data, size_t len, S_RELEASE_T release,
    void *arg)
{
	int rc = S_send(s, (unsigned char *)(uintptr_t)data, len);

	if (rc == S_OK && release != NULL)
		release(arg);
	return rc;
}

/*
 * Without --file the body goes from its sealed memfd (a plain
 * connection): its bytes, read now, go as S_send's would.
 */
int
S_send_file(SESSION *s, int fd, off_t offset, size_t len,
    S_RELEASE_T release, void *arg)
{
	unsigned char *buf;
	ssize_t n;
	int rc;

	if ((buf = malloc(len > 0 ? len : 1)) == NULL)
		fail("out of memory");
	n = pread(fd, buf, len, offset);
	CHECK(n >= 0 && (size_t)n == len);
	rc = S_send(s, buf, len);
	free(buf);
	if (rc == S_OK && release != NULL)
		release(arg);
	return rc;
}

/* The connection is plain: the body goes by S_send_file. */
int
S_tls_info(SESSION *s, S_TLS_INFO *info)
{
	(void)s, (void)info;
	return -1;
}

/* Whether the close waits for the reply's acknowledgement: nothing to see
 * here, only the call's rules (the session open, before S_close). */
int
S_linger(SESSION *s, int on)
{
	CHECK(s == &fake.s && !fake.closing && on == 0);
	return S_OK;
}

void
S_close(SESSION *s)
{
	CHECK(s == &fake.s);
	fake.closing = 1;
	s->status = HSVR_ST_CLOSING;
}

void
serv_set_name(const char *name)
{
	(void)name;
}

void
serv_set_alpn(const char *protocols)
{
	(void)protocols;
}

/* Called from serv_init, before any listening socket: the library's rule
 * on the number is checked, nothing else is there to see. */
int
serv_set_defer_accept(int seconds)
{
	CHECK(seconds >= 0 && seconds <= 3600);
	return 0;
}

/* No metrics here: hsvr_metric_add of NULL does nothing, as the library's. */
hsvr_metric *
hsvr_metric_counter(const char *name, const char *help)
{
	(void)name;
	(void)help;
	return NULL;
}

void
hsvr_metric_add(hsvr_metric *m, int64_t n)
{
	(void)m;
	(void)n;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const struct serv_option *o;

	(void)argc;
	(void)argv;
	for (o = serv_options(); o->name != NULL; o++)
		if (strcmp(o->name, "body-size") == 0 && o->set(BODY_SIZE) != 0)
			fail("--body-size refused");
	serv_init();
	return 0;
}

/* What http-parser.c makes of the whole input: the answers due, in order. */
static size_t
expect(const uint8_t *data, size_t size, struct want **wants, int *open_cont)
{
	struct http_request req;
	struct http_body body;
	struct want *w = NULL;
	size_t off = 0, used, n = 0, cap = 0;
	int rc, cont;

	*open_cont = 0;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			if ((w = realloc(w, cap * sizeof(*w))) == NULL)
				abort();
		}
		memset(&w[n], 0, sizeof(w[n]));
		w[n].close = 1;
		rc = http_parse_head(data + off, size - off, &req, &used);
		if (rc == HTTP_MORE)
			break;
		if (rc != HTTP_OK) {
			w[n++].status = rc;
			break;
		}
		off += used;
		cont = req.expect_continue && (req.chunked || req.content_length > 0);
		http_body_init(&body, &req);
		rc = http_body_skip(&body, data + off, size - off, &used);
		off += used;
		if (rc == HTTP_MORE) {
			*open_cont = cont;
			break;
		}
		w[n].cont = cont;
		if (rc != HTTP_OK) {
			w[n++].status = rc;
			break;
		}
		w[n].status = http_path_is(&req, "/") ? 200 : 404;
		w[n].head_only = req.method == HTTP_HEAD;
		w[n].close = !req.keep_alive;
		if (w[n++].close)
			break;
	}
	*wants = w;
	return n;
}

/* The value of header field name (with its ": ") in head[0..n), or -1. */
static long
field_number(const unsigned char *head, size_t n, const char *name)
{
	size_t len = strlen(name), i;
	long v = 0;

	for (i = 0; i + len <= n; i++) {
		if ((i == 0 || head[i - 1] != '\n') || memcmp(head + i, name, len))
			continue;
		for (i += len; i < n && head[i] >= '0' && head[i] <= '9'; i++)
			v = v * 10 + (head[i] - '0');
		return v;
	}
	return -1;
}

static int
has_line(const unsigned char *head, size_t n, const char *line)
{
	size_t len = strlen(line), i;

	for (i = 2; i + len <= n; i++)
		if (head[i - 1] == '\n' && memcmp(head + i, line, len) == 0)
			return 1;
	return 0;
}

/* Read back what was sent and hold it against the answers due. */
static void
check_output(const struct want *w, size_t n, int open_cont, int strict)
{
	const unsigned char *o = fake.out;
	size_t pos = 0, i = 0, head, len = strlen(CONTINUE);
	long clen;
	int cont_seen = 0, close;

	while (pos < fake.outlen) {
		if (fake.outlen - pos >= len && memcmp(o + pos, CONTINUE, len) == 0) {
			CHECK(i < n ? w[i].cont : open_cont);
			CHECK(!cont_seen);
			cont_seen = 1;
			pos += len;
			continue;
		}
		CHECK(i < n);  /* no answer to a request that was not made */
		CHECK(!strict || cont_seen == w[i].cont);
		CHECK(fake.outlen - pos > 13 && memcmp(o + pos, "HTTP/1.1 ", 9) == 0);
		CHECK(o[pos + 9] >= '1' && o[pos + 9] <= '5' && o[pos + 12] == ' ');
		CHECK((o[pos + 9] - '0') * 100 + (o[pos + 10] - '0') * 10 +
		    (o[pos + 11] - '0') == w[i].status);
		for (head = pos; head + 4 <= fake.outlen &&
		    memcmp(o + head, "\r\n\r\n", 4) != 0; head++)
			;
		CHECK(head + 4 <= fake.outlen);
		head += 4;
		clen = field_number(o + pos, head - pos, "Content-Length: ");
		CHECK(clen >= 0);
		close = has_line(o + pos, head - pos, "Connection: close\r\n");
		CHECK(close || !w[i].close);
		CHECK(!strict || close == w[i].close);
		if (!w[i].head_only)
			head += (size_t)clen;
		CHECK(head <= fake.outlen);
		pos = head;
		i++;
		cont_seen = 0;
	}
	if (strict) {
		CHECK(i == n);
		CHECK(cont_seen == open_cont);
		CHECK(fake.closing == (n > 0 && w[n - 1].close));
	} else {
		/* Answers may stop short, but only with the connection closed. */
		CHECK(i == n || fake.closing);
		CHECK(i < n || n == 0 || !w[n - 1].close || fake.closing);
	}
}

/* One chance for congestion to clear, as TYP_SENDABLE. */
static void
sendable(void)
{
	if (!fake.congested || fake.closing)
		return;
	fake.congested = 0;
	fake.s.writewait = 0;
	serv_on_sendable(&fake.s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned pushbacks[] = { 0, 8, 3, 2 };
	struct want *w;
	unsigned char *buff;
	uint64_t h = 0xcbf29ce484222325u;
	size_t i, n, off = 0, len;
	int open_cont, late, drains;

	for (i = 0; i < size; i++)
		h = (h ^ data[i]) * 0x100000001b3u;
	memset(&fake.s, 0, sizeof(fake.s));
	fake.closing = fake.congested = 0;
	fake.outlen = 0;
	fake.rnd = h | 1;
	fake.pushback = pushbacks[next() % 4];
	late = fake.pushback > 0 && next() % 2;  /* TYP_SENDABLE waits for reads */
	n = expect(data, size, &w, &open_cont);

	serv_on_accept(&fake.s);
	CHECK(fake.s.usr != NULL);
	while (off < size && !fake.closing) {
		uint64_t r = next();

		len = 1 + (size_t)((r >> 8) % ((uint64_t)1 << (r % 17)));
		if (len > size - off)
			len = size - off;
		if (len > HSVR_READ_MAX)
			len = HSVR_READ_MAX;
		if ((buff = malloc(len + 1)) == NULL)
			abort();
		memcpy(buff, data + off, len);
		buff[len] = '\0';
		fake.s.buff = buff;
		fake.s.blen = len;
		serv_on_read(&fake.s);
		fake.s.buff = NULL;
		fake.s.blen = 0;
		free(buff);
		off += len;
		if (!late || next() % 2)
			sendable();
	}
	/* The client waits: every answer queued gets written in the end. */
	for (drains = 0; fake.congested && !fake.closing; drains++) {
		CHECK(drains < 100000);
		sendable();
	}
	check_output(w, n, open_cont, fake.pushback == 0);
	serv_on_term(&fake.s);
	CHECK(fake.s.usr == NULL);
	free(w);
	return 0;
}
