/*
 * dclient.c - t-dclient, the daemon tests' client side, one subcommand per
 * thing a shell cannot do well.  ADDR is a TCP port on 127.0.0.1 or
 * unix:PATH.  Every wait is bounded; exit 0 means success, 1 the condition
 * asked about is false, 2 a usage or system error.
 *
 *   freeport                   print a TCP port of 127.0.0.1 free right now
 *   connect ADDR               0 connected, 1 refused
 *   wait ADDR listen|refused SEC
 *                              poll until ADDR accepts (or refuses) a
 *                              connection; 1 if it did not within SEC
 *   cmd ADDR LINE...           send each LINE, print the one-line answer
 *   hold ADDR LINE...          like cmd, print "held", then wait (at most
 *                              600 s) for the server to close; print "eof"
 *   fetch ADDR N [DELAY_US [MARK FILE [GO]]]
 *                              send "big N", read slowly (32 KiB, then
 *                              DELAY_US microseconds of sleep) and check
 *                              every byte against pat_byte(); create
 *                              FILE once MARK bytes arrived, then (with
 *                              GO) stop reading until the file GO exists;
 *                              0 if exactly N correct bytes arrived before
 *                              the close
 *   http ADDR                  GET / over HTTP/1.0: print the status line
 *                              and "body=N"
 *   notify PATH OUT            bind an AF_UNIX datagram socket at PATH (an
 *                              sd_notify NOTIFY_SOCKET) and append
 *                              "pid=SENDER MESSAGE" to OUT for every
 *                              datagram, newlines turned into spaces, until
 *                              killed
 *   stale PATH                 leave a stale socket at PATH: bind, listen
 *                              and exit without removing it
 *   swap DIR NAME TARGET STOP OUT
 *                              the racer of a user who may write DIR:
 *                              whenever a socket is at NAME, note its
 *                              inode, mode and owner in OUT (when they
 *                              change), then rename a symbolic link to
 *                              TARGET over it; until the file STOP exists
 *                              (at most 300 s); then "swaps=N" in OUT
 *   loop ADDR SHORT KEEP STOP  SHORT threads each connect, send one "echo"
 *                              request, read its answer and close, again
 *                              and again; KEEP threads each make requests
 *                              on one keep-alive connection, reconnecting
 *                              when the server closes it; until the file
 *                              STOP exists (at most 120 s).  Prints "LOOP
 *                              short=N short_lost=N short_failed=N keep=N
 *                              keep_lost=N keep_closed=N bad=N": a lost
 *                              request was sent and got the end of the
 *                              connection, not its answer; failed: the
 *                              connection itself failed; bad: a wrong
 *                              answer.  0 if nothing short was lost,
 *                              failed or bad
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* getresuid, struct ucred */
#endif

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "../pattern.h"
#include "../freeport.h"

#define IO_TIMEOUT_MS 30000

static const char *prog = "t-dclient";

static void __attribute__((noreturn, format(printf, 2, 3)))
die(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connect to ADDR: the descriptor, or -1 with errno set. */
static int
dial(const char *addr)
{
	struct sockaddr_in sin;
	struct sockaddr_un sun;
	char *end;
	long port;
	int fd, saved;

	if (strncmp(addr, "unix:", 5) == 0) {
		memset(&sun, 0, sizeof sun);
		sun.sun_family = AF_UNIX;
		if (strlen(addr + 5) >= sizeof sun.sun_path)
			die(2, "path too long: %s", addr + 5);
		strcpy(sun.sun_path, addr + 5);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			die(2, "socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0)
			return fd;
	} else {
		port = strtol(addr, &end, 10);
		if (*addr == '\0' || *end != '\0' || port < 1 || port > 65535)
			die(2, "bad address '%s'", addr);
		memset(&sin, 0, sizeof sin);
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin.sin_port = htons((uint16_t)port);
		if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			die(2, "socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0)
			return fd;
	}
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

static int
dial_or_die(const char *addr)
{
	int fd = dial(addr);

	if (fd < 0)
		die(1, "cannot connect to %s: %s", addr, strerror(errno));
	return fd;
}

/* Wait until fd is readable; 0 on time-out. */
static int
readable(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };
	int rc;

	while ((rc = poll(&p, 1, ms)) < 0 && errno == EINTR)
		;
	return rc > 0;
}

static void
send_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die(1, "send: %s", strerror(errno));
		buf += n;
		len -= (size_t)n;
	}
}

/* One '\n'-terminated line (without it), byte by byte; 0 at EOF. */
static int
read_line(int fd, char *buf, size_t cap, int ms)
{
	size_t len = 0;
	long long deadline = now_ms() + ms;
	ssize_t n;
	char c;

	for (;;) {
		if (!readable(fd, (int)(deadline - now_ms() > 0 ?
		    deadline - now_ms() : 0)))
			die(1, "no answer within %d ms", ms);
		n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die(1, "read: %s", strerror(errno));
		if (n == 0) {
			buf[len] = '\0';
			return len > 0;
		}
		if (c == '\n')
			break;
		if (len + 1 < cap)
			buf[len++] = c;
	}
	buf[len] = '\0';
	return 1;
}

static void
converse(int fd, int argc, char **argv)
{
	char line[4096];
	int i;

	for (i = 0; i < argc; i++) {
		snprintf(line, sizeof line, "%s\n", argv[i]);
		send_all(fd, line, strlen(line));
		if (!read_line(fd, line, sizeof line, IO_TIMEOUT_MS))
			die(1, "connection closed instead of an answer to '%s'",
			    argv[i]);
		printf("%s\n", line);
		fflush(stdout);
	}
}

static int
cmd_freeport(void)
{
	int port = freeport_pick();

	if (port < 0)
		die(2, "cannot find a free port: %s", strerror(errno));
	printf("%d\n", port);
	return 0;
}

static int
cmd_connect(const char *addr)
{
	int fd = dial(addr);

	if (fd < 0) {
		printf("not connected: %s\n", strerror(errno));
		return 1;
	}
	close(fd);
	printf("connected\n");
	return 0;
}

static int
cmd_wait(const char *addr, const char *what, const char *sec)
{
	int want_listen = strcmp(what, "listen") == 0, fd;
	long long deadline = now_ms() + (long long)(atof(sec) * 1000);

	if (!want_listen && strcmp(what, "refused") != 0)
		die(2, "wait: listen or refused, not '%s'", what);
	for (;;) {
		fd = dial(addr);
		if (fd >= 0)
			close(fd);
		if ((fd >= 0) == want_listen)
			return 0;
		if (now_ms() >= deadline) {
			fprintf(stderr, "%s: %s still %s after %s s\n", prog,
			    addr, want_listen ? "refuses" : "accepts", sec);
			return 1;
		}
		usleep(20000);
	}
}

static int
cmd_hold(const char *addr, int argc, char **argv)
{
	char buf[4096];
	int fd = dial_or_die(addr);
	ssize_t n;

	converse(fd, argc, argv);
	printf("held\n");
	fflush(stdout);
	for (;;) {
		if (!readable(fd, 600000))
			die(1, "hold: still open after 600 s");
		n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
	}
	printf("eof\n");
	return 0;
}

static int
cmd_fetch(const char *addr, const char *count, const char *delay,
    const char *mark, const char *markfile, const char *go)
{
	unsigned long long want = strtoull(count, NULL, 10), got = 0, i;
	unsigned long long mark_at = mark ? strtoull(mark, NULL, 10) : 0;
	static unsigned char buf[32 * 1024];
	long delay_us = delay ? atol(delay) : 0;
	char line[64];
	long long start = now_ms();
	int fd = dial_or_die(addr), marked = 0, mfd;
	ssize_t n;

	snprintf(line, sizeof line, "big %llu\n", want);
	send_all(fd, line, strlen(line));
	for (;;) {
		if (!readable(fd, IO_TIMEOUT_MS))
			die(1, "fetch: nothing for %d ms after %llu bytes",
			    IO_TIMEOUT_MS, got);
		n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die(1, "fetch: read after %llu bytes: %s", got,
			    strerror(errno));
		if (n == 0)
			break;
		for (i = 0; i < (unsigned long long)n; i++)
			if (buf[i] != pat_byte(got + i))
				die(1, "fetch: byte %llu is %u, not %u", got + i,
				    buf[i], pat_byte(got + i));
		got += (unsigned long long)n;
		if (markfile != NULL && !marked && got >= mark_at) {
			marked = 1;
			mfd = open(markfile, O_WRONLY | O_CREAT | O_TRUNC,
			    0644);
			if (mfd >= 0)
				close(mfd);
			while (go != NULL && access(go, F_OK) != 0) {
				if (now_ms() - start > 600 * 1000)
					die(1, "fetch: no %s", go);
				usleep(10000);
			}
		}
		if (delay_us > 0)
			usleep((useconds_t)delay_us);
	}
	if (got != want)
		die(1, "fetch: %llu bytes, not %llu, then end of file", got,
		    want);
	printf("fetched %llu bytes in %lld ms, every byte right\n", got,
	    now_ms() - start);
	return 0;
}

static int
cmd_http(const char *addr)
{
	static const char req[] = "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n";
	static char buf[1 << 16];
	size_t len = 0, body = 0;
	int fd = dial_or_die(addr), in_head = 1;
	char *end, *eol;
	ssize_t n;

	send_all(fd, req, sizeof req - 1);
	for (;;) {
		if (!readable(fd, IO_TIMEOUT_MS))
			die(1, "http: no answer within %d ms", IO_TIMEOUT_MS);
		n = read(fd, buf + len, sizeof buf - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die(1, "http: read: %s", strerror(errno));
		if (n == 0)
			break;
		if (!in_head) {
			body += (size_t)n;
			continue;
		}
		len += (size_t)n;
		buf[len] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) != NULL) {
			in_head = 0;
			body = len - (size_t)(end + 4 - buf);
			if ((eol = strstr(buf, "\r\n")) != NULL)
				*eol = '\0';
			printf("%s\n", buf);
		} else if (len >= sizeof buf - 1) {
			die(1, "http: head too long");
		}
	}
	if (in_head)
		die(1, "http: connection closed within the head");
	printf("body=%zu\n", body);
	return 0;
}

static int
cmd_notify(const char *path, const char *out)
{
	struct sockaddr_un sun;
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *cm;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct ucred))];
	} ctl;
	struct ucred cred;
	char msg[4096];
	int fd, on = 1, havecred;
	ssize_t n, i;
	FILE *fp;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		die(2, "path too long: %s", path);
	strcpy(sun.sun_path, path);
	unlink(path);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0)
		die(2, "notify: cannot listen on %s: %s", path,
		    strerror(errno));
	/* The serving process runs unprivileged: let anyone send. */
	chmod(path, 0777);
	if ((fp = fopen(out, "a")) == NULL)
		die(2, "notify: %s: %s", out, strerror(errno));
	for (;;) {
		memset(&mh, 0, sizeof mh);
		iov.iov_base = msg;
		iov.iov_len = sizeof msg - 1;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof ctl.buf;
		n = recvmsg(fd, &mh, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die(2, "notify: recvmsg: %s", strerror(errno));
		msg[n] = '\0';
		for (i = 0; i < n; i++)
			if (msg[i] == '\n')
				msg[i] = ' ';
		havecred = 0;
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL;
		    cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET &&
			    cm->cmsg_type == SCM_CREDENTIALS) {
				memcpy(&cred, CMSG_DATA(cm), sizeof cred);
				havecred = 1;
			}
		fprintf(fp, "pid=%ld %s\n", havecred ? (long)cred.pid : -1L,
		    msg);
		fflush(fp);
	}
}

static int
cmd_stale(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		die(2, "path too long: %s", path);
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0 ||
	    listen(fd, 1) != 0)
		die(2, "stale: cannot listen on %s: %s", path, strerror(errno));
	return 0;
}

static int
cmd_swap(const char *dir, const char *name, const char *target,
    const char *stop, const char *out)
{
	long long deadline = now_ms() + 300 * 1000;
	struct stat sb, last;
	unsigned long swaps = 0, turn;
	int dfd;
	FILE *fp;

	if ((dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		die(2, "swap: %s: %s", dir, strerror(errno));
	if ((fp = fopen(out, "a")) == NULL)
		die(2, "swap: %s: %s", out, strerror(errno));
	memset(&last, 0, sizeof last);
	/*
	 * A tight loop, the link made beforehand: the window it looks for
	 * is a few system calls of the server's.
	 */
	(void)unlinkat(dfd, ".racer", 0);
	if (symlinkat(target, dfd, ".racer") != 0)
		die(2, "swap: symlink: %s", strerror(errno));
	for (turn = 0;; turn++) {
		if (turn % 4096 == 0 &&
		    (access(stop, F_OK) == 0 || now_ms() > deadline))
			break;
		if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISSOCK(sb.st_mode))
			continue;
		if (renameat(dfd, ".racer", dfd, name) == 0)
			swaps++;
		if (sb.st_ino != last.st_ino || sb.st_mode != last.st_mode ||
		    sb.st_uid != last.st_uid || sb.st_gid != last.st_gid) {
			fprintf(fp, "sock ino=%lu mode=%o uid=%ld gid=%ld\n",
			    (unsigned long)sb.st_ino,
			    (unsigned)(sb.st_mode & 07777), (long)sb.st_uid,
			    (long)sb.st_gid);
			fflush(fp);
			last = sb;
		}
		(void)unlinkat(dfd, ".racer", 0);
		if (symlinkat(target, dfd, ".racer") != 0)
			die(2, "swap: symlink: %s", strerror(errno));
	}
	fprintf(fp, "swaps=%lu\n", swaps);
	fclose(fp);
	return 0;
}

/* ------------------------------------------------------------- loop */

static const char *loop_addr, *loop_stop;
static long long loop_deadline;
static unsigned long long n_short, n_short_lost, n_short_failed, n_keep,
    n_keep_lost, n_keep_closed, n_bad;     /* atomic */

#define ADD(v) __atomic_add_fetch(&(v), 1, __ATOMIC_RELAXED)

static int
loop_over(void)
{
	return access(loop_stop, F_OK) == 0 || now_ms() > loop_deadline;
}

/*
 * Send one request on fd and read its answer: 1 answered, 0 the server
 * closed instead (lost), -1 the connection failed, -2 a wrong answer.
 */
static int
ask_once(int fd, const char *tag)
{
	char req[64], want[64], got[64];
	size_t len = 0, wlen;
	ssize_t n;

	snprintf(want, sizeof want, "%s", tag);
	snprintf(req, sizeof req, "echo %s\n", tag);
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req))
		return errno == EPIPE || errno == ECONNRESET ? 0 : -1;
	wlen = strlen(want);
	for (;;) {
		if (!readable(fd, IO_TIMEOUT_MS))
			return -1;
		n = read(fd, got + len, sizeof got - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == ECONNRESET ? 0 : -1;
		if (n == 0)
			return len == 0 ? 0 : -2;
		len += (size_t)n;
		if (memchr(got, '\n', len) != NULL || len == sizeof got - 1)
			break;
	}
	return len == wlen + 1 && memcmp(got, want, wlen) == 0 &&
	    got[wlen] == '\n' ? 1 : -2;
}

static void *
loop_short(void *arg)
{
	unsigned long id = (unsigned long)arg, i;
	char tag[32];
	int fd, rc;

	for (i = 0; !loop_over(); i++) {
		snprintf(tag, sizeof tag, "s%lu-%lu", id, i);
		if ((fd = dial(loop_addr)) < 0) {
			ADD(n_short_failed);
			continue;
		}
		rc = ask_once(fd, tag);
		close(fd);
		ADD(n_short);
		if (rc == 0)
			ADD(n_short_lost);
		else if (rc == -1)
			ADD(n_short_failed);
		else if (rc == -2)
			ADD(n_bad);
	}
	return NULL;
}

static void *
loop_keep(void *arg)
{
	unsigned long id = (unsigned long)arg, i;
	char tag[32];
	int fd = -1, rc;

	for (i = 0; !loop_over(); i++) {
		if (fd < 0 && (fd = dial(loop_addr)) < 0)
			continue;
		snprintf(tag, sizeof tag, "k%lu-%lu", id, i);
		rc = ask_once(fd, tag);
		ADD(n_keep);
		if (rc == 1)
			continue;
		if (rc == 0) {
			ADD(n_keep_lost);
			ADD(n_keep_closed);
		} else if (rc == -2) {
			ADD(n_bad);
		}
		close(fd);
		fd = -1;
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static int
cmd_loop(const char *addr, const char *shorts, const char *keeps,
    const char *stop)
{
	pthread_t t[64];
	long ns = atol(shorts), nk = atol(keeps), i;
	int n = 0;

	if (ns < 0 || nk < 0 || ns + nk > 64 || ns + nk == 0)
		die(2, "loop: 1 to 64 threads");
	loop_addr = addr;
	loop_stop = stop;
	loop_deadline = now_ms() + 120000;
	for (i = 0; i < ns + nk; i++)
		if (pthread_create(&t[n], NULL, i < ns ? loop_short : loop_keep,
		    (void *)i) == 0)
			n++;
	while (n > 0)
		pthread_join(t[--n], NULL);
	printf("LOOP short=%llu short_lost=%llu short_failed=%llu keep=%llu "
	    "keep_lost=%llu keep_closed=%llu bad=%llu\n", n_short,
	    n_short_lost, n_short_failed, n_keep, n_keep_lost, n_keep_closed,
	    n_bad);
	return n_short_lost || n_short_failed || n_bad;
}

static void
usage(void)
{
	die(2, "usage: t-dclient freeport | connect ADDR | wait ADDR "
	    "listen|refused SEC | cmd ADDR LINE... | hold ADDR LINE... | "
	    "fetch ADDR N [DELAY_US [MARK FILE [GO]]] | http ADDR | "
	    "notify PATH OUT | stale PATH | swap DIR NAME TARGET STOP OUT | "
	    "loop ADDR SHORT KEEP STOP");
}

int
main(int argc, char **argv)
{
	const char *c;

	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		usage();
	c = argv[1];
	if (strcmp(c, "freeport") == 0 && argc == 2)
		return cmd_freeport();
	if (strcmp(c, "connect") == 0 && argc == 3)
		return cmd_connect(argv[2]);
	if (strcmp(c, "wait") == 0 && argc == 5)
		return cmd_wait(argv[2], argv[3], argv[4]);
	if (strcmp(c, "cmd") == 0 && argc >= 4) {
		int fd = dial_or_die(argv[2]);

		converse(fd, argc - 3, argv + 3);
		close(fd);
		return 0;
	}
	if (strcmp(c, "hold") == 0 && argc >= 3)
		return cmd_hold(argv[2], argc - 3, argv + 3);
	if (strcmp(c, "fetch") == 0 && argc >= 4 && argc <= 8 && argc != 6)
		return cmd_fetch(argv[2], argv[3], argc > 4 ? argv[4] : NULL,
		    argc > 5 ? argv[5] : NULL, argc > 6 ? argv[6] : NULL,
		    argc > 7 ? argv[7] : NULL);
	if (strcmp(c, "http") == 0 && argc == 3)
		return cmd_http(argv[2]);
	if (strcmp(c, "notify") == 0 && argc == 4)
		return cmd_notify(argv[2], argv[3]);
	if (strcmp(c, "stale") == 0 && argc == 3)
		return cmd_stale(argv[2]);
	if (strcmp(c, "swap") == 0 && argc == 7)
		return cmd_swap(argv[2], argv[3], argv[4], argv[5], argv[6]);
	if (strcmp(c, "loop") == 0 && argc == 6)
		return cmd_loop(argv[2], argv[3], argv[4], argv[5]);
	usage();
}
