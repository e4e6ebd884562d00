/*
 * daemon.c - leaving the terminal: the starting command stays until the
 * server really listens, then exits 0, or prints why start-up failed and
 * exits non-zero, as rc scripts expect.
 */
#include "hsvr-int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READY_LINE "READY\n"

#ifdef HSVR_COVERAGE
/* The coverage build: _exit() skips the exit handlers that write gcov's
 * counts, so they are written first. */
extern void __gcov_dump(void);
#define EXIT_NOW(code) (__gcov_dump(), _exit(code))
#else
#define EXIT_NOW(code) _exit(code)
#endif

/* The starting command: relay what the daemon says until it is ready. */
static int __attribute__((noreturn))
wait_for_daemon(int fd)
{
	FILE *fp = fdopen(fd, "r");
	char line[1200], *end;
	long code = 1;

	while (fp != NULL && fgets(line, sizeof line, fp) != NULL) {
		if (strcmp(line, READY_LINE) == 0)
			EXIT_NOW(0);
		/* "EXIT code\n" (hsvr_daemon_failed); other lines are text */
		if (strncmp(line, "EXIT ", 5) == 0) {
			errno = 0;
			code = strtol(line + 5, &end, 10);
			if (end != line + 5 && *end == '\n' && errno == 0 &&
			    code >= 0 && code <= 255)
				break;
			code = 1;
		}
		fputs(line, stderr);
	}
	EXIT_NOW(code == 0 ? 1 : (int)code);
}

/*
 * Become a daemon: fork (the parent waits as above), new session, umask
 * 022, stdio on /dev/null.  Returns the descriptor on which to report
 * readiness (hsvr_daemon_ready) or failure (hsvr_daemon_failed), or -1.
 */
int
hsvr_daemon_detach(void)
{
	int p[2], null;
	pid_t pid;

	fflush(NULL);
	/* Close-on-exec: nothing the server runs inherits it. */
	if (pipe2(p, O_CLOEXEC) != 0) {
		hsvr_warn("cannot become a daemon: pipe");
		return -1;
	}
	if ((pid = fork()) < 0) {
		hsvr_warn("cannot become a daemon: fork");
		return -1;
	}
	if (pid > 0) {
		/* The waiting command: ^C and kill work on it as usual. */
		hsvr_signals_hold(0);
		close(p[1]);
		wait_for_daemon(p[0]);
	}
	close(p[0]);
	setsid();
	umask(022);
	if ((null = open("/dev/null", O_RDWR)) >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	hsvr_log_stderr(0);
	hsvr_log_report_to(p[1]);
	return p[1];
}

void
hsvr_daemon_ready(int fd)
{
	if (fd < 0)
		return;
	hsvr_log_report_to(-1);
	(void)!write(fd, READY_LINE, strlen(READY_LINE));
	close(fd);
}

void
hsvr_daemon_failed(int fd, int code)
{
	if (fd < 0)
		return;
	hsvr_log_report_to(-1);
	dprintf(fd, "EXIT %d\n", code);
	close(fd);
}
