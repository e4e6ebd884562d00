/*
 * tline.c - one line of text for the test servers: formatted with its
 * '\n', or printed on stdout in one write (see tline.h).
 */
#include "tline.h"

#include <stdio.h>
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

void
tline_say(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = tline_vformat(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > 0)
		(void)!write(STDOUT_FILENO, buf, n);
}
