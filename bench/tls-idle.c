/*
 * tls-idle.c - holds N idle TLS connections to a server and reports the
 * server's memory growth per connection (the benchmark suite's idle TLS
 * workload).
 *
 * Opens -c connections to 127.0.0.1:PORT (or ::1, or another 127.x
 * address: nothing but loopback is accepted), -t threads (default 4) each
 * opening its share one after the other (so that a loaded machine's
 * scheduling delays between the handshake's messages do not make the set-up
 * take minutes): each completes a full TLS handshake (no session resumption, the certificate
 * is not checked), sends one short message and reads the first record of
 * the answer.  The message is a 17-byte line by default (for an echo
 * server), or with -g "GET / HTTP/1.1" with a Host header, so that an
 * HTTP server keeps the connection alive.  Then, with -P PID, the server's
 * resident memory (VmRSS, RssAnon and Pss of the process and its
 * descendants, from /proc) is compared with what it was before the first
 * connection.  The connections are held for -H seconds more, then closed.
 *
 * The whole run is bounded: -L seconds (default 120) after the start it
 * gives up with exit status 3.  Errors: exit status 2 and a message.
 *
 * Output: one line of name=value pairs on stdout, the names those of
 * echo-load -i, plus the handshake rate of the set-up and the negotiated
 * protocol, cipher and key exchange group.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>

#include "proctree.h"

#define ECHO_LINE "idle client line\n"
#define HTTP_GET "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"

#define MAX_THREADS 64

static struct sockaddr_storage addr;
static socklen_t addrlen;
static SSL_CTX *ctx;
static SSL **conns;
static const char *msg = ECHO_LINE;
static int nconns = 1000, nthreads = 4;

static void
die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;
	unsigned long e = ERR_peek_last_error();
	char ebuf[256];

	fprintf(stderr, "tls-idle: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (e != 0) {
		ERR_error_string_n(e, ebuf, sizeof ebuf);
		fprintf(stderr, " (%s)", ebuf);
	}
	fputc('\n', stderr);
	exit(2);
}

static void
on_alarm(int sig)
{
	static const char text[] = "tls-idle: time limit reached, giving up\n";

	(void)sig;
	(void)!write(2, text, sizeof text - 1);
	_exit(3);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
sleep_s(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Only loopback: 127.0.0.0/8 or ::1. */
static void
set_address(const char *host, long port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&addr;

	memset(&addr, 0, sizeof addr);
	if (port < 1 || port > 65535)
		die("bad port %ld", port);
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		if ((ntohl(sin->sin_addr.s_addr) >> 24) != 127)
			die("%s is not a loopback address; refusing", host);
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		addrlen = sizeof *sin;
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		if (!IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			die("%s is not a loopback address; refusing", host);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		addrlen = sizeof *sin6;
	} else {
		die("%s is not a numeric address", host);
	}
}

static int
open_conn(void)
{
	struct timeval tv = { 10, 0 };
	int fd, on = 1, tries;

	for (tries = 0;; tries++) {
		fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			die("socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&addr, addrlen) == 0)
			break;
		if (tries >= 20 || (errno != ECONNREFUSED &&
		    errno != EAGAIN && errno != ETIMEDOUT && errno != EINTR))
			die("connect: %s", strerror(errno));
		close(fd);
		sleep_s(0.05);
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
	/* A server that never answers fails the run instead of hanging it. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	return fd;
}

static SSL_CTX *
client_ctx(void)
{
	SSL_CTX *c;

	if ((c = SSL_CTX_new(TLS_client_method())) == NULL)
		die("SSL_CTX_new failed");
	SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	/* Every handshake full: no client-side session cache. */
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	/* Thousands of connections: keep the client small too. */
	SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
	return c;
}

/* One connection: handshake, message, first record of the answer. */
static SSL *
open_tls(int i, int n)
{
	char buf[4096];
	size_t len = strlen(msg), done;
	SSL *ssl;
	int fd = open_conn();

	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1)
		die("SSL_new failed");
	SSL_set_tlsext_host_name(ssl, "localhost");
	if (SSL_connect(ssl) != 1)
		die("connection %d of %d: TLS handshake failed", i + 1, n);
	if (SSL_session_reused(ssl))
		die("connection %d of %d: the session was resumed", i + 1, n);
	if (SSL_write_ex(ssl, msg, len, &done) != 1 || done != len)
		die("connection %d of %d: SSL_write failed", i + 1, n);
	/* Reading also takes in the server's session tickets (TLS 1.3). */
	if (SSL_read_ex(ssl, buf, sizeof buf, &done) != 1 || done == 0)
		die("connection %d of %d: no answer (%s)", i + 1, n,
		    errno ? strerror(errno) : "closed");
	return ssl;
}

/* Thread t opens connections t, t + nthreads, t + 2 * nthreads... */
static void *
opener(void *arg)
{
	int i;

	for (i = (int)(intptr_t)arg; i < nconns; i += nthreads)
		conns[i] = open_tls(i, nconns);
	return NULL;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: tls-idle -p PORT [-a ADDR] [-c CONNS] [-t THREADS] [-g]\n"
	    "                [-P SERVERPID] [-H SECS] [-L SECS]\n"
	    "  ADDR must be a loopback address (default 127.0.0.1); -g sends an\n"
	    "  HTTP GET instead of an echo line; -L SECS bounds the whole run\n"
	    "  (default 120)\n");
	exit(64);
}

int
main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	long long rss0 = 0, rss1 = 0, anon0 = 0, anon1 = 0, pss0 = 0, pss1 = 0;
	double hold = 0, limit_s = 120, t0, t1;
	pthread_t tids[MAX_THREADS];
	int ch, i, rc, group;
	struct rlimit rl;
	pid_t server = 0;
	long port = 0;

	while ((ch = getopt(argc, argv, "a:c:gH:L:p:P:t:")) != -1) {
		switch (ch) {
		case 'a': host = optarg; break;
		case 'c': nconns = atoi(optarg); break;
		case 'g': msg = HTTP_GET; break;
		case 'H': hold = atof(optarg); break;
		case 'L': limit_s = atof(optarg); break;
		case 'p': port = atol(optarg); break;
		case 'P': server = (pid_t)atol(optarg); break;
		case 't': nthreads = atoi(optarg); break;
		default: usage();
		}
	}
	if (optind != argc || port == 0 || nconns < 1 || hold < 0 ||
	    limit_s <= 0 || nthreads < 1 || nthreads > MAX_THREADS)
		usage();
	if (nthreads > nconns)
		nthreads = nconns;
	set_address(host, port);
	signal(SIGALRM, on_alarm);
	alarm((unsigned)limit_s + 1);
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((conns = calloc((size_t)nconns, sizeof *conns)) == NULL)
		die("out of memory");
	ctx = client_ctx();
	if (server > 0 && pt_tree_mem(server, &rss0, &anon0, &pss0) != 0)
		die("server process %ld is gone", (long)server);
	t0 = now_s();
	for (i = 0; i < nthreads; i++)
		if ((rc = pthread_create(&tids[i], NULL, opener,
		    (void *)(intptr_t)i)) != 0)
			die("pthread_create: %s", strerror(rc));
	for (i = 0; i < nthreads; i++)
		pthread_join(tids[i], NULL);
	t1 = now_s();
	sleep_s(0.5);    /* let the server settle */
	if (server > 0 && pt_tree_mem(server, &rss1, &anon1, &pss1) != 0)
		die("server process %ld is gone", (long)server);
	group = (int)(SSL_get_negotiated_group(conns[0]) & ~TLSEXT_nid_unknown);
	printf("conns=%d threads=%d setup_secs=%.3f handshakes_per_s=%.1f "
	    "protocol=%s cipher=%s group=%s", nconns, nthreads, t1 - t0,
	    (double)nconns / (t1 - t0), SSL_get_version(conns[0]),
	    SSL_get_cipher_name(conns[0]), OBJ_nid2sn(group));
	if (server > 0)
		printf(" rss_before_kb=%lld rss_after_kb=%lld "
		    "bytes_per_conn=%.1f anon_before_kb=%lld anon_after_kb=%lld "
		    "anon_bytes_per_conn=%.1f pss_before_kb=%lld pss_after_kb=%lld",
		    rss0, rss1, (double)(rss1 - rss0) * 1024.0 / (double)nconns,
		    anon0, anon1, (double)(anon1 - anon0) * 1024.0 / (double)nconns,
		    pss0, pss1);
	printf("\n");
	fflush(stdout);
	sleep_s(hold);
	for (i = 0; i < nconns; i++) {
		close(SSL_get_fd(conns[i]));
		SSL_free(conns[i]);
	}
	free(conns);
	SSL_CTX_free(ctx);
	return 0;
}
