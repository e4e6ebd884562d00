/*
 * tlsc.c - the client side of the TLS tests (t-tlsc), with OpenSSL:
 *
 *   t-tlsc freeport
 *       print a TCP port nothing is bound to on 127.0.0.1, 0.0.0.0 and ::
 *   t-tlsc session [options] PORT
 *       connect to 127.0.0.1:PORT over TLS and print
 *         CONNECTED lport=N version=V cipher=C alpn=A sha256=FP verify=R
 *           subject=S
 *       (or "HANDSHAKE-FAILED reason", exit 2), then act on each line of
 *       stdin: a plain line is sent with '\n' and one reply line is read
 *       and printed; lines starting with '!' are local actions:
 *         !gen N SEED [close] [ref|file] [chain|chain1]  ask for N
 *                              bytes of stream SEED (sent by S_send_ref or
 *                              S_send_file, the next piece from a release
 *                              with "chain"), check them:
 *                              "GEN-OK n=N sha256=H" or "GEN-FAIL ..."
 *         !sink N SEED         send N bytes (request and data in one
 *                              write), compare the server's SHA-256:
 *                              "SINK-OK ..." or "SINK-FAIL ..."
 *         !echo N SEED [late]  send N bytes while reading the echo (late:
 *                              read only once all is sent):
 *                              "ECHO-OK ..." or "ECHO-FAIL ..."
 *         !lines K TEXT        send K lines "TEXT-i" in one write, read K
 *                              replies: "LINES-OK k=K" or "LINES-FAIL ..."
 *         !send TEXT           send the line TEXT, read nothing
 *         !recv N SEED [OFF]   read N bytes of stream SEED (from offset
 *                              OFF), check them:
 *                              "RECV-OK n=N sha256=H" or "RECV-FAIL ..."
 *         !readline            read one line, print it
 *         !keyupdate           TLS 1.3 key update, update requested
 *         !notify              send close_notify, keep reading
 *         !shutdown            send close_notify, wait for the end:
 *                              "SHUTDOWN close_notify|truncated|..."
 *         !eof                 wait for the end: "EOF close_notify",
 *                              "EOF truncated" (no close_notify), "EOF
 *                              reset", "EOF error: ...", "EOF timeout";
 *                              data meanwhile as "DATA line"
 *         !dirty               close the socket without close_notify, exit
 *         !tickets             "TICKETS n=N reused=R": the session tickets
 *                              received so far (N), and whether the
 *                              handshake resumed a session (R: 0 or 1)
 *       At the end of stdin: close_notify, exit 0.  Errors: "ERROR ...",
 *       exit 1.  Options:
 *         --tls 1.2|1.3   this version only     --max 1.2|1.3, --min 1.2|1.3
 *         --alpn LIST     offer these protocols (comma-separated)
 *         --cert F --key F  client certificate  --ca F  verify the server
 *         --timeout SEC   longest wait without progress (default 10)
 *         --retry SEC     retry the connect while refused
 *         --rcvbuf N      SO_RCVBUF before connecting
 *         --slow          read at most 4 MB/s (16 ms pause per 64 kB)
 *         --sess-in F     offer the session saved in F (PEM)
 *         --sess-out F    save the last session received in F at the end
 *   t-tlsc raw [--send TEXT] [--hex HEX] [--random N] [--hello]
 *              [--hello-part N] [--wait SEC] PORT
 *       a plain TCP client that sends those bytes (or nothing) and waits
 *       for the server to close: "LOCALPORT N", then "CLOSED how=eof|reset
 *       after=SEC bytes=N" or "OPEN after=SEC bytes=N" (still open).
 *       --hello sends a whole ClientHello, --hello-part N its first N
 *       bytes; the options add up, in their order.
 *   t-tlsc flood [--rate R] N PORT
 *       keep N plain TCP connections to 127.0.0.1:PORT open that never send
 *       a byte (half-open TLS handshakes), opening a new one for each the
 *       server closes (at most R a second), until stdin ends: "FLOODING
 *       n=N" once N connects were made, at the end "FLOOD connects=C
 *       closed=K" (K: closed by the server).
 *   t-tlsc pty [--pid-file F] SEC CMD [ARG...]
 *       run CMD in a new session whose controlling terminal is a fresh
 *       pseudo-terminal, stdin from /dev/null: anything written to the
 *       terminal (a passphrase prompt) is printed as "TTY: ..."; after SEC
 *       seconds CMD is killed ("TIMEOUT", exit 124); else CMD's exit status
 *       (128 + signal).
 */
#define _GNU_SOURCE 1

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tpattern.h"
#include "../client.h"
#include "../thello.h"
#include "../topt.h"
#include "../freeport.h"

#define CHUNK 16384

static void
pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void __attribute__((format(printf, 1, 2)))
out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fputs("t-tlsc: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(3);
}

/* The reason of the last OpenSSL error, or what errno says. */
static const char *
ssl_reason(char *buf, size_t cap)
{
	unsigned long e = ERR_peek_last_error();

	if (e != 0)
		ERR_error_string_n(e, buf, cap);
	else
		snprintf(buf, cap, "%s", errno ? strerror(errno) : "no error");
	ERR_clear_error();
	return buf;
}

static void
hexstr(const unsigned char *d, size_t n, char *buf, int colons, int upper)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	size_t i, j = 0;

	for (i = 0; i < n; i++) {
		if (colons && i > 0)
			buf[j++] = ':';
		buf[j++] = digits[d[i] >> 4];
		buf[j++] = digits[d[i] & 15];
	}
	buf[j] = '\0';
}

static double
parse_secs(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (*s == '\0' || *end != '\0' || v < 0)
		die("bad number of seconds '%s'", s);
	return v;
}

static int
parse_port(const char *s)
{
	long v;

	if (topt_long(s, 1, 65535, &v) != 0)
		die("bad port '%s'", s);
	return (int)v;
}

static unsigned long long
parse_ull(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0)
		die("bad number '%s'", s);
	return v;
}

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Wait for the socket; 0 ready, -1 at the deadline. */
static int
wait_fd(int fd, short events, double deadline)
{
	struct pollfd p = { fd, events, 0 };
	double left;
	int r;

	for (;;) {
		left = deadline - t_now();
		if (left <= 0)
			return -1;
		r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* A blocking TCP connection to 127.0.0.1:port, retried while refused. */
static int
tcp_connect(int port, double retry, int rcvbuf)
{
	struct sockaddr_in sa;
	double until = t_now() + retry;
	int fd;

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (;;) {
		if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			die("socket: %s", strerror(errno));
		if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
		    sizeof rcvbuf) != 0)
			die("SO_RCVBUF: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
			return fd;
		close(fd);
		if (errno != ECONNREFUSED || t_now() >= until)
			return -1;
		pause_ms(20);
	}
}

/* ------------------------------------------------------------ freeport */

static int
cmd_freeport(void)
{
	int port = freeport_pick();

	if (port < 0)
		die("no free port found");
	out("%d", port);
	return 0;
}

/* ------------------------------------------------------------- session */

enum end { END_NONE, END_NOTIFY, END_TRUNCATED, END_RESET, END_ERROR,
	END_TIMEOUT };
static const char *const end_names[] = { "none", "close_notify",
	"truncated", "reset", "error", "timeout" };

struct tc {
	SSL *ssl;
	int fd;
	double timeout;         /* longest wait without progress */
	int slow;
	int late;               /* transfer: read only once all is sent */
	uint64_t rxoff;         /* transfer: offset of the received stream */
	enum end end;
	char why[256];
	size_t ioff, ilen;
	unsigned char in[65536];
};

/* Classify a failed SSL call: 1 to wait and retry (events set), 0 else. */
static int
ssl_wants(struct tc *t, int r, short *events)
{
	int e = SSL_get_error(t->ssl, r);
	unsigned long le;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		*events = POLLIN;
		return 1;
	case SSL_ERROR_WANT_WRITE:
		*events = POLLOUT;
		return 1;
	case SSL_ERROR_ZERO_RETURN:
		t->end = END_NOTIFY;
		snprintf(t->why, sizeof t->why, "close_notify");
		return 0;
	case SSL_ERROR_SYSCALL:
		if (errno == ECONNRESET || errno == EPIPE) {
			t->end = END_RESET;
			snprintf(t->why, sizeof t->why, "%s", strerror(errno));
		} else if (errno == 0) {
			t->end = END_TRUNCATED;
			snprintf(t->why, sizeof t->why, "eof without close_notify");
		} else {
			t->end = END_ERROR;
			snprintf(t->why, sizeof t->why, "%s", strerror(errno));
		}
		ERR_clear_error();
		return 0;
	default:
		le = ERR_peek_last_error();
		if (ERR_GET_REASON(le) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			t->end = END_TRUNCATED;
			snprintf(t->why, sizeof t->why, "eof without close_notify");
			ERR_clear_error();
		} else {
			t->end = END_ERROR;
			ssl_reason(t->why, sizeof t->why);
		}
		return 0;
	}
}

/* More data into t->in: > 0, 0 at the end or on a timeout (t->end). */
static int
fill(struct tc *t)
{
	double deadline = t_now() + t->timeout;
	size_t n;
	short ev;

	if (t->ioff > 0 && t->ioff == t->ilen)
		t->ioff = t->ilen = 0;
	if (t->ilen == sizeof t->in) {
		memmove(t->in, t->in + t->ioff, t->ilen - t->ioff);
		t->ilen -= t->ioff;
		t->ioff = 0;
	}
	for (;;) {
		errno = 0;
		if (SSL_read_ex(t->ssl, t->in + t->ilen, sizeof t->in - t->ilen,
		    &n) == 1) {
			t->ilen += n;
			return 1;
		}
		if (!ssl_wants(t, 0, &ev))
			return 0;
		if (wait_fd(t->fd, ev, deadline) != 0) {
			t->end = END_TIMEOUT;
			snprintf(t->why, sizeof t->why, "nothing for %.1f s",
			    t->timeout);
			return 0;
		}
	}
}

/* One line without its '\n' (a last unterminated line counts): 0 or -1. */
static int
get_line(struct tc *t, char *line, size_t cap)
{
	ssize_t got;
	size_t n;

	for (;;) {
		if ((got = t_take_line(t->in, &t->ioff, t->ilen, line, cap)) >= 0) {
			if (got > 0 && line[got - 1] == '\r')
				line[got - 1] = '\0';
			return 0;
		}
		if (t->ilen - t->ioff >= cap) {
			memcpy(line, t->in + t->ioff, cap - 1);
			line[cap - 1] = '\0';
			t->ioff += cap - 1;
			return 0;
		}
		if (!fill(t)) {
			if (t->ilen > t->ioff) {
				n = t->ilen - t->ioff;
				memcpy(line, t->in + t->ioff, n);
				line[n] = '\0';
				t->ioff = t->ilen;
				return 0;
			}
			return -1;
		}
	}
}

/* Write all of p: 0, or -1 (t->end, t->why). */
static int
put(struct tc *t, const void *p, size_t n)
{
	double deadline = t_now() + t->timeout;
	size_t w, done = 0;
	short ev;

	while (done < n) {
		errno = 0;
		if (SSL_write_ex(t->ssl, (const char *)p + done, n - done,
		    &w) == 1) {
			done += w;
			deadline = t_now() + t->timeout;
			continue;
		}
		if (!ssl_wants(t, 0, &ev))
			return -1;
		if (wait_fd(t->fd, ev, deadline) != 0) {
			t->end = END_TIMEOUT;
			snprintf(t->why, sizeof t->why, "could not write for "
			    "%.1f s", t->timeout);
			return -1;
		}
	}
	return 0;
}

static void __attribute__((noreturn))
fail(struct tc *t, const char *what)
{
	out("ERROR %s: %s %s", what, end_names[t->end], t->why);
	exit(1);
}

static void
sha_hex(EVP_MD_CTX *md, char *buf)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;

	EVP_DigestFinal_ex(md, d, &dl);
	hexstr(d, dl, buf, 0, 0);
}

static EVP_MD_CTX *
sha_new(void)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		die("cannot start SHA-256");
	return md;
}

/* SHA-256 of stream seed's n bytes from offset from. */
static void
stream_sha(uint64_t seed, uint64_t from, uint64_t n, char *buf)
{
	static unsigned char b[CHUNK];
	EVP_MD_CTX *md = sha_new();
	uint64_t off;
	size_t k;

	for (off = 0; off < n; off += k) {
		k = n - off < CHUNK ? (size_t)(n - off) : CHUNK;
		tp_fill(b, seed, from + off, k);
		EVP_DigestUpdate(md, b, k);
	}
	sha_hex(md, buf);
	EVP_MD_CTX_free(md);
}

/*
 * Move data both ways: send tx bytes of stream seed, receive rx bytes and
 * check them against stream seed too (each direction's checksum into
 * txsha / rxsha).  0, or -1 with "what" said.
 */
static int
transfer(struct tc *t, uint64_t seed, const void *head, size_t hlen,
    uint64_t tx, uint64_t rx, char *txsha, char *rxsha, char *what,
    size_t wcap)
{
	static unsigned char wbuf[CHUNK + 4096];
	EVP_MD_CTX *txmd = sha_new(), *rxmd = sha_new();
	double deadline = t_now() + t->timeout;
	uint64_t sent = 0, got = 0, since_pause = 0;
	size_t n, w, k, wlen = 0, bad, hsent = 0;
	short rev = 0, wev = 0;
	struct pollfd p;
	int progress, rc = -1;

	/* Buffered input first (what came with an earlier reply). */
	while (got < rx && t->ioff < t->ilen) {
		k = t->ilen - t->ioff;
		if (k > rx - got)
			k = (size_t)(rx - got);
		if ((bad = tp_check(t->in + t->ioff, seed, t->rxoff + got, k)) !=
		    k) {
			snprintf(what, wcap, "mismatch at=%llu",
			    (unsigned long long)(got + bad));
			goto done;
		}
		EVP_DigestUpdate(rxmd, t->in + t->ioff, k);
		t->ioff += k;
		got += k;
	}
	if (t->ioff == t->ilen)
		t->ioff = t->ilen = 0;  /* t->in is scratch space below */
	while (hsent < hlen || sent < tx || got < rx) {
		progress = 0;
		if (hsent < hlen || sent < tx) {
			if (wlen == 0) {
				/* The header and the first data in one record. */
				wlen = hlen - hsent;
				memcpy(wbuf, (const char *)head + hsent, wlen);
				k = tx - sent < CHUNK ? (size_t)(tx - sent) : CHUNK;
				tp_fill(wbuf + wlen, seed, sent, k);
				wlen += k;
			}
			errno = 0;
			if (SSL_write_ex(t->ssl, wbuf, wlen, &w) == 1) {
				/* Partial writes: what went, in order. */
				k = w;
				if (hsent < hlen) {
					n = hlen - hsent < k ? hlen - hsent : k;
					hsent += n;
					k -= n;
				}
				tp_fill(wbuf, seed, sent, k);
				EVP_DigestUpdate(txmd, wbuf, k);
				sent += k;
				wlen = 0;
				wev = 0;
				progress = 1;
			} else if (!ssl_wants(t, 0, &wev)) {
				snprintf(what, wcap, "write: %s %s",
				    end_names[t->end], t->why);
				goto done;
			}
		}
		if (got < rx && (!t->late || sent == tx)) {
			k = rx - got < sizeof t->in ? (size_t)(rx - got) :
			    sizeof t->in;
			errno = 0;
			if (SSL_read_ex(t->ssl, t->in, k, &n) == 1) {
				if ((bad = tp_check(t->in, seed, t->rxoff + got,
				    n)) != n) {
					snprintf(what, wcap, "mismatch at=%llu",
					    (unsigned long long)(got + bad));
					goto done;
				}
				EVP_DigestUpdate(rxmd, t->in, n);
				got += n;
				since_pause += n;
				rev = 0;
				progress = 1;
				if (t->slow && since_pause >= 64 * 1024) {
					/* At most 4 MB/s. */
					since_pause = 0;
					pause_ms(16);
				}
			} else if (!ssl_wants(t, 0, &rev)) {
				snprintf(what, wcap, "read: %s %s after %llu "
				    "bytes", end_names[t->end], t->why,
				    (unsigned long long)got);
				goto done;
			}
		}
		if (progress) {
			deadline = t_now() + t->timeout;
			continue;
		}
		p.fd = t->fd;
		p.events = (short)(rev | wev);
		p.revents = 0;
		if (t_now() >= deadline || poll(&p, 1, (int)((deadline - t_now()) *
		    1000) + 1) < 0) {
			snprintf(what, wcap, "timeout: sent=%llu received=%llu",
			    (unsigned long long)sent, (unsigned long long)got);
			goto done;
		}
	}
	rc = 0;
done:
	if (txsha != NULL)
		sha_hex(txmd, txsha);
	if (rxsha != NULL)
		sha_hex(rxmd, rxsha);
	EVP_MD_CTX_free(txmd);
	EVP_MD_CTX_free(rxmd);
	return rc;
}

/* 1 if word is one of argv[3..]. */
static int
has_word(char **argv, int argc, const char *word)
{
	int i;

	for (i = 3; i < argc; i++)
		if (strcmp(argv[i], word) == 0)
			return 1;
	return 0;
}

/* The N and SEED of an action (its first two words), or die with usage. */
static void
n_and_seed(char **argv, int argc, const char *usage, unsigned long long *n,
    unsigned long long *seed)
{
	if (argc < 3)
		die("%s", usage);
	*n = parse_ull(argv[1]);
	*seed = parse_ull(argv[2]);
}

/* The verdict line on n bytes received: "<tag>-OK n=N sha256=H" when the
 * transfer ended well (rc 0) with the checksum want, else "<tag>-FAIL". */
static void
received(const char *tag, uint64_t n, int rc, const char *what,
    const char *rxsha, const char *want)
{
	if (rc == 0 && strcmp(rxsha, want) == 0)
		out("%s-OK n=%llu sha256=%s", tag, (unsigned long long)n, rxsha);
	else
		out("%s-FAIL %s sha256=%s want=%s", tag, rc ? what : "checksum",
		    rxsha, want);
}

static void
act_gen(struct tc *t, char **argv, int argc)
{
	char req[128], rxsha[80], want[80], what[512];
	unsigned long long n, seed;
	int rc;

	n_and_seed(argv, argc, "!gen N SEED [close] [ref|file] [chain|chain1]",
	    &n, &seed);
	snprintf(req, sizeof req, "GEN %llu %llu%s%s%s%s\n",
	    (unsigned long long)n, (unsigned long long)seed,
	    has_word(argv, argc, "close") ? " close" : "",
	    has_word(argv, argc, "ref") ? " ref" : "",
	    has_word(argv, argc, "file") ? " file" : "",
	    has_word(argv, argc, "chain") ? " chain" :
	    has_word(argv, argc, "chain1") ? " chain1" : "");
	if (put(t, req, strlen(req)) != 0)
		fail(t, "GEN request");
	rc = transfer(t, seed, "", 0, 0, n, NULL, rxsha, what, sizeof what);
	stream_sha(seed, 0, n, want);
	received("GEN", n, rc, what, rxsha, want);
}

static void
act_recv(struct tc *t, char **argv, int argc)
{
	char rxsha[80], want[80], what[512];
	unsigned long long n, seed;
	int rc;

	n_and_seed(argv, argc, "!recv N SEED [OFFSET]", &n, &seed);
	t->rxoff = argc > 3 ? parse_ull(argv[3]) : 0;
	rc = transfer(t, seed, "", 0, 0, n, NULL, rxsha, what, sizeof what);
	stream_sha(seed, t->rxoff, n, want);
	t->rxoff = 0;
	received("RECV", n, rc, what, rxsha, want);
}

static void
act_sink(struct tc *t, char **argv, int argc)
{
	char req[128], txsha[80], want[80], what[512], line[512], srv[80];
	unsigned long long n, seed, sn = 0;
	int rc;

	n_and_seed(argv, argc, "!sink N SEED", &n, &seed);
	snprintf(req, sizeof req, "SINK %llu\n", n);
	rc = transfer(t, seed, req, strlen(req), n, 0, txsha, NULL, what,
	    sizeof what);
	stream_sha(seed, 0, n, want);
	if (rc != 0) {
		out("SINK-FAIL %s", what);
		return;
	}
	if (get_line(t, line, sizeof line) != 0) {
		out("SINK-FAIL no SUM: %s %s", end_names[t->end], t->why);
		return;
	}
	srv[0] = '\0';
	if (sscanf(line, "SUM n=%llu sha256=%79s", &sn, srv) == 2 &&
	    sn == n && strcmp(srv, want) == 0 && strcmp(txsha, want) == 0)
		out("SINK-OK n=%llu sha256=%s", n, srv);
	else
		out("SINK-FAIL reply '%s' sent sha256=%s", line, txsha);
}

static void
act_echo(struct tc *t, char **argv, int argc)
{
	char req[128], txsha[80], rxsha[80], what[512];
	unsigned long long n, seed;
	int rc;

	n_and_seed(argv, argc, "!echo N SEED [late]", &n, &seed);
	snprintf(req, sizeof req, "ECHO %llu\n", n);
	t->late = argc > 3 && strcmp(argv[3], "late") == 0;
	rc = transfer(t, seed, req, strlen(req), n, n, txsha, rxsha, what,
	    sizeof what);
	t->late = 0;
	if (rc == 0 && strcmp(txsha, rxsha) == 0)
		out("ECHO-OK n=%llu sha256=%s", n, rxsha);
	else
		out("ECHO-FAIL %s sent=%s received=%s", rc ? what : "checksum",
		    txsha, rxsha);
}

static void
act_lines(struct tc *t, char **argv, int argc)
{
	char line[600], want[600], *buf;
	size_t len = 0, cap;
	unsigned long long k, i;

	if (argc < 3 || strlen(argv[2]) > 500)
		die("!lines K TEXT");
	k = parse_ull(argv[1]);
	cap = (size_t)k * (strlen(argv[2]) + 24) + 1;
	if ((buf = malloc(cap)) == NULL)
		die("out of memory");
	for (i = 0; i < k; i++)
		len += (size_t)snprintf(buf + len, cap - len, "%s-%llu\n",
		    argv[2], i);
	if (put(t, buf, len) != 0) {
		free(buf);
		fail(t, "lines");
	}
	free(buf);
	for (i = 0; i < k; i++) {
		snprintf(want, sizeof want, "%s-%llu", argv[2], i);
		if (get_line(t, line, sizeof line) != 0) {
			out("LINES-FAIL got=%llu of %llu: %s %s", i, k,
			    end_names[t->end], t->why);
			return;
		}
		if (strcmp(line, want) != 0) {
			out("LINES-FAIL line %llu is '%s'", i, line);
			return;
		}
	}
	out("LINES-OK k=%llu", k);
}

/*
 * Read to the end of the connection, data lines printed as "DATA line";
 * how it ended: close_notify, truncated, reset, timeout or "error: why".
 */
static const char *
wait_end(struct tc *t)
{
	static char how[300];
	char line[512];

	while (get_line(t, line, sizeof line) == 0)
		out("DATA %s", line);
	if (t->end == END_ERROR)
		snprintf(how, sizeof how, "error: %s", t->why);
	else
		snprintf(how, sizeof how, "%s", end_names[t->end]);
	return how;
}

/* The session tickets (TLS 1.3: NewSessionTicket) received, the last. */
static int tickets;
static SSL_SESSION *last_session;

static int
new_session(SSL *ssl, SSL_SESSION *sess)
{
	(void)ssl;
	tickets++;
	SSL_SESSION_free(last_session);
	last_session = sess;
	return 1;       /* the reference is kept */
}

static int
session_line(struct tc *t, char *line)
{
	char *argv[8], *sp, reply[4096];
	int argc = 0, r;

	if (line[0] != '!') {
		strcat(line, "\n");
		if (put(t, line, strlen(line)) != 0)
			fail(t, "send");
		if (get_line(t, reply, sizeof reply) != 0)
			fail(t, "reply");
		out("%s", reply);
		return 0;
	}
	if (strncmp(line, "!send ", 6) == 0) {
		/* The rest of the line, without waiting for a reply. */
		snprintf(reply, sizeof reply, "%s\n", line + 6);
		if (put(t, reply, strlen(reply)) != 0)
			fail(t, "send");
		return 0;
	}
	for (sp = strtok(line, " "); sp != NULL && argc < 8;
	    sp = strtok(NULL, " "))
		argv[argc++] = sp;
	if (argc == 0)
		die("empty action");
	if (strcmp(argv[0], "!gen") == 0) {
		act_gen(t, argv, argc);
	} else if (strcmp(argv[0], "!sink") == 0) {
		act_sink(t, argv, argc);
	} else if (strcmp(argv[0], "!echo") == 0) {
		act_echo(t, argv, argc);
	} else if (strcmp(argv[0], "!lines") == 0) {
		act_lines(t, argv, argc);
	} else if (strcmp(argv[0], "!recv") == 0) {
		act_recv(t, argv, argc);
	} else if (strcmp(argv[0], "!readline") == 0) {
		if (get_line(t, reply, sizeof reply) != 0)
			fail(t, "readline");
		out("%s", reply);
	} else if (strcmp(argv[0], "!keyupdate") == 0) {
		r = SSL_key_update(t->ssl, SSL_KEY_UPDATE_REQUESTED);
		out("KEYUPDATE %d", r);
		ERR_clear_error();
	} else if (strcmp(argv[0], "!notify") == 0) {
		r = SSL_shutdown(t->ssl);
		out("NOTIFY %d", r);
		ERR_clear_error();
	} else if (strcmp(argv[0], "!shutdown") == 0) {
		r = SSL_shutdown(t->ssl);
		ERR_clear_error();
		if (r < 0)
			out("SHUTDOWN cannot-send");
		else if (r == 1)
			out("SHUTDOWN close_notify");
		else
			out("SHUTDOWN %s", wait_end(t));
		return 1;
	} else if (strcmp(argv[0], "!eof") == 0) {
		out("EOF %s", wait_end(t));
		return 1;
	} else if (strcmp(argv[0], "!tickets") == 0) {
		out("TICKETS n=%d reused=%d", tickets, SSL_session_reused(t->ssl));
	} else if (strcmp(argv[0], "!dirty") == 0) {
		close(t->fd);
		t->fd = -1;
		out("DIRTY");
		return 1;
	} else {
		die("unknown action %s", argv[0]);
	}
	return 0;
}

static int
version_of(const char *s)
{
	if (strcmp(s, "1.2") == 0)
		return TLS1_2_VERSION;
	if (strcmp(s, "1.3") == 0)
		return TLS1_3_VERSION;
	die("bad TLS version '%s' (1.2 or 1.3)", s);
}

static int
alpn_wire(const char *list, unsigned char *wire, size_t cap)
{
	const char *p = list, *comma;
	size_t n, len = 0;

	while (*p != '\0') {
		comma = strchr(p, ',');
		n = comma ? (size_t)(comma - p) : strlen(p);
		if (n == 0 || n > 255 || len + 1 + n > cap)
			die("bad ALPN list '%s'", list);
		wire[len++] = (unsigned char)n;
		memcpy(wire + len, p, n);
		len += n;
		p = comma ? comma + 1 : p + n;
	}
	return (int)len;
}

static int
cmd_session(int argc, char **argv)
{
	const char *cert = NULL, *key = NULL, *ca = NULL, *alpn = NULL;
	const char *sess_in = NULL, *sess_out = NULL;
	SSL_SESSION *offer = NULL;
	FILE *fp_sess;
	int minv = 0, maxv = 0, rcvbuf = 0, port, i, r, done = 0, lport;
	double retry = 0, deadline;
	unsigned char wire[256], md[EVP_MAX_MD_SIZE];
	const unsigned char *sel;
	unsigned int sellen = 0, mdlen = 0;
	char fp[200], subject[512], why[256], alpn_sel[64], line[4096];
	struct tc *t;
	SSL_CTX *ctx;
	X509 *peer;
	short ev;
	long vr;

	if ((t = calloc(1, sizeof *t)) == NULL)
		die("out of memory");
	t->timeout = 10;
	for (i = 0; i < argc - 1; i++) {
		if (strcmp(argv[i], "--tls") == 0 && i + 1 < argc - 1) {
			minv = maxv = version_of(argv[++i]);
		} else if (strcmp(argv[i], "--max") == 0 && i + 1 < argc - 1) {
			maxv = version_of(argv[++i]);
		} else if (strcmp(argv[i], "--min") == 0 && i + 1 < argc - 1) {
			minv = version_of(argv[++i]);
		} else if (strcmp(argv[i], "--alpn") == 0 && i + 1 < argc - 1) {
			alpn = argv[++i];
		} else if (strcmp(argv[i], "--cert") == 0 && i + 1 < argc - 1) {
			cert = argv[++i];
		} else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc - 1) {
			key = argv[++i];
		} else if (strcmp(argv[i], "--ca") == 0 && i + 1 < argc - 1) {
			ca = argv[++i];
		} else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc - 1) {
			t->timeout = parse_secs(argv[++i]);
		} else if (strcmp(argv[i], "--retry") == 0 && i + 1 < argc - 1) {
			retry = parse_secs(argv[++i]);
		} else if (strcmp(argv[i], "--rcvbuf") == 0 && i + 1 < argc - 1) {
			rcvbuf = (int)parse_ull(argv[++i]);
		} else if (strcmp(argv[i], "--slow") == 0) {
			t->slow = 1;
		} else if (strcmp(argv[i], "--sess-in") == 0 && i + 1 < argc - 1) {
			sess_in = argv[++i];
		} else if (strcmp(argv[i], "--sess-out") == 0 && i + 1 < argc - 1) {
			sess_out = argv[++i];
		} else {
			die("session: unknown option %s", argv[i]);
		}
	}
	if (i != argc - 1)
		die("usage: t-tlsc session [options] PORT");
	port = parse_port(argv[argc - 1]);

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		die("SSL_CTX_new: %s", ssl_reason(why, sizeof why));
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if ((minv && SSL_CTX_set_min_proto_version(ctx, minv) != 1) ||
	    (maxv && SSL_CTX_set_max_proto_version(ctx, maxv) != 1))
		die("cannot set the TLS versions");
	if (cert != NULL && (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key ? key : cert,
	    SSL_FILETYPE_PEM) != 1))
		die("cannot load %s / %s: %s", cert, key ? key : cert,
		    ssl_reason(why, sizeof why));
	if (ca != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
			die("cannot load %s: %s", ca, ssl_reason(why, sizeof why));
	}
	/* Verified or not, the handshake goes on: the result is printed. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	/* Every session received goes to new_session (none is cached). */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(ctx, new_session);
	if (alpn != NULL && SSL_CTX_set_alpn_protos(ctx, wire,
	    (unsigned int)alpn_wire(alpn, wire, sizeof wire)) != 0)
		die("cannot set ALPN");

	if ((t->fd = tcp_connect(port, retry, rcvbuf)) < 0) {
		out("HANDSHAKE-FAILED connect: %s", strerror(errno));
		SSL_CTX_free(ctx);
		free(t);
		return 2;
	}
	lport = t_local_port(t->fd);
	set_nonblock(t->fd);
	if ((t->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(t->ssl, t->fd) != 1)
		die("SSL_new: %s", ssl_reason(why, sizeof why));
	if (ca != NULL)
		SSL_set1_host(t->ssl, "localhost");
	SSL_set_tlsext_host_name(t->ssl, "localhost");
	if (sess_in != NULL) {
		if ((fp_sess = fopen(sess_in, "r")) == NULL ||
		    (offer = PEM_read_SSL_SESSION(fp_sess, NULL, NULL,
		    NULL)) == NULL || SSL_set_session(t->ssl, offer) != 1)
			die("cannot offer the session saved in %s", sess_in);
		fclose(fp_sess);
		SSL_SESSION_free(offer);
	}
	deadline = t_now() + t->timeout;
	for (;;) {
		errno = 0;
		if ((r = SSL_connect(t->ssl)) == 1)
			break;
		if (!ssl_wants(t, r, &ev) || wait_fd(t->fd, ev, deadline) != 0) {
			if (t->end == END_NONE)
				snprintf(t->why, sizeof t->why, "timeout");
			out("HANDSHAKE-FAILED lport=%d %s %s", lport,
			    end_names[t->end], t->why);
			SSL_free(t->ssl);
			close(t->fd);
			SSL_CTX_free(ctx);
			free(t);
			return 2;
		}
	}
	fp[0] = subject[0] = '\0';
	if ((peer = SSL_get1_peer_certificate(t->ssl)) != NULL) {
		X509_digest(peer, EVP_sha256(), md, &mdlen);
		hexstr(md, mdlen, fp, 1, 1);
		X509_NAME_oneline(X509_get_subject_name(peer), subject,
		    (int)sizeof subject);
		X509_free(peer);
	}
	SSL_get0_alpn_selected(t->ssl, &sel, &sellen);
	snprintf(alpn_sel, sizeof alpn_sel, "%.*s", (int)sellen,
	    sel ? (const char *)sel : "");
	vr = SSL_get_verify_result(t->ssl);
	out("CONNECTED lport=%d version=%s cipher=%s alpn=%s sha256=%s "
	    "verify=%s subject=%s", lport, SSL_get_version(t->ssl),
	    SSL_get_cipher_name(t->ssl), alpn_sel, fp,
	    ca == NULL ? "none" : vr == X509_V_OK ? "ok" :
	    X509_verify_cert_error_string(vr), subject);

	while (!done && fgets(line, (int)sizeof line - 2, stdin) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0')
			continue;
		done = session_line(t, line);
	}
	if (!done) {
		(void)SSL_shutdown(t->ssl);
		ERR_clear_error();
	}
	if (sess_out != NULL) {
		if (last_session == NULL || (fp_sess = fopen(sess_out,
		    "w")) == NULL || PEM_write_SSL_SESSION(fp_sess,
		    last_session) != 1 || fclose(fp_sess) != 0)
			die("cannot save a session in %s", sess_out);
	}
	SSL_SESSION_free(last_session);
	last_session = NULL;
	SSL_free(t->ssl);
	if (t->fd >= 0)
		close(t->fd);
	SSL_CTX_free(ctx);
	free(t);
	return 0;
}

/* ----------------------------------------------------------------- raw */

/* The first bytes a TLS client sends: a ClientHello. */
static size_t
client_hello(unsigned char *buf, size_t cap)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	size_t n;

	if (ctx == NULL)
		die("cannot make a ClientHello");
	n = thello(ctx, buf, cap);
	SSL_CTX_free(ctx);
	return n;
}

static int
unhex(const char *s, unsigned char *buf, size_t cap)
{
	size_t n = 0;
	unsigned int v;

	while (s[0] != '\0' && s[1] != '\0' && n < cap) {
		if (sscanf(s, "%2x", &v) != 1)
			die("bad hex '%s'", s);
		buf[n++] = (unsigned char)v;
		s += 2;
	}
	return (int)n;
}

static int
cmd_raw(int argc, char **argv)
{
	static unsigned char payload[65536], junk[65536];
	size_t len = 0, total = 0;
	double wait = 5, start, deadline;
	ssize_t n;
	int i, fd, port;

	for (i = 0; i < argc - 1; i++) {
		if (strcmp(argv[i], "--send") == 0 && i + 1 < argc - 1) {
			i++;
			if (strlen(argv[i]) > sizeof payload - len)
				die("too much to send");
			memcpy(payload + len, argv[i], strlen(argv[i]));
			len += strlen(argv[i]);
		} else if (strcmp(argv[i], "--hex") == 0 && i + 1 < argc - 1) {
			len += (size_t)unhex(argv[++i], payload + len,
			    sizeof payload - len);
		} else if (strcmp(argv[i], "--random") == 0 && i + 1 < argc - 1) {
			n = (ssize_t)parse_ull(argv[++i]);
			if ((size_t)n > sizeof payload - len ||
			    RAND_bytes(payload + len, (int)n) != 1)
				die("cannot make %zd random bytes", n);
			len += (size_t)n;
		} else if (strcmp(argv[i], "--hello-part") == 0 &&
		    i + 1 < argc - 1) {
			n = (ssize_t)parse_ull(argv[++i]);
			if (client_hello(junk, sizeof junk) < (size_t)n)
				die("the ClientHello is shorter than %zd", n);
			memcpy(payload + len, junk, (size_t)n);
			len += (size_t)n;
		} else if (strcmp(argv[i], "--hello") == 0) {
			len += client_hello(payload + len, sizeof payload - len);
		} else if (strcmp(argv[i], "--wait") == 0 && i + 1 < argc - 1) {
			wait = parse_secs(argv[++i]);
		} else {
			die("raw: unknown option %s", argv[i]);
		}
	}
	if (i != argc - 1)
		die("usage: t-tlsc raw [options] PORT");
	port = parse_port(argv[argc - 1]);
	if ((fd = tcp_connect(port, 0, 0)) < 0)
		die("connect: %s", strerror(errno));
	out("LOCALPORT %d", t_local_port(fd));
	start = t_now();
	if (len > 0 && write(fd, payload, len) != (ssize_t)len)
		die("write: %s", strerror(errno));
	deadline = start + wait;
	for (;;) {
		if (wait_fd(fd, POLLIN, deadline) != 0) {
			out("OPEN after=%.2f bytes=%zu", t_now() - start, total);
			break;
		}
		n = read(fd, junk, sizeof junk);
		if (n > 0) {
			total += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		out("CLOSED how=%s after=%.2f bytes=%zu", n == 0 ? "eof" :
		    errno == ECONNRESET ? "reset" : strerror(errno),
		    t_now() - start, total);
		break;
	}
	close(fd);
	return 0;
}

/* ----------------------------------------------------------------- pty */

static volatile sig_atomic_t got_sig;

static void
on_sig(int sig)
{
	got_sig = sig;
}

static void
tty_print(const unsigned char *p, size_t n)
{
	size_t i;

	fputs("TTY: ", stdout);
	for (i = 0; i < n; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			putchar(p[i]);
		else
			printf("\\x%02x", p[i]);
	}
	putchar('\n');
	fflush(stdout);
}

static int
cmd_pty(int argc, char **argv)
{
	const char *pidfile = NULL;
	unsigned char buf[4096];
	struct sigaction sa;
	struct pollfd p;
	double deadline;
	char *slave;
	pid_t pid;
	int i = 0, m, s, ws, exited = 0, fd;
	ssize_t n;
	FILE *fp;

	if (argc > 1 && strcmp(argv[0], "--pid-file") == 0) {
		pidfile = argv[1];
		i = 2;
	}
	if (argc - i < 2)
		die("usage: t-tlsc pty [--pid-file F] SEC CMD [ARG...]");
	deadline = t_now() + parse_secs(argv[i]);
	if ((m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0 ||
	    grantpt(m) != 0 || unlockpt(m) != 0 || (slave = ptsname(m)) == NULL)
		die("cannot make a pseudo-terminal: %s", strerror(errno));
	fflush(NULL);
	if ((pid = fork()) < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		if (setsid() < 0 || (s = open(slave, O_RDWR)) < 0 ||
		    ioctl(s, TIOCSCTTY, 0) != 0)
			_exit(126);
		close(s);
		if ((fd = open("/dev/null", O_RDONLY)) < 0 ||
		    dup2(fd, STDIN_FILENO) < 0)
			_exit(126);
		if (fd != STDIN_FILENO)
			close(fd);
		execvp(argv[i + 1], argv + i + 1);
		_exit(127);
	}
	if (pidfile != NULL) {
		if ((fp = fopen(pidfile, "w")) == NULL)
			die("%s: %s", pidfile, strerror(errno));
		fprintf(fp, "%ld\n", (long)pid);
		fclose(fp);
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sig;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	while (!exited) {
		if (got_sig) {
			kill(pid, got_sig);
			got_sig = 0;
		}
		if (t_now() >= deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, &ws, 0);
			out("TIMEOUT");
			return 124;
		}
		p.fd = m;
		p.events = POLLIN;
		p.revents = 0;
		if (poll(&p, 1, 50) > 0 && (n = read(m, buf, sizeof buf)) > 0)
			tty_print(buf, (size_t)n);
		if (waitpid(pid, &ws, WNOHANG) == pid)
			exited = 1;
	}
	/* What the terminal still holds. */
	p.fd = m;
	p.events = POLLIN;
	while (poll(&p, 1, 0) > 0 && (n = read(m, buf, sizeof buf)) > 0)
		tty_print(buf, (size_t)n);
	close(m);
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* A non-blocking connect to 127.0.0.1:port under way: its socket. */
static int
flood_connect(int port)
{
	struct sockaddr_in sa;
	int fd;

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) < 0)
		die("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 &&
	    errno != EINPROGRESS)
		die("connect: %s", strerror(errno));
	return fd;
}

static int
cmd_flood(int argc, char **argv)
{
	struct pollfd *p;
	unsigned long long connects = 0, closed = 0, again = 0;
	char buf[256];
	double t0, rate = 0;
	ssize_t r;
	long n, i;
	int port, waiting;

	if (argc == 4 && strcmp(argv[0], "--rate") == 0) {
		rate = strtod(argv[1], NULL);
		argc -= 2;
		argv += 2;
	}
	if (argc != 2 || (n = strtol(argv[0], NULL, 10)) < 1 || n > 100000)
		die("usage: t-tlsc flood [--rate R] N PORT");
	port = parse_port(argv[1]);
	if ((p = calloc((size_t)n + 1, sizeof *p)) == NULL)
		die("out of memory");
	p[0].fd = 0;
	p[0].events = POLLIN;
	for (i = 1; i <= n; i++) {
		p[i].fd = flood_connect(port);
		p[i].events = POLLIN;
		connects++;
	}
	out("FLOODING n=%ld", n);
	t0 = t_now();
	for (;;) {
		/* Open again what was closed, at most rate per second. */
		waiting = 0;
		for (i = 1; i <= n; i++) {
			if (p[i].fd >= 0)
				continue;
			if (rate > 0 && (double)again >= rate * (t_now() - t0)) {
				waiting = 1;
				break;
			}
			p[i].fd = flood_connect(port);
			connects++;
			again++;
		}
		if (poll(p, (nfds_t)n + 1, waiting ? 2 : -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		if (p[0].revents != 0 && read(0, buf, sizeof buf) <= 0)
			break;
		for (i = 1; i <= n; i++) {
			if (p[i].fd < 0 || p[i].revents == 0)
				continue;
			r = read(p[i].fd, buf, sizeof buf);
			if (r > 0 || (r < 0 && errno == EAGAIN &&
			    !(p[i].revents & (POLLHUP | POLLERR))))
				continue;
			/* Closed (or reset, or refused): open another. */
			close(p[i].fd);
			p[i].fd = -1;
			closed++;
		}
	}
	out("FLOOD connects=%llu closed=%llu", connects, closed);
	for (i = 1; i <= n; i++)
		if (p[i].fd >= 0)
			close(p[i].fd);
	free(p);
	return 0;
}

int
main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && strcmp(argv[1], "freeport") == 0)
		return cmd_freeport();
	if (argc >= 3 && strcmp(argv[1], "session") == 0)
		return cmd_session(argc - 2, argv + 2);
	if (argc >= 3 && strcmp(argv[1], "raw") == 0)
		return cmd_raw(argc - 2, argv + 2);
	if (argc >= 4 && strcmp(argv[1], "pty") == 0)
		return cmd_pty(argc - 2, argv + 2);
	if (argc >= 3 && strcmp(argv[1], "flood") == 0)
		return cmd_flood(argc - 2, argv + 2);
	fprintf(stderr, "usage: t-tlsc freeport | session [options] PORT | "
	    "raw [options] PORT | pty [--pid-file F] SEC CMD [ARG...] | "
	    "flood [--rate R] N PORT\n");
	return 2;
}
