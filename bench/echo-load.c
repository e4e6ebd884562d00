/*
 * echo-load.c - the echo load generator of the benchmark suite.
 *
 * Round trips (default): -c connections to 127.0.0.1:PORT (or ::1, or
 * another 127.x address: nothing but loopback is accepted), spread over -t
 * threads, each thread an epoll loop.  Every connection sends an -s byte
 * message and waits for the whole echo before it sends the next, so the
 * figure is round trips per second.  The byte count of every echo is
 * checked: more bytes than were sent, or the connection closing, stops the
 * run with exit status 2 and a message.  -V also checks the content; a
 * byte may come back as '!' (hsvr-echo turns the first byte of every chunk
 * it reads into '!').  After -w seconds of warm-up it measures for -d
 * seconds; with -P PID it reads the CPU time (utime+stime, /proc/PID/stat,
 * the process and its descendants) of the server at the start and the end
 * of that interval and reports server CPU per round trip.  -n TRIPS stops
 * after that many round trips instead (for callgrind runs; -d still bounds
 * the time).
 *
 * Idle (-i): open -c connections, each sends one short line and reads its
 * echo; then, with -P PID, the server's resident memory (VmRSS, and also
 * RssAnon and Pss; the process and its descendants) is compared with what
 * it was before the first connection.  The
 * connections are held for -H seconds, then closed.
 *
 * The whole run is bounded: -L seconds (default: warm-up + duration + 60)
 * after the start it gives up with exit status 3.
 *
 * Output: one line of name=value pairs on stdout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proctree.h"

#define MAX_THREADS 64
#define IDLE_LINE "idle client line\n"

struct conn {
	int fd;
	size_t sent;        /* bytes of the current message written */
	size_t got;         /* bytes of its echo read */
	int want_out;       /* EPOLLOUT registered */
	int done;
};

struct thread {
	pthread_t tid;
	int index;
	int epfd;
	struct conn *conns;
	int nconns;
	unsigned char *rbuf;
	size_t rlen;
	uint64_t trips;     /* atomic: read by the main thread */
} __attribute__((aligned(64)));

static struct sockaddr_storage addr;
static socklen_t addrlen;
static int nconns = 100, nthreads = 1, verify, idle;
static size_t msgsize = 64;
static double duration = 5, warmup = 1, hold;
static long long max_trips;
static double limit_s;
static pid_t server;
static unsigned char *msg;
static int stopping;           /* atomic */
static struct thread threads[MAX_THREADS];

static void
die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "echo-load: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void
on_alarm(int sig)
{
	static const char text[] = "echo-load: time limit reached, giving up\n";

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
	return fd;
}

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
		die("fcntl: %s", strerror(errno));
}

static void
watch(struct thread *t, struct conn *c, int out, int op)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
	ev.data.ptr = c;
	if (epoll_ctl(t->epfd, op, c->fd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));
	c->want_out = out;
}

/* Write what is left of the current message. */
static void
send_more(struct thread *t, struct conn *c)
{
	ssize_t n;

	while (c->sent < msgsize) {
		n = send(c->fd, msg + c->sent, msgsize - c->sent, MSG_NOSIGNAL);
		if (n > 0) {
			c->sent += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!c->want_out)
				watch(t, c, 1, EPOLL_CTL_MOD);
			return;
		}
		if (n < 0 && errno == EINTR)
			continue;
		die("connection %d: send: %s", c->fd, strerror(errno));
	}
	if (c->want_out)
		watch(t, c, 0, EPOLL_CTL_MOD);
}

static void
start_message(struct thread *t, struct conn *c)
{
	c->sent = 0;
	c->got = 0;
	send_more(t, c);
}

static void
check_bytes(const struct conn *c, const unsigned char *p, size_t n)
{
	size_t i, off = c->got;

	for (i = 0; i < n; i++)
		if (p[i] != msg[off + i] && p[i] != '!')
			die("connection %d: echo byte %zu of a %zu-byte message "
			    "is 0x%02x, sent 0x%02x", c->fd, off + i, msgsize,
			    p[i], msg[off + i]);
}

static void
readable(struct thread *t, struct conn *c)
{
	ssize_t n;

	for (;;) {
		n = recv(c->fd, t->rbuf, t->rlen, 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("connection %d: recv: %s", c->fd, strerror(errno));
		if (n == 0) {
			if (__atomic_load_n(&stopping, __ATOMIC_RELAXED))
				return;
			die("connection %d: the server closed it with %zu of "
			    "%zu echo bytes read", c->fd, c->got, msgsize);
		}
		if (c->got + (size_t)n > msgsize || c->got + (size_t)n > c->sent)
			die("connection %d: echo mismatch: %zu bytes back for "
			    "a %zu-byte message (%zu of it sent)", c->fd,
			    c->got + (size_t)n, msgsize, c->sent);
		if (verify)
			check_bytes(c, t->rbuf, (size_t)n);
		c->got += (size_t)n;
		if (c->got < msgsize)
			continue;
		__atomic_store_n(&t->trips, t->trips + 1, __ATOMIC_RELAXED);
		if (__atomic_load_n(&stopping, __ATOMIC_RELAXED)) {
			c->done = 1;
			return;
		}
		/* One message in flight: nothing more to read until it is sent. */
		start_message(t, c);
		return;
	}
}

static void *
run_thread(void *arg)
{
	struct thread *t = arg;
	struct epoll_event evs[256];
	struct conn *c;
	int i, n;

	for (i = 0; i < t->nconns; i++)
		start_message(t, &t->conns[i]);
	while (!__atomic_load_n(&stopping, __ATOMIC_RELAXED)) {
		n = epoll_wait(t->epfd, evs, 256, 50);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("epoll_wait: %s", strerror(errno));
		for (i = 0; i < n; i++) {
			c = evs[i].data.ptr;
			if (evs[i].events & EPOLLOUT)
				send_more(t, c);
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				readable(t, c);
		}
	}
	return NULL;
}

static uint64_t
total_trips(void)
{
	uint64_t sum = 0;
	int i;

	for (i = 0; i < nthreads; i++)
		sum += __atomic_load_n(&threads[i].trips, __ATOMIC_RELAXED);
	return sum;
}

static long long
server_ticks(void)
{
	long long v;

	if (server <= 0)
		return 0;
	if ((v = pt_tree_ticks(server)) < 0)
		die("server process %ld is gone", (long)server);
	return v;
}

/* The first connection of thread k's block (k = nthreads: nconns). */
static int
block_start(int k)
{
	return (int)(((long)k * nconns + nthreads - 1) / nthreads);
}

static void
round_trips(void)
{
	struct thread *t;
	uint64_t trips0, trips1;
	long long cpu0, cpu1;
	double t0, t1, secs;
	long hz = sysconf(_SC_CLK_TCK);
	int i, rc;

	for (i = 0; i < nthreads; i++) {
		t = &threads[i];
		t->index = i;
		t->nconns = block_start(i + 1) - block_start(i);
		t->conns = calloc((size_t)t->nconns, sizeof *t->conns);
		t->rlen = msgsize > 65536 ? msgsize : 65536;
		t->rbuf = malloc(t->rlen);
		if ((t->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
			die("epoll_create1: %s", strerror(errno));
		if (t->conns == NULL || t->rbuf == NULL)
			die("out of memory");
	}
	/*
	 * Each thread gets a contiguous block of the connections, opened in
	 * order.  Dealt round robin instead, thread i % T would line up with
	 * a server that deals its connections round robin to T workers: each
	 * client thread would talk to one server thread only, a pairing no
	 * real clients give, which favoured such servers over those whose
	 * threads accept for themselves.
	 */
	for (i = 0; i < nconns; i++) {
		struct conn *c;
		int k = (int)((long)i * nthreads / nconns);

		t = &threads[k];
		c = &t->conns[i - block_start(k)];
		c->fd = open_conn();
		set_nonblock(c->fd);
		watch(t, c, 0, EPOLL_CTL_ADD);
	}
	for (i = 0; i < nthreads; i++)
		if ((rc = pthread_create(&threads[i].tid, NULL, run_thread,
		    &threads[i])) != 0)
			die("pthread_create: %s", strerror(rc));
	sleep_s(warmup);
	trips0 = total_trips();
	cpu0 = server_ticks();
	t0 = now_s();
	if (max_trips > 0) {
		while (total_trips() - trips0 < (uint64_t)max_trips &&
		    now_s() - t0 < duration)
			sleep_s(0.002);
	} else {
		sleep_s(duration);
	}
	trips1 = total_trips();
	cpu1 = server_ticks();
	t1 = now_s();
	__atomic_store_n(&stopping, 1, __ATOMIC_RELAXED);
	for (i = 0; i < nthreads; i++)
		pthread_join(threads[i].tid, NULL);
	secs = t1 - t0;
	trips1 -= trips0;
	if (trips1 == 0)
		die("no round trip completed in %.1f s", secs);
	printf("trips=%llu secs=%.3f trips_per_s=%.1f conns=%d size=%zu "
	    "threads=%d", (unsigned long long)trips1, secs,
	    (double)trips1 / secs, nconns, msgsize, nthreads);
	if (server > 0)
		printf(" cpu_ticks=%lld hz=%ld cpu_us_per_trip=%.3f "
		    "cpu_util=%.3f", cpu1 - cpu0, hz,
		    (double)(cpu1 - cpu0) * 1e6 / (double)hz / (double)trips1,
		    (double)(cpu1 - cpu0) / (double)hz / secs);
	printf("\n");
	fflush(stdout);
	for (i = 0; i < nthreads; i++) {
		int j;

		for (j = 0; j < threads[i].nconns; j++)
			close(threads[i].conns[j].fd);
	}
}

static void
idle_clients(void)
{
	static const char line[] = IDLE_LINE;
	size_t len = sizeof line - 1;
	char buf[sizeof line];
	struct timeval tv = { 10, 0 };
	long long rss0 = 0, rss1 = 0, anon0 = 0, anon1 = 0, pss0 = 0, pss1 = 0;
	long long uniq0 = -1, uniq1 = -1;
	double t0, t1;
	int *fds, i;
	ssize_t n;

	if ((fds = calloc((size_t)nconns, sizeof *fds)) == NULL)
		die("out of memory");
	if (server > 0 && pt_tree_mem(server, &rss0, &anon0, &pss0) != 0)
		die("server process %ld is gone", (long)server);
	if (server > 0)
		uniq0 = pt_tree_unique_kb(server);
	t0 = now_s();
	for (i = 0; i < nconns; i++) {
		fds[i] = open_conn();
		if (send(fds[i], line, len, MSG_NOSIGNAL) != (ssize_t)len)
			die("connection %d of %d: send: %s", i + 1, nconns,
			    strerror(errno));
	}
	for (i = 0; i < nconns; i++) {
		(void)setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		n = recv(fds[i], buf, len, MSG_WAITALL);
		if (n != (ssize_t)len)
			die("connection %d of %d: %zd bytes of echo instead of "
			    "%zu (%s)", i + 1, nconns, n, len,
			    n < 0 ? strerror(errno) : "closed or short");
	}
	t1 = now_s();
	sleep_s(0.5);    /* let the server settle */
	if (server > 0 && pt_tree_mem(server, &rss1, &anon1, &pss1) != 0)
		die("server process %ld is gone", (long)server);
	if (server > 0)
		uniq1 = pt_tree_unique_kb(server);
	printf("conns=%d setup_secs=%.3f", nconns, t1 - t0);
	if (server > 0)
		printf(" rss_before_kb=%lld rss_after_kb=%lld "
		    "bytes_per_conn=%.1f anon_before_kb=%lld anon_after_kb=%lld "
		    "anon_bytes_per_conn=%.1f pss_before_kb=%lld pss_after_kb=%lld",
		    rss0, rss1, (double)(rss1 - rss0) * 1024.0 / (double)nconns,
		    anon0, anon1, (double)(anon1 - anon0) * 1024.0 / (double)nconns,
		    pss0, pss1);
	if (server > 0 && uniq0 >= 0 && uniq1 >= 0)
		printf(" uniq_before_kb=%lld uniq_after_kb=%lld", uniq0, uniq1);
	printf("\n");
	fflush(stdout);
	sleep_s(hold);
	for (i = 0; i < nconns; i++)
		close(fds[i]);
	free(fds);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: echo-load -p PORT [-a ADDR] [-c CONNS] [-s SIZE] [-d SECS]\n"
	    "                 [-w SECS] [-t THREADS] [-P SERVERPID] [-n TRIPS] [-V]\n"
	    "       echo-load -i -p PORT [-a ADDR] [-c CONNS] [-P SERVERPID] [-H SECS]\n"
	    "  ADDR must be a loopback address (default 127.0.0.1); -L SECS bounds\n"
	    "  the whole run (default warm-up + duration + 60)\n");
	exit(64);
}

int
main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	struct rlimit rl;
	long port = 0;
	size_t i;
	int ch;

	while ((ch = getopt(argc, argv, "a:c:d:H:iL:n:p:P:s:t:Vw:")) != -1) {
		switch (ch) {
		case 'a': host = optarg; break;
		case 'c': nconns = atoi(optarg); break;
		case 'd': duration = atof(optarg); break;
		case 'H': hold = atof(optarg); break;
		case 'i': idle = 1; break;
		case 'L': limit_s = atof(optarg); break;
		case 'n': max_trips = atoll(optarg); break;
		case 'p': port = atol(optarg); break;
		case 'P': server = (pid_t)atol(optarg); break;
		case 's': msgsize = (size_t)atol(optarg); break;
		case 't': nthreads = atoi(optarg); break;
		case 'V': verify = 1; break;
		case 'w': warmup = atof(optarg); break;
		default: usage();
		}
	}
	if (optind != argc || port == 0 || nconns < 1 || msgsize < 1 ||
	    nthreads < 1 || nthreads > MAX_THREADS || duration <= 0 ||
	    warmup < 0 || hold < 0)
		usage();
	if (nthreads > nconns)
		nthreads = nconns;
	set_address(host, port);
	if (limit_s <= 0)
		limit_s = warmup + duration + hold + 60;
	signal(SIGALRM, on_alarm);
	alarm((unsigned)limit_s + 1);
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((msg = malloc(msgsize)) == NULL)
		die("out of memory");
	for (i = 0; i < msgsize; i++)
		msg[i] = (unsigned char)('a' + i % 26);
	if (msgsize > 1)
		msg[msgsize - 1] = '\n';
	if (idle)
		idle_clients();
	else
		round_trips();
	return 0;
}
