/*
 * stripes.c - the hash table under S_search and --max-per-ip: entries
 * keyed by a 16-byte address (and a port), hashed under a key drawn per
 * process (hash.c), in independently locked stripes whose buckets double
 * as they fill, so that threads rarely meet and chains stay short
 * whatever addresses and ports a client picks.  The entries are the
 * caller's, linked through a node they embed; the caller holds a stripe's
 * lock around what it does there.
 */
#include "hsvr-int.h"

#include <stdlib.h>
#include <string.h>

#define STRIPES 256             /* a power of two */

static size_t
slot_of(const struct hsvr_stripe *st, uint64_t h)
{
	return (size_t)(h >> 8) & (st->nbucket - 1);
}

/* A table with a fresh random key: 0, or -1 (no key: after a message). */
int
hsvr_stripes_init(struct hsvr_stripes *t, size_t initial)
{
	int i;

	memset(t, 0, sizeof *t);
	if (hsvr_hash_key_new(&t->key) != 0) {
		hsvr_warn("cannot draw a random hash key");
		return -1;
	}
	t->initial = initial;
	t->s = aligned_alloc(HSVR_CACHELINE, sizeof *t->s * STRIPES);
	if (t->s == NULL)
		return -1;
	memset(t->s, 0, sizeof *t->s * STRIPES);
	for (i = 0; i < STRIPES; i++)
		pthread_mutex_init(&t->s[i].lock, NULL);
	return 0;
}

/* Free the table; drop, if not NULL, is given every entry still in it. */
void
hsvr_stripes_free(struct hsvr_stripes *t, void (*drop)(struct hsvr_tnode *))
{
	struct hsvr_tnode *n;
	size_t j;
	int i;

	if (t->s == NULL)
		return;
	for (i = 0; i < STRIPES; i++) {
		for (j = 0; drop != NULL && j < t->s[i].nbucket; j++)
			while ((n = t->s[i].bucket[j]) != NULL) {
				t->s[i].bucket[j] = n->next;
				drop(n);
			}
		free(t->s[i].bucket);
		pthread_mutex_destroy(&t->s[i].lock);
	}
	free(t->s);
	t->s = NULL;
}

uint64_t
hsvr_stripes_hash(const struct hsvr_stripes *t, const uint8_t key[16],
    uint16_t port)
{
	return hsvr_hash_addr(&t->key, key, port);
}

/* The stripe of hash h, locked. */
struct hsvr_stripe *
hsvr_stripes_lock(struct hsvr_stripes *t, uint64_t h)
{
	struct hsvr_stripe *st = &t->s[h & (STRIPES - 1)];

	pthread_mutex_lock(&st->lock);
	return st;
}

void
hsvr_stripes_unlock(struct hsvr_stripe *st)
{
	pthread_mutex_unlock(&st->lock);
}

/* The chain where entries of hash h are (follow ->next, compare ->h). */
struct hsvr_tnode *
hsvr_stripes_first(const struct hsvr_stripe *st, uint64_t h)
{
	return st->nbucket == 0 ? NULL : st->bucket[slot_of(st, h)];
}

/* Double the buckets of st (an out-of-memory leaves longer chains). */
static void
grow(struct hsvr_stripe *st, size_t initial)
{
	struct hsvr_tnode **nb, *n, *next;
	size_t i, size = st->nbucket ? st->nbucket * 2 : initial;
	size_t old = st->nbucket;

	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	if ((nb = calloc(size, sizeof *nb)) == NULL)
		return;
	st->nbucket = size;
	for (i = 0; i < old; i++)
		for (n = st->bucket[i]; n != NULL; n = next) {
			next = n->next;
			n->next = nb[slot_of(st, n->h)];
			nb[slot_of(st, n->h)] = n;
		}
	free(st->bucket);
	st->bucket = nb;
}

/*
 * Put n, of hash h, in the locked stripe st of t, first doubling its
 * buckets when it holds two entries a bucket: 0, or -1 (out of memory,
 * not put).
 */
int
hsvr_stripes_insert(struct hsvr_stripes *t, struct hsvr_stripe *st,
    struct hsvr_tnode *n, uint64_t h)
{
	struct hsvr_tnode **head;

	if (st->count >= st->nbucket * 2)
		grow(st, t->initial);
	if (st->nbucket == 0)
		return -1;
	n->h = h;
	head = &st->bucket[slot_of(st, h)];
	n->next = *head;
	*head = n;
	st->count++;
	return 0;
}

/* Take n out of the locked stripe st, if it is there. */
void
hsvr_stripes_remove(struct hsvr_stripe *st, struct hsvr_tnode *n)
{
	struct hsvr_tnode **pp;

	if (st->nbucket == 0)
		return;
	for (pp = &st->bucket[slot_of(st, n->h)]; *pp != NULL;
	    pp = &(*pp)->next)
		if (*pp == n) {
			*pp = n->next;
			st->count--;
			return;
		}
}

#ifdef HSVR_TEST_HOOKS
/* The table's shape for tests: entries, and the longest chain, now. */
void
hsvr_stripes_shape(struct hsvr_stripes *t, size_t *entries, size_t *longest)
{
	struct hsvr_tnode *n;
	size_t j, len;
	int i;

	*entries = *longest = 0;
	for (i = 0; t->s != NULL && i < STRIPES; i++) {
		pthread_mutex_lock(&t->s[i].lock);
		for (j = 0; j < t->s[i].nbucket; j++) {
			for (len = 0, n = t->s[i].bucket[j]; n != NULL;
			    n = n->next)
				len++;
			*entries += len;
			if (len > *longest)
				*longest = len;
		}
		pthread_mutex_unlock(&t->s[i].lock);
	}
}
#endif
