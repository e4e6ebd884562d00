/*
 * hproxy-peer.c - the backends and clients of tests/hproxy.sh and of
 * bench/run.sh's proxy rows: real sockets on loopback, blocking I/O, a
 * thread per connection, the byte pattern of pattern.h.
 *
 * Backends (listen on 127.0.0.1, an ephemeral port written to PORTFILE):
 *   t-hproxy-peer serve PORTFILE NAME [PORT]
 *                                       (PORT: that one, not an ephemeral
 *                                       one) line commands, one a line:
 *       WHO              -> "NAME"
 *       PING x           -> "PONG x"
 *       SINK n us        read n pattern bytes, pausing us microseconds
 *                        after each read of at most 64 KiB (a slow
 *                        receiver) -> "SUNK n bad=OFFSET" (-1: intact)
 *       SOURCE n         send n pattern bytes, then close
 *       SOURCEHALF n     send n pattern bytes, end the sending side
 *                        (shutdown), read a line, print "AFTER-END line"
 *   t-hproxy-peer reset PORTFILE        accept, then reset (SO_LINGER 0)
 *   t-hproxy-peer stall PORTFILE        accept, then never read or write
 *   t-hproxy-peer full PORTFILE         never accept, its queue full:
 *                                       a connect to it is never answered
 * Clients (to 127.0.0.1:PORT; each exits 0 when all went as it should):
 *   t-hproxy-peer send PORT n us        SINK n us, then n pattern bytes;
 *                                       the SUNK line must say intact
 *   t-hproxy-peer recv PORT n us        SOURCE n; read slowly (us after
 *                                       each read), check, then the end
 *   t-hproxy-peer halfsend PORT n       SINK n 0, n bytes, then the end
 *                                       of the sending side (shutdown):
 *                                       the SUNK line must still come
 *   t-hproxy-peer halfrecv PORT n       SOURCEHALF n: n bytes and their
 *                                       end, then send "THANKS"
 *   t-hproxy-peer line PORT TEXT        one line, print the answer line,
 *                                       or "EOF" or "RESET", and the
 *                                       client's port: "... port=N"
 *   t-hproxy-peer lineend PORT TEXT     the same, the sending side ended
 *                                       (shutdown) right after the line;
 *                                       then the end must come: "... port=N
 *                                       then the end" (else "no end")
 *   t-hproxy-peer end PORT              connect, end the sending side at
 *                                       once, then the end must come:
 *                                       "the end port=N" (else what came)
 *   t-hproxy-peer pings PORT n conc     n connections (conc at a time),
 *                                       each PING, PONG, close
 *   t-hproxy-peer stream PORT n         to an echo server: n bytes out
 *                                       and back, checked (a cheaper
 *                                       pattern: see client_stream)
 *   t-hproxy-peer conns PORT n conc     to an echo server: n connections
 *                                       each 64 bytes out and back, close
 * Every client gives up after HPROXY_LIMIT seconds (default 60), exit 3.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pattern.h"

#define CHUNK 65536

static const char *name = "peer";
static int mode_reset, mode_stall, mode_full;

static void die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "t-hproxy-peer: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, c, n)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One line (without '\n') into buf, byte by byte: nothing read past it. */
static ssize_t
read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t r;

	while (n + 1 < size) {
		if ((r = read(fd, buf + n, 1)) < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return n == 0 ? 0 : -1;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return (ssize_t)n + 1;
}

/* ---------------------------------------------------------------- backends */

static void
sink(int fd, unsigned long long n, long us)
{
	unsigned char *buf = malloc(CHUNK);
	unsigned long long off = 0;
	long long bad = -1;
	size_t at;
	ssize_t r;
	char line[96];

	if (buf == NULL)
		return;
	while (off < n) {
		r = read(fd, buf, n - off < CHUNK ? (size_t)(n - off) : CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (bad < 0 && (at = pat_check(buf, off, (size_t)r)) < (size_t)r)
			bad = (long long)(off + at);
		off += (unsigned long long)r;
		if (us > 0)
			usleep((useconds_t)us);
	}
	free(buf);
	if (off < n)
		bad = (long long)off;
	snprintf(line, sizeof(line), "SUNK %llu bad=%lld\n", off, bad);
	(void)write_all(fd, line, strlen(line));
}

static int
source(int fd, unsigned long long n)
{
	unsigned char *buf = malloc(CHUNK);
	unsigned long long off = 0;
	size_t k;

	if (buf == NULL)
		return -1;
	while (off < n) {
		k = n - off < CHUNK ? (size_t)(n - off) : CHUNK;
		pat_fill(buf, off, k);
		if (write_all(fd, buf, k) == -1)
			break;
		off += k;
	}
	free(buf);
	return 0;
}

static void *
serve_one(void *arg)
{
	int fd = (int)(intptr_t)arg;
	unsigned long long n;
	char line[256], out[300];
	long us;

	while (read_line(fd, line, sizeof(line)) > 0) {
		if (strcmp(line, "WHO") == 0) {
			snprintf(out, sizeof(out), "%s\n", name);
		} else if (strncmp(line, "PING ", 5) == 0) {
			snprintf(out, sizeof(out), "PONG %s\n", line + 5);
		} else if (sscanf(line, "SINK %llu %ld", &n, &us) == 2) {
			sink(fd, n, us);
			continue;
		} else if (sscanf(line, "SOURCEHALF %llu", &n) == 1) {
			(void)source(fd, n);
			shutdown(fd, SHUT_WR);
			if (read_line(fd, line, sizeof(line)) > 0) {
				printf("AFTER-END %s\n", line);
				fflush(stdout);
			}
			break;
		} else if (sscanf(line, "SOURCE %llu", &n) == 1) {
			(void)source(fd, n);
			break;
		} else {
			snprintf(out, sizeof(out), "ERR %s\n", line);
		}
		if (write_all(fd, out, strlen(out)) == -1)
			break;
	}
	close(fd);
	return NULL;
}

static uint16_t port;

static void
serve(const char *portfile)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct linger lg = { 1, 0 };
	pthread_t t;
	FILE *f;
	int lfd, fd, one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(lfd, mode_full ? 0 : 1024) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &len) < 0)
		die("cannot listen: %s", strerror(errno));
	/*
	 * full: two connections of its own fill the queue of a backlog of
	 * 0 (Linux takes one more than the backlog); then the kernel drops
	 * every SYN, and a connect waits until its caller gives up.
	 */
	for (int i = 0; mode_full && i < 2; i++) {
		if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) < 0 ||
		    (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 &&
		    errno != EINPROGRESS))
			die("cannot fill the queue: %s", strerror(errno));
	}
	if ((f = fopen(portfile, "w")) == NULL)
		die("%s: cannot write", portfile);
	fprintf(f, "%u\n", ntohs(sin.sin_port));
	fclose(f);
	while (mode_full)
		pause();
	for (;;) {
		if ((fd = accept(lfd, NULL, NULL)) < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept: %s", strerror(errno));
		}
		if (mode_stall)
			continue;   /* kept open, never read */
		if (mode_reset) {
			(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(fd);
			continue;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (pthread_create(&t, NULL, serve_one, (void *)(intptr_t)fd) != 0)
			die("%s", "pthread_create failed");
		pthread_detach(t);
	}
}

/* ---------------------------------------------------------------- clients */

static int
dial(void)
{
	struct sockaddr_in sin;
	int fd, one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
client_send(unsigned long long n, long us, int half)
{
	unsigned char *buf = malloc(CHUNK);
	unsigned long long off = 0;
	char line[128], want[128];
	double t0 = now_s();
	size_t k;
	int fd;

	if (buf == NULL || (fd = dial()) < 0)
		die("cannot connect: %s", strerror(errno));
	snprintf(line, sizeof(line), "SINK %llu %ld\n", n, us);
	if (write_all(fd, line, strlen(line)) == -1)
		die("write: %s", strerror(errno));
	while (off < n) {
		k = n - off < CHUNK ? (size_t)(n - off) : CHUNK;
		pat_fill(buf, off, k);
		if (write_all(fd, buf, k) == -1) {
			printf("sent %llu of %llu bytes: %s\n", off, n, strerror(errno));
			return 1;
		}
		off += k;
	}
	if (half)
		shutdown(fd, SHUT_WR);
	if (read_line(fd, line, sizeof(line)) <= 0)
		strcpy(line, "(no answer)");
	snprintf(want, sizeof(want), "SUNK %llu bad=-1", n);
	printf("sent %llu bytes in %.2f s: %s\n", n, now_s() - t0, line);
	free(buf);
	return strcmp(line, want) == 0 ? 0 : 1;
}

static int
client_recv(unsigned long long n, long us, int half)
{
	unsigned char *buf = malloc(CHUNK);
	unsigned long long off = 0;
	long long bad = -1;
	double t0 = now_s();
	char line[64];
	size_t at;
	ssize_t r;
	int fd;

	if (buf == NULL || (fd = dial()) < 0)
		die("cannot connect: %s", strerror(errno));
	snprintf(line, sizeof(line), "%s %llu\n", half ? "SOURCEHALF" : "SOURCE", n);
	if (write_all(fd, line, strlen(line)) == -1)
		die("write: %s", strerror(errno));
	for (;;) {
		if ((r = read(fd, buf, CHUNK)) < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (bad < 0 && (at = pat_check(buf, off, (size_t)r)) < (size_t)r)
			bad = (long long)(off + at);
		off += (unsigned long long)r;
		if (us > 0)
			usleep((useconds_t)us);
	}
	printf("received %llu of %llu bytes in %.2f s, first bad byte %lld, %s\n",
	    off, n, now_s() - t0, bad, r == 0 ? "then the end" : strerror(errno));
	if (half && write_all(fd, "THANKS\n", 7) == -1)
		r = -1;
	free(buf);
	return off == n && bad < 0 && r == 0 ? 0 : 1;
}

static int
client_line(const char *text, int half)
{
	struct sockaddr_in me;
	socklen_t len = sizeof(me);
	char line[512], c;
	ssize_t r, e = 0;
	int fd;

	if ((fd = dial()) < 0) {
		printf("REFUSED %s\n", strerror(errno));
		return 1;
	}
	(void)getsockname(fd, (struct sockaddr *)&me, &len);
	if (text == NULL) {         /* "end" */
		(void)shutdown(fd, SHUT_WR);
		r = read(fd, &c, 1);
		printf("%s port=%u\n", r == 0 ? "the end" : r > 0 ? "data" :
		    errno == ECONNRESET ? "RESET" : strerror(errno),
		    ntohs(me.sin_port));
		close(fd);
		return r == 0 ? 0 : 1;
	}
	snprintf(line, sizeof(line), "%s\n", text);
	(void)write_all(fd, line, strlen(line));
	if (half)
		(void)shutdown(fd, SHUT_WR);
	r = read_line(fd, line, sizeof(line));
	if (half && r > 0)
		e = read(fd, &c, 1);    /* nothing more: the end */
	printf("%s port=%u%s\n", r > 0 ? line : r == 0 ? "EOF" :
	    errno == ECONNRESET ? "RESET" : strerror(errno), ntohs(me.sin_port),
	    !half || r <= 0 ? "" : e == 0 ? " then the end" : " no end");
	close(fd);
	return r > 0 && e == 0 ? 0 : 1;
}

static atomic_long next_conn, done_ok, failed;
static long nconns;
static int echo_mode;

/* A PING answered, or (echo_mode) 64 bytes echoed, per connection. */
static void *
conns_thread(void *arg)
{
	char out[80], in[80];
	long i;
	size_t k, got;
	ssize_t r;
	int fd;

	(void)arg;
	while ((i = atomic_fetch_add(&next_conn, 1)) < nconns) {
		if ((fd = dial()) < 0) {
			atomic_fetch_add(&failed, 1);
			continue;
		}
		if (echo_mode)
			memset(out, 'a' + (int)(i % 26), k = 64);
		else
			k = (size_t)snprintf(out, sizeof(out), "PING %ld\n", i);
		got = 0;
		if (write_all(fd, out, k) == 0) {
			while (got < k && (r = read(fd, in + got, k - got)) > 0)
				got += (size_t)r;
		}
		/* Echoed as sent, or PONG for PING. */
		if (got == k && (echo_mode ? memcmp(in, out, k) == 0 :
		    memcmp(in, "PONG", 4) == 0 && memcmp(in + 4, out + 4, k - 4) == 0))
			atomic_fetch_add(&done_ok, 1);
		else
			atomic_fetch_add(&failed, 1);
		close(fd);
	}
	return NULL;
}

static int
client_conns(long n, int conc)
{
	pthread_t t[256];
	double t0 = now_s(), dt;
	int i;

	nconns = n;
	if (conc < 1 || conc > 256)
		die("%s", "concurrency from 1 to 256");
	for (i = 0; i < conc; i++)
		if (pthread_create(&t[i], NULL, conns_thread, NULL) != 0)
			die("%s", "pthread_create failed");
	for (i = 0; i < conc; i++)
		pthread_join(t[i], NULL);
	dt = now_s() - t0;
	printf("ok=%ld failed=%ld seconds=%.3f conns_per_s=%.0f\n", atomic_load(&done_ok),
	    atomic_load(&failed), dt, (double)atomic_load(&done_ok) / dt);
	return atomic_load(&done_ok) == n ? 0 : 1;
}

/*
 * The stream runs at the speed of the proxy, not of pat_byte(): it sends
 * the pattern's first PERIOD bytes over and over, PERIOD a prime, so that
 * a byte lost or repeated still shows (unless PERIOD bytes at once), and
 * checks with memcmp.
 */
#define PERIOD 65521
static unsigned char *ring;   /* PERIOD + CHUNK bytes: any CHUNK from any offset */

struct stream_out {
	int fd;
	unsigned long long n;
};

static void *
stream_writer(void *arg)
{
	struct stream_out *o = arg;
	unsigned long long off = 0;
	size_t k;

	while (off < o->n) {
		k = o->n - off < CHUNK ? (size_t)(o->n - off) : CHUNK;
		if (write_all(o->fd, ring + off % PERIOD, k) == -1)
			break;
		off += k;
	}
	return NULL;
}

static int
client_stream(unsigned long long n)
{
	unsigned char *buf = malloc(CHUNK);
	struct stream_out o;
	unsigned long long off = 0;
	long long bad = -1;
	double t0, dt;
	pthread_t t;
	size_t i;
	ssize_t r;

	if (buf == NULL || (ring = malloc(PERIOD + CHUNK)) == NULL)
		die("%s", "out of memory");
	for (i = 0; i < PERIOD + CHUNK; i++)
		ring[i] = pat_byte(i % PERIOD);
	if ((o.fd = dial()) < 0)
		die("cannot connect: %s", strerror(errno));
	o.n = n;
	t0 = now_s();
	if (pthread_create(&t, NULL, stream_writer, &o) != 0)
		die("%s", "pthread_create failed");
	while (off < n) {
		if ((r = read(o.fd, buf, CHUNK)) < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (bad < 0 && memcmp(buf, ring + off % PERIOD, (size_t)r) != 0)
			bad = (long long)(off + pat_check(buf, off % PERIOD, (size_t)r));
		off += (unsigned long long)r;
	}
	dt = now_s() - t0;
	shutdown(o.fd, SHUT_RDWR);
	pthread_join(t, NULL);
	printf("bytes=%llu bad=%lld seconds=%.3f mb_per_s=%.1f\n", off, bad, dt,
	    (double)off / dt / 1e6);
	free(buf);
	free(ring);
	return off == n && bad < 0 ? 0 : 1;
}

static void
on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "t-hproxy-peer: HPROXY_LIMIT reached, giving up\n";
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(3);
}

static unsigned long long
number(const char *s)
{
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0')
		die("not a number: %s", s);
	return n;
}

int
main(int argc, char **argv)
{
	const char *limit = getenv("HPROXY_LIMIT");
	const char *m = argc > 1 ? argv[1] : "";

	signal(SIGPIPE, SIG_IGN);
	if (strcmp(m, "serve") == 0 && (argc == 4 || argc == 5)) {
		name = argv[3];
		if (argc == 5)
			port = (uint16_t)number(argv[4]);
		serve(argv[2]);
	}
	if ((strcmp(m, "reset") == 0 || strcmp(m, "stall") == 0 ||
	    strcmp(m, "full") == 0) && argc == 3) {
		mode_reset = m[0] == 'r';
		mode_stall = m[0] == 's';
		mode_full = m[0] == 'f';
		serve(argv[2]);
	}
	if (argc < 3)
		die("%s", "usage: see the top of tests/hproxy-peer.c");
	port = (uint16_t)number(argv[2]);
	alarm(limit != NULL ? (unsigned)number(limit) : 60);
	signal(SIGALRM, on_alarm);
	if (strcmp(m, "send") == 0 && argc == 5)
		return client_send(number(argv[3]), (long)number(argv[4]), 0);
	if (strcmp(m, "recv") == 0 && argc == 5)
		return client_recv(number(argv[3]), (long)number(argv[4]), 0);
	if (strcmp(m, "halfsend") == 0 && argc == 4)
		return client_send(number(argv[3]), 0, 1);
	if (strcmp(m, "halfrecv") == 0 && argc == 4)
		return client_recv(number(argv[3]), 0, 1);
	if (strcmp(m, "line") == 0 && argc == 4)
		return client_line(argv[3], 0);
	if (strcmp(m, "lineend") == 0 && argc == 4)
		return client_line(argv[3], 1);
	if (strcmp(m, "end") == 0 && argc == 3)
		return client_line(NULL, 1);
	if (strcmp(m, "pings") == 0 && argc == 5)
		return client_conns((long)number(argv[3]), (int)number(argv[4]));
	if (strcmp(m, "conns") == 0 && argc == 5) {
		echo_mode = 1;
		return client_conns((long)number(argv[3]), (int)number(argv[4]));
	}
	if (strcmp(m, "stream") == 0 && argc == 4)
		return client_stream(number(argv[3]));
	die("unknown mode or wrong arguments: %s", m);
	return 64;
}
