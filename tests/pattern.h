/*
 * pattern.h - the byte stream test servers send and test clients check.
 * Byte k of every stream is pat_byte(k): a byte lost, repeated or moved
 * shows up as a mismatch at a known offset, which a checksum alone would
 * not tell.  fnv64 is the checksum used when only a digest travels.
 */
#ifndef HSVR_TEST_PATTERN_H
#define HSVR_TEST_PATTERN_H

#include <stddef.h>
#include <stdint.h>

static inline unsigned char
pat_byte(uint64_t off)
{
	uint32_t x = (uint32_t)(off >> 2) * 2654435761u;

	x ^= x >> 15;
	return (unsigned char)(x >> ((off & 3) * 8));
}

static inline void
pat_fill(unsigned char *p, uint64_t off, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = pat_byte(off + i);
}

/* Index of the first byte of p[0..n) that is not the pattern at off, or n. */
static inline size_t
pat_check(const unsigned char *p, uint64_t off, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != pat_byte(off + i))
			return i;
	return n;
}

#define FNV64_INIT 0xcbf29ce484222325ULL

static inline uint64_t
fnv64(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#endif /* HSVR_TEST_PATTERN_H */
