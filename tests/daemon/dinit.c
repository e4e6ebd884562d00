/*
 * dinit.c - t-dinit, the init process of a daemon test's private pid
 * namespace (tests/daemon/lib.sh starts it with unshare --pid --fork):
 *
 *   t-dinit REAPLOG COMMAND [ARG...]
 *
 * It runs COMMAND (the test script), forwards SIGTERM, SIGINT and SIGHUP
 * to it, and reaps every process of the namespace: daemons started by the
 * test are orphaned when their starting command exits and become its
 * children.  For each one it appends "pid=N exit=C" or "pid=N signal=S" to
 * REAPLOG, which is how a test learns the exit status of a daemon that is
 * not its child.  It exits with COMMAND's status; the kernel then kills
 * whatever the test left behind in the namespace.  Outside a pid namespace
 * it works as a child subreaper.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child;

static void
forward(int sig)
{
	if (child > 0)
		kill(child, sig);
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	FILE *log;
	pid_t pid;
	int ws, rc = 1;

	if (argc < 3) {
		fprintf(stderr, "usage: t-dinit REAPLOG COMMAND [ARG...]\n");
		return 2;
	}
	if ((log = fopen(argv[1], "a")) == NULL) {
		fprintf(stderr, "t-dinit: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = forward;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if ((pid = fork()) < 0) {
		perror("t-dinit: fork");
		return 2;
	}
	if (pid == 0) {
		fclose(log);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		execvp(argv[2], argv + 2);
		fprintf(stderr, "t-dinit: %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	child = pid;
	for (;;) {
		pid = waitpid(-1, &ws, 0);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid < 0)
			break;
		if (WIFEXITED(ws))
			fprintf(log, "pid=%ld exit=%d\n", (long)pid,
			    WEXITSTATUS(ws));
		else if (WIFSIGNALED(ws))
			fprintf(log, "pid=%ld signal=%d\n", (long)pid,
			    WTERMSIG(ws));
		fflush(log);
		if (pid == child) {
			rc = WIFEXITED(ws) ? WEXITSTATUS(ws) :
			    128 + WTERMSIG(ws);
			break;
		}
	}
	fclose(log);
	return rc;
}
