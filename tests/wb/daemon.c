/*
 * daemon.c - white-box test of the start-up relay of lib/daemon.c: a
 * child of this test plays the starting command, calls
 * hsvr_daemon_detach() and waits in it; the daemon it forks plays one
 * start-up (ready, failed with a message, odd lines, silence) and exits.
 *
 *  - READY: the command exits 0, having printed nothing;
 *  - what the daemon logs during start-up is printed by the command on
 *    its stderr, then "EXIT n" (hsvr_daemon_failed) makes it exit n;
 *  - "EXIT 0" still exits 1 (a failure is never 0); malformed "EXIT"
 *    lines are printed as text; a daemon that ends without a word, or
 *    after text only, makes the command exit 1;
 *  - the daemon is in a session of its own, its stdio on /dev/null;
 *  - hsvr_daemon_ready(-1) and hsvr_daemon_failed(-1, n) do nothing.
 *
 * Shown to fail: with wait_for_daemon()'s "code == 0 ? 1 :" removed, the
 * "EXIT 0" check fails; with its range test "code <= 255" removed, "EXIT
 * 300" is taken as a code and that check fails.
 */
#include "hsvr-int.h"
#include "wb.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum play { P_READY, P_FAILED, P_EXIT0, P_ODD, P_SILENT, P_TEXT_ONLY };

/* What the daemon finds out about itself, written on the done pipe. */
struct seen {
	int new_session;
	int stdio_null;
};

static void
daemon_plays(enum play play, int fd, int done)
{
	struct seen s;
	struct stat st, null;

	s.new_session = getsid(0) == getpid();
	s.stdio_null = stat("/dev/null", &null) == 0 &&
	    fstat(STDERR_FILENO, &st) == 0 && st.st_rdev == null.st_rdev &&
	    fstat(STDOUT_FILENO, &st) == 0 && st.st_rdev == null.st_rdev;
	switch (play) {
	case P_READY:
		hsvr_daemon_ready(fd);
		break;
	case P_FAILED:
		hsvr_warnx("cannot open the configuration: %s", "wb test");
		hsvr_daemon_failed(fd, 78);
		break;
	case P_EXIT0:
		hsvr_daemon_failed(fd, 0);
		break;
	case P_ODD:
		dprintf(fd, "EXIT 300\nEXIT x\nEXIT 5 \nEXIT \n");
		close(fd);
		break;
	case P_SILENT:
		close(fd);
		break;
	case P_TEXT_ONLY:
		dprintf(fd, "one line\nanother line\n");
		close(fd);
		break;
	}
	(void)!write(done, &s, sizeof s);
	close(done);
	exit(0);
}

/*
 * The command's exit code and what it printed on stderr (into err);
 * seen: what the daemon found.  Returns once both have ended.
 */
static int
start(enum play play, char *err, size_t cap, struct seen *seen)
{
	int ep[2], dp[2], status, fd;
	ssize_t n;
	pid_t pid;

	memset(seen, 0, sizeof *seen);
	if (pipe(ep) != 0 || pipe(dp) != 0 || (pid = fork()) < 0)
		wb_bail("pipe, fork: %s", strerror(errno));
	if (pid == 0) {
		close(ep[0]);
		close(dp[0]);
		dup2(ep[1], STDERR_FILENO);
		close(ep[1]);
		fd = hsvr_daemon_detach();      /* the command never returns */
		if (fd < 0)
			exit(99);
		daemon_plays(play, fd, dp[1]);
	}
	close(ep[1]);
	close(dp[1]);
	(void)wb_read_all(ep[0], err, cap);
	if (waitpid(pid, &status, 0) != pid)
		wb_bail("waitpid: %s", strerror(errno));
	/* The daemon is not our child: its end is the pipe's. */
	while ((n = read(dp[0], seen, sizeof *seen)) < 0 && errno == EINTR)
		;
	close(dp[0]);
	return WIFEXITED(status) ? WEXITSTATUS(status) :
	    128 + WTERMSIG(status);
}

int
main(void)
{
	char err[8192];
	struct seen seen;
	int rc;

	wb_watchdog(120);
	rc = start(P_READY, err, sizeof err, &seen);
	wb_ok(rc == 0 && err[0] == '\0', "READY: the command exits 0, "
	    "printing nothing (%d, \"%s\")", rc, err);
	wb_ok(seen.new_session && seen.stdio_null, "the daemon leads a "
	    "session of its own, its stdio on /dev/null");

	rc = start(P_FAILED, err, sizeof err, &seen);
	wb_ok(rc == 78 && strcmp(err, "hsvr: cannot open the configuration: "
	    "wb test\n") == 0, "a failed start: the daemon's message on the "
	    "command's stderr, its code as the command's (%d, \"%s\")", rc,
	    err);

	rc = start(P_EXIT0, err, sizeof err, &seen);
	wb_ok(rc == 1 && err[0] == '\0', "EXIT 0: the command exits 1 (%d)",
	    rc);

	rc = start(P_ODD, err, sizeof err, &seen);
	wb_ok(rc == 1 && strcmp(err, "EXIT 300\nEXIT x\nEXIT 5 \nEXIT \n") ==
	    0, "malformed EXIT lines are printed as text; then silence: "
	    "exit 1 (%d, \"%s\")", rc, err);

	rc = start(P_SILENT, err, sizeof err, &seen);
	wb_ok(rc == 1 && err[0] == '\0', "a daemon that ends without a word: "
	    "exit 1 (%d)", rc);

	rc = start(P_TEXT_ONLY, err, sizeof err, &seen);
	wb_ok(rc == 1 && strcmp(err, "one line\nanother line\n") == 0,
	    "text then nothing: printed, exit 1 (%d)", rc);

	hsvr_daemon_ready(-1);
	hsvr_daemon_failed(-1, 3);
	wb_ok(fcntl(STDOUT_FILENO, F_GETFD) != -1, "no descriptor: "
	    "hsvr_daemon_ready and hsvr_daemon_failed do nothing");
	return wb_done();
}
