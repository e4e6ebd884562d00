/*
 * tline.c - one line of text for the test servers: formatted with its
 * '\n', printed on stdout in one write or handed to a session; the
 * library's counters as its words (see tline.h).
 */
#include "tline.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

size_t
tline_vformat(char *buf, size_t cap, const char *fmt, va_list ap)
{
	int n = vsnprintf(buf, cap - 1, fmt, ap);

	if (n < 0)
		return 0;
	if ((size_t)n > cap - 2)
		n = (int)(cap - 2);
	buf[n++] = '\n';
	return (size_t)n;
}

/* The line of fmt handed to put: put's result, or 0 if nothing was
 * formatted. */
static int
tline_vput(tline_put *put, SESSION *s, void *ctx, const char *fmt,
    va_list ap)
{
	char buf[TLINE_MAX];
	size_t n = tline_vformat(buf, sizeof buf, fmt, ap);

	return n > 0 ? put(s, ctx, buf, n) : 0;
}

static int
tline_stdout(SESSION *s, void *ctx, const void *p, size_t n)
{
	(void)s;
	(void)ctx;
	return write(STDOUT_FILENO, p, n) == (ssize_t)n ? 0 : -1;
}

void
tline_say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)tline_vput(tline_stdout, NULL, NULL, fmt, ap);
	va_end(ap);
}

int
tline_send(tline_put *put, SESSION *s, void *ctx, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = tline_vput(put, s, ctx, fmt, ap);
	va_end(ap);
	return rc;
}

int
tline_s_send(SESSION *s, void *ctx, const void *p, size_t n)
{
	(void)ctx;
	return S_send(s, (unsigned char *)(uintptr_t)p, n);
}

/*
 * The counters as words "name=value ...", from S_stats_print: the names
 * are the library's one table of them (stats.c), not a copy here.  The
 * per-thread lines are left out.
 */
size_t
tline_stats(char *buf, size_t cap, const S_STATS *st)
{
	char lines[2048], *line, *save = NULL;
	size_t used = 0;
	FILE *fp;
	int n;

	buf[0] = '\0';
	if ((fp = fmemopen(lines, sizeof lines, "w")) == NULL)
		return 0;
	S_stats_print(st, fp);
	if (fclose(fp) != 0)
		return 0;
	lines[sizeof lines - 1] = '\0';
	for (line = strtok_r(lines, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "thread ", 7) == 0)
			continue;
		n = snprintf(buf + used, cap - used, "%s%s", used ? " " : "",
		    line);
		if (n < 0 || (size_t)n >= cap - used)
			return strlen(buf);
		used += (size_t)n;
	}
	return used;
}
