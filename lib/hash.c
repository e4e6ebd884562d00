/*
 * hash.c - the keyed hash of peer addresses behind the address index and
 * the per-address table: SipHash-1-3 under a random key drawn for each
 * table in each serving process, so a client cannot choose addresses and
 * ports that all land in one chain.
 */
#include "hsvr-int.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

/* A new random key: 0, or -1 with errno set. */
int
hsvr_hash_key_new(struct hsvr_hash_key *k)
{
	uint64_t w[2];
	ssize_t n;

	do
		n = getrandom(w, sizeof w, 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof w) {
		if (n >= 0)
			errno = EIO;
		return -1;
	}
	k->k0 = w[0];
	k->k1 = w[1];
	return 0;
}

static inline uint64_t
rotl(uint64_t x, int b)
{
	return x << b | x >> (64 - b);
}

static inline void
sipround(uint64_t v[4])
{
	v[0] += v[1]; v[1] = rotl(v[1], 13); v[1] ^= v[0]; v[0] = rotl(v[0], 32);
	v[2] += v[3]; v[3] = rotl(v[3], 16); v[3] ^= v[2];
	v[0] += v[3]; v[3] = rotl(v[3], 21); v[3] ^= v[0];
	v[2] += v[1]; v[1] = rotl(v[1], 17); v[1] ^= v[2]; v[2] = rotl(v[2], 32);
}

static uint64_t
le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* SipHash-c-d of the 18 bytes addr[16] and port (little-endian). */
static inline uint64_t
siphash18(const struct hsvr_hash_key *k, const uint8_t addr[16],
    uint16_t port, int c, int d)
{
	uint64_t v[4], m[3];
	int i, r;

	v[0] = k->k0 ^ 0x736f6d6570736575ULL;
	v[1] = k->k1 ^ 0x646f72616e646f6dULL;
	v[2] = k->k0 ^ 0x6c7967656e657261ULL;
	v[3] = k->k1 ^ 0x7465646279746573ULL;
	m[0] = le64(addr);
	m[1] = le64(addr + 8);
	m[2] = (uint64_t)18 << 56 | port;
	for (i = 0; i < 3; i++) {
		v[3] ^= m[i];
		for (r = 0; r < c; r++)
			sipround(v);
		v[0] ^= m[i];
	}
	v[2] ^= 0xff;
	for (r = 0; r < d; r++)
		sipround(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/*
 * SipHash-1-3, as Rust's and CPython's hash tables use it: one round per
 * word is enough when collisions, not forgeries, must be hard to find.
 */
uint64_t
hsvr_hash_addr(const struct hsvr_hash_key *k, const uint8_t addr[16],
    uint16_t port)
{
	return siphash18(k, addr, port, 1, 3);
}

#ifdef HSVR_TEST_HOOKS
/* SipHash-2-4, whose published test vectors check the layout above. */
uint64_t
hsvr_hash_addr_sip24(const struct hsvr_hash_key *k, const uint8_t addr[16],
    uint16_t port)
{
	return siphash18(k, addr, port, 2, 4);
}
#endif
