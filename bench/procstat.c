/*
 * procstat.c - small measuring helper of bench/run.sh.
 *
 *   procstat cpu PID           utime+stime (clock ticks) of PID and its
 *                              descendants, from /proc/PID/stat
 *   procstat rss PID           VmRSS (kB) of PID and its descendants
 *   procstat tree PID          PID and its descendants, one a line
 *   procstat hz                clock ticks per second
 *   procstat wait PORT [MS]    wait until 127.0.0.1:PORT accepts a
 *                              connection (at most MS ms, default 10000);
 *                              prints the milliseconds waited
 *
 * Only ever connects to 127.0.0.1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proctree.h"

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
try_connect(unsigned short port)
{
	struct sockaddr_in sin;
	int fd, rc;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	rc = connect(fd, (struct sockaddr *)&sin, sizeof sin);
	close(fd);
	return rc;
}

static int
usage(void)
{
	fprintf(stderr, "usage: procstat cpu PID | rss PID | tree PID | hz | "
	    "wait PORT [MS]\n");
	return 64;
}

int
main(int argc, char **argv)
{
	long long v;
	double start, limit;
	long port;

	if (argc == 2 && strcmp(argv[1], "hz") == 0) {
		printf("%ld\n", sysconf(_SC_CLK_TCK));
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "cpu") == 0) {
		if ((v = pt_tree_ticks((pid_t)atol(argv[2]))) < 0) {
			fprintf(stderr, "procstat: no process %s\n", argv[2]);
			return 1;
		}
		printf("%lld\n", v);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "tree") == 0) {
		static pid_t tree[PT_MAX];
		int i, n = pt_tree((pid_t)atol(argv[2]), tree, PT_MAX);

		for (i = 0; i < n; i++)
			printf("%ld\n", (long)tree[i]);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "rss") == 0) {
		if ((v = pt_tree_rss_kb((pid_t)atol(argv[2]))) < 0) {
			fprintf(stderr, "procstat: no process %s\n", argv[2]);
			return 1;
		}
		printf("%lld\n", v);
		return 0;
	}
	if ((argc == 3 || argc == 4) && strcmp(argv[1], "wait") == 0) {
		port = atol(argv[2]);
		if (port < 1 || port > 65535)
			return usage();
		limit = argc == 4 ? atof(argv[3]) : 10000.0;
		start = now_ms();
		for (;;) {
			if (try_connect((unsigned short)port) == 0) {
				printf("%.3f\n", now_ms() - start);
				return 0;
			}
			if (now_ms() - start > limit) {
				fprintf(stderr, "procstat: nothing accepts on "
				    "127.0.0.1:%ld after %.0f ms (%s)\n", port,
				    limit, strerror(errno));
				return 1;
			}
			usleep(2000);
		}
	}
	return usage();
}
