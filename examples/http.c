/* http.c - hsvr-http: an HTTP/1.1 server whose GET / returns a body of --body-size bytes, or a file. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE 1                /* memfd_create, O_TMPFILE */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif
#include <time.h>
#include <unistd.h>

#include "hsvr.h"
#include "http-parser.h"

#define IN_MAX (64 * 1024)           /* unparsed input kept per connection */
#define IN_FIRST 2048                /* its first allocation */
#define PIECE (1024 * 1024)          /* body bytes handed to one S_send_* */
#define BODY_MAX (1024 * 1024 * 1024)

/* Where a connection is: reading a head, skipping a body, answering. */
enum { C_HEAD, C_BODY, C_SEND, C_DONE };

struct conn {
	int state;
	int stalled;               /* S_send said -4; wait for TYP_SENDABLE */
	int keep_alive;            /* read another request after this answer */
	int minor;                 /* of the request being answered */
	int status;                /* its response status */
	int head_only;             /* HEAD: no body */
	int whole;                 /* the request was read to its end (not
	                              answered by fail()) */
	size_t unseen;             /* bytes of this TYP_READ not yet in in */
	struct http_body body;     /* the request body being skipped */
	unsigned char out[512];    /* response head (and a small body) */
	size_t outlen;             /* bytes of out still to queue */
	const unsigned char *data; /* large body still to queue (by reference), */
	int file;                  /* or, if 1, body_fd's bytes */
	size_t datalen, dataoff;
	size_t inlen, incap;
	unsigned char *in;         /* received, not yet parsed; NULL when none */
};

static size_t body_size = 1000000;
static const unsigned char nothing[1];

/* The input from off on (an idle connection has no buffer at all). */
static const unsigned char *
unparsed(const struct conn *c, size_t off)
{
	return c->in != NULL ? c->in + off : nothing;
}
static int hello;
static const char *body_file;          /* --file */
static int body_fd = -1;
static int body_sealed;                /* body_fd is the body's fixed copy */
static int tls_seen = -1;              /* atomic: -1 not known yet, 0, 1 */
static unsigned char *body;
static hsvr_metric *requests;          /* http_requests_total (--metrics) */
static unsigned char hello_body[] = "Hello, world\n";
static unsigned char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

static int
set_body_size(const char *arg)
{
	unsigned long long n;
	char *end;

	if (arg[0] < '0' || arg[0] > '9')
		return -1;
	errno = 0;
	n = strtoull(arg, &end, 10);
	if (errno != 0 || *end != '\0' || n > BODY_MAX)
		return -1;
	body_size = (size_t)n;
	return 0;
}

static int
set_file(const char *arg)
{
	body_file = arg;
	return 0;
}

static int
set_hello(const char *arg)
{
	(void)arg;
	hello = 1;
	return 0;
}

const struct serv_option *
serv_options(void)
{
	static const struct serv_option options[] = {
		{ "body-size", 'b', "N", "GET / returns N bytes (default 1000000)",
		    set_body_size },
		{ "hello", 0, NULL, "GET / returns \"Hello, world\\n\" instead",
		    set_hello },
		{ "file", 'F', "FILE", "GET / returns FILE (sent with sendfile)",
		    set_file },
		{ NULL, 0, NULL, NULL, NULL }
	};

	return options;
}

/*
 * The body from memory also goes by sendfile(2), as a file's does: written
 * once at start into an unnamed file (O_TMPFILE: no name, nothing another
 * user could swap) of BODY_DIR, a root-owned directory on a disk, then held
 * only through a read-only descriptor.  sendfile sends it from the page
 * cache without the copy write(2) makes of each reply (TLS reads it from
 * memory).  Not a memfd first: a disk filesystem keeps the file in large
 * folios, which sendfile looks up a batch at a time, where a memfd's shmem
 * is looked up 4 KB page by page (shmem_file_splice_read): 16-18 against
 * 52-57 us of read-side kernel CPU per 1 MB sent (bench/PROFILE.md, "1 MB
 * body"), and hsvr-http's CPU per request fell 15%.  The price: the
 * kernel writes the body back to that disk once, as it would any file.
 * Where there is no such file: a sealed memfd; where no memfd either, from
 * memory only.
 */
#define BODY_DIR "/var/tmp"

/* All of body into fd: 0, or -1. */
static int
write_body(int fd)
{
	size_t off = 0;
	ssize_t n;

	while (off < body_size && (n = write(fd, body + off,
	    body_size - off)) > 0)
		off += (size_t)n;
	return off == body_size ? 0 : -1;
}

/* The body in an unnamed file of BODY_DIR, read-only: its fd, or -1. */
static int
tmpfile_body(void)
{
#if defined(__linux__) && defined(O_TMPFILE)
	struct stat st;
	char path[64];
	int dir, fd, ro = -1;

	if ((dir = open(BODY_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(dir, &st) != 0 || st.st_uid != 0 ||
	    (fd = openat(dir, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0400)) < 0) {
		close(dir);
		return -1;
	}
	close(dir);
	/* Reopened read-only: even this process cannot change it now. */
	(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (write_body(fd) == 0)
		ro = open(path, O_RDONLY | O_CLOEXEC);
	close(fd);
	return ro;
#else
	return -1;
#endif
}

/* The body in a memfd sealed against any change: its fd, or -1. */
static int
memfd_body(void)
{
#if defined(__linux__) && defined(MFD_ALLOW_SEALING)
	int fd;

	if ((fd = memfd_create("hsvr-http-body", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING)) < 0)
		return -1;
	if (write_body(fd) != 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK |
	    F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
		close(fd);
		return -1;
	}
	return fd;
#else
	return -1;
#endif
}

static void
seal_body(void)
{
	if (body_size == 0)
		return;
	if ((body_fd = tmpfile_body()) < 0)
		body_fd = memfd_body();
	body_sealed = body_fd >= 0;
}

void
serv_init(void)
{
	size_t i;

	serv_set_name("hsvr-http");
	serv_set_alpn("http/1.1");
	/* HTTP's client speaks first: a connection comes to a worker with
	 * its request, which the read at accept then finds (nginx's
	 * "listen ... deferred", as long as its client_header_timeout). */
	serv_set_defer_accept(60);
	requests = hsvr_metric_counter("http_requests_total",
	    "HTTP requests answered, whatever their status");
	if (hello)
		return;
	if (body_file != NULL) {
		/* Opened once, before privileges drop; its length is read at
		 * each request. */
		if ((body_fd = open(body_file, O_RDONLY | O_CLOEXEC)) < 0) {
			fprintf(stderr, "hsvr-http: %s: %s\n", body_file,
			    strerror(errno));
			exit(78);   /* EX_CONFIG, as for -f */
		}
		return;
	}
	if ((body = malloc(body_size > 0 ? body_size : 1)) == NULL) {
		fprintf(stderr, "hsvr-http: no memory for a %zu-byte body\n",
		    body_size);
		exit(71);
	}
	for (i = 0; i < body_size; i++)
		body[i] = (unsigned char)('a' + i % 26);
	seal_body();
}

void
serv_exit(void)
{
	free(body);
	if (body_fd >= 0)
		close(body_fd);
}

void
serv_on_accept(SESSION *s)
{
	struct conn *c;

	if ((c = malloc(sizeof(*c))) == NULL) {
		S_close(s);
		return;
	}
	c->state = C_HEAD;
	c->stalled = 0;
	c->inlen = c->incap = 0;
	c->in = NULL;
	c->whole = 0;
	c->unseen = 0;
	s->usr = c;
	/* Every connection is TLS or none is: asked of the first one. */
	if (body_sealed && __atomic_load_n(&tls_seen, __ATOMIC_RELAXED) < 0) {
		S_TLS_INFO info;

		__atomic_store_n(&tls_seen, S_tls_info(s, &info) == 0,
		    __ATOMIC_RELAXED);
	}
}

void
serv_on_term(SESSION *s)
{
	struct conn *c = s->usr;

	if (c != NULL)
		free(c->in);
	free(c);
	s->usr = NULL;
}

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 500: return "Internal Server Error";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

static const char *
connection_field(const struct conn *c)
{
	if (!c->keep_alive)
		return "Connection: close\r\n";
	return c->minor == 0 ? "Connection: keep-alive\r\n" : "";
}

/*
 * The Date field (RFC 7231, 7.1.1.2: IMF-fixdate), made at most once a
 * second by each worker thread: time() is a vDSO read, the formatting is
 * not repeated for every request.  date_made: the second it says.
 */
static _Thread_local time_t date_made = -1;

static const char *
date_field(void)
{
	static const char days[] = "SunMonTueWedThuFriSat";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	static _Thread_local char field[48];
	time_t now = time(NULL);
	struct tm tm;

	if (now != date_made && gmtime_r(&now, &tm) != NULL) {
		(void)snprintf(field, sizeof(field), "Date: %.3s, %02d %.3s "
		    "%04d %02d:%02d:%02d GMT\r\n", days + 3 * tm.tm_wday,
		    tm.tm_mday, months + 3 * tm.tm_mon, tm.tm_year + 1900,
		    tm.tm_hour, tm.tm_min, tm.tm_sec);
		date_made = now;
	}
	return field;
}

/*
 * The response head into out (which has room for it): snprintf's work
 * (about 2,200 instructions, callgrind) done once per second, length and
 * Connection field by each worker thread for 200 OK, the answer to nearly
 * every request; the others are made each time.  Its length.
 */
static size_t
make_head(unsigned char *out, size_t room, int status, const char *type,
    size_t len, const char *connection)
{
	static _Thread_local struct {
		time_t made;
		size_t len, n;
		const char *connection, *type;
		unsigned char text[256];
	} ok = { .made = -1 };
	const char *date = date_field();
	int n;

	if (status == 200 && ok.made == date_made && ok.len == len &&
	    ok.connection == connection && ok.type == type && ok.n <= room) {
		memcpy(out, ok.text, ok.n);
		return ok.n;
	}
	n = snprintf((char *)out, room, "HTTP/1.1 %d %s\r\n"
	    "Server: hsvr\r\n%sContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "%s\r\n", status, reason(status), date, type, len, connection);
	if (n < 0 || (size_t)n >= room)
		n = 0;  /* cannot be: out holds the longest head */
	if (status == 200 && n > 0 && (size_t)n <= sizeof(ok.text)) {
		memcpy(ok.text, out, (size_t)n);
		ok.n = (size_t)n;
		ok.made = date_made;
		ok.len = len;
		ok.connection = connection;
		ok.type = type;
	}
	return (size_t)n;
}

/* Prepare the answer to the request just read; write_response sends it. */
static void
respond(struct conn *c)
{
	const unsigned char *data = hello ? hello_body : body;
	size_t len = hello ? sizeof(hello_body) - 1 : body_size;
	const char *type = "application/octet-stream";
	struct stat st;
	char text[64];
	int n;

	hsvr_metric_add(requests, 1);
	c->file = 0;
	if (c->status == 200 && body_sealed &&
	    __atomic_load_n(&tls_seen, __ATOMIC_RELAXED) == 0) {
		c->file = 1;    /* the body, by sendfile from its fixed copy */
	} else if (c->status == 200 && body_fd >= 0 && !body_sealed) {
		if (fstat(body_fd, &st) == 0 && S_ISREG(st.st_mode)) {
			c->file = 1;
			len = (size_t)st.st_size;
		} else {
			c->status = 500;
			c->keep_alive = 0;
		}
	}
	if (c->status != 200) {
		n = snprintf(text, sizeof(text), "%d %s\n", c->status,
		    reason(c->status));
		data = (unsigned char *)text;
		len = (size_t)n;
		type = "text/plain";
	}
	c->outlen = make_head(c->out, sizeof(c->out), c->status, type, len,
	    connection_field(c));
	if (c->head_only)
		len = 0;
	/* A small body (every error text) rides in the same S_send as the head. */
	if (!c->file && len <= sizeof(c->out) - c->outlen) {
		memcpy(c->out + c->outlen, data, len);
		c->outlen += len;
		len = 0;
	}
	c->data = data;
	c->datalen = len;
	c->dataoff = 0;
	c->state = C_SEND;
}

/* Answer with an error status and close: the request stream is lost. */
static void
fail(struct conn *c, int status)
{
	c->status = status;
	c->keep_alive = 0;
	c->head_only = 0;
	c->whole = 0;
	respond(c);
}

static int
read_head(SESSION *s, struct conn *c, size_t *off)
{
	struct http_request req;
	size_t used;
	int rc;

	rc = http_parse_head(unparsed(c, *off), c->inlen - *off, &req, &used);
	if (rc == HTTP_MORE)
		return 0;
	if (rc != HTTP_OK) {
		fail(c, rc);
		return 1;
	}
	*off += used;
	c->minor = req.minor;
	c->keep_alive = req.keep_alive;
	c->head_only = req.method == HTTP_HEAD;
	c->status = http_path_is(&req, "/") ? 200 : 404;
	http_body_init(&c->body, &req);
	/* If congested, the client sends the body after its own delay anyway. */
	if (req.expect_continue && (req.chunked || req.content_length > 0))
		(void)S_send(s, continue_line, sizeof(continue_line) - 1);
	c->state = C_BODY;
	return 1;
}

/* The body is read and thrown away; the answer goes after its last byte. */
static int
read_body(struct conn *c, size_t *off)
{
	size_t used;
	int rc;

	rc = http_body_skip(&c->body, unparsed(c, *off), c->inlen - *off, &used);
	if (rc == HTTP_MORE || rc == HTTP_OK)
		*off += used;
	if (rc == HTTP_MORE)
		return 0;
	if (rc == HTTP_OK) {
		c->whole = 1;
		respond(c);
	} else {
		fail(c, rc);
	}
	return 1;
}

/*
 * Queue the response in pieces until the library pushes back: the head
 * copied, the body without a copy (by reference: it lives until serv_exit,
 * so nothing needs releasing; or from the file, by sendfile).  rest: input
 * bytes received after this request.
 *
 * A close after a request read to its end, answered with "Connection:
 * close", with nothing after it, need not wait for the reply to be
 * acknowledged (S_linger): the client is done sending.  It still lingers
 * if the client sent more meanwhile, unread, as nginx does.
 */
static int
write_response(SESSION *s, struct conn *c, size_t rest)
{
	size_t n;
	int rc = 0;

	if (c->outlen > 0 && (rc = S_send(s, c->out, c->outlen)) == 0)
		c->outlen = 0;
	while (rc == 0 && c->dataoff < c->datalen) {
		n = c->datalen - c->dataoff < PIECE ? c->datalen - c->dataoff :
		    PIECE;
		rc = c->file ?
		    S_send_file(s, body_fd, (off_t)c->dataoff, n, NULL, NULL) :
		    S_send_ref(s, c->data + c->dataoff, n, NULL, NULL);
		if (rc == 0)
			c->dataoff += n;
	}
	if (rc == S_ERR_CONGESTED) {
		c->stalled = 1;
		return 0;
	}
	if (rc != 0 || !c->keep_alive) {
		if (rc == 0 && c->whole && rest == 0 && c->unseen == 0)
			(void)S_linger(s, 0);
		S_close(s);
		c->state = C_DONE;
		return 0;
	}
	c->state = C_HEAD;
	return 1;
}

/* Work through the buffered input, one request at a time. */
static void
serve(SESSION *s, struct conn *c)
{
	size_t off = 0;
	int more = 1;

	while (more && !c->stalled) {
		switch (c->state) {
		case C_HEAD:
			more = read_head(s, c, &off);
			break;
		case C_BODY:
			more = read_body(c, &off);
			break;
		case C_SEND:
			more = write_response(s, c, c->inlen - off);
			break;
		default:
			more = 0;
		}
	}
	c->inlen -= off;
	if (c->inlen > 0) {
		memmove(c->in, c->in + off, c->inlen);
		return;
	}
	/* All parsed: an idle connection keeps no input buffer. */
	free(c->in);
	c->in = NULL;
	c->incap = 0;
}

/* Room for want more input bytes (at most IN_MAX in all): the room. */
static size_t
in_room(struct conn *c, size_t want)
{
	unsigned char *bigger;
	size_t cap = c->incap ? c->incap : IN_FIRST;

	if (want > IN_MAX - c->inlen)
		want = IN_MAX - c->inlen;
	while (cap < c->inlen + want)
		cap *= 2;
	if (cap > IN_MAX)
		cap = IN_MAX;
	if (cap > c->incap) {
		if ((bigger = realloc(c->in, cap)) == NULL)
			return 0;
		c->in = bigger;
		c->incap = cap;
	}
	return c->incap - c->inlen < want ? c->incap - c->inlen : want;
}

void
serv_on_read(SESSION *s)
{
	struct conn *c = s->usr;
	size_t off = 0, n;

	while (c != NULL && off < s->blen && c->state != C_DONE) {
		if ((n = in_room(c, s->blen - off)) == 0) {
			/* Pipelining far ahead of a slow answer (or no memory):
			 * finish it, then close. */
			c->keep_alive = 0;
			return;
		}
		memcpy(c->in + c->inlen, s->buff + off, n);
		c->inlen += n;
		off += n;
		c->unseen = s->blen - off;
		serve(s, c);
	}
	if (c != NULL)
		c->unseen = 0;
}

void
serv_on_sendable(SESSION *s)
{
	struct conn *c = s->usr;

	if (c != NULL) {
		c->stalled = 0;
		serve(s, c);
	}
}
