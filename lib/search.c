/*
 * search.c - the peer-address index behind S_search: a hash table split
 * into independently locked stripes, so lookups from many threads and the
 * workers' inserts and removals rarely meet, and none is O(sessions).  It
 * keys on address and port, hashed under a key drawn per process (hash.c),
 * and each stripe doubles its buckets as it fills: chains stay short even
 * when one client picks the addresses and ports of its connections.
 */
#include "hsvr-int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define STRIPES 256
#define INITIAL_BUCKETS 16

struct stripe {
	pthread_mutex_t lock;
	struct hsvr_conn **bucket;
	size_t nbucket;         /* a power of two */
	size_t count;
} __attribute__((aligned(HSVR_CACHELINE)));

static struct stripe *stripes;
static struct hsvr_hash_key hkey;

static uint64_t
hash(const uint8_t key[16], unsigned short port)
{
	return hsvr_hash_addr(&hkey, key, port);
}

static struct stripe *
stripe_of(uint64_t h)
{
	return &stripes[h & (STRIPES - 1)];
}

static size_t
slot_of(const struct stripe *st, uint64_t h)
{
	return (size_t)(h >> 8) & (st->nbucket - 1);
}

int
hsvr_index_init(void)
{
	int i;

	if (hsvr_hash_key_new(&hkey) != 0) {
		hsvr_warn("cannot draw a random hash key");
		return -1;
	}
	stripes = aligned_alloc(HSVR_CACHELINE, sizeof *stripes * STRIPES);
	if (stripes == NULL)
		return -1;
	memset(stripes, 0, sizeof *stripes * STRIPES);
	for (i = 0; i < STRIPES; i++)
		pthread_mutex_init(&stripes[i].lock, NULL);
	return 0;
}

void
hsvr_index_free(void)
{
	int i;

	if (stripes == NULL)
		return;
	for (i = 0; i < STRIPES; i++) {
		free(stripes[i].bucket);
		pthread_mutex_destroy(&stripes[i].lock);
	}
	free(stripes);
	stripes = NULL;
}

/* Double the buckets of st when it holds more than two entries a bucket. */
static void
grow(struct stripe *st)
{
	struct hsvr_conn **nb, *c, *next;
	size_t i, n = st->nbucket ? st->nbucket * 2 : INITIAL_BUCKETS;
	size_t old = st->nbucket;

	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	if ((nb = calloc(n, sizeof *nb)) == NULL)
		return;         /* longer chains, still correct */
	st->nbucket = n;
	for (i = 0; i < old; i++)
		for (c = st->bucket[i]; c != NULL; c = next) {
			next = c->hnext;
			c->hnext = nb[slot_of(st, hash(c->key, c->pub.port))];
			nb[slot_of(st, hash(c->key, c->pub.port))] = c;
		}
	free(st->bucket);
	st->bucket = nb;
}

void
hsvr_index_add(struct hsvr_conn *c)
{
	uint64_t h = hash(c->key, c->pub.port);
	struct stripe *st = stripe_of(h);
	size_t i;

	pthread_mutex_lock(&st->lock);
	if (st->nbucket == 0 || st->count >= st->nbucket * 2)
		grow(st);
	if (st->nbucket == 0) {
		pthread_mutex_unlock(&st->lock);
		return;         /* out of memory: S_search will not find it */
	}
	i = slot_of(st, h);
	c->hnext = st->bucket[i];
	st->bucket[i] = c;
	st->count++;
	pthread_mutex_unlock(&st->lock);
}

void
hsvr_index_del(struct hsvr_conn *c)
{
	uint64_t h = hash(c->key, c->pub.port);
	struct stripe *st = stripe_of(h);
	struct hsvr_conn **pp;

	pthread_mutex_lock(&st->lock);
	if (st->nbucket > 0)
		for (pp = &st->bucket[slot_of(st, h)]; *pp != NULL;
		    pp = &(*pp)->hnext)
			if (*pp == c) {
				*pp = c->hnext;
				st->count--;
				break;
			}
	pthread_mutex_unlock(&st->lock);
}

/*
 * The index key of a peer address (IPv4 as IPv4-mapped IPv6) and its text:
 * dotted IPv4 for IPv4 and IPv4-mapped peers, IPv6 text otherwise.
 */
int
hsvr_addr_key(const struct sockaddr *sa, uint8_t key[16], char *host,
    size_t hostlen, unsigned short *port)
{
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &s4->sin_addr, 4);
		*port = ntohs(s4->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(key, &s6->sin6_addr, 16);
		*port = ntohs(s6->sin6_port);
	} else {
		(void)snprintf(host, hostlen, "?");
		*port = 0;
		return -1;
	}
	if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)key))
		inet_ntop(AF_INET, key + 12, host, (socklen_t)hostlen);
	else
		inet_ntop(AF_INET6, key, host, (socklen_t)hostlen);
	return 0;
}

SESSION *
S_search(char *ip, uint16_t port)
{
	struct stripe *st;
	struct hsvr_conn *c;
	uint8_t key[16];
	uint64_t h;

	if (ip == NULL || stripes == NULL)
		return NULL;
	memset(key, 0, sizeof key);
	if (inet_pton(AF_INET, ip, key + 12) == 1)
		key[10] = key[11] = 0xff;
	else if (inet_pton(AF_INET6, ip, key) != 1)
		return NULL;
	h = hash(key, port);
	st = stripe_of(h);
	pthread_mutex_lock(&st->lock);
	c = st->nbucket == 0 ? NULL : st->bucket[slot_of(st, h)];
	for (; c != NULL; c = c->hnext)
		if (c->pub.port == port && memcmp(c->key, key, 16) == 0)
			break;
	pthread_mutex_unlock(&st->lock);
	return c != NULL ? &c->pub : NULL;
}

#ifdef HSVR_TEST_HOOKS
void
hsvr_index_shape(size_t *entries, size_t *longest)
{
	struct hsvr_conn *c;
	size_t i, j, n;

	*entries = *longest = 0;
	for (i = 0; stripes != NULL && i < STRIPES; i++) {
		pthread_mutex_lock(&stripes[i].lock);
		for (j = 0; j < stripes[i].nbucket; j++) {
			for (n = 0, c = stripes[i].bucket[j]; c != NULL;
			    c = c->hnext)
				n++;
			*entries += n;
			if (n > *longest)
				*longest = n;
		}
		pthread_mutex_unlock(&stripes[i].lock);
	}
}
#endif
