/*
 * tests/freeport.h - a TCP port for a test server: free on every address
 * right now, and outside the kernel's ephemeral range.
 *
 * A port the kernel hands out for bind(port 0) comes from the ephemeral
 * range, where every client connection takes its source port too: on a
 * machine running thousands of connections (the stress tests, two suites
 * at once) one of them may take the port between the test choosing it and
 * its server binding it ("Address already in use").  Ports below (or above)
 * that range are never taken that way; a port is chosen at random among
 * them, so that tests running at once rarely try the same one, and checked
 * free on 0.0.0.0 and [::] both.  Header-only: each suite's client includes
 * it.
 */
#ifndef HSVR_TESTS_FREEPORT_H
#define HSVR_TESTS_FREEPORT_H

#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* 0 if port is bindable on family's wildcard address (no IPv6: yes). */
static inline int
freeport_bindable(int family, int port)
{
	struct sockaddr_in s4;
	struct sockaddr_in6 s6;
	int fd = socket(family, SOCK_STREAM, 0), one = 1, r;

	if (fd < 0)
		return family == AF_INET6 ? 0 : -1;
	if (family == AF_INET6) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
		memset(&s6, 0, sizeof s6);
		s6.sin6_family = AF_INET6;
		s6.sin6_port = htons((uint16_t)port);
		s6.sin6_addr = in6addr_any;
		r = bind(fd, (struct sockaddr *)&s6, sizeof s6);
	} else {
		memset(&s4, 0, sizeof s4);
		s4.sin_family = AF_INET;
		s4.sin_port = htons((uint16_t)port);
		s4.sin_addr.s_addr = htonl(INADDR_ANY);
		r = bind(fd, (struct sockaddr *)&s4, sizeof s4);
	}
	close(fd);
	return r;
}

/* A free port outside the ephemeral range, or -1. */
static inline int
freeport_pick(void)
{
	FILE *fp = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	int lo = 32768, hi = 60999, first, last, i, port;
	unsigned int seed;
	struct timespec ts;

	if (fp != NULL) {
		if (fscanf(fp, "%d %d", &lo, &hi) != 2)
			lo = 32768, hi = 60999;
		fclose(fp);
	}
	if (lo > 12000) {               /* below the range, above 10000 */
		first = 10000;
		last = lo - 1;
	} else if (hi < 63000) {        /* above it */
		first = hi + 1;
		last = 65535;
	} else {                        /* no room: anywhere */
		first = 10000;
		last = 65535;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	seed = (unsigned int)getpid() * 2654435761u ^ (unsigned int)ts.tv_nsec;
	for (i = 0; i < 1000; i++) {
		seed = seed * 1103515245u + 12345u;
		port = first + (int)((seed >> 8) % (unsigned int)(last - first + 1));
		if (freeport_bindable(AF_INET, port) == 0 &&
		    freeport_bindable(AF_INET6, port) == 0)
			return port;
	}
	return -1;
}

#endif
