/* log.c - the library's error and warning lines, "name: message". */
#include "hsvr-int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void
vlog(int with_errno, const char *fmt, va_list ap)
{
	int saved = errno;
	const char *name = hsvr_g.cfg != NULL ? hsvr_g.cfg->progname : "hsvr";
	char msg[512];

	vsnprintf(msg, sizeof msg, fmt, ap);
	if (with_errno)
		fprintf(stderr, "%s: %s: %s\n", name, msg, strerror(saved));
	else
		fprintf(stderr, "%s: %s\n", name, msg);
	errno = saved;
}

void
hsvr_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(0, fmt, ap);
	va_end(ap);
}

void
hsvr_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(1, fmt, ap);
	va_end(ap);
}
