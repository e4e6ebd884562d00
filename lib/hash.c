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

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND(v0, v1, v2, v3) do {                                   \
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);       \
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                          \
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                          \
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);       \
} while (0)

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
	uint64_t v0 = k->k0 ^ 0x736f6d6570736575ULL;
	uint64_t v1 = k->k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k->k0 ^ 0x6c7967656e657261ULL;
	uint64_t v3 = k->k1 ^ 0x7465646279746573ULL;
	uint64_t m[3];
	int i, r;

	m[0] = le64(addr);
	m[1] = le64(addr + 8);
	m[2] = (uint64_t)18 << 56 | port;
	for (i = 0; i < 3; i++) {
		v3 ^= m[i];
		for (r = 0; r < c; r++)
			SIPROUND(v0, v1, v2, v3);
		v0 ^= m[i];
	}
	v2 ^= 0xff;
	for (r = 0; r < d; r++)
		SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
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
