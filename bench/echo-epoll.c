/*
 * echo-epoll.c - the limit: a minimal epoll echo server.  The main thread
 * accepts on one shared listener and hands each connection round robin to
 * one of -t threads (default: online CPUs), each an epoll loop that reads
 * what is there (up to 64 KB, one read per readiness) and writes it back at
 * once.  Only if the write is short is the rest kept, and reading stops
 * until it is written.  TCP_NODELAY on every connection, as hsvr and the
 * libevent anchor have.  No timeouts, no limits, no statistics.
 *
 *   echo-epoll -p PORT [-a ADDR] [-t THREADS]
 *
 * Ends on SIGTERM or SIGINT (the default action).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFSIZE 65536
#define MAX_THREADS 256

struct conn {
	int fd;
	unsigned char *rest;   /* unwritten echo, NULL when none */
	size_t off, len;
};

static int epfds[MAX_THREADS];

static void
drop(struct conn *c)
{
	close(c->fd);      /* also removes it from the epoll set */
	free(c->rest);
	free(c);
}

static void
wait_for(int epfd, struct conn *c, unsigned int events)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof ev);
	ev.events = events;
	ev.data.ptr = c;
	(void)epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Write the kept rest; back to reading when it is all out. */
static void
flush_rest(int epfd, struct conn *c)
{
	ssize_t n;

	while (c->off < c->len) {
		n = write(c->fd, c->rest + c->off, c->len - c->off);
		if (n > 0) {
			c->off += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		drop(c);
		return;
	}
	free(c->rest);
	c->rest = NULL;
	wait_for(epfd, c, EPOLLIN);
}

static void
readable(int epfd, struct conn *c, unsigned char *buf)
{
	ssize_t n, w;

	n = read(c->fd, buf, BUFSIZE);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		drop(c);
		return;
	}
	w = write(c->fd, buf, (size_t)n);
	if (w == n)
		return;
	if (w < 0 && errno != EAGAIN && errno != EINTR) {
		drop(c);
		return;
	}
	if (w < 0)
		w = 0;
	c->len = (size_t)(n - w);
	c->off = 0;
	if ((c->rest = malloc(c->len)) == NULL) {
		drop(c);
		return;
	}
	memcpy(c->rest, buf + w, c->len);
	wait_for(epfd, c, EPOLLOUT);
}

static void *
loop(void *arg)
{
	int epfd = *(int *)arg, i, n;
	struct epoll_event evs[256];
	unsigned char *buf = malloc(BUFSIZE);
	struct conn *c;

	if (buf == NULL)
		abort();
	for (;;) {
		n = epoll_wait(epfd, evs, 256, -1);
		for (i = 0; i < n; i++) {
			c = evs[i].data.ptr;
			if (c->rest != NULL)
				flush_rest(epfd, c);
			else
				readable(epfd, c, buf);
		}
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sin;
	struct epoll_event ev;
	const char *host = "127.0.0.1";
	long port = 0, nthreads = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned long rr = 0;
	pthread_t tid;
	struct conn *c;
	int lfd, fd, on = 1, ch, i;

	while ((ch = getopt(argc, argv, "a:p:t:")) != -1) {
		switch (ch) {
		case 'a': host = optarg; break;
		case 'p': port = atol(optarg); break;
		case 't': nthreads = atol(optarg); break;
		default:
			fprintf(stderr, "usage: echo-epoll -p PORT [-a ADDR] "
			    "[-t THREADS]\n");
			return 64;
		}
	}
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (port < 1 || port > 65535 || nthreads < 1 ||
	    nthreads > MAX_THREADS ||
	    inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		fprintf(stderr, "echo-epoll: need -p PORT, an IPv4 -a and "
		    "1..%d threads\n", MAX_THREADS);
		return 64;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
	    bind(lfd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
	    listen(lfd, 1024) != 0) {
		perror("echo-epoll: cannot listen");
		return 1;
	}
	for (i = 0; i < nthreads; i++) {
		if ((epfds[i] = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
		    pthread_create(&tid, NULL, loop, &epfds[i]) != 0) {
			perror("echo-epoll: cannot start a thread");
			return 1;
		}
	}
	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				usleep(100000);
			continue;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
		if ((c = calloc(1, sizeof *c)) == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		memset(&ev, 0, sizeof ev);
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(epfds[rr++ % (unsigned long)nthreads],
		    EPOLL_CTL_ADD, fd, &ev) != 0) {
			close(fd);
			free(c);
		}
	}
}
