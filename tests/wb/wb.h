/*
 * wb.h - the verdict lines of the white-box tests (tests/wb): TAP-style
 * "ok N - ..." / "not ok N - ..." on stdout, the plan at the end, without
 * the client harness (no servers here: the tests call lib/ directly).
 */
#ifndef HSVR_TEST_WB_H
#define HSVR_TEST_WB_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int wb_n, wb_failed;

static int __attribute__((format(printf, 2, 3), unused))
wb_ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", cond ? "" : "not ", ++wb_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!cond)
		wb_failed++;
	return cond;
}

static void __attribute__((format(printf, 1, 2), unused))
wb_note(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void __attribute__((format(printf, 1, 2), noreturn, unused))
wb_bail(const char *fmt, ...)
{
	va_list ap;

	fputs("Bail out! ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	exit(1);
}

/*
 * What lib/ writes on stderr, caught: wb_capture_open() once, then
 * wb_capture() before a call and wb_said_now() after it (stderr restored,
 * the text returned; also in wb_said).
 */
static int wb_errfd = -1, wb_saved_err = -1;
static char wb_said[8192];

static void __attribute__((unused))
wb_capture_open(void)
{
	char name[] = "/tmp/wb-stderr.XXXXXX";

	if ((wb_errfd = mkstemp(name)) < 0 ||
	    (wb_saved_err = dup(STDERR_FILENO)) < 0)
		wb_bail("capture: %s", strerror(errno));
	unlink(name);
}

static void __attribute__((unused))
wb_capture(void)
{
	fflush(stderr);
	if (ftruncate(wb_errfd, 0) != 0 || lseek(wb_errfd, 0, SEEK_SET) != 0 ||
	    dup2(wb_errfd, STDERR_FILENO) < 0)
		wb_bail("capture: %s", strerror(errno));
}

static __attribute__((unused)) const char *
wb_said_now(void)
{
	ssize_t n;

	fflush(stderr);
	dup2(wb_saved_err, STDERR_FILENO);
	n = pread(wb_errfd, wb_said, sizeof wb_said - 1, 0);
	wb_said[n > 0 ? n : 0] = '\0';
	return wb_said;
}

/* All fd gives until EOF (or an error), at most cap - 1 bytes, into buf as
 * a string: its length.  fd is closed. */
static __attribute__((unused)) size_t
wb_read_all(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t n;

	while (len < cap - 1 && (n = read(fd, buf + len, cap - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(fd);
	return len;
}

/*
 * A test that hangs is killed (SIGALRM) after secs seconds times
 * $HSVR_TEST_SCALE (larger in the sanitized and coverage builds), and
 * fails.
 */
static void __attribute__((unused))
wb_watchdog(unsigned secs)
{
	const char *s = getenv("HSVR_TEST_SCALE");
	long scale = s != NULL ? strtol(s, NULL, 10) : 1;

	alarm(secs * (unsigned)(scale < 1 ? 1 : scale > 20 ? 20 : scale));
}

/* The plan; the exit status: 0 if every check passed. */
static int __attribute__((unused))
wb_done(void)
{
	printf("1..%d\n", wb_n);
	if (wb_failed)
		printf("# %d of %d failed\n", wb_failed, wb_n);
	fflush(stdout);
	return wb_failed ? 1 : 0;
}

#endif /* HSVR_TEST_WB_H */
