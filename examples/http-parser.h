/* http-parser.h - a strict HTTP/1.x request parser that never reads past its buffer. */
#ifndef HTTP_PARSER_H
#define HTTP_PARSER_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_LINE_MAX 8192     /* request line without CRLF; longer is 414 */
#define HTTP_FIELDS_MAX 16384  /* header section with its CRLFs; more is 431 */
#define HTTP_FIELD_LINES 100   /* header lines; more is 431 */

/*
 * Results of the functions below.  Anything else is the HTTP status the
 * request deserves (400, 414, 431, 501, 505); the connection is then beyond
 * repair and should be closed after that answer.
 */
#define HTTP_MORE 0  /* incomplete: call again with more input */
#define HTTP_OK 1    /* complete: *used bytes belong to it */

enum http_method { HTTP_GET, HTTP_HEAD, HTTP_POST };

struct http_request {
	enum http_method method;
	int minor;                   /* HTTP/1.minor */
	int keep_alive;              /* the connection may carry another request */
	int expect_continue;         /* the client awaits "100 Continue" */
	int chunked;                 /* the body is chunked */
	uint64_t content_length;     /* the body's length unless chunked */
	const unsigned char *target; /* request-target, inside the parsed buffer */
	size_t target_len;
};

/* Where http_body_skip is inside a request body; set by http_body_init. */
struct http_body {
	int state;
	int digits;      /* hex digits of the chunk size so far */
	uint64_t left;   /* bytes of the body or the chunk still to come */
	size_t line;     /* bytes of the current chunk extension */
	size_t trailer;  /* bytes of the trailer section */
};

/*
 * Parse the request head (request line and header fields up to the empty
 * line) at the start of buf.  The whole head is parsed again on each call, so
 * keep the unparsed bytes and call again with more appended.  On HTTP_OK, req
 * is filled and *used is the head's length.  Only GET, HEAD and POST are
 * implemented (501 for other methods); Transfer-Encoding must be "chunked"
 * (501 for other codings).
 */
int http_parse_head(const unsigned char *buf, size_t len,
    struct http_request *req, size_t *used);

/* Get ready to skip the body of req (possibly empty). */
void http_body_init(struct http_body *body, const struct http_request *req);

/*
 * Skip body bytes at the start of buf, decoding the chunked coding if used.
 * Sets *used to the bytes consumed (all of them when HTTP_MORE), also on
 * error.
 */
int http_body_skip(struct http_body *body, const unsigned char *buf,
    size_t len, size_t *used);

/* 1 if the path of req's target (query excluded) is path. */
int http_path_is(const struct http_request *req, const char *path);

#endif /* HTTP_PARSER_H */
