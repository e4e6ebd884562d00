/*
 * srv-cork.c - the test server of t-cork: replies of several sends in one
 * callback, and a window on its own sockets' unsent bytes.  One command a
 * line:
 *   FILE n       "HEAD n\n" by S_send, then n bytes of a file by
 *                S_send_file (an HTTP head and its body)
 *   TWO          "ONE\n" and "TWO\n", two S_send
 *   SMALL        "SMALL\n", one S_send and nothing after it
 *   UNSENT port  "UNSENT n=.. small=..": n, the bytes written but not yet
 *                sent (SIOCOUTQNSD) on the socket of the session whose
 *                peer port is port, -1 if none; small, the SMALL commands
 *                answered so far
 *   CORKED port  "CORKED now=.. in_cb=.. files=..": now, TCP_CORK of that
 *                socket (-1 if none); in_cb, TCP_CORK of its own socket as
 *                the last FILE's callback had sent the file range; files,
 *                the FILE commands answered so far
 *   FILECLOSE n  FILE n, then S_close in the same callback
 */
#define _GNU_SOURCE     /* memfd_create */
#include "hsvr.h"

#include <dirent.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define FILE_MAX (1024 * 1024)

static int body_fd = -1;
static unsigned long smalls;    /* one worker: no lock needed */
static unsigned long files;
static int corked_in_cb = -1;

/* The file FILE sends from: FILE_MAX bytes of 'x'. */
void
serv_init(void)
{
	static char chunk[65536];
	size_t left = FILE_MAX;

	memset(chunk, 'x', sizeof chunk);
	if ((body_fd = memfd_create("t-cork", 0)) < 0) {
		perror("srv-cork: memfd_create");
		exit(1);
	}
	while (left > 0) {
		size_t n = left < sizeof chunk ? left : sizeof chunk;

		if (write(body_fd, chunk, n) != (ssize_t)n) {
			perror("srv-cork: write");
			exit(1);
		}
		left -= n;
	}
}

/* The TCP socket whose peer port is port, or -1. */
static int
sock_of(unsigned port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct dirent *e;
	DIR *d;
	int fd, found = -1;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while (found < 0 && (e = readdir(d)) != NULL) {
		fd = atoi(e->d_name);
		len = sizeof ss;
		if (e->d_name[0] == '.' || fd == dirfd(d) ||
		    getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
			continue;
		if ((ss.ss_family == AF_INET &&
		    ntohs(((struct sockaddr_in *)&ss)->sin_port) == port) ||
		    (ss.ss_family == AF_INET6 &&
		    ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) == port))
			found = fd;
	}
	closedir(d);
	return found;
}

/* Unsent bytes of the TCP socket whose peer port is port, or -1. */
static long
unsent_of(unsigned port)
{
	int fd = sock_of(port), v;

	return fd >= 0 && ioctl(fd, SIOCOUTQNSD, &v) == 0 ? v : -1;
}

/* TCP_CORK of fd, or -1. */
static int
corked(int fd)
{
	int v = -1;
	socklen_t len = sizeof v;

	return fd >= 0 && getsockopt(fd, IPPROTO_TCP, TCP_CORK, &v, &len) ==
	    0 ? v : -1;
}

static void
command(SESSION *s, char *line)
{
	char out[128];
	unsigned long n;
	int len;

	if ((sscanf(line, "FILE %lu", &n) == 1 ||
	    sscanf(line, "FILECLOSE %lu", &n) == 1) && n <= FILE_MAX) {
		len = snprintf(out, sizeof out, "HEAD %lu\n", n);
		S_send(s, (unsigned char *)out, (size_t)len);
		S_send_file(s, body_fd, 0, n, NULL, NULL);
		corked_in_cb = corked(sock_of(s->port));
		files++;
		if (strncmp(line, "FILECLOSE", 9) == 0)
			S_close(s);
	} else if (sscanf(line, "CORKED %lu", &n) == 1) {
		len = snprintf(out, sizeof out,
		    "CORKED now=%d in_cb=%d files=%lu\n",
		    corked(sock_of((unsigned)n)), corked_in_cb, files);
		S_send(s, (unsigned char *)out, (size_t)len);
	} else if (strcmp(line, "TWO") == 0) {
		S_send(s, (unsigned char *)"ONE\n", 4);
		S_send(s, (unsigned char *)"TWO\n", 4);
	} else if (strcmp(line, "SMALL") == 0) {
		smalls++;
		S_send(s, (unsigned char *)"SMALL\n", 6);
	} else if (sscanf(line, "UNSENT %lu", &n) == 1) {
		len = snprintf(out, sizeof out, "UNSENT n=%ld small=%lu\n",
		    unsent_of((unsigned)n), smalls);
		S_send(s, (unsigned char *)out, (size_t)len);
	} else {
		S_send(s, (unsigned char *)"ERROR\n", 6);
	}
}

/* Each command comes whole in one read (the client waits for replies). */
void
serv_on_read(SESSION *s)
{
	char *p = (char *)s->buff, *nl;

	while ((nl = strchr(p, '\n')) != NULL) {
		*nl = '\0';
		command(s, p);
		p = nl + 1;
	}
}
