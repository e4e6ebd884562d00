/*
 * tline.h - one line of text for the test servers: formatted with its
 * '\n' into a buffer (tline_vformat), printed on stdout in one write
 * (tline_say), so that lines of several threads never mix, or sent to a
 * session (tline_send); and the library's counters as the words of such
 * a line (tline_stats).
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
/* The longest line tline_say and tline_send write, its '\n' included. */
#define TLINE_MAX 4096
/* A line on stdout, in one write(2). */
void tline_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An event line a test server must never print ("VIOLATION ...", fmt a
 * string literal); a test fails on any. */
#define TLINE_VIOLATION(...) tline_say("VIOLATION " __VA_ARGS__)

/* Where tline_send hands a line: p, n bytes with its '\n', for session s
 * (ctx is the caller's); its result is tline_send's. */
typedef int tline_put(SESSION *s, void *ctx, const void *p, size_t n);
/* The line of fmt (cut to TLINE_MAX) to put(s, ctx, ...): put's result,
 * or 0 (nothing sent) if fmt could not be formatted. */
int tline_send(tline_put *put, SESSION *s, void *ctx, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A tline_put that is S_send (ctx unused). */
int tline_s_send(SESSION *s, void *ctx, const void *p, size_t n);

/* Every counter of *st as "name=value" words (session_gauge=.. up to
 * alloc_error=..), the names as in S_STATS, into buf: their length (cut
 * to fit cap). */
size_t tline_stats(char *buf, size_t cap, const S_STATS *st);

#endif /* HSVR_TEST_TLINE_H */
