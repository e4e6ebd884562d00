/*
 * log.c - every line the library or the application logs: to syslog once
 * it is opened, to stderr in the foreground, and during a daemon's start-up
 * also to the starting command, which prints it and fails.
 */
#include "hsvr-int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

static int syslog_open;
static int to_stderr = 1;
static int report_fd = -1;
static const char *log_name = "hsvr"; /* before each line on stderr */

void
hsvr_log_open(const char *name)
{
	openlog(name, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	syslog_open = 1;
}

/* The program's name, for the lines on stderr (options: argv[0]). */
void
hsvr_log_name(const char *name)
{
	log_name = name;
}

void
hsvr_log_stderr(int on)
{
	to_stderr = on;
}

/* While fd >= 0, lines also go to the command waiting for start-up. */
void
hsvr_log_report_to(int fd)
{
	report_fd = fd;
}

/*
 * An event that may come in floods (a failed handshake, a bad PROXY
 * header): 0 while e's last line is less than its period old, else the
 * events since that line, this one included (from any thread).
 */
uint64_t
hsvr_log_due(struct hsvr_log_every *e)
{
	uint64_t now = hsvr_clock_ms(), last;

	(void)__atomic_add_fetch(&e->unlogged, 1, __ATOMIC_RELAXED);
	last = __atomic_load_n(&e->last_ms, __ATOMIC_RELAXED);
	if ((last != 0 && now - last < e->period_ms) ||
	    !__atomic_compare_exchange_n(&e->last_ms, &last, now, 0,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return 0;
	return __atomic_exchange_n(&e->unlogged, 0, __ATOMIC_RELAXED);
}

void
hsvr_vlog(int priority, int with_errno, const char *fmt, va_list ap)
{
	int saved = errno;
	const char *name = log_name;
	char msg[1024];
	size_t len;

	/* A line longer than msg is cut: better than none. */
	(void)vsnprintf(msg, sizeof msg, fmt, ap);
	len = strlen(msg);
	if (with_errno)
		(void)snprintf(msg + len, sizeof msg - len, ": %s",
		    strerror(saved));
	if (syslog_open)
		syslog(priority, "%s", msg);
	if (to_stderr)
		fprintf(stderr, "%s: %s\n", name, msg);
	if (report_fd >= 0)
		dprintf(report_fd, "%s: %s\n", name, msg);
	errno = saved;
}

void
hsvr_log(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hsvr_vlog(priority, 0, fmt, ap);
	va_end(ap);
}

void
hsvr_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hsvr_vlog(LOG_ERR, 0, fmt, ap);
	va_end(ap);
}

void
hsvr_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hsvr_vlog(LOG_ERR, 1, fmt, ap);
	va_end(ap);
}

void
serv_log(int priority, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hsvr_vlog(priority, 0, fmt, ap);
	va_end(ap);
}
