/*
 * rpattern.h - pattern.h's byte stream produced and checked four bytes at
 * a time: the fault suite moves gigabytes, and the test programs must not
 * be what limits the server.
 */
#ifndef HSVR_TEST_RPATTERN_H
#define HSVR_TEST_RPATTERN_H

#include "pattern.h"

#include <string.h>

/* The four bytes of the pattern at offset 4 * q, in order. */
static inline void
pat_word(uint64_t q, unsigned char *p)
{
	uint32_t x = (uint32_t)q * 2654435761u;

	x ^= x >> 15;
	p[0] = (unsigned char)x;
	p[1] = (unsigned char)(x >> 8);
	p[2] = (unsigned char)(x >> 16);
	p[3] = (unsigned char)(x >> 24);
}

/* pat_fill, faster. */
static inline void
pat_fill4(unsigned char *p, uint64_t off, size_t n)
{
	size_t i = 0;

	for (; i < n && ((off + i) & 3) != 0; i++)
		p[i] = pat_byte(off + i);
	for (; i + 4 <= n; i += 4)
		pat_word((off + i) >> 2, p + i);
	for (; i < n; i++)
		p[i] = pat_byte(off + i);
}

/* pat_check, faster: the index of the first wrong byte, or n. */
static inline size_t
pat_check4(const unsigned char *p, uint64_t off, size_t n)
{
	unsigned char w[4];
	size_t i = 0;

	for (; i < n && ((off + i) & 3) != 0; i++)
		if (p[i] != pat_byte(off + i))
			return i;
	for (; i + 4 <= n; i += 4) {
		pat_word((off + i) >> 2, w);
		if (memcmp(p + i, w, 4) != 0)
			return i + pat_check(p + i, off + i, 4);
	}
	return i + pat_check(p + i, off + i, n - i);
}

#endif /* HSVR_TEST_RPATTERN_H */
