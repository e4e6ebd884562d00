/*
 * startstop.c - how fast an echo server starts and stops.
 *
 *   startstop -p BASEPORT [-r ROUNDS] [-c CLIENTS] [-o LOG] [-e ARG] -- CMD ARG...
 *
 * For each round, on port BASEPORT + round (every "{PORT}" in the command
 * is replaced by it; a fresh port each round, so no TIME_WAIT is left on
 * it): start CMD, poll 127.0.0.1:PORT with connect() every 0.1 ms until it
 * succeeds (listen_ms: from fork to a completed connection); then open
 * CLIENTS connections that each send one line and read its echo (serve_ms:
 * from fork to the first echo); then, with those clients still connected
 * and idle, send SIGTERM and wait for the process to exit (exit_ms).  The
 * command's output goes to LOG (default /dev/null).  One line per round:
 *
 *   round=N port=P listen_ms=X serve_ms=Y exit_ms=Z status=S [exec_ms=E]
 *
 * -e ARG first runs "CMD ARG" alone (--version, say) and reports the time
 * from fork to its exit as exec_ms: what exec and dynamic linking cost,
 * before the server does anything of its own.
 *
 * Bounded: 10 s to listen, 10 s for the echoes, 10 s to exit (then
 * SIGKILL and exit status 1).  Only 127.0.0.1 is ever connected to.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINE "startstop client\n"

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
connect_port(unsigned short port)
{
	struct sockaddr_in sin;
	int fd;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
sleep_ms(double ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ms / 1e3);
	ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1e3) * 1e6);
	nanosleep(&ts, NULL);
}

/* Replace {PORT} in every argument. */
static char **
make_argv(char **cmd, int n, unsigned short port)
{
	char **argv = calloc((size_t)n + 1, sizeof *argv), *p, num[8];
	size_t len;
	int i;

	if (argv == NULL)
		return NULL;
	snprintf(num, sizeof num, "%u", port);
	for (i = 0; i < n; i++) {
		if ((p = strstr(cmd[i], "{PORT}")) == NULL) {
			argv[i] = cmd[i];
			continue;
		}
		len = strlen(cmd[i]) + sizeof num;
		if ((argv[i] = malloc(len)) == NULL)
			return NULL;
		snprintf(argv[i], len, "%.*s%s%s", (int)(p - cmd[i]), cmd[i],
		    num, p + 6);
	}
	return argv;
}

static int
kill_and_fail(pid_t pid, const char *what)
{
	fprintf(stderr, "startstop: %s\n", what);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return 1;
}

int
main(int argc, char **argv)
{
	const char *log = "/dev/null", *exec_arg = NULL;
	double exec_ms = -1;
	long base = 0, rounds = 5, nclients = 100;
	double t0, t_listen, t_serve = 0, t_term, t_exit;
	struct timeval tv = { 10, 0 };
	char buf[sizeof LINE], **cargv;
	int ch, r, i, fd, logfd, status, *fds;
	unsigned short port;
	ssize_t n;
	pid_t pid, w;

	while ((ch = getopt(argc, argv, "+c:e:o:p:r:")) != -1) {
		switch (ch) {
		case 'c': nclients = atol(optarg); break;
		case 'e': exec_arg = optarg; break;
		case 'o': log = optarg; break;
		case 'p': base = atol(optarg); break;
		case 'r': rounds = atol(optarg); break;
		default: goto usage;
		}
	}
	if (optind >= argc || base < 1 || rounds < 1 || nclients < 0 ||
	    base + rounds > 65535)
		goto usage;
	signal(SIGPIPE, SIG_IGN);
	if ((fds = calloc((size_t)nclients + 1, sizeof *fds)) == NULL)
		return 1;
	for (r = 0; r < rounds; r++) {
		port = (unsigned short)(base + r);
		if ((cargv = make_argv(argv + optind, argc - optind, port)) == NULL)
			return 1;
		if ((logfd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644)) < 0) {
			perror(log);
			return 1;
		}
		if (exec_arg != NULL) {
			/* exec and dynamic linking alone: "CMD ARG" */
			t0 = now_ms();
			if ((pid = fork()) < 0) {
				perror("fork");
				return 1;
			}
			if (pid == 0) {
				dup2(logfd, 1);
				dup2(logfd, 2);
				execlp(cargv[0], cargv[0], exec_arg, (char *)NULL);
				_exit(127);
			}
			waitpid(pid, &status, 0);
			exec_ms = now_ms() - t0;
		}
		t0 = now_ms();
		if ((pid = fork()) < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			dup2(logfd, 1);
			dup2(logfd, 2);
			execvp(cargv[0], cargv);
			_exit(127);
		}
		close(logfd);
		/* Time to a completed connection. */
		while ((fd = connect_port(port)) < 0) {
			if (now_ms() - t0 > 10000)
				return kill_and_fail(pid, "the server does not listen");
			if (waitpid(pid, &status, WNOHANG) == pid) {
				fprintf(stderr, "startstop: the server exited "
				    "(status %d) before listening\n", status);
				return 1;
			}
			sleep_ms(0.1);
		}
		t_listen = now_ms();
		close(fd);
		/* Idle clients, each echoed once. */
		for (i = 0; i < nclients; i++) {
			if ((fds[i] = connect_port(port)) < 0)
				return kill_and_fail(pid, "a client cannot connect");
			(void)setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv,
			    sizeof tv);
			if (send(fds[i], LINE, sizeof LINE - 1, 0) !=
			    (ssize_t)(sizeof LINE - 1))
				return kill_and_fail(pid, "a client cannot send");
			if (i == 0) {
				n = recv(fds[0], buf, sizeof LINE - 1, MSG_WAITALL);
				if (n != (ssize_t)(sizeof LINE - 1))
					return kill_and_fail(pid, "no echo");
				t_serve = now_ms();
			}
		}
		for (i = 1; i < nclients; i++) {
			n = recv(fds[i], buf, sizeof LINE - 1, MSG_WAITALL);
			if (n != (ssize_t)(sizeof LINE - 1))
				return kill_and_fail(pid, "a client got no echo");
		}
		/* Stop it with the clients idle. */
		t_term = now_ms();
		kill(pid, SIGTERM);
		for (;;) {
			w = waitpid(pid, &status, WNOHANG);
			if (w == pid)
				break;
			if (now_ms() - t_term > 10000)
				return kill_and_fail(pid, "SIGTERM did not stop it");
			sleep_ms(0.1);
		}
		t_exit = now_ms();
		for (i = 0; i < nclients; i++)
			close(fds[i]);
		printf("round=%d port=%u listen_ms=%.3f serve_ms=%.3f "
		    "exit_ms=%.3f status=%d", r + 1, port, t_listen - t0,
		    nclients > 0 ? t_serve - t0 : t_listen - t0,
		    t_exit - t_term, WIFEXITED(status) ? WEXITSTATUS(status) :
		    128 + WTERMSIG(status));
		if (exec_arg != NULL)
			printf(" exec_ms=%.3f", exec_ms);
		printf("\n");
		fflush(stdout);
		for (i = 0; i < argc - optind; i++)
			if (cargv[i] != argv[optind + i])
				free(cargv[i]);
		free(cargv);
	}
	free(fds);
	return 0;
usage:
	fprintf(stderr, "usage: startstop -p BASEPORT [-r ROUNDS] [-c CLIENTS] "
	    "[-o LOG] [-e ARG] -- COMMAND ARG...   ({PORT} is replaced)\n");
	return 64;
}
