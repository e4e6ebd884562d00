/*
 * rload.c - the client side of the fault and abuse suite: hostile loads
 * (thousands of slow, silent or non-reading connections, resets, half
 * closes, aborted TLS handshakes, descriptor floods), the well-behaved
 * clients measured during them, and a watcher of the server's /proc.
 *
 *   t-rload freeport
 *   t-rload flood -p PORT [-a ADDR] -n N --mode silent|slow|noread|garbage
 *           [--interval SEC] [--hold SEC] [--get BYTES] [--rcvbuf BYTES]
 *       holds N connections; prints "READY ..." once all are tried, then
 *       "FLOOD ..." when --hold is over or on SIGTERM (then every
 *       connection is reset)
 *   t-rload probe -p PORT [-a ADDR] --duration SEC [--interval MS]
 *           [--fresh K] [--timeout SEC]
 *       a well-behaved client: PING round trips on one connection, every
 *       Kth on a fresh one; "PROBE ... p50_ms= p99_ms= max_ms="
 *   t-rload fdx -p PORT --pid PID [--keep K] [--flood F] [--window SEC]
 *       the descriptor-exhaustion scenario, measured; "FDX ..."
 *   t-rload rst -p PORT -n K --get BYTES --after BYTES [--tls] [--put]
 *       K transfers reset (SO_LINGER 0) after BYTES; "RST ..."
 *   t-rload half -p PORT -n K --get BYTES --put BYTES [--tls]
 *       request, then shutdown(SHUT_WR) (TLS: close_notify); the whole
 *       reply must still come, then the end; "HALF ..."
 *   t-rload halfx -p PORT -n K [--get LINES]
 *       a half-closed session others send to must still get what the
 *       server accepted for it, then its end; "HALFX ..."
 *   t-rload tlsabort -p PORT -n K --mode partial|close|rst|garbage|silent
 *       handshakes abandoned half-way; "TLSABORT ..."
 *   t-rload churn -p PORT --pairs P --churners C --duration SEC
 *           [--interval MSGS_PER_SEC] [--tolerant] [--shared]
 *       cross-session traffic through TO while churners come and go;
 *       checks delivery, order and the server's counters; "CHURN ...";
 *       --tolerant: a session the server closes is opened again and its
 *       pair left unchecked (for allocation failures); --shared: other
 *       clients use the server too, its counters are not checked
 *   t-rload mix -p PORT --clients K --duration SEC [--tls]
 *       well-behaved sessions (PING, PUT, GET, ECHO) checking every byte,
 *       tolerant of sessions the server closes; "MIX ..."
 *   t-rload cmd -p PORT [--tls] LINE...
 *       sends each LINE, prints the reply line to each
 *   t-rload watch --pid PID [--interval MS]
 *       samples descriptors, RSS and CPU until SIGTERM or the process
 *       ends; "WATCH ..."
 * Each prints its result line on stdout and exits 0, or 1 when it could not
 * do its job (the scripts judge the figures).  Time limits are multiplied
 * by $HSVR_TEST_SCALE.
 */
#include "rpattern.h"
#include "../client.h"
#include "../thello.h"
#include "../freeport.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#define MAXEV 512

static double scale = 1;
static volatile sig_atomic_t stop_flag;

/* ---- common ------------------------------------------------------------- */

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "t-rload: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void
on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void
sleep_s(double s)
{
	t_pause_unless(s, &stop_flag);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Latencies in milliseconds. */
struct lat {
	double *v;
	size_t n, cap;
};

static void
lat_add(struct lat *l, double ms)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		if ((l->v = realloc(l->v, l->cap * sizeof *l->v)) == NULL)
			die("out of memory");
	}
	l->v[l->n++] = ms;
}

/* The q-quantile (0..1) of l, sorted in place; 0 when empty. */
static double
lat_q(struct lat *l, double q)
{
	size_t i;

	if (l->n == 0)
		return 0;
	qsort(l->v, l->n, sizeof *l->v, cmp_double);
	i = (size_t)(q * (double)(l->n - 1) + 0.999999);
	return l->v[i < l->n ? i : l->n - 1];
}

static void
set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

static void
set_timeouts(int fd, double secs)
{
	struct timeval tv;

	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* Close with a reset: SO_LINGER 0. */
static void
rst_close(int fd)
{
	struct linger lg = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd);
}

/* A socket connecting (non-blocking) to addr; -1 if it failed at once. */
static int
connect_nb(const struct sockaddr_storage *ss, socklen_t len, int rcvbuf)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	if (connect(fd, (const struct sockaddr *)ss, len) != 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A blocking connection, established within secs; -1 otherwise. */
static int
connect_block(const char *ip, int port, double secs, int rcvbuf)
{
	struct sockaddr_storage ss;
	struct pollfd pfd;
	socklen_t len;
	int fd, err = 0, one = 1;
	socklen_t elen = sizeof err;

	if (t_sockaddr(ip, port, &ss, &len) != 0)
		die("bad address %s", ip);
	if ((fd = connect_nb(&ss, len, rcvbuf)) < 0)
		return -1;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, (int)(secs * 1000)) != 1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 ||
	    err != 0) {
		close(fd);
		errno = err ? err : ETIMEDOUT;
		return -1;
	}
	set_nonblock(fd, 0);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	set_timeouts(fd, secs);
	return fd;
}

/* ---- one blocking connection, TCP or TLS --------------------------------- */

struct cn {
	int fd;
	SSL *ssl;
	unsigned char buf[65536];
	size_t off, len;
	int eof, err;           /* the end seen; err: reset or timeout */
	int timed_out;          /* err was the socket timeout */
};

static SSL_CTX *client_ctx;

static SSL_CTX *
tls_ctx(void)
{
	if (client_ctx == NULL) {
		client_ctx = SSL_CTX_new(TLS_client_method());
		if (client_ctx == NULL)
			die("SSL_CTX_new failed");
		SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL);
	}
	return client_ctx;
}

static void
cn_free(struct cn *c)
{
	if (c->ssl != NULL)
		SSL_free(c->ssl);
	free(c);
}

/* Connected (TLS: handshake done) within secs, or NULL. */
static struct cn *
cn_open(const char *ip, int port, int tls, double secs, int rcvbuf)
{
	struct cn *c;
	int fd = connect_block(ip, port, secs, rcvbuf);

	if (fd < 0)
		return NULL;
	if ((c = calloc(1, sizeof *c)) == NULL)
		die("out of memory");
	c->fd = fd;
	if (!tls)
		return c;
	if ((c->ssl = SSL_new(tls_ctx())) == NULL)
		die("SSL_new failed");
	SSL_set_fd(c->ssl, fd);
	if (SSL_connect(c->ssl) != 1) {
		ERR_clear_error();
		close(fd);
		cn_free(c);
		return NULL;
	}
	return c;
}

/* Fill the buffer: > 0 bytes, 0 at the end, -1 on a reset or timeout. */
static ssize_t
cn_fill(struct cn *c)
{
	ssize_t n;
	size_t got;

	if (c->off < c->len)
		return (ssize_t)(c->len - c->off);
	if (c->eof)
		return 0;
	if (c->err)
		return -1;
	c->off = c->len = 0;
	if (c->ssl != NULL) {
		if (SSL_read_ex(c->ssl, c->buf, sizeof c->buf, &got) == 1) {
			c->len = got;
			return (ssize_t)got;
		}
		switch (SSL_get_error(c->ssl, 0)) {
		case SSL_ERROR_ZERO_RETURN:
			c->eof = 1;
			return 0;
		case SSL_ERROR_WANT_READ:
		case SSL_ERROR_WANT_WRITE:
			c->timed_out = 1;
			break;
		default:
			break;
		}
		ERR_clear_error();
		if (c->timed_out) {
			c->err = 1;
			return -1;
		}
		if (errno == 0) {       /* the end without close_notify */
			c->eof = 1;
			return 0;
		}
		c->err = 1;
		return -1;
	}
	n = read(c->fd, c->buf, sizeof c->buf);
	if (n > 0) {
		c->len = (size_t)n;
		return n;
	}
	if (n == 0) {
		c->eof = 1;
		return 0;
	}
	c->err = 1;
	c->timed_out = errno == EAGAIN || errno == EWOULDBLOCK;
	return -1;
}

static int
cn_write(struct cn *c, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t done;
	ssize_t w;

	while (n > 0) {
		if (c->ssl != NULL) {
			if (SSL_write_ex(c->ssl, b, n, &done) != 1) {
				ERR_clear_error();
				return -1;
			}
		} else {
			w = send(c->fd, b, n, MSG_NOSIGNAL);
			if (w <= 0)
				return -1;
			done = (size_t)w;
		}
		b += done;
		n -= done;
	}
	return 0;
}

static int
cn_put(void *c, const void *p, size_t n)
{
	return cn_write(c, p, n);
}

#define cn_printf(c, ...) t_sendf(cn_put, c, __VA_ARGS__)

/* One line without '\n': 0, or -1 at the end, on a reset or timeout. */
static int
cn_line(struct cn *c, char *line, size_t cap)
{
	size_t n = 0;

	for (;;) {
		if (cn_fill(c) <= 0)
			return -1;
		while (c->off < c->len) {
			unsigned char ch = c->buf[c->off++];

			if (ch == '\n') {
				line[n] = '\0';
				return 0;
			}
			if (n + 1 < cap)
				line[n++] = (char)ch;
		}
	}
}

/* Read n pattern bytes from offset off: how many arrived correct. */
static uint64_t
cn_pattern(struct cn *c, uint64_t off, uint64_t n, int *corrupt)
{
	uint64_t got = 0;
	size_t take, bad;

	while (got < n) {
		if (cn_fill(c) <= 0)
			break;
		take = c->len - c->off;
		if (take > n - got)
			take = (size_t)(n - got);
		bad = pat_check4(c->buf + c->off, off + got, take);
		c->off += bad;
		got += bad;
		if (bad < take) {
			*corrupt = 1;
			break;
		}
	}
	return got;
}

/* The end of the stream within the socket timeout: 1, else 0. */
static int
cn_wait_end(struct cn *c)
{
	while (cn_fill(c) > 0)
		c->off = c->len;
	return c->eof;
}

static void
cn_close(struct cn *c)
{
	if (c->ssl != NULL && !c->err && !c->eof)
		(void)SSL_shutdown(c->ssl);
	ERR_clear_error();
	close(c->fd);
	cn_free(c);
}

static void
cn_reset(struct cn *c)
{
	rst_close(c->fd);
	cn_free(c);
}

/* ---- options ---------------------------------------------------------------- */

struct opts {
	int port, n, keep, flood, pairs, churners, clients, tls, put_first;
	int rcvbuf, fresh, tolerant, shared;
	long pid;
	const char *addr, *mode;
	double interval, hold, duration, window, timeout;
	unsigned long long get, after, put;
	char **args;            /* cmd: the lines to send */
	int nargs;
};

static void
parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "addr", required_argument, NULL, 'a' },
		{ "conns", required_argument, NULL, 'n' },
		{ "mode", required_argument, NULL, 'm' },
		{ "interval", required_argument, NULL, 'i' },
		{ "hold", required_argument, NULL, 'H' },
		{ "get", required_argument, NULL, 'g' },
		{ "after", required_argument, NULL, 'A' },
		{ "put", required_argument, NULL, 'P' },
		{ "rcvbuf", required_argument, NULL, 'r' },
		{ "duration", required_argument, NULL, 'd' },
		{ "fresh", required_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 't' },
		{ "pid", required_argument, NULL, 'x' },
		{ "keep", required_argument, NULL, 'k' },
		{ "flood", required_argument, NULL, 'F' },
		{ "window", required_argument, NULL, 'w' },
		{ "pairs", required_argument, NULL, 'q' },
		{ "churners", required_argument, NULL, 'c' },
		{ "clients", required_argument, NULL, 'C' },
		{ "tls", no_argument, NULL, 'T' },
		{ "tolerant", no_argument, NULL, 'L' },
		{ "shared", no_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	memset(o, 0, sizeof *o);
	o->addr = "127.0.0.1";
	o->mode = "silent";
	o->interval = -1;
	o->timeout = 5;
	o->keep = 5;
	o->flood = 200;
	o->window = 2;
	o->n = 1;
	while ((ch = getopt_long(argc, argv, "p:a:n:", lo, NULL)) != -1) {
		switch (ch) {
		case 'p': o->port = atoi(optarg); break;
		case 'a': o->addr = optarg; break;
		case 'n': o->n = atoi(optarg); break;
		case 'm': o->mode = optarg; break;
		case 'i': o->interval = atof(optarg); break;
		case 'H': o->hold = atof(optarg); break;
		case 'g': o->get = strtoull(optarg, NULL, 10); break;
		case 'A': o->after = strtoull(optarg, NULL, 10); break;
		case 'P': o->put = strtoull(optarg, NULL, 10); o->put_first = 1; break;
		case 'r': o->rcvbuf = atoi(optarg); break;
		case 'd': o->duration = atof(optarg); break;
		case 'f': o->fresh = atoi(optarg); break;
		case 't': o->timeout = atof(optarg); break;
		case 'x': o->pid = atol(optarg); break;
		case 'k': o->keep = atoi(optarg); break;
		case 'F': o->flood = atoi(optarg); break;
		case 'w': o->window = atof(optarg); break;
		case 'q': o->pairs = atoi(optarg); break;
		case 'c': o->churners = atoi(optarg); break;
		case 'C': o->clients = atoi(optarg); break;
		case 'T': o->tls = 1; break;
		case 'L': o->tolerant = 1; break;
		case 'S': o->shared = 1; break;
		default: die("bad option");
		}
	}
	o->args = argv + optind;
	o->nargs = argc - optind;
}

/* ---- freeport ------------------------------------------------------------------ */

static int
cmd_freeport(void)
{
	int port = freeport_pick();

	if (port < 0)
		die("cannot find a free port: %s", strerror(errno));
	printf("%d\n", port);
	return 0;
}

/* ---- flood ------------------------------------------------------------------------ */

enum { F_IDLE, F_CONNECTING, F_OPEN, F_CLOSED };

struct fconn {
	int fd, state;
	double t_open, next_send;
	size_t pos;             /* slow: position in the slow text */
};

/* A slow client's request, one byte at a time. */
static const char slow_text[] = "PING slow\n";

#define REFUSE_WINDOW 0.5       /* closed this soon after connecting */

static int
cmd_flood(const struct opts *o)
{
	struct sockaddr_storage ss;
	struct epoll_event ev, evs[MAXEV];
	struct fconn *fc;
	socklen_t alen;
	unsigned long long sent = 0, received = 0;
	int ep, i, k, nev, inflight = 0, next = 0, ready = 0;
	int opened = 0, failed = 0, refused = 0, reclaimed = 0, open = 0;
	int silent = strcmp(o->mode, "silent") == 0;
	int slow = strcmp(o->mode, "slow") == 0;
	int noread = strcmp(o->mode, "noread") == 0;
	int garbage = strcmp(o->mode, "garbage") == 0;
	double interval = o->interval > 0 ? o->interval : 2, t, end;
	char req[64], junk[4096];

	if (!silent && !slow && !noread && !garbage)
		die("flood: unknown mode %s", o->mode);
	if (t_sockaddr(o->addr, o->port, &ss, &alen) != 0)
		die("bad address %s", o->addr);
	if ((fc = calloc((size_t)o->n, sizeof *fc)) == NULL)
		die("out of memory");
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll: %s", strerror(errno));
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	snprintf(req, sizeof req, "GET %llu\n", o->get);
	srandom((unsigned)getpid());
	end = o->hold > 0 ? t_now() + o->hold : 0;
	while (!stop_flag && (end == 0 || t_now() < end)) {
		/* Start connections, a bounded number in flight. */
		while (next < o->n && inflight < 128) {
			fc[next].fd = connect_nb(&ss, alen, noread ? o->rcvbuf : 0);
			if (fc[next].fd < 0) {
				fc[next].state = F_CLOSED;
				failed++;
				next++;
				continue;
			}
			fc[next].state = F_CONNECTING;
			ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
			ev.data.u32 = (uint32_t)next;
			epoll_ctl(ep, EPOLL_CTL_ADD, fc[next].fd, &ev);
			inflight++;
			next++;
		}
		if (!ready && next == o->n && inflight == 0) {
			ready = 1;
			printf("READY opened=%d connect_failed=%d refused=%d\n",
			    opened, failed, refused);
			fflush(stdout);
		}
		nev = epoll_wait(ep, evs, MAXEV, 50);
		t = t_now();
		for (k = 0; k < nev; k++) {
			struct fconn *c = &fc[evs[k].data.u32];
			int err = 0;
			socklen_t elen = sizeof err;
			ssize_t n;

			if (c->state == F_CONNECTING) {
				inflight--;
				if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err,
				    &elen) != 0 || err != 0) {
					close(c->fd);
					c->state = F_CLOSED;
					failed++;
					continue;
				}
				c->state = F_OPEN;
				c->t_open = t;
				c->next_send = t + interval *
				    (double)(random() % 1000) / 1000.0;
				opened++;
				open++;
				ev.events = noread ? EPOLLRDHUP : EPOLLIN | EPOLLRDHUP;
				ev.data.u32 = evs[k].data.u32;
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				if (noread && send(c->fd, req, strlen(req),
				    MSG_NOSIGNAL) > 0)
					sent += strlen(req);
				if (garbage) {
					/* Binary junk; every other one a line
					 * too long for any command. */
					for (i = 0; i < (int)sizeof junk; i++) {
						junk[i] = (char)random();
						if (evs[k].data.u32 % 2 && junk[i] == '\n')
							junk[i] = 'x';
					}
					if (send(c->fd, junk, sizeof junk,
					    MSG_NOSIGNAL) > 0)
						sent += sizeof junk;
				}
				continue;
			}
			if (c->state != F_OPEN)
				continue;
			n = noread ? 0 : read(c->fd, junk, sizeof junk);
			if (n > 0) {
				received += (unsigned long long)n;
				continue;
			}
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (noread && !(evs[k].events & (EPOLLHUP | EPOLLERR)))
				continue;
			/* The server closed it. */
			if (t - c->t_open < REFUSE_WINDOW * scale)
				refused++;
			else
				reclaimed++;
			open--;
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			close(c->fd);
			c->state = F_CLOSED;
		}
		if (!slow)
			continue;
		for (i = 0; i < next; i++) {
			struct fconn *c = &fc[i];

			if (c->state != F_OPEN || t < c->next_send)
				continue;
			if (send(c->fd, slow_text + c->pos, 1, MSG_NOSIGNAL) == 1) {
				sent++;
				c->pos = (c->pos + 1) % (sizeof slow_text - 1);
			}
			c->next_send = t + interval;
		}
	}
	if (!ready)
		printf("READY opened=%d connect_failed=%d refused=%d\n", opened,
		    failed, refused);
	printf("FLOOD mode=%s conns=%d opened=%d connect_failed=%d "
	    "refused=%d reclaimed=%d open=%d sent=%llu received=%llu\n",
	    o->mode, o->n, opened, failed, refused, reclaimed, open, sent,
	    received);
	fflush(stdout);
	for (i = 0; i < next; i++)
		if (fc[i].state == F_OPEN || fc[i].state == F_CONNECTING)
			rst_close(fc[i].fd);
	close(ep);
	free(fc);
	return 0;
}

/* ---- probe ---------------------------------------------------------------------- */

/* One PING round trip on c: milliseconds, or -1 on failure. */
static double
ping(struct cn *c, const char *tag, unsigned long n)
{
	char line[256], want[128];
	double t0 = t_now();

	snprintf(want, sizeof want, "PONG %s%lu", tag, n);
	if (cn_printf(c, "PING %s%lu\n", tag, n) != 0)
		return -1;
	do {
		if (cn_line(c, line, sizeof line) != 0)
			return -1;
	} while (strncmp(line, "PONG", 4) != 0);
	if (strcmp(line, want) != 0)
		return -1;
	return (t_now() - t0) * 1000;
}

static int
cmd_probe(const struct opts *o)
{
	struct lat lat = { NULL, 0, 0 };
	struct cn *c = NULL, *f;
	unsigned long n = 0, ok = 0, failed = 0, fresh = 0, fresh_failed = 0;
	double end = t_now() + o->duration, interval, t0, ms;
	double tmo = o->timeout * scale;

	interval = (o->interval > 0 ? o->interval : 20) / 1000.0;
	signal(SIGTERM, on_stop);
	while (!stop_flag && t_now() < end) {
		n++;
		if (o->fresh > 0 && n % (unsigned long)o->fresh == 0) {
			fresh++;
			t0 = t_now();
			f = cn_open(o->addr, o->port, o->tls, tmo, 0);
			ms = f == NULL ? -1 : ping(f, "f", n);
			if (ms >= 0)
				ms = (t_now() - t0) * 1000;
			if (f != NULL)
				cn_close(f);
			if (ms < 0)
				fresh_failed++;
		} else {
			if (c == NULL)
				c = cn_open(o->addr, o->port, o->tls, tmo, 0);
			ms = c == NULL ? -1 : ping(c, "p", n);
			if (ms < 0 && c != NULL) {
				cn_close(c);
				c = NULL;
			}
		}
		if (ms < 0 && stop_flag) {
			/*
			 * SIGTERM cut the request short (a socket with a
			 * receive timeout is not restarted): not an answer the
			 * server failed to give.
			 */
			if (o->fresh > 0 && n % (unsigned long)o->fresh == 0) {
				fresh--;
				fresh_failed--;
			}
			n--;
			break;
		}
		if (ms >= 0) {
			ok++;
			lat_add(&lat, ms);
		} else {
			failed++;
		}
		sleep_s(interval);
	}
	if (c != NULL)
		cn_close(c);
	printf("PROBE requests=%lu ok=%lu failed=%lu fresh=%lu "
	    "fresh_failed=%lu p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n", n, ok,
	    failed, fresh, fresh_failed, lat_q(&lat, 0.5), lat_q(&lat, 0.99),
	    lat_q(&lat, 1));
	free(lat.v);
	return 0;
}

/* ---- watch: the server from /proc ------------------------------------------------ */

static int
count_fds(long pid)
{
	char path[64];
	DIR *d;
	struct dirent *e;
	int n = 0;

	snprintf(path, sizeof path, "/proc/%ld/fd", pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* A "Key:  N kB" field of /proc/PID/status; -1 if absent. */
static long
status_kb(long pid, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = atol(line + klen + 1);
			break;
		}
	fclose(f);
	return v;
}

/* utime + stime of pid in seconds; -1 if it is gone. */
static double
cpu_secs(long pid)
{
	char path[64], buf[2048], *p;
	unsigned long long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	/* After ") ": state is field 3; utime and stime are 14 and 15. */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	    &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int
cmd_watch(const struct opts *o)
{
	long rss, peak_rss = 0, hwm = 0, v;
	int fds, peak_fds = 0, start_fds, end_fds = -1;
	unsigned long samples = 0;
	double cpu0, cpu1 = -1, c, t0 = t_now();
	double interval = (o->interval > 0 ? o->interval : 100) / 1000.0;

	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);
	start_fds = count_fds(o->pid);
	cpu0 = cpu_secs(o->pid);
	while (!stop_flag) {
		fds = count_fds(o->pid);
		rss = status_kb(o->pid, "VmRSS");
		if (fds < 0 || rss < 0)
			break;
		if ((v = status_kb(o->pid, "VmHWM")) > hwm)
			hwm = v;
		if ((c = cpu_secs(o->pid)) >= 0)
			cpu1 = c;
		end_fds = fds;
		if (fds > peak_fds)
			peak_fds = fds;
		if (rss > peak_rss)
			peak_rss = rss;
		samples++;
		sleep_s(interval);
	}
	printf("WATCH samples=%lu start_fds=%d end_fds=%d peak_fds=%d "
	    "peak_rss_kb=%ld hwm_kb=%ld cpu_s=%.2f secs=%.1f\n", samples,
	    start_fds, end_fds, peak_fds, peak_rss, hwm,
	    cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1, t_now() - t0);
	return 0;
}

/* ---- fdx: out of descriptors ---------------------------------------------------- */

struct xconn {
	int fd, state;          /* F_CONNECTING, F_OPEN, F_CLOSED */
	int answered;
	char line[64];
	size_t llen;
};

struct xstate {
	int ep, n, answered, lost;      /* lost: ended without an answer */
	struct xconn *x;
};

/* Serve the flood's events until `until`. */
static void
fdx_pump(struct xstate *s, double until)
{
	struct epoll_event evs[MAXEV], ev;
	char buf[512], req[32];
	int k, nev, wait_ms, i;
	ssize_t n;

	while ((wait_ms = (int)((until - t_now()) * 1000)) >= 0) {
		nev = epoll_wait(s->ep, evs, MAXEV, wait_ms > 0 ? wait_ms : 0);
		for (k = 0; k < nev; k++) {
			struct xconn *c = &s->x[evs[k].data.u32];
			int err = 0;
			socklen_t elen = sizeof err;

			if (c->state == F_CONNECTING) {
				if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR,
				    &err, &elen) != 0 || err != 0) {
					epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
					close(c->fd);
					c->state = F_CLOSED;
					s->lost++;
					continue;
				}
				c->state = F_OPEN;
				ev.events = EPOLLIN | EPOLLRDHUP;
				ev.data.u32 = evs[k].data.u32;
				epoll_ctl(s->ep, EPOLL_CTL_MOD, c->fd, &ev);
				snprintf(req, sizeof req, "PING f%u\n",
				    evs[k].data.u32);
				(void)!send(c->fd, req, strlen(req), MSG_NOSIGNAL);
				continue;
			}
			if (c->state != F_OPEN)
				continue;
			n = read(c->fd, buf, sizeof buf);
			if (n < 0 && errno == EAGAIN)
				continue;
			if (n <= 0) {
				epoll_ctl(s->ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				c->state = F_CLOSED;
				s->lost += !c->answered;
				continue;
			}
			for (i = 0; i < n; i++) {
				if (buf[i] != '\n') {
					if (c->llen + 1 < sizeof c->line)
						c->line[c->llen++] = buf[i];
					continue;
				}
				c->line[c->llen] = '\0';
				c->llen = 0;
				if (strncmp(c->line, "PONG f", 6) == 0 &&
				    !c->answered) {
					c->answered = 1;
					s->answered++;
				}
			}
		}
		if (wait_ms == 0)
			break;
	}
}

/* Pump until no flood connection was answered for `quiet` seconds. */
static void
fdx_settle(struct xstate *s, double quiet, double limit)
{
	double end = t_now() + limit, last = t_now();
	int before = s->answered;

	while (t_now() < end && t_now() - last < quiet) {
		fdx_pump(s, t_now() + 0.05);
		if (s->answered != before) {
			before = s->answered;
			last = t_now();
		}
	}
}

static int
cmd_fdx(const struct opts *o)
{
	struct sockaddr_storage ss;
	struct epoll_event ev;
	struct xstate s;
	struct cn **keep;
	socklen_t alen;
	unsigned long pings = 0, pings_ok = 0;
	int i, waves = 0, first, keep_ok = 0, fresh_ok = 0, round, before;
	double tmo = o->timeout * scale, t0, c0, c1, t1, ms, keep_max = 0;
	double resume, resume_max = 0, w_end, wt0;
	struct cn *f;
	struct lat lat = { NULL, 0, 0 };

	if (t_sockaddr(o->addr, o->port, &ss, &alen) != 0)
		die("bad address %s", o->addr);
	memset(&s, 0, sizeof s);
	s.n = o->flood;
	if ((s.x = calloc((size_t)s.n, sizeof *s.x)) == NULL ||
	    (keep = calloc((size_t)o->keep, sizeof *keep)) == NULL)
		die("out of memory");
	if ((s.ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll: %s", strerror(errno));
	/* Sessions that must go on being served. */
	for (i = 0; i < o->keep; i++) {
		keep[i] = cn_open(o->addr, o->port, 0, tmo, 0);
		if (keep[i] != NULL && ping(keep[i], "k", 0) >= 0)
			keep_ok++;
	}
	if (keep_ok != o->keep)
		die("only %d of %d sessions before the flood", keep_ok, o->keep);
	/* The flood: more connections than the server has descriptors. */
	for (i = 0; i < s.n; i++) {
		s.x[i].fd = connect_nb(&ss, alen, 0);
		if (s.x[i].fd < 0) {
			s.x[i].state = F_CLOSED;
			s.lost++;
			continue;
		}
		s.x[i].state = F_CONNECTING;
		ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
		ev.data.u32 = (uint32_t)i;
		epoll_ctl(s.ep, EPOLL_CTL_ADD, s.x[i].fd, &ev);
		if (i % 64 == 63)
			fdx_pump(&s, t_now());
	}
	fdx_settle(&s, 1.0, 10 * scale);
	first = s.answered;
	/* Out of descriptors now: CPU, and the sessions that were there. */
	wt0 = t_now();
	c0 = cpu_secs(o->pid);
	w_end = wt0 + o->window;
	while (t_now() < w_end) {
		for (i = 0; i < o->keep; i++) {
			pings++;
			ms = ping(keep[i], "k", pings);
			if (ms >= 0) {
				pings_ok++;
				lat_add(&lat, ms);
				if (ms > keep_max)
					keep_max = ms;
			}
		}
		fdx_pump(&s, t_now() + 0.2);
	}
	c1 = cpu_secs(o->pid);
	t1 = t_now();
	/* Descriptors freed: the waiting connections must be taken. */
	for (round = 0; s.answered + s.lost < s.n && round < 100; round++) {
		before = s.answered;
		for (i = 0; i < s.n; i++)
			if (s.x[i].state == F_OPEN && s.x[i].answered) {
				epoll_ctl(s.ep, EPOLL_CTL_DEL, s.x[i].fd, NULL);
				close(s.x[i].fd);
				s.x[i].state = F_CLOSED;
			}
		t0 = t_now();
		while (s.answered == before && t_now() - t0 < 5 * scale)
			fdx_pump(&s, t_now() + 0.005);
		if (s.answered == before)
			break;
		resume = t_now() - t0;
		if (resume > resume_max)
			resume_max = resume;
		waves++;
		fdx_settle(&s, 0.3, 10 * scale);
	}
	for (i = 0; i < s.n; i++)
		if (s.x[i].state != F_CLOSED)
			close(s.x[i].fd);
	/* And a newcomer is served. */
	t0 = t_now();
	f = cn_open(o->addr, o->port, 0, tmo, 0);
	if (f != NULL && ping(f, "n", 1) >= 0)
		fresh_ok = 1;
	if (f != NULL)
		cn_close(f);
	for (i = 0; i < o->keep; i++)
		if (keep[i] != NULL)
			cn_close(keep[i]);
	printf("FDX keep=%d flood=%d answered_first=%d cpu_pct=%.1f "
	    "window_s=%.2f keep_pings=%lu keep_ok=%lu keep_p99_ms=%.2f "
	    "keep_max_ms=%.1f waves=%d resume_max_ms=%.0f all_answered=%d "
	    "lost=%d fresh_ok=%d fresh_ms=%.0f\n", o->keep, s.n, first,
	    c0 >= 0 && c1 >= 0 ? (c1 - c0) / (t1 - wt0) * 100 : -1,
	    t1 - wt0, pings, pings_ok, lat_q(&lat, 0.99), keep_max, waves,
	    resume_max * 1000, s.answered == s.n, s.lost, fresh_ok,
	    (t_now() - t0) * 1000);
	close(s.ep);
	free(s.x);
	free(keep);
	free(lat.v);
	return 0;
}

/* ---- rst: transfers cut by a reset ------------------------------------------------- */

static int
cmd_rst(const struct opts *o)
{
	struct cn *c;
	unsigned char junk[4096];
	int i, done = 0, verified = 0, corrupt = 0, failed = 0;
	uint64_t got;

	memset(junk, 'j', sizeof junk);
	for (i = 0; i < o->n; i++) {
		c = cn_open(o->addr, o->port, o->tls, o->timeout * scale,
		    o->rcvbuf);
		if (c == NULL) {
			failed++;
			continue;
		}
		if (o->put_first) {
			/* Cut the upload half-way instead. */
			if (cn_printf(c, "PUT %llu\n", o->put) == 0 &&
			    cn_write(c, junk, sizeof junk) == 0)
				done++;
			cn_reset(c);
			continue;
		}
		if (cn_printf(c, "GET %llu\n", o->get) != 0) {
			cn_close(c);
			failed++;
			continue;
		}
		got = cn_pattern(c, 0, o->after, &corrupt);
		if (got == o->after)
			verified++;
		done++;
		cn_reset(c);
	}
	printf("RST conns=%d done=%d verified=%d corrupt=%d failed=%d\n", o->n,
	    done, verified, corrupt, failed);
	return 0;
}

/* ---- half: the reply still comes after the client's end ---------------------------- */

static int
cmd_half(const struct opts *o)
{
	struct cn *c;
	unsigned char *data;
	char line[256], want[128];
	uint64_t h, got, lost = 0;
	int i, ok = 0, corrupt = 0, ended = 0, failed = 0;

	if ((data = malloc(o->put ? o->put : 1)) == NULL)
		die("out of memory");
	pat_fill4(data, 7, o->put);
	h = fnv64(FNV64_INIT, data, o->put);
	snprintf(want, sizeof want, "GOT n=%llu hash=%016llx", o->put,
	    (unsigned long long)h);
	for (i = 0; i < o->n; i++) {
		c = cn_open(o->addr, o->port, o->tls, o->timeout * scale, 0);
		if (c == NULL) {
			failed++;
			continue;
		}
		if (cn_printf(c, "PUT %llu\n", o->put) != 0 ||
		    cn_write(c, data, o->put) != 0 ||
		    cn_printf(c, "GET %llu\n", o->get) != 0) {
			cn_close(c);
			failed++;
			continue;
		}
		/* Our end of the stream; theirs must follow the reply. */
		if (c->ssl != NULL)
			(void)SSL_shutdown(c->ssl);
		else
			shutdown(c->fd, SHUT_WR);
		if (cn_line(c, line, sizeof line) != 0 || strcmp(line, want) != 0) {
			lost += o->get;
			cn_reset(c);
			failed++;
			continue;
		}
		got = cn_pattern(c, 0, o->get, &corrupt);
		lost += o->get - got;
		if (got == o->get && cn_wait_end(c))
			ended++;
		if (got == o->get)
			ok++;
		close(c->fd);
		cn_free(c);
	}
	printf("HALF conns=%d ok=%d ended=%d corrupt=%d failed=%d "
	    "lost_bytes=%llu\n", o->n, ok, ended, corrupt, failed,
	    (unsigned long long)lost);
	free(data);
	return 0;
}

/* ---- halfx: a half-closed session that other sessions send to ---------------------- */

/*
 * B says PING and half-closes while A's commands make the server send to
 * B from A's worker (TO); then A stops.  The server must still deliver
 * what it accepted for B, and then end B's session, which has nothing
 * more to send: B must see the end.
 */
static int
cmd_halfx(const struct opts *o)
{
	struct cn *a, *b;
	char line[256], *buf;
	size_t len, cap, m = o->get ? (size_t)o->get : 2000, k;
	unsigned long long expected, received, naks = 0, total_lost = 0, seq;
	unsigned *lens;
	int i, ended = 0, stuck = 0, failed = 0, bport, n;

	cap = m * 64;
	if ((buf = malloc(cap)) == NULL ||
	    (lens = calloc(m, sizeof *lens)) == NULL)
		die("out of memory");
	for (i = 0; i < o->n; i++) {
		b = cn_open(o->addr, o->port, 0, o->timeout * scale, 0);
		a = cn_open(o->addr, o->port, 0, o->timeout * scale, 0);
		if (a == NULL || b == NULL || ping(b, "b", 0) < 0 ||
		    ping(a, "a", 0) < 0) {
			failed++;
			if (a != NULL)
				cn_close(a);
			if (b != NULL)
				cn_close(b);
			continue;
		}
		bport = t_local_port(b->fd);
		expected = 0;
		for (len = 0, k = 0; k < m; k++) {
			n = snprintf(buf + len, cap - len, "TO %d %zu payload\n",
			    bport, k);
			len += (size_t)n;
			/* What B receives: "FROM <a port> <k> payload\n"
			 * (both ports have 5 digits). */
			lens[k] = (unsigned)n + 2;
			expected += lens[k];
		}
		if (cn_write(a, buf, len / 2) != 0 ||
		    shutdown(b->fd, SHUT_WR) != 0 ||
		    cn_write(a, buf + len / 2, len - len / 2) != 0 ||
		    cn_printf(a, "PING end\n") != 0) {
			failed++;
			cn_close(a);
			cn_close(b);
			continue;
		}
		/* The PONG comes after every TO before it was handled. */
		while (cn_line(a, line, sizeof line) == 0 &&
		    strcmp(line, "PONG end") != 0)
			if (sscanf(line, "NAK %*d %llu", &seq) == 1 && seq < m) {
				/* Refused (B's session over): not owed to B. */
				naks++;
				expected -= lens[seq];
			}
		received = 0;
		while (cn_fill(b) > 0) {
			received += b->len - b->off;
			b->off = b->len;
		}
		if (received < expected)
			total_lost += expected - received;
		if (b->eof)
			ended++;
		else if (b->timed_out)
			stuck++;
		cn_close(a);
		close(b->fd);
		cn_free(b);
	}
	printf("HALFX conns=%d ended=%d stuck=%d failed=%d naks=%llu "
	    "lost_bytes=%llu\n", o->n, ended, stuck, failed, naks, total_lost);
	free(buf);
	free(lens);
	return 0;
}

/* ---- tlsabort: handshakes abandoned half-way ---------------------------------------- */

/* A real ClientHello, from a client SSL on memory BIOs. */
static size_t
client_hello(unsigned char *buf, size_t cap)
{
	size_t n = thello(tls_ctx(), buf, cap);

	if (n == 0)
		die("cannot make a ClientHello");
	return n;
}

static int
cmd_tlsabort(const struct opts *o)
{
	unsigned char hello[4096], junk[1024], b;
	size_t hlen = client_hello(hello, sizeof hello);
	int i, fd, done = 0, failed = 0, server_closed = 0;
	const char *m = o->mode;
	double t0, waited = 0;
	ssize_t n;

	for (i = 0; i < (int)sizeof junk; i++)
		junk[i] = (unsigned char)(i * 37 + 11);
	if (strcmp(m, "partial") && strcmp(m, "close") && strcmp(m, "rst") &&
	    strcmp(m, "garbage") && strcmp(m, "silent"))
		die("tlsabort: unknown mode %s", m);
	for (i = 0; i < o->n; i++) {
		fd = connect_block(o->addr, o->port, o->timeout * scale, 0);
		if (fd < 0) {
			failed++;
			continue;
		}
		if (strcmp(m, "partial") == 0) {
			/* Half a ClientHello, then our end. */
			(void)!send(fd, hello, hlen / 2, MSG_NOSIGNAL);
			close(fd);
		} else if (strcmp(m, "close") == 0) {
			/* All of it, and gone before the server answers. */
			(void)!send(fd, hello, hlen, MSG_NOSIGNAL);
			close(fd);
		} else if (strcmp(m, "rst") == 0) {
			/* All of it, the first byte of the answer, a reset. */
			(void)!send(fd, hello, hlen, MSG_NOSIGNAL);
			(void)!read(fd, &b, 1);
			rst_close(fd);
		} else if (strcmp(m, "garbage") == 0) {
			(void)!send(fd, junk, sizeof junk, MSG_NOSIGNAL);
			t0 = t_now();
			while ((n = read(fd, junk, sizeof junk)) > 0)
				;
			if (n == 0 || errno == ECONNRESET)
				server_closed++;
			waited += t_now() - t0;
			close(fd);
		} else {
			/* Say nothing: the handshake timeout must end it. */
			t0 = t_now();
			set_timeouts(fd, 60 * scale);
			n = read(fd, &b, 1);
			if (n == 0 || (n < 0 && errno == ECONNRESET))
				server_closed++;
			waited += t_now() - t0;
			close(fd);
		}
		done++;
	}
	printf("TLSABORT mode=%s conns=%d done=%d failed=%d server_closed=%d "
	    "waited_s=%.2f\n", m, o->n, done, failed, server_closed, waited);
	return 0;
}

/* ---- churn: sessions sending to each other --------------------------------------------- */

enum { R_PAIR, R_CHURN, R_CTL };

struct ch {
	int fd, role, port, partner;    /* partner: index of the other half */
	int alive;
	int broken;                     /* --tolerant: the server closed it
	                                   or its partner; not checked */
	int is_ready;                   /* its "PING ready" was answered */
	char in[8192];
	size_t inlen;
	char *out;
	size_t outlen, outcap;
	uint64_t seq;                   /* next seq this one sends */
	uint32_t *lens;                 /* payload length of each seq sent */
	size_t lcap;
	/* To the partner: payload bytes sent, NAK'd; from it: received. */
	uint64_t sent, naked, received, last_seq_in;
	int have_seq_in;
};

struct churn {
	struct ch *c;
	int n, ep;
	struct sockaddr_storage ss;
	socklen_t alen;
	uint64_t msgs, bytes, reconnects, bad, reordered, from_churn;
	uint64_t nak_nf, nak_m1, nak_m4, nak_pair, nak_pair_lost;
	uint64_t server_closed, ready;
	int *port_to;                   /* port -> index + 1 (pairs only) */
	int tolerant;
	const char *ip;
	int port;
};

static void
ch_flush(struct churn *w, struct ch *c)
{
	ssize_t n;

	while (c->outlen > 0) {
		n = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL);
		if (n <= 0)
			return;
		memmove(c->out, c->out + n, c->outlen - (size_t)n);
		c->outlen -= (size_t)n;
	}
	(void)w;
}

static void
ch_queue(struct churn *w, struct ch *c, const char *p, size_t n)
{
	if (c->outlen + n > c->outcap) {
		c->outcap = (c->outlen + n) * 2;
		if ((c->out = realloc(c->out, c->outcap)) == NULL)
			die("out of memory");
	}
	memcpy(c->out + c->outlen, p, n);
	c->outlen += n;
	ch_flush(w, c);
}


static void
ch_open(struct churn *w, int i, const char *ip, int port)
{
	struct ch *c = &w->c[i];
	struct epoll_event ev;

	c->fd = connect_block(ip, port, 5 * scale, 0);
	if (c->fd < 0)
		die("churn: cannot connect: %s", strerror(errno));
	set_nonblock(c->fd, 1);
	c->port = t_local_port(c->fd);
	c->alive = 1;
	c->inlen = c->outlen = 0;
	ev.events = EPOLLIN | EPOLLRDHUP;
	ev.data.u32 = (uint32_t)i;
	epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev);
	if (c->role == R_PAIR) {
		w->port_to[c->port] = i + 1;
		if (!c->is_ready)
			ch_queue(w, c, "PING ready\n", 11);
	}
}

static void
ch_drop(struct churn *w, int i, int reset)
{
	struct ch *c = &w->c[i];

	if (!c->alive)
		return;
	epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
	if (reset)
		rst_close(c->fd);
	else
		close(c->fd);
	c->alive = 0;
	c->fd = -1;
}

/* Send a message from c to port (payload of random length). */
static void
ch_send(struct churn *w, struct ch *c, int port)
{
	char msg[256], pay[160];
	size_t len = 1 + (size_t)random() % 120, k;
	int n;

	for (k = 0; k < len; k++)
		pay[k] = "abcdefghijklmnopqrstuvwxyz0123456789"[random() % 36];
	pay[len] = '\0';
	if (c->seq >= c->lcap) {
		c->lcap = c->lcap ? c->lcap * 2 : 4096;
		if ((c->lens = realloc(c->lens, c->lcap * sizeof *c->lens)) == NULL)
			die("out of memory");
	}
	c->lens[c->seq] = (uint32_t)len;
	n = snprintf(msg, sizeof msg, "TO %d %llu %s\n", port,
	    (unsigned long long)c->seq, pay);
	c->seq++;
	if (c->role == R_PAIR && port == w->c[c->partner].port)
		c->sent += len;
	w->msgs++;
	w->bytes += (uint64_t)n;
	ch_queue(w, c, msg, (size_t)n);
}

/* A line received by c. */
static void
ch_line(struct churn *w, struct ch *c, char *line)
{
	unsigned long long seq;
	int src, dst, off = 0, idx;
	char rc[16];

	if (sscanf(line, "FROM %d %llu %n", &src, &seq, &off) == 2 && off > 0) {
		if (c->role == R_PAIR && src == w->c[c->partner].port) {
			if (c->have_seq_in && seq <= c->last_seq_in)
				w->reordered++;
			c->have_seq_in = 1;
			c->last_seq_in = seq;
			c->received += strlen(line + off);
		} else {
			w->from_churn++;
		}
		return;
	}
	if (sscanf(line, "NAK %d %llu %15s", &dst, &seq, rc) == 3) {
		if (strcmp(rc, "nf") == 0)
			w->nak_nf++;
		else if (strcmp(rc, "-4") == 0)
			w->nak_m4++;
		else
			w->nak_m1++;
		idx = dst > 0 && dst < 65536 ? w->port_to[dst] - 1 : -1;
		if (c->role == R_PAIR && idx == c->partner && seq < c->seq) {
			w->nak_pair++;
			/* Only congestion may refuse a live partner. */
			if (strcmp(rc, "-4") != 0)
				w->nak_pair_lost++;
			c->naked += c->lens[seq];
		}
		return;
	}
	if (strcmp(line, "PONG ready") == 0) {
		if (!c->is_ready)
			w->ready++;
		c->is_ready = 1;
		return;
	}
	w->bad++;
}

static void
ch_read(struct churn *w, int i)
{
	struct ch *c = &w->c[i];
	ssize_t n;
	char *nl, *p;

	for (;;) {
		n = read(c->fd, c->in + c->inlen, sizeof c->in - 1 - c->inlen);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			if (c->role == R_CTL) {
				ch_drop(w, i, 0);       /* reopened at the end */
				return;
			}
			if (c->role != R_CHURN && !w->tolerant)
				die("churn: the server closed a pair session "
				    "(port %d)", c->port);
			ch_drop(w, i, 0);
			if (c->role == R_CHURN)
				return;
			/* Tolerated: a fresh session, the pair unchecked. */
			w->server_closed++;
			if (c->role == R_PAIR)
				c->broken = w->c[c->partner].broken = 1;
			ch_open(w, i, w->ip, w->port);
			return;
		}
		c->inlen += (size_t)n;
		c->in[c->inlen] = '\0';
		p = c->in;
		while ((nl = strchr(p, '\n')) != NULL) {
			*nl = '\0';
			if (c->role != R_CTL)
				ch_line(w, c, p);
			p = nl + 1;
		}
		c->inlen -= (size_t)(p - c->in);
		memmove(c->in, p, c->inlen);
		if (c->inlen >= sizeof c->in - 1) {
			w->bad++;
			c->inlen = 0;
		}
	}
}

static void
ch_events(struct churn *w, int ms)
{
	struct epoll_event evs[MAXEV];
	int k, nev = epoll_wait(w->ep, evs, MAXEV, ms);

	for (k = 0; k < nev; k++) {
		int i = (int)evs[k].data.u32;

		if (!w->c[i].alive)
			continue;
		ch_read(w, i);
		if (w->c[i].alive)
			ch_flush(w, &w->c[i]);
	}
}

static int
pairs_settled(const struct churn *w, int npair)
{
	int i;

	for (i = 0; i < npair; i++) {
		const struct ch *p = &w->c[w->c[i].partner];

		if (!w->c[i].broken && w->c[i].sent - w->c[i].naked !=
		    p->received)
			return 0;
	}
	return 1;
}

/* A STATS reply on the control session (blocking read of one line). */
static int
ch_stats(struct churn *w, int ctl, char *line, size_t cap)
{
	struct ch *c = &w->c[ctl];
	double end = t_now() + 10 * scale;
	char *nl;
	ssize_t n;

	c->inlen = 0;
	ch_queue(w, c, "STATS\n", 6);
	while (t_now() < end) {
		n = read(c->fd, c->in + c->inlen, sizeof c->in - 1 - c->inlen);
		if (n > 0) {
			c->inlen += (size_t)n;
			c->in[c->inlen] = '\0';
			if ((nl = strchr(c->in, '\n')) != NULL) {
				*nl = '\0';
				if ((size_t)(nl - c->in) >= cap)
					nl = c->in + cap - 1;
				memcpy(line, c->in, (size_t)(nl - c->in));
				line[nl - c->in] = '\0';
				c->inlen = 0;
				return 0;
			}
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			return -1;
		sleep_s(0.01);
	}
	return -1;
}

static long long
field(const char *line, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof pat, " %s=", key);
	if ((p = strstr(line, pat)) == NULL)
		return -1;
	return atoll(p + strlen(pat));
}

static int
cmd_churn(const struct opts *o)
{
	struct churn w;
	char stats[4096] = "";
	int npair = 2 * o->pairs, n = npair + o->churners + 1, ctl = n - 1;
	int i, j, mismatched = 0, broken = 0, settled, live, invariant = 0;
	double end, t, next_tick, rate = o->interval > 0 ? o->interval : 50;
	long long acc = -1, terms = -1, gauge = -1, app_acc = -1, dup = -1;
	uint64_t delivered = 0, expected = 0;

	memset(&w, 0, sizeof w);
	w.n = n;
	w.tolerant = o->tolerant;
	w.ip = o->addr;
	w.port = o->port;
	if ((w.c = calloc((size_t)n, sizeof *w.c)) == NULL ||
	    (w.port_to = calloc(65536, sizeof *w.port_to)) == NULL)
		die("out of memory");
	if ((w.ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll: %s", strerror(errno));
	srandom((unsigned)getpid());
	signal(SIGTERM, on_stop);
	for (i = 0; i < n; i++) {
		w.c[i].role = i < npair ? R_PAIR : i == ctl ? R_CTL : R_CHURN;
		w.c[i].partner = i < npair ? i ^ 1 : -1;
		ch_open(&w, i, o->addr, o->port);
	}
	/* Every pair session accepted (in the server's index) before any
	 * message names it (ch_open asked each: PING ready). */
	end = t_now() + 10 * scale;
	while (w.ready < (uint64_t)npair && t_now() < end)
		ch_events(&w, 10);
	if (w.ready < (uint64_t)npair)
		die("churn: only %llu of %d sessions answered",
		    (unsigned long long)w.ready, npair);
	end = t_now() + o->duration;
	next_tick = t_now();
	/* Every tick (10 ms): messages at `rate` per second per pair member,
	 * a fifth of them to churners; churners send and come and go. */
	while (!stop_flag && (t = t_now()) < end) {
		if (t >= next_tick) {
			next_tick += 0.01;
			for (i = 0; i < npair; i++) {
				if ((double)(random() % 1000) >= rate * 10)
					continue;
				j = o->churners > 0 && random() % 5 == 0 ?
				    npair + (int)(random() % o->churners) :
				    w.c[i].partner;
				if (w.c[j].alive)
					ch_send(&w, &w.c[i], w.c[j].port);
			}
			for (i = npair; i < ctl; i++) {
				if (!w.c[i].alive) {
					ch_open(&w, i, o->addr, o->port);
					w.reconnects++;
					continue;
				}
				if (random() % 100 < 5) {
					ch_drop(&w, i, (int)(random() % 2));
					continue;
				}
				j = (int)(random() % (npair + o->churners));
				if (w.c[j].alive)
					ch_send(&w, &w.c[i], w.c[j].port);
			}
		}
		ch_events(&w, 5);
	}
	/* Quiet: everything sent must arrive (or have been NAK'd). */
	end = t_now() + 10 * scale;
	while (!(settled = pairs_settled(&w, npair)) && t_now() < end)
		ch_events(&w, 10);
	for (i = 0; i < npair; i++) {
		const struct ch *p = &w.c[w.c[i].partner];

		if (w.c[i].broken) {
			broken++;
			continue;
		}
		if (w.c[i].sent - w.c[i].naked != p->received)
			mismatched++;
		expected += w.c[i].sent - w.c[i].naked;
		delivered += p->received;
	}
	/* The churners leave; the counters must add up. */
	for (i = npair; i < ctl; i++)
		if (w.c[i].alive)
			ch_drop(&w, i, 0);
	/* A fresh control session: an idle one may have timed out. */
	ch_drop(&w, ctl, 0);
	ch_open(&w, ctl, o->addr, o->port);
	live = npair + 1;
	end = t_now() + 10 * scale;
	while (t_now() < end) {
		if (ch_stats(&w, ctl, stats, sizeof stats) != 0) {
			/* Refused or cut (limits, faults): another one. */
			if (!o->tolerant && !o->shared)
				die("churn: no STATS reply");
			ch_drop(&w, ctl, 0);
			ch_open(&w, ctl, o->addr, o->port);
			sleep_s(0.05);
			continue;
		}
		acc = field(stats, "accept_counter");
		gauge = field(stats, "session_gauge");
		terms = field(stats, "app_terms");
		app_acc = field(stats, "app_accepts");
		dup = field(stats, "app_dup");
		if (o->shared || (gauge == live && acc == app_acc &&
		    acc == terms + gauge))
			break;
		sleep_s(0.05);
	}
	invariant = gauge == live && acc == app_acc && acc == terms + gauge &&
	    dup == 0;
	printf("CHURN pairs=%d churners=%d secs=%.0f msgs=%llu bytes=%llu "
	    "expected=%llu delivered=%llu mismatched=%d broken=%d "
	    "server_closed=%llu reordered=%llu bad=%llu nak_pair=%llu "
	    "nak_pair_lost=%llu nak_nf=%llu nak_m1=%llu nak_m4=%llu "
	    "from_churn=%llu reconnects=%llu accept_counter=%lld terms=%lld "
	    "gauge=%lld app_accepts=%lld dup=%lld invariant=%d\n", o->pairs,
	    o->churners, o->duration, (unsigned long long)w.msgs,
	    (unsigned long long)w.bytes, (unsigned long long)expected,
	    (unsigned long long)delivered, mismatched, broken,
	    (unsigned long long)w.server_closed,
	    (unsigned long long)w.reordered, (unsigned long long)w.bad,
	    (unsigned long long)w.nak_pair,
	    (unsigned long long)w.nak_pair_lost, (unsigned long long)w.nak_nf,
	    (unsigned long long)w.nak_m1, (unsigned long long)w.nak_m4,
	    (unsigned long long)w.from_churn,
	    (unsigned long long)w.reconnects, acc, terms, gauge, app_acc, dup,
	    invariant);
	for (i = 0; i < n; i++) {
		if (w.c[i].alive)
			ch_drop(&w, i, 0);
		free(w.c[i].out);
		free(w.c[i].lens);
	}
	close(w.ep);
	free(w.c);
	free(w.port_to);
	return 0;
}

/* ---- mix: well-behaved sessions that check every byte ------------------------------ */

struct mixres {
	const struct opts *o;
	unsigned seed;
	unsigned long sessions, refused, ops, ok, failed, hung, corrupt;
	unsigned long long bytes;
};

static double mix_end;

/* One operation on c: 1 done, 0 the session ended under it, -1 corrupt,
 * -2 no answer within the timeout while the session stayed open. */
static int
mix_op(struct mixres *r, struct cn *c, int op)
{
	unsigned char buf[65536];
	char line[256], want[128];
	size_t len, k, chunk;
	uint64_t h, got;
	int corrupt = 0;

	switch (op) {
	case 0:
		if (ping(c, "m", r->ops) >= 0)
			return 1;
		break;
	case 1:
		len = (size_t)rand_r(&r->seed) % (256 * 1024);
		if (cn_printf(c, "PUT %zu\n", len) != 0)
			break;
		h = FNV64_INIT;
		for (k = 0; k < len; k += chunk) {
			chunk = len - k < sizeof buf ? len - k : sizeof buf;
			pat_fill4(buf, k, chunk);
			h = fnv64(h, buf, chunk);
			if (cn_write(c, buf, chunk) != 0)
				return c->timed_out ? -2 : 0;
		}
		snprintf(want, sizeof want, "GOT n=%zu hash=%016llx", len,
		    (unsigned long long)h);
		if (cn_line(c, line, sizeof line) != 0)
			break;
		if (strcmp(line, want) != 0)
			return -1;
		r->bytes += len;
		return 1;
	case 2:
		len = (size_t)rand_r(&r->seed) % (2 * 1024 * 1024);
		if (cn_printf(c, "GET %zu\n", len) != 0)
			break;
		got = cn_pattern(c, 0, len, &corrupt);
		r->bytes += got;
		if (corrupt)
			return -1;
		if (got == len)
			return 1;
		break;
	default:
		/* ECHO: the session's last operation. */
		if (cn_printf(c, "ECHO\n") != 0)
			break;
		len = (size_t)rand_r(&r->seed) % (512 * 1024);
		for (k = 0; k < len; k += chunk) {
			chunk = len - k < 16384 ? len - k : 16384;
			pat_fill4(buf, k, chunk);
			if (cn_write(c, buf, chunk) != 0)
				return c->timed_out ? -2 : 0;
			got = cn_pattern(c, k, chunk, &corrupt);
			r->bytes += got;
			if (corrupt)
				return -1;
			if (got != chunk)
				return c->timed_out ? -2 : 0;
		}
		return 1;
	}
	return c->timed_out ? -2 : 0;
}

static void *
mix_thread(void *arg)
{
	struct mixres *r = arg;
	const struct opts *o = r->o;
	struct cn *c;
	int nops, i, op, rc;

	while (t_now() < mix_end) {
		c = cn_open(o->addr, o->port, o->tls, o->timeout * scale, 0);
		if (c == NULL) {
			r->refused++;
			sleep_s(0.01);
			continue;
		}
		r->sessions++;
		nops = 1 + (int)(rand_r(&r->seed) % 12);
		rc = 1;
		for (i = 0; i < nops && rc == 1 && t_now() < mix_end; i++) {
			op = i == nops - 1 && rand_r(&r->seed) % 4 == 0 ? 3 :
			    (int)(rand_r(&r->seed) % 3);
			r->ops++;
			rc = mix_op(r, c, op);
			if (rc == 1)
				r->ok++;
			else if (rc == 0)
				r->failed++;
			else if (rc == -1)
				r->corrupt++;
			else {
				r->hung++;
				fprintf(stderr, "mix: no answer within %g s on "
				    "an open session: operation %s (%d of %d)\n",
				    o->timeout * scale, op == 0 ? "PING" :
				    op == 1 ? "PUT" : op == 2 ? "GET" : "ECHO",
				    i + 1, nops);
			}
		}
		if (rc == 1 && rand_r(&r->seed) % 2 == 0) {
			char line[64];

			/* A polite end: QUIT, BYE, then the server's end. */
			if (cn_printf(c, "QUIT\n") == 0 &&
			    cn_line(c, line, sizeof line) == 0 &&
			    strcmp(line, "BYE") == 0)
				(void)cn_wait_end(c);
		}
		cn_close(c);
	}
	return NULL;
}

static int
cmd_mix(const struct opts *o)
{
	struct mixres *r, t;
	pthread_t *th;
	int i, k = o->clients > 0 ? o->clients : 4;

	if ((r = calloc((size_t)k, sizeof *r)) == NULL ||
	    (th = calloc((size_t)k, sizeof *th)) == NULL)
		die("out of memory");
	mix_end = t_now() + o->duration;
	if (o->tls)
		(void)tls_ctx();        /* before the threads share it */
	for (i = 0; i < k; i++) {
		r[i].o = o;
		r[i].seed = (unsigned)(getpid() * 31 + i);
		if (pthread_create(&th[i], NULL, mix_thread, &r[i]) != 0)
			die("pthread_create failed");
	}
	memset(&t, 0, sizeof t);
	for (i = 0; i < k; i++) {
		pthread_join(th[i], NULL);
		t.sessions += r[i].sessions;
		t.refused += r[i].refused;
		t.ops += r[i].ops;
		t.ok += r[i].ok;
		t.failed += r[i].failed;
		t.hung += r[i].hung;
		t.corrupt += r[i].corrupt;
		t.bytes += r[i].bytes;
	}
	printf("MIX clients=%d sessions=%lu refused=%lu ops=%lu ok=%lu "
	    "failed=%lu hung=%lu corrupt=%lu bytes=%llu\n", k, t.sessions,
	    t.refused, t.ops, t.ok, t.failed, t.hung, t.corrupt, t.bytes);
	free(r);
	free(th);
	return 0;
}

/* ---- cmd: a few command lines, a reply line each ---------------------------------- */

static int
cmd_cmd(const struct opts *o)
{
	struct cn *c = cn_open(o->addr, o->port, o->tls, o->timeout * scale, 0);
	char line[8192];
	int i;

	if (c == NULL)
		die("cmd: cannot connect to port %d", o->port);
	for (i = 0; i < o->nargs; i++) {
		if (cn_printf(c, "%s\n", o->args[i]) != 0 ||
		    cn_line(c, line, sizeof line) != 0)
			die("cmd: no reply to %s", o->args[i]);
		printf("%s\n", line);
	}
	cn_close(c);
	return 0;
}

/* ---- main ------------------------------------------------------------------------ */

static const struct {
	const char *name;
	int (*run)(const struct opts *);
} cmds[] = {
	{ "flood", cmd_flood }, { "probe", cmd_probe }, { "fdx", cmd_fdx },
	{ "rst", cmd_rst }, { "half", cmd_half }, { "halfx", cmd_halfx },
	{ "tlsabort", cmd_tlsabort }, { "churn", cmd_churn },
	{ "mix", cmd_mix }, { "watch", cmd_watch }, { "cmd", cmd_cmd },
};

int
main(int argc, char **argv)
{
	const char *s = getenv("HSVR_TEST_SCALE"), *cmd;
	struct opts o;
	struct rlimit rl;
	size_t i;

	if (s != NULL && atof(s) >= 1)
		scale = atof(s);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Thousands of connections: as many descriptors as we may have. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (argc < 2)
		die("usage: t-rload freeport|flood|probe|fdx|rst|half|"
		    "halfx|tlsabort|churn|mix|cmd|watch [options]");
	cmd = argv[1];
	parse(argc - 1, argv + 1, &o);
	if (strcmp(cmd, "freeport") == 0)
		return cmd_freeport();
	if (o.nargs > 0 && strcmp(cmd, "cmd") != 0)
		die("unexpected argument %s", o.args[0]);
	if (o.port <= 0 && strcmp(cmd, "watch") != 0)
		die("%s: --port is needed", cmd);
	for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
		if (strcmp(cmd, cmds[i].name) == 0)
			return cmds[i].run(&o);
	die("unknown command %s", cmd);
}
