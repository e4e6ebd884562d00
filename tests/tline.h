/*
 * tline.h - one line of text for the test servers: formatted with its
 * '\n' into a buffer (tline_vformat), or printed on stdout in one write
 * (tline_say), so that lines of several threads never mix; and the
 * library's counters as the words of such a line (tline_stats).
 */
#ifndef HSVR_TEST_TLINE_H
#define HSVR_TEST_TLINE_H

#include "hsvr.h"

#include <stdarg.h>
#include <stddef.h>

/* fmt into buf (cap >= 2), cut to fit, then '\n': the length with the
 * '\n', or 0 if fmt could not be formatted. */
size_t tline_vformat(char *buf, size_t cap, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* A line on stdout (at most 1 KiB), in one write(2). */
void tline_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Every counter of *st as "name=value" words (session_gauge=.. up to
 * alloc_error=..), the names as in S_STATS, into buf: their length (cut
 * to fit cap). */
size_t tline_stats(char *buf, size_t cap, const S_STATS *st);

#endif /* HSVR_TEST_TLINE_H */
