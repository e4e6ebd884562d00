/*
 * perip.c - open connections per peer, for --max-per-ip: a count per IPv4
 * address and per IPv6 /64 (what one host, or one customer of a provider,
 * holds), taken by the listener at accept and given back by the worker
 * when the descriptor is closed, lingering close included.  A hash table
 * keyed per process (hash.c) in independently locked stripes whose
 * buckets double as they fill: O(1) expected whatever addresses come.
 */
#include "hsvr-int.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define STRIPES 256             /* a power of two */
#define INITIAL_BUCKETS 4

struct perip_entry {
	struct perip_entry *next;
	uint64_t h;
	uint8_t key[16];
	uint32_t n;
};

struct perip_stripe {
	pthread_mutex_t lock;
	struct perip_entry **bucket;
	size_t nbucket;         /* a power of two, or 0 */
	size_t count;
} __attribute__((aligned(HSVR_CACHELINE)));

static struct perip_stripe *table;
static struct hsvr_hash_key hkey;

/*
 * What is counted: an IPv4 address (IPv4-mapped), or the /64 of an IPv6
 * one, since a host is given a /64 and picks addresses in it at will.
 */
static void
peer_of(const uint8_t addr[16], uint8_t peer[16])
{
	memcpy(peer, addr, 16);
	if (!IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)addr))
		memset(peer + 8, 0, 8);
}

static size_t
slot_of(const struct perip_stripe *st, uint64_t h)
{
	return (size_t)(h >> 8) & (st->nbucket - 1);
}

int
hsvr_perip_init(void)
{
	int i;

	if (hsvr_g.cfg->max_per_ip <= 0 || table != NULL)
		return 0;
	if (hsvr_hash_key_new(&hkey) != 0) {
		hsvr_warn("cannot draw a random hash key");
		return -1;
	}
	table = aligned_alloc(HSVR_CACHELINE, sizeof *table * STRIPES);
	if (table == NULL)
		return -1;
	memset(table, 0, sizeof *table * STRIPES);
	for (i = 0; i < STRIPES; i++)
		pthread_mutex_init(&table[i].lock, NULL);
	return 0;
}

void
hsvr_perip_free(void)
{
	struct perip_entry *e;
	size_t j;
	int i;

	if (table == NULL)
		return;
	for (i = 0; i < STRIPES; i++) {
		for (j = 0; j < table[i].nbucket; j++)
			while ((e = table[i].bucket[j]) != NULL) {
				table[i].bucket[j] = e->next;
				hsvr_free(e);
			}
		free(table[i].bucket);
		pthread_mutex_destroy(&table[i].lock);
	}
	free(table);
	table = NULL;
}

/* Double the buckets of st when it holds more than two entries a bucket. */
static void
grow(struct perip_stripe *st)
{
	struct perip_entry **nb, *e, *next;
	size_t i, n = st->nbucket ? st->nbucket * 2 : INITIAL_BUCKETS;
	size_t old = st->nbucket;

	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	if ((nb = calloc(n, sizeof *nb)) == NULL)
		return;         /* longer chains, still correct */
	st->nbucket = n;
	for (i = 0; i < old; i++)
		for (e = st->bucket[i]; e != NULL; e = next) {
			next = e->next;
			e->next = nb[slot_of(st, e->h)];
			nb[slot_of(st, e->h)] = e;
		}
	free(st->bucket);
	st->bucket = nb;
}

int
hsvr_perip_take(const uint8_t addr[16])
{
	struct perip_stripe *st;
	struct perip_entry *e = NULL, **head;
	uint8_t key[16];
	uint64_t h;
	int rc = 0;

	peer_of(addr, key);
	h = hsvr_hash_addr(&hkey, key, 0);
	st = &table[h & (STRIPES - 1)];
	pthread_mutex_lock(&st->lock);
	if (st->nbucket > 0)
		for (e = st->bucket[slot_of(st, h)]; e != NULL; e = e->next)
			if (e->h == h && memcmp(e->key, key, 16) == 0)
				break;
	if (e != NULL) {
		if (e->n >= (uint32_t)hsvr_g.cfg->max_per_ip)
			rc = 1;
		else
			e->n++;
	} else {
		if (st->count >= st->nbucket * 2)
			grow(st);
		if (st->nbucket == 0 || (e = hsvr_malloc(sizeof *e)) == NULL) {
			rc = -1;
		} else {
			memcpy(e->key, key, 16);
			e->h = h;
			e->n = 1;
			head = &st->bucket[slot_of(st, h)];
			e->next = *head;
			*head = e;
			st->count++;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

void
hsvr_perip_give(const uint8_t addr[16])
{
	struct perip_stripe *st;
	struct perip_entry *e = NULL, **pp = NULL;
	uint8_t key[16];
	uint64_t h;

	peer_of(addr, key);
	h = hsvr_hash_addr(&hkey, key, 0);
	st = &table[h & (STRIPES - 1)];
	pthread_mutex_lock(&st->lock);
	if (st->nbucket > 0)
		for (pp = &st->bucket[slot_of(st, h)]; (e = *pp) != NULL;
		    pp = &e->next)
			if (e->h == h && memcmp(e->key, key, 16) == 0)
				break;
	if (e != NULL && --e->n == 0) {
		*pp = e->next;
		st->count--;
	} else {
		e = NULL;
	}
	pthread_mutex_unlock(&st->lock);
	hsvr_free(e);
}

#ifdef HSVR_TEST_HOOKS
void
hsvr_perip_shape(size_t *entries, size_t *longest)
{
	struct perip_entry *e;
	size_t j, n;
	int i;

	*entries = *longest = 0;
	for (i = 0; table != NULL && i < STRIPES; i++) {
		pthread_mutex_lock(&table[i].lock);
		for (j = 0; j < table[i].nbucket; j++) {
			for (n = 0, e = table[i].bucket[j]; e != NULL;
			    e = e->next)
				n++;
			*entries += n;
			if (n > *longest)
				*longest = n;
		}
		pthread_mutex_unlock(&table[i].lock);
	}
}
#endif
