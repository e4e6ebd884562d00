/*
 * perip.c - open sessions per peer address, for --max-per-ip: a count per
 * address in a hash table of independently locked stripes, taken by the
 * listener at accept and given back by the worker when the session ends.
 */
#include "hsvr-int.h"

#include <stdlib.h>
#include <string.h>

#define PERIP_STRIPES 1024      /* a power of two */

struct perip_entry {
	struct perip_entry *next;
	uint8_t key[16];
	uint32_t n;
};

struct perip_stripe {
	pthread_mutex_t lock;
	struct perip_entry *head;
};

static struct perip_stripe *table;

static struct perip_stripe *
stripe_of(const uint8_t key[16])
{
	uint64_t a, b, h;

	memcpy(&a, key, 8);
	memcpy(&b, key + 8, 8);
	h = (a * 0x9e3779b97f4a7c15ULL) ^ (b * 0xc2b2ae3d27d4eb4fULL);
	h ^= h >> 31;
	return &table[h & (PERIP_STRIPES - 1)];
}

/* Allocate the table: only servers that limit sessions per address pay. */
int
hsvr_perip_init(void)
{
	int i;

	if (hsvr_g.cfg->max_per_ip <= 0 || table != NULL)
		return 0;
	table = calloc(PERIP_STRIPES, sizeof *table);
	if (table == NULL)
		return -1;
	for (i = 0; i < PERIP_STRIPES; i++)
		pthread_mutex_init(&table[i].lock, NULL);
	return 0;
}

void
hsvr_perip_free(void)
{
	struct perip_entry *e;
	int i;

	if (table == NULL)
		return;
	for (i = 0; i < PERIP_STRIPES; i++) {
		while ((e = table[i].head) != NULL) {
			table[i].head = e->next;
			hsvr_free(e);
		}
		pthread_mutex_destroy(&table[i].lock);
	}
	free(table);
	table = NULL;
}

/*
 * Count one more session from key: 0, or 1 if the address has its
 * --max-per-ip sessions already, or -1 out of memory (not counted).
 */
int
hsvr_perip_take(const uint8_t key[16])
{
	struct perip_stripe *st = stripe_of(key);
	struct perip_entry *e;
	int rc = 0;

	pthread_mutex_lock(&st->lock);
	for (e = st->head; e != NULL; e = e->next)
		if (memcmp(e->key, key, 16) == 0)
			break;
	if (e == NULL) {
		if ((e = hsvr_malloc(sizeof *e)) == NULL) {
			rc = -1;
		} else {
			memcpy(e->key, key, 16);
			e->n = 1;
			e->next = st->head;
			st->head = e;
		}
	} else if (e->n >= (uint32_t)hsvr_g.cfg->max_per_ip) {
		rc = 1;
	} else {
		e->n++;
	}
	pthread_mutex_unlock(&st->lock);
	return rc;
}

/* A session counted by hsvr_perip_take has ended. */
void
hsvr_perip_give(const uint8_t key[16])
{
	struct perip_stripe *st = stripe_of(key);
	struct perip_entry *e, **pp;

	pthread_mutex_lock(&st->lock);
	for (pp = &st->head; (e = *pp) != NULL; pp = &e->next)
		if (memcmp(e->key, key, 16) == 0)
			break;
	if (e != NULL && --e->n == 0)
		*pp = e->next;
	else
		e = NULL;
	pthread_mutex_unlock(&st->lock);
	hsvr_free(e);
}
