/* fuzz-http.c - libFuzzer target: examples/http-parser.c must agree with itself however its input is split, and keep to its buffers. */
/*
 * An input is the byte stream of one connection.  It is served the way
 * examples/http.c serves it: parse a head, skip its body, go on with the
 * next pipelined request, stop at the first error.  That is done with the
 * whole input at once, then again with the input arriving in pieces
 * (byte by byte for short inputs, and two pseudo-random splittings derived
 * from the input itself, so that every seed replays the same way).  Every
 * call gets a heap buffer of exactly the bytes it is given, so that
 * AddressSanitizer sees any byte read before or after them.  Each call's
 * result is checked against what http-parser.h promises, and the requests
 * seen must be the same, field for field, however the input was split.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http-parser.h"

#define REQUESTS_MAX 64  /* requests of one input that are followed */
#define BYTEWISE_MAX 1024 /* inputs this short are also fed byte by byte */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What became of one request of the stream. */
struct event {
	int head;                 /* http_parse_head's result */
	size_t head_len;          /* its *used on HTTP_OK */
	int method, minor, keep_alive, expect_continue, chunked;
	uint64_t content_length;
	size_t target_off;        /* of the target from the head's first byte */
	size_t target_len;
	int path_root;            /* http_path_is(req, "/") */
	int body;                 /* http_body_skip's final result, or HTTP_MORE */
	uint64_t body_len;        /* body bytes consumed */
};

/* One connection being served; the input arrives through feed(). */
struct conn {
	const char *how;          /* "whole", "byte by byte", "pieces" */
	int done;                 /* an error, or REQUESTS_MAX requests */
	int in_body;
	struct http_body body;
	unsigned char *in;        /* received, not yet consumed */
	size_t inlen;
	struct event ev[REQUESTS_MAX];
	int n;                    /* requests begun: ev[n - 1] is the last */
};

static void
fail(const struct conn *c, const char *what)
{
	fprintf(stderr, "fuzz-http (%s, request %d): %s\n", c->how, c->n, what);
	abort();
}

#define CHECK(c, cond) do { if (!(cond)) fail((c), #cond); } while (0)

/* The statuses http-parser.h says its functions may return. */
static int
documented(int rc)
{
	return rc == HTTP_MORE || rc == HTTP_OK || rc == 400 || rc == 414 ||
	    rc == 431 || rc == 501 || rc == 505;
}

/* A fresh heap block holding exactly p[0..n): nothing around it is readable. */
static unsigned char *
exact_copy(const unsigned char *p, size_t n)
{
	unsigned char *b = malloc(n);

	if (b == NULL && n > 0)
		abort();
	if (n > 0)
		memcpy(b, p, n);
	return b;
}

/*
 * What a complete head must look like, by the header's own words: at most
 * HTTP_LINE_MAX bytes of request line, HTTP_FIELDS_MAX bytes and
 * HTTP_FIELD_LINES lines of header section, strictly CRLF-delimited, no
 * control characters but HTAB, and ending with the empty line.
 */
static void
check_head(const struct conn *c, const unsigned char *h, size_t used,
    const struct http_request *req)
{
	size_t i, line = 0, lines = 0, section = 0;
	int in_fields = 0;

	CHECK(c, used >= 4 && memcmp(h + used - 4, "\r\n\r\n", 4) == 0);
	CHECK(c, req->method == HTTP_GET || req->method == HTTP_HEAD ||
	    req->method == HTTP_POST);
	CHECK(c, req->minor >= 0 && req->minor <= 9);
	CHECK(c, req->keep_alive == 0 || req->keep_alive == 1);
	CHECK(c, req->expect_continue == 0 || req->expect_continue == 1);
	CHECK(c, req->chunked == 0 || req->chunked == 1);
	CHECK(c, req->target_len > 0 && req->target >= h &&
	    req->target_len <= used && req->target <= h + used - req->target_len);
	i = 0;
	while (i + 1 < used && h[i] == '\r' && h[i + 1] == '\n')
		i += 2;         /* empty lines before the request line */
	for (; i < used; i++) {
		if (h[i] == '\r') {
			CHECK(c, i + 1 < used && h[i + 1] == '\n');
			if (!in_fields) {
				CHECK(c, line <= HTTP_LINE_MAX);
				in_fields = 1;
			} else {
				section += line + 2;
				lines += line > 0;
			}
			line = 0;
			i++;
			continue;
		}
		CHECK(c, h[i] == '\t' || (h[i] >= ' ' && h[i] != 0x7f));
		line++;
	}
	CHECK(c, section <= HTTP_FIELDS_MAX);
	CHECK(c, lines <= HTTP_FIELD_LINES);
}

/* http_path_is must find the path of an origin-form target. */
static void
check_path(const struct conn *c, const struct http_request *req)
{
	char path[HTTP_LINE_MAX + 1];
	size_t n = 0;

	if (req->target[0] != '/')
		return;
	while (n < req->target_len && req->target[n] != '?')
		n++;
	memcpy(path, req->target, n);
	path[n] = '\0';
	CHECK(c, http_path_is(req, path) == 1);
}

/* Parse a head from the unconsumed input: 1 if the stream goes on. */
static int
step_head(struct conn *c, size_t *off)
{
	struct http_request req;
	struct event *e;
	size_t len = c->inlen - *off, used = (size_t)-1;
	unsigned char *b = exact_copy(c->in + *off, len);
	int rc;

	rc = http_parse_head(b, len, &req, &used);
	CHECK(c, documented(rc));
	/* A line cannot be known to be too long before it is. */
	CHECK(c, rc != 414 || len > HTTP_LINE_MAX);
	if (rc == HTTP_MORE) {
		free(b);
		return 0;
	}
	e = &c->ev[c->n++];
	memset(e, 0, sizeof(*e));
	e->head = rc;
	e->body = HTTP_MORE;
	if (rc != HTTP_OK) {
		c->done = 1;
		free(b);
		return 0;
	}
	CHECK(c, used <= len);
	check_head(c, b, used, &req);
	check_path(c, &req);
	e->head_len = used;
	e->method = (int)req.method;
	e->minor = req.minor;
	e->keep_alive = req.keep_alive;
	e->expect_continue = req.expect_continue;
	e->chunked = req.chunked;
	e->content_length = req.content_length;
	e->target_off = (size_t)(req.target - b);
	e->target_len = req.target_len;
	e->path_root = http_path_is(&req, "/");
	CHECK(c, e->path_root == 0 || e->path_root == 1);
	(void)http_path_is(&req, "/index.html");
	http_body_init(&c->body, &req);
	c->in_body = 1;
	*off += used;
	free(b);
	return 1;
}

/* Skip body bytes from the unconsumed input: 1 if the stream goes on. */
static int
step_body(struct conn *c, size_t *off)
{
	struct event *e = &c->ev[c->n - 1];
	size_t len = c->inlen - *off, used = (size_t)-1;
	unsigned char *b = exact_copy(c->in + *off, len);
	int rc;

	rc = http_body_skip(&c->body, b, len, &used);
	free(b);
	CHECK(c, documented(rc));
	CHECK(c, used <= len);
	CHECK(c, rc != HTTP_MORE || used == len);
	/* A Content-Length body cannot be malformed. */
	CHECK(c, e->chunked || rc == HTTP_MORE || rc == HTTP_OK);
	e->body_len += used;
	*off += used;
	if (rc == HTTP_MORE)
		return 0;
	e->body = rc;
	CHECK(c, e->chunked || rc != HTTP_OK ||
	    e->body_len == e->content_length);
	c->in_body = 0;
	if (rc != HTTP_OK || c->n == REQUESTS_MAX)
		c->done = 1;
	return !c->done;
}

/* n more bytes arrive: serve what can be served. */
static void
feed(struct conn *c, const unsigned char *p, size_t n)
{
	size_t off = 0;
	unsigned char *in;

	if (c->done)
		return;
	if ((in = realloc(c->in, c->inlen + n + 1)) == NULL)
		abort();
	c->in = in;
	if (n > 0)
		memcpy(c->in + c->inlen, p, n);
	c->inlen += n;
	while (c->in_body ? step_body(c, &off) : step_head(c, &off))
		;
	c->inlen -= off;
	memmove(c->in, c->in + off, c->inlen);
}

static void
conn_init(struct conn *c, const char *how)
{
	memset(c, 0, sizeof(*c));
	c->how = how;
}

/* The same requests, field for field, however the input was split. */
static void
compare(const struct conn *a, const struct conn *b)
{
	int i;

	if (a->n != b->n || a->in_body != b->in_body || a->done != b->done) {
		fprintf(stderr, "fuzz-http: %s saw %d requests (%s), %s saw %d (%s)\n",
		    a->how, a->n, a->done ? "done" : "open", b->how, b->n,
		    b->done ? "done" : "open");
		abort();
	}
	for (i = 0; i < a->n; i++) {
		const struct event *x = &a->ev[i], *y = &b->ev[i];

		if (memcmp(x, y, sizeof(*x)) == 0)
			continue;
		fprintf(stderr, "fuzz-http: request %d: %s: head %d len %zu body %d "
		    "len %llu; %s: head %d len %zu body %d len %llu\n", i + 1,
		    a->how, x->head, x->head_len, x->body,
		    (unsigned long long)x->body_len, b->how, y->head, y->head_len,
		    y->body, (unsigned long long)y->body_len);
		abort();
	}
}

/* FNV-1a of the input: the seed of its splittings. */
static uint64_t
fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325u;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3u;
	return h;
}

/* xorshift64: good enough to pick where an input is cut. */
static uint64_t
next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Feed data in pieces of 1 to 2^k bytes, k itself random. */
static void
feed_pieces(struct conn *c, const uint8_t *data, size_t size, uint64_t seed)
{
	size_t off = 0, n;
	uint64_t r;

	if (seed == 0)
		seed = 1;
	while (off < size) {
		r = next(&seed);
		n = 1 + (size_t)((r >> 8) % ((uint64_t)1 << (r % 15)));
		if (n > size - off)
			n = size - off;
		feed(c, data + off, n);
		off += n;
	}
	feed(c, data + off, 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct conn whole, split;
	uint64_t seed = fnv(data, size);
	size_t i;

	conn_init(&whole, "whole");
	feed(&whole, data, size);
	feed(&whole, data + size, 0);

	if (size <= BYTEWISE_MAX) {
		conn_init(&split, "byte by byte");
		for (i = 0; i < size; i++)
			feed(&split, data + i, 1);
		compare(&whole, &split);
		free(split.in);
	}
	for (i = 0; i < 2; i++) {
		conn_init(&split, "pieces");
		feed_pieces(&split, data, size, seed ^ (i * 0x9e3779b97f4a7c15u));
		compare(&whole, &split);
		free(split.in);
	}
	free(whole.in);
	return 0;
}
