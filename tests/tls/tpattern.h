/*
 * tpattern.h - the byte streams the TLS tests move, shared by the test
 * server (t-tsrv) and the test client (t-tlsc).
 *
 * Stream SEED is a keyed sequence: byte k is a byte of splitmix64(seed, k/8),
 * so a byte lost, repeated or moved shows up as a mismatch at a known
 * offset; the SHA-256 of the whole stream is compared as well ("checksum").
 */
#ifndef HSVR_TLS_TPATTERN_H
#define HSVR_TLS_TPATTERN_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t
tp_word(uint64_t seed, uint64_t index)
{
	uint64_t z = seed * 0x9e3779b97f4a7c15ULL + index + 1;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline unsigned char
tp_byte(uint64_t seed, uint64_t off)
{
	return (unsigned char)(tp_word(seed, off >> 3) >> ((off & 7) * 8));
}

/* p[0..n) = stream seed from offset off. */
static inline void
tp_fill(unsigned char *p, uint64_t seed, uint64_t off, size_t n)
{
	size_t i = 0;
	uint64_t w;

	while (i < n && ((off + i) & 7) != 0) {
		p[i] = tp_byte(seed, off + i);
		i++;
	}
	for (; i + 8 <= n; i += 8) {
		w = tp_word(seed, (off + i) >> 3);
		p[i] = (unsigned char)w;
		p[i + 1] = (unsigned char)(w >> 8);
		p[i + 2] = (unsigned char)(w >> 16);
		p[i + 3] = (unsigned char)(w >> 24);
		p[i + 4] = (unsigned char)(w >> 32);
		p[i + 5] = (unsigned char)(w >> 40);
		p[i + 6] = (unsigned char)(w >> 48);
		p[i + 7] = (unsigned char)(w >> 56);
	}
	for (; i < n; i++)
		p[i] = tp_byte(seed, off + i);
}

/* Index of the first byte of p[0..n) that is not stream seed at off, or n. */
static inline size_t
tp_check(const unsigned char *p, uint64_t seed, uint64_t off, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != tp_byte(seed, off + i))
			return i;
	return n;
}

#endif /* HSVR_TLS_TPATTERN_H */
