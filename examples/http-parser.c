/* http-parser.c - parses HTTP/1.x request heads and skips their bodies, strictly (RFC 9112). */
#include <string.h>

#include "http-parser.h"

#define TOO_LONG (-1)             /* find_eol: the line exceeds its limit */
#define CHUNK_DIGITS_MAX 15       /* keeps a chunk size below 2^60 */

enum {
	B_LENGTH, B_SIZE, B_EXT, B_SIZE_LF, B_DATA, B_DATA_CR, B_DATA_LF,
	B_TRAILER, B_TRAILER_LINE, B_TRAILER_LF, B_END_LF, B_DONE
};

/* What the header fields said, for the checks made once all are read. */
struct fields {
	int host, length, coding, close, keep_alive;
};

static int
is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

/* Field values may hold visible ASCII, SP, HTAB and obs-text, no controls. */
static int
is_field_char(unsigned char c)
{
	return c == '\t' || (c >= ' ' && c != 0x7f);
}

static unsigned char
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* 1 if p[0..n) is the lower-case literal s, ignoring ASCII case. */
static int
ieq(const unsigned char *p, size_t n, const char *s)
{
	size_t i;

	if (n != strlen(s))
		return 0;
	for (i = 0; i < n; i++)
		if (lower(p[i]) != (unsigned char)s[i])
			return 0;
	return 1;
}

static int
has_prefix(const unsigned char *p, size_t n, const char *s)
{
	size_t len = strlen(s);

	return n >= len && ieq(p, len, s);
}

/*
 * Find the CRLF ending the line that starts at buf[pos], whose content may be
 * max bytes long.  HTTP_OK with *eol at the CR; HTTP_MORE; TOO_LONG; or 400
 * for a bare CR or LF.  memchr rather than a loop over the bytes: the
 * lines of a request head are most of the parser's work (callgrind).
 */
static int
find_eol(const unsigned char *buf, size_t len, size_t pos, size_t max,
    size_t *eol)
{
	size_t end, stop;
	const unsigned char *cr;

	if (pos >= len)
		return HTTP_MORE;
	end = len - pos > max ? pos + max + 1 : len;
	cr = memchr(buf + pos, '\r', end - pos);
	stop = cr != NULL ? (size_t)(cr - buf) : end;
	if (memchr(buf + pos, '\n', stop - pos) != NULL)
		return 400;     /* a bare LF, before any CR */
	if (cr == NULL)
		return end - pos > max ? TOO_LONG : HTTP_MORE;
	if (stop + 1 == len)
		return HTTP_MORE;
	*eol = stop;
	return buf[stop + 1] == '\n' ? HTTP_OK : 400;
}

/* "HTTP/1.1" and friends; 505 for another major version. */
static int
parse_version(const unsigned char *p, size_t n, struct http_request *req)
{
	if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' ||
	    p[5] < '0' || p[5] > '9' || p[7] < '0' || p[7] > '9')
		return 400;
	if (p[5] != '1')
		return 505;
	req->minor = p[7] - '0';
	return HTTP_OK;
}

/* origin-form ("/path?query") or absolute-form ("http://host/path"). */
static int
target_ok(const struct http_request *req)
{
	const unsigned char *t = req->target;
	size_t n = req->target_len;

	return t[0] == '/' || has_prefix(t, n, "http://") ||
	    has_prefix(t, n, "https://");
}

/* method SP request-target SP HTTP-version */
static int
parse_request_line(const unsigned char *p, size_t n, struct http_request *req)
{
	size_t i = 0, method, target;
	int rc;

	while (i < n && is_tchar(p[i]))
		i++;
	if (i == 0 || i == n || p[i] != ' ')
		return 400;
	method = i++;
	target = i;
	while (i < n && p[i] > ' ' && p[i] < 0x7f)
		i++;
	if (i == target || i == n || p[i] != ' ')
		return 400;
	req->target = p + target;
	req->target_len = i - target;
	if ((rc = parse_version(p + i + 1, n - i - 1, req)) != HTTP_OK)
		return rc;
	if (!target_ok(req))
		return 400;
	if (method == 3 && memcmp(p, "GET", 3) == 0)
		req->method = HTTP_GET;
	else if (method == 4 && memcmp(p, "HEAD", 4) == 0)
		req->method = HTTP_HEAD;
	else if (method == 4 && memcmp(p, "POST", 4) == 0)
		req->method = HTTP_POST;
	else
		return 501;
	return HTTP_OK;
}

/* 1*DIGIT without overflow; a list such as "5, 5" is refused too. */
static int
parse_length(const unsigned char *v, size_t n, uint64_t *length)
{
	uint64_t x = 0;
	size_t i;

	if (n == 0 || n > 18)
		return 400;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return 400;
		x = x * 10 + (uint64_t)(v[i] - '0');
	}
	*length = x;
	return HTTP_OK;
}

/* Connection: a comma-separated list of options. */
static void
parse_connection(const unsigned char *v, size_t n, struct fields *f)
{
	size_t i = 0, start, end;

	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		start = i;
		while (i < n && v[i] != ',')
			i++;
		end = i;
		while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
			end--;
		if (ieq(v + start, end - start, "close"))
			f->close = 1;
		else if (ieq(v + start, end - start, "keep-alive"))
			f->keep_alive = 1;
	}
}

static int
apply_field(const unsigned char *name, size_t nlen, const unsigned char *v,
    size_t vlen, struct http_request *req, struct fields *f)
{
	if (ieq(name, nlen, "host")) {
		f->host++;
	} else if (ieq(name, nlen, "content-length")) {
		if (f->length++)
			return 400;
		return parse_length(v, vlen, &req->content_length);
	} else if (ieq(name, nlen, "transfer-encoding")) {
		if (f->coding++)
			return 400;
		if (!ieq(v, vlen, "chunked"))
			return 501;
		req->chunked = 1;
	} else if (ieq(name, nlen, "connection")) {
		parse_connection(v, vlen, f);
	} else if (ieq(name, nlen, "expect")) {
		req->expect_continue = ieq(v, vlen, "100-continue");
	}
	return HTTP_OK;
}

/* field-name ":" OWS field-value OWS; obs-fold and spaces before ':' are 400. */
static int
parse_field(const unsigned char *p, size_t n, struct http_request *req,
    struct fields *f)
{
	size_t i = 0, name, value, end;

	while (i < n && is_tchar(p[i]))
		i++;
	if (i == 0 || i == n || p[i] != ':')
		return 400;
	name = i++;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	value = i;
	for (; i < n; i++)
		if (!is_field_char(p[i]))
			return 400;
	end = n;
	while (end > value && (p[end - 1] == ' ' || p[end - 1] == '\t'))
		end--;
	return apply_field(p, name, p + value, end - value, req, f);
}

/* The checks that need every field: Host, framing, persistence. */
static int
finish(struct http_request *req, const struct fields *f)
{
	if (f->host > 1 || (req->minor >= 1 && f->host == 0))
		return 400;
	/* Both framings at once is how requests get smuggled. */
	if (req->chunked && (f->length || req->minor == 0))
		return 400;
	if (req->minor >= 1)
		req->keep_alive = !f->close;
	else
		req->keep_alive = f->keep_alive && !f->close;
	if (req->minor == 0)
		req->expect_continue = 0;
	return HTTP_OK;
}

int
http_parse_head(const unsigned char *buf, size_t len, struct http_request *req,
    size_t *used)
{
	struct fields f = { 0, 0, 0, 0, 0 };
	size_t pos = 0, start, eol, room;
	int rc, lines;

	memset(req, 0, sizeof(*req));
	/* Empty lines before a request are allowed, within reason. */
	while (pos < len && buf[pos] == '\r') {
		if (pos + 1 == len)
			return HTTP_MORE;
		if (buf[pos + 1] != '\n' || pos >= HTTP_LINE_MAX)
			return 400;
		pos += 2;
	}
	rc = find_eol(buf, len, pos, HTTP_LINE_MAX, &eol);
	if (rc != HTTP_OK)
		return rc == TOO_LONG ? 414 : rc;
	if ((rc = parse_request_line(buf + pos, eol - pos, req)) != HTTP_OK)
		return rc;
	start = pos = eol + 2;
	for (lines = 0;; lines++) {
		/* room for this line's CRLF and the empty line's */
		room = HTTP_FIELDS_MAX - (pos - start);
		if (room < 2)
			return 431;
		rc = find_eol(buf, len, pos, room < 4 ? 0 : room - 4, &eol);
		if (rc != HTTP_OK)
			return rc == TOO_LONG ? 431 : rc;
		if (eol == pos)
			break;
		if (lines == HTTP_FIELD_LINES)
			return 431;
		if ((rc = parse_field(buf + pos, eol - pos, req, &f)) != HTTP_OK)
			return rc;
		pos = eol + 2;
	}
	if ((rc = finish(req, &f)) != HTTP_OK)
		return rc;
	*used = eol + 2;
	return HTTP_OK;
}

void
http_body_init(struct http_body *body, const struct http_request *req)
{
	memset(body, 0, sizeof(*body));
	body->state = req->chunked ? B_SIZE : B_LENGTH;
	body->left = req->chunked ? 0 : req->content_length;
}

static int
hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One byte of the chunked framing: sizes, extensions, CRLFs, trailers. */
static int
chunk_byte(struct http_body *b, unsigned char c)
{
	switch (b->state) {
	case B_SIZE:
		if (hex(c) >= 0 && b->digits < CHUNK_DIGITS_MAX) {
			b->left = b->left * 16 + (uint64_t)hex(c);
			b->digits++;
		} else if (b->digits > 0 && (c == ';' || c == '\r'))
			b->state = c == ';' ? B_EXT : B_SIZE_LF;
		else
			return 400;
		break;
	case B_EXT:
		if (c == '\r')
			b->state = B_SIZE_LF;
		else if (!is_field_char(c) || ++b->line > HTTP_LINE_MAX)
			return 400;
		break;
	case B_SIZE_LF:
		if (c != '\n')
			return 400;
		b->state = b->left > 0 ? B_DATA : B_TRAILER;
		b->digits = 0;
		b->line = 0;
		break;
	case B_DATA_CR:
	case B_DATA_LF:
		if (c != (b->state == B_DATA_CR ? '\r' : '\n'))
			return 400;
		b->state = b->state == B_DATA_CR ? B_DATA_LF : B_SIZE;
		break;
	case B_TRAILER:
	case B_TRAILER_LINE:
		if (++b->trailer > HTTP_FIELDS_MAX)
			return 431;
		if (c == '\r')
			b->state = b->state == B_TRAILER ? B_END_LF : B_TRAILER_LF;
		else if (b->state == B_TRAILER ? is_tchar(c) : is_field_char(c))
			b->state = B_TRAILER_LINE;
		else
			return 400;
		break;
	case B_TRAILER_LF:
	case B_END_LF:
		if (c != '\n')
			return 400;
		b->state = b->state == B_TRAILER_LF ? B_TRAILER : B_DONE;
		break;
	default:
		return 400;
	}
	return HTTP_OK;
}

int
http_body_skip(struct http_body *b, const unsigned char *buf, size_t len,
    size_t *used)
{
	size_t i = 0, n;
	int rc;

	while (b->state != B_DONE) {
		if (b->state == B_LENGTH || b->state == B_DATA) {
			n = len - i < b->left ? len - i : (size_t)b->left;
			i += n;
			b->left -= n;
			if (b->left > 0)
				break;
			b->state = b->state == B_LENGTH ? B_DONE : B_DATA_CR;
		} else if (i == len) {
			break;
		} else if ((rc = chunk_byte(b, buf[i++])) != HTTP_OK) {
			*used = i;
			return rc;
		}
	}
	*used = i;
	return b->state == B_DONE ? HTTP_OK : HTTP_MORE;
}

int
http_path_is(const struct http_request *req, const char *path)
{
	const unsigned char *p = req->target, *end = p + req->target_len, *q;
	size_t n = strlen(path);

	if (p[0] != '/') {
		/* absolute-form: skip "http://" or "https://", then the authority */
		p += lower(p[4]) == 's' ? 8 : 7;
		while (p < end && *p != '/' && *p != '?')
			p++;
		if (p == end || *p == '?')
			return strcmp(path, "/") == 0;
	}
	for (q = p; q < end && *q != '?'; q++)
		;
	return (size_t)(q - p) == n && memcmp(p, path, n) == 0;
}
