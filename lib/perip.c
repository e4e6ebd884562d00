/*
 * perip.c - open connections per peer, for --max-per-ip: a count per IPv4
 * address and per IPv6 /64 (what one host, or one customer of a provider,
 * holds), taken at accept and given back by the worker
 * when the descriptor is closed, lingering close included.  In a striped
 * hash table (stripes.c): O(1) expected whatever addresses come.
 */
#include "hsvr-int.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define INITIAL_BUCKETS 4

struct perip_entry {
	struct hsvr_tnode node;         /* first: the entry is its node */
	uint8_t key[16];
	uint32_t n;
};

static struct hsvr_stripes table;
static uint32_t most;            /* --max-per-ip */

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

int
hsvr_perip_init(int max_per_ip)
{
	if (max_per_ip <= 0 || table.s != NULL)
		return 0;
	most = (uint32_t)max_per_ip;
	return hsvr_stripes_init(&table, INITIAL_BUCKETS);
}

static void
drop(struct hsvr_tnode *n)
{
	hsvr_free(n);
}

void
hsvr_perip_free(void)
{
	hsvr_stripes_free(&table, drop);
}

/* The entry of key in the locked stripe st, or NULL. */
static struct perip_entry *
find(const struct hsvr_stripe *st, uint64_t h, const uint8_t key[16])
{
	struct hsvr_tnode *n;

	for (n = hsvr_stripes_first(st, h); n != NULL; n = n->next)
		if (n->h == h &&
		    memcmp(((struct perip_entry *)n)->key, key, 16) == 0)
			return (struct perip_entry *)n;
	return NULL;
}

int
hsvr_perip_take(const uint8_t addr[16])
{
	struct hsvr_stripe *st;
	struct perip_entry *e;
	uint8_t key[16];
	uint64_t h;
	int rc = 0;

	peer_of(addr, key);
	h = hsvr_stripes_hash(&table, key, 0);
	st = hsvr_stripes_lock(&table, h);
	if ((e = find(st, h, key)) != NULL) {
		if (e->n >= most)
			rc = 1;
		else
			e->n++;
	} else if ((e = hsvr_malloc(sizeof *e)) == NULL) {
		rc = -1;
	} else {
		memcpy(e->key, key, 16);
		e->n = 1;
		if (hsvr_stripes_insert(&table, st, &e->node, h) != 0) {
			hsvr_free(e);
			rc = -1;
		}
	}
	hsvr_stripes_unlock(st);
	return rc;
}

void
hsvr_perip_give(const uint8_t addr[16])
{
	struct hsvr_stripe *st;
	struct perip_entry *e;
	uint8_t key[16];
	uint64_t h;

	peer_of(addr, key);
	h = hsvr_stripes_hash(&table, key, 0);
	st = hsvr_stripes_lock(&table, h);
	if ((e = find(st, h, key)) != NULL && --e->n == 0)
		hsvr_stripes_remove(st, &e->node);
	else
		e = NULL;
	hsvr_stripes_unlock(st);
	hsvr_free(e);
}

#ifdef HSVR_TEST_HOOKS
void
hsvr_perip_shape(size_t *entries, size_t *longest)
{
	hsvr_stripes_shape(&table, entries, longest);
}
#endif
