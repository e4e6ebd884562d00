/*
 * tline.c - one line of text for the test servers: formatted with its
 * '\n', or printed on stdout in one write; the library's counters as
 * its words (see tline.h).
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

size_t
tline_stats(char *buf, size_t cap, const S_STATS *st)
{
	int n = snprintf(buf, cap, "session_gauge=%llu session_high=%llu "
	    "accept_counter=%llu session_error=%llu rxoctet=%llu rxcount=%llu "
	    "txoctet=%llu txcount=%llu rxtimeout=%llu discarded_octet=%llu "
	    "discarded_packet=%llu connect_error=%llu tls_handshake_error=%llu "
	    "session_error_per_ip=%llu write_timeout=%llu fd_exhausted=%llu "
	    "alloc_error=%llu",
	    (unsigned long long)st->session_gauge,
	    (unsigned long long)st->session_high,
	    (unsigned long long)st->accept_counter,
	    (unsigned long long)st->session_error,
	    (unsigned long long)st->rxoctet, (unsigned long long)st->rxcount,
	    (unsigned long long)st->txoctet, (unsigned long long)st->txcount,
	    (unsigned long long)st->rxtimeout,
	    (unsigned long long)st->discarded_octet,
	    (unsigned long long)st->discarded_packet,
	    (unsigned long long)st->connect_error,
	    (unsigned long long)st->tls_handshake_error,
	    (unsigned long long)st->session_error_per_ip,
	    (unsigned long long)st->write_timeout,
	    (unsigned long long)st->fd_exhausted,
	    (unsigned long long)st->alloc_error);

	if (n < 0)
		return 0;
	return (size_t)n < cap ? (size_t)n : cap - 1;
}
