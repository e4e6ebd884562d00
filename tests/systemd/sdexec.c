/*
 * sdexec.c - t-sdexec, what a socket-activating supervisor (systemd, inetd,
 * s6) does before it runs a server: make a socket, put it at descriptor N,
 * say so in the environment, exec the server.
 *
 *   t-sdexec [-k KIND] [-n N] [-e] [-o] [-N NAMES] PORT PROG [ARG...]
 *
 * KIND is what descriptor N (default 3) holds: "listen" (default), a TCP
 * socket bound to 127.0.0.1:PORT and listening; "bound", the same not
 * listening; "udp", a UDP socket bound there; "closed", nothing.  -e sets
 * LISTEN_FDS=1 and LISTEN_PID to this process's pid, which exec keeps, so
 * that it is the server's (sd_listen_fds(3)); -o sets LISTEN_PID to the
 * parent's pid instead (variables meant for another process); -N sets
 * LISTEN_FDNAMES.  Exit 2 on a usage or system error, else PROG's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void __attribute__((noreturn))
die(const char *what)
{
	perror(what);
	exit(2);
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: t-sdexec [-k listen|bound|udp|closed] [-n N] "
	    "[-e] [-o] [-N NAMES] PORT PROG [ARG...]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *kind = "listen", *names = NULL;
	struct sockaddr_in sin;
	char num[32];
	int c, n = 3, env = 0, other = 0, fd, on = 1;

	while ((c = getopt(argc, argv, "+k:n:eoN:")) != -1) {
		switch (c) {
		case 'k': kind = optarg; break;
		case 'n': n = atoi(optarg); break;
		case 'e': env = 1; break;
		case 'o': other = 1; break;
		case 'N': names = optarg; break;
		default: usage();
		}
	}
	if (argc - optind < 2 || n < 0)
		usage();
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)atoi(argv[optind]));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (strcmp(kind, "closed") == 0) {
		close(n);
	} else {
		fd = socket(AF_INET, strcmp(kind, "udp") == 0 ? SOCK_DGRAM :
		    SOCK_STREAM, 0);
		if (fd < 0)
			die("socket");
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
		if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0)
			die("bind");
		if (strcmp(kind, "listen") == 0 && listen(fd, 128) != 0)
			die("listen");
		else if (strcmp(kind, "listen") != 0 &&
		    strcmp(kind, "bound") != 0 && strcmp(kind, "udp") != 0)
			usage();
		if (fd != n && (dup2(fd, n) < 0 || close(fd) != 0))
			die("dup2");
	}
	if (env || other) {
		(void)snprintf(num, sizeof num, "%ld",
		    other ? (long)getppid() : (long)getpid());
		if (setenv("LISTEN_PID", num, 1) != 0 ||
		    setenv("LISTEN_FDS", "1", 1) != 0 ||
		    (names != NULL && setenv("LISTEN_FDNAMES", names, 1) != 0))
			die("setenv");
	}
	execv(argv[optind + 1], argv + optind + 1);
	die(argv[optind + 1]);
}
