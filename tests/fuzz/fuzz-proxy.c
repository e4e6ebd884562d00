/* fuzz-proxy.c - libFuzzer target: lib/proxy.c's PROXY header parser must agree with itself however its input is split, and never take a byte past the header. */
/*
 * An input is the start of one connection.  It is fed the way the session
 * feeds it: peek at most hsvr_proxy_want bytes, take what
 * hsvr_proxy_feed used, again while the header goes on.  That is done with
 * the input arriving whole, byte by byte, and cut where the input's own
 * bytes say (so that every seed replays the same way).  Every feed gets a
 * heap buffer of exactly its bytes, so AddressSanitizer sees a read past
 * them.  Checked: feed takes no more than it is given, and all of it
 * unless the header ended; want is at least 1 while it goes on; a v1
 * header ends within 107 bytes with CRLF, a v2 one at 16 + its length;
 * and the verdict, the bytes taken and the address are the same for
 * every splitting.
 */
#include "hsvr-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz-proxy: %s\n", what);
	abort();
}

/* Feed data in pieces no longer than step(i) says; the parser's end. */
static void
run(const uint8_t *data, size_t size, size_t (*step)(const uint8_t *,
    size_t, size_t), struct hsvr_proxy *p)
{
	size_t at = 0, end, got, used, want;
	unsigned char *b;

	hsvr_proxy_init(p);
	while (at < size && p->state == HSVR_PROXY_MORE) {
		end = at + step(data, size, at);
		if (end > size)
			end = size;
		while (at < end && p->state == HSVR_PROXY_MORE) {
			want = hsvr_proxy_want(p);
			if (want < 1)
				fail("want 0 while the header goes on");
			got = end - at > want ? want : end - at;
			if ((b = malloc(got)) == NULL)
				fail("out of memory");
			memcpy(b, data + at, got);
			used = hsvr_proxy_feed(p, b, got);
			free(b);
			if (used > got)
				fail("took more than it was given");
			if (p->state == HSVR_PROXY_MORE && used != got)
				fail("took less than given, not done");
			at += used;
		}
	}
	if (p->have != at)
		fail("have is not what was taken");
	if (p->state == HSVR_PROXY_DONE) {
		if (p->version == 1 && (p->have > HSVR_PROXY_V1_MAX ||
		    p->have < 8 || data[p->have - 2] != '\r' ||
		    data[p->have - 1] != '\n'))
			fail("a v1 header that is no line of 107 bytes at most");
		if (p->version == 2 && (p->have < 16 || p->have != 16 +
		    ((size_t)data[14] << 8 | data[15])))
			fail("a v2 header not of 16 + its length");
	}
	if (p->state == HSVR_PROXY_BAD && p->why == NULL)
		fail("bad without a reason");
}

static size_t
whole(const uint8_t *d, size_t n, size_t at)
{
	(void)d, (void)at;
	return n;
}

static size_t
bytewise(const uint8_t *d, size_t n, size_t at)
{
	(void)d, (void)n, (void)at;
	return 1;
}

/* Pieces of 1 to 64 bytes, their lengths taken from the input itself. */
static size_t
by_input(const uint8_t *d, size_t n, size_t at)
{
	return (size_t)(d[(at * 7 + 3) % n] & 63) + 1;
}

static void
same(const struct hsvr_proxy *a, const struct hsvr_proxy *b)
{
	if (a->state != b->state || a->have != b->have)
		fail("the verdict or the bytes taken depend on the splitting");
	if (a->state == HSVR_PROXY_DONE && (a->local != b->local ||
	    (!a->local && memcmp(&a->addr, &b->addr, sizeof a->addr) != 0)))
		fail("the address depends on the splitting");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hsvr_proxy a, b, c;

	if (size == 0)
		return 0;
	run(data, size, whole, &a);
	run(data, size, bytewise, &b);
	run(data, size, by_input, &c);
	same(&a, &b);
	same(&a, &c);
	return 0;
}
