/*
 * tables.c - white-box test of the per-address tables, without the engine:
 * the address index behind S_search (search.c), the --max-per-ip counts
 * (perip.c) and their keyed hash (hash.c), linked from the tests' build of
 * the library.
 *
 *  - the hash is SipHash: its layout gives the published SipHash-2-4
 *    vector for an 18-byte message;
 *  - the index: 50,000 sessions from one /64 (random addresses and ports),
 *    then 50,000 chosen so that the unkeyed hash of the old index put
 *    them all in one chain: each is found by S_search, chains stay short,
 *    removal leaves nothing; lookups per second are printed;
 *  - the address text (hsvr_search_key): what inet_ntop gives, for every
 *    value of every IPv4 byte, 100,000 random IPv4 addresses, IPv4-mapped
 *    ones and IPv6;
 *  - --max-per-ip: counts are exact (take, refuse, give, take again), IPv6
 *    counts per /64 (a flood of 50,000 addresses of one /64 is one entry
 *    and is refused past the limit), IPv4 and IPv4-mapped count per
 *    address; 50,000 different /64s keep chains short and all give back.
 */
#include "client.h"
#include "hsvr-int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N 50000
/* Far above what a keyed hash gives (about 10), far below N. */
#define CHAIN_BOUND 32

static uint64_t rng = 0x2545f4914f6cdd1dULL;

static uint64_t
next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);       /* as the old hash read it: native order */
}

/* The inverse of an odd number modulo 2^64 (Newton's iteration). */
static uint64_t
inverse(uint64_t a)
{
	uint64_t x = a;
	int i;

	for (i = 0; i < 6; i++)
		x *= 2 - a * x;
	return x;
}

static void
kat(void)
{
	struct hsvr_hash_key k;
	uint8_t m[16];
	int i;

	for (i = 0; i < 16; i++)
		m[i] = (uint8_t)i;
	k.k0 = 0x0706050403020100ULL;
	k.k1 = 0x0f0e0d0c0b0a0908ULL;
	t_ok(hsvr_hash_addr_sip24(&k, m, 0x1110) == 0x4bc1b3f0968dd39cULL,
	    "SipHash-2-4 of 00..11 under key 00..0f is the published vector");
	t_ok(hsvr_hash_addr(&k, m, 0x1110) != hsvr_hash_addr(&k, m, 0x1111),
	    "the port is hashed");
}

/* The index with conns c[0..N-1]: all found, chains short, all removed. */
static void
index_round(struct hsvr_conn *c, const char *what)
{
	char ip[INET6_ADDRSTRLEN];
	size_t entries, longest;
	double t0, secs;
	SESSION *s;
	int i, found = 0, wrong = 0;

	for (i = 0; i < N; i++)
		hsvr_search_add(&c[i]);
	hsvr_search_shape(&entries, &longest);
	t_ok(entries == N && longest <= CHAIN_BOUND, "%s: %zu entries, "
	    "longest chain %zu (bound %d)", what, entries, longest,
	    CHAIN_BOUND);
	t0 = t_now();
	for (i = 0; i < N; i++) {
		inet_ntop(AF_INET6, c[i].key, ip, sizeof ip);
		s = S_search(ip, c[i].pub.port);
		if (s == &c[i].pub)
			found++;
		else if (s != NULL)
			wrong++;
	}
	secs = t_now() - t0;
	t_ok(found == N && wrong == 0, "%s: S_search finds each (%d found, "
	    "%d wrong)", what, found, wrong);
	t_note("%s: %.0f lookups/s (S_search, text address included)", what,
	    N / secs);
	for (i = 0; i < N; i++)
		hsvr_search_del(&c[i]);
	hsvr_search_shape(&entries, &longest);
	inet_ntop(AF_INET6, c[0].key, ip, sizeof ip);
	t_ok(entries == 0 && S_search(ip, c[0].pub.port) == NULL,
	    "%s: all removed (%zu left)", what, entries);
}

static void
index_tests(void)
{
	static struct hsvr_conn c[N];
	uint64_t a, C1 = 0x9e3779b97f4a7c15ULL, inv = inverse(C1);
	int i;

	/* fd00:a::/64, random interface identifiers and ports */
	a = 0x0a0000000000fdULL;
	for (i = 0; i < N; i++) {
		put64(c[i].key, a);
		put64(c[i].key + 8, next_rand());
		c[i].pub.port = (unsigned short)(1024 + next_rand() % 64000);
	}
	index_round(c, "index, 50,000 random sessions from one /64");

	/*
	 * The old hash was (a ^ b * C1 ^ port) * C2, a bijection of
	 * a ^ b * C1 ^ port: with b = (T ^ a ^ port) / C1 every address and
	 * port of one /64 hashes alike.
	 */
	for (i = 0; i < N; i++) {
		c[i].pub.port = (unsigned short)(1 + i);
		put64(c[i].key, a);
		put64(c[i].key + 8, (0x5eedULL ^ a ^ c[i].pub.port) * inv);
	}
	index_round(c, "index, 50,000 sessions that collided in the old hash");
}

static int
take(const char *ip)
{
	uint8_t k[16] = { 0 };

	if (inet_pton(AF_INET, ip, k + 12) == 1)
		k[10] = k[11] = 0xff;
	else if (inet_pton(AF_INET6, ip, k) != 1)
		t_bail("bad address %s", ip);
	return hsvr_perip_take(k);
}

static void
give(const char *ip)
{
	uint8_t k[16] = { 0 };

	if (inet_pton(AF_INET, ip, k + 12) == 1)
		k[10] = k[11] = 0xff;
	else
		inet_pton(AF_INET6, ip, k);
	hsvr_perip_give(k);
}

static void
perip_tests(void)
{
	static uint8_t keys[N][16];
	size_t entries, longest;
	uint64_t C2 = 0xc2b2ae3d27d4eb4fULL, inv2 = inverse(C2);
	double t0, secs;
	int i, n0, n1, nm1;

	t_ok(take("fd00:a::1") == 0 && take("fd00:a::2") == 0 &&
	    take("fd00:a:0:0:ffff:ffff:ffff:ffff") == 0,
	    "three connections from three addresses of fd00:a::/64 are taken");
	t_ok(take("fd00:a::4") == 1 && take("fd00:a::1") == 1,
	    "a fourth from that /64 is refused, whichever address");
	t_ok(take("fd00:a:0:1::1") == 0 && take("fd00:b::1") == 0,
	    "another /64 (fd00:a:0:1::/64, fd00:b::/64) has its own count");
	give("fd00:a::2");
	t_ok(take("fd00:a::9") == 0 && take("fd00:a::9") == 1,
	    "one given back: exactly one more is taken");
	t_ok(take("10.0.0.1") == 0 && take("10.0.0.1") == 0 &&
	    take("::ffff:10.0.0.1") == 0 && take("10.0.0.1") == 1,
	    "IPv4 counts per address, IPv4-mapped IPv6 as its IPv4 address");
	t_ok(take("10.0.0.2") == 0 && take("10.0.0.3") == 0,
	    "other IPv4 addresses (in the same ::ffff:0:0/96) are not counted "
	    "with it");
	hsvr_perip_shape(&entries, &longest);
	t_ok(entries == 6, "6 entries: fd00:a::/64, fd00:a:0:1::/64, "
	    "fd00:b::/64, 3 IPv4 addresses (%zu)", entries);
	give("fd00:a::1");
	give("fd00:a::3");      /* any address of the /64 gives back */
	give("fd00:a::9");
	give("fd00:a:0:1::1");
	give("fd00:b::1");
	for (i = 0; i < 3; i++)
		give("10.0.0.1");
	give("10.0.0.2");
	give("10.0.0.3");
	hsvr_perip_shape(&entries, &longest);
	t_ok(entries == 0, "all given back: no entry left (%zu)", entries);

	/*
	 * 50,000 addresses of one /64, chosen so the old table put them in
	 * one stripe (b * C2 changed only bits its stripe did not use).
	 */
	hsvr_perip_free();
	if (hsvr_perip_init(1000) != 0)
		t_bail("cannot set up the per-address table again");
	n0 = n1 = nm1 = 0;
	t0 = t_now();
	for (i = 0; i < N; i++) {
		put64(keys[i], 0x0c0000000000fdULL);
		put64(keys[i] + 8, ((uint64_t)(i + 1) << 41) * inv2);
		switch (hsvr_perip_take(keys[i])) {
		case 0: n0++; break;
		case 1: n1++; break;
		default: nm1++; break;
		}
	}
	secs = t_now() - t0;
	hsvr_perip_shape(&entries, &longest);
	t_ok(n0 == 1000 && n1 == N - 1000 && nm1 == 0 && entries == 1,
	    "a flood of 50,000 addresses of one /64: one entry, 1,000 taken, "
	    "the rest refused (%d, %d, %d; %zu entries)", n0, n1, nm1, entries);
	t_note("perip, 50,000 addresses of one /64: %.0f takes/s", N / secs);
	for (i = 0; i < 1000; i++)
		hsvr_perip_give(keys[i]);
	hsvr_perip_shape(&entries, &longest);
	t_ok(entries == 0, "and given back (%zu left)", entries);

	/* 50,000 different /64s, the low halves alike. */
	t0 = t_now();
	for (i = 0; i < N; i++) {
		put64(keys[i], next_rand());
		put64(keys[i] + 8, 1);
		if (hsvr_perip_take(keys[i]) != 0)
			break;
	}
	secs = t_now() - t0;
	hsvr_perip_shape(&entries, &longest);
	t_ok(i == N && entries == N && longest <= CHAIN_BOUND, "50,000 /64s: "
	    "all taken, %zu entries, longest chain %zu (bound %d)", entries,
	    longest, CHAIN_BOUND);
	t_note("perip, 50,000 /64s: %.0f takes/s", N / secs);
	for (i = 0; i < N; i++)
		hsvr_perip_give(keys[i]);
	hsvr_perip_shape(&entries, &longest);
	t_ok(entries == 0, "and all given back (%zu left)", entries);
}

/* The address of family af in bytes b: hsvr_search_key's text is inet_ntop's. */
static int
text_same(int af, const uint8_t *b, char *got, char *want)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	uint8_t key[16];
	unsigned short port;

	memset(&ss, 0, sizeof ss);
	ss.ss_family = (sa_family_t)af;
	if (af == AF_INET)
		memcpy(&s4->sin_addr, b, 4);
	else
		memcpy(&s6->sin6_addr, b, 16);
	if (hsvr_search_key((struct sockaddr *)&ss, key, got, 46, &port) != 0)
		return 0;
	if (af == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		inet_ntop(AF_INET, b + 12, want, 46);
	else
		inet_ntop(af, b, want, 46);
	return strcmp(got, want) == 0;
}

static void
test_text(void)
{
	uint8_t b[16];
	char got[46], want[46];
	long bad = 0, n = 0;
	uint64_t r;
	int i, v;

	for (i = 0; i < 4; i++)
		for (v = 0; v < 256; v++, n++) {
			memset(b, 0, sizeof b);
			memset(b, 7, 4);
			b[i] = (uint8_t)v;
			bad += !text_same(AF_INET, b, got, want);
		}
	for (i = 0; i < 100000; i++, n++) {
		r = next_rand();
		memcpy(b, &r, 4);
		bad += !text_same(AF_INET, b, got, want);
	}
	t_ok(bad == 0, "address text: %ld IPv4 addresses as inet_ntop writes "
	    "them (%ld differ; the last checked: %s, inet_ntop: %s)", n, bad,
	    got, want);
	memset(b, 0, sizeof b);
	b[10] = b[11] = 0xff;
	b[12] = 192, b[13] = 0, b[14] = 2, b[15] = 255;
	t_ok(text_same(AF_INET6, b, got, want) && strcmp(got, "192.0.2.255") == 0,
	    "an IPv4-mapped address: dotted (%s)", got);
	(void)inet_pton(AF_INET6, "2001:db8::1:0:0:1", b);
	t_ok(text_same(AF_INET6, b, got, want), "IPv6: %s", got);
}

int
main(int argc, char **argv)
{
	struct hsvr_hash_key k1, k2;

	t_init(argc, argv);
	kat();
	test_text();
	t_ok(hsvr_hash_key_new(&k1) == 0 && hsvr_hash_key_new(&k2) == 0 &&
	    (k1.k0 != k2.k0 || k1.k1 != k2.k1), "random keys are drawn");
	if (hsvr_search_init() != 0 || hsvr_perip_init(3) != 0)
		t_bail("cannot set up the tables");
	index_tests();
	perip_tests();
	hsvr_search_free();
	hsvr_perip_free();
	return t_done();
}
