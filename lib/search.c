/*
 * search.c - the peer-address index behind S_search: every session by
 * address and port in a striped hash table (stripes.c), so lookups from
 * many threads and the workers' inserts and removals rarely meet, none is
 * O(sessions), and chains stay short even when one client picks the
 * addresses and ports of its connections.
 */
#include "hsvr-int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>


#define INITIAL_BUCKETS 16

static struct hsvr_stripes peers;    /* every session, by address and port */

#define CONN_OF(n) \
	((struct hsvr_conn *)((char *)(n) - offsetof(struct hsvr_conn, hnode)))

int
hsvr_search_init(void)
{
	return hsvr_stripes_init(&peers, INITIAL_BUCKETS);
}

void
hsvr_search_free(void)
{
	hsvr_stripes_free(&peers, NULL);
}

void
hsvr_search_add(struct hsvr_conn *c)
{
	uint64_t h = hsvr_stripes_hash(&peers, c->key, c->pub.port);
	struct hsvr_stripe *st = hsvr_stripes_lock(&peers, h);

	/* Out of memory: S_search will not find it. */
	(void)hsvr_stripes_insert(&peers, st, &c->hnode, h);
	hsvr_stripes_unlock(st);
}

void
hsvr_search_del(struct hsvr_conn *c)
{
	struct hsvr_stripe *st = hsvr_stripes_lock(&peers, c->hnode.h);

	hsvr_stripes_remove(st, &c->hnode);
	hsvr_stripes_unlock(st);
}

/*
 * Dotted text of the IPv4 address a, as inet_ntop writes it: glibc's
 * formats it with sprintf, 1,700 instructions a call, twice for each
 * connection through a proxy (bench/PROFILE.md); this takes about 60.
 */
static void
search_ipv4_text(const uint8_t a[4], char *host, size_t hostlen)
{
	char text[16], *p = text;
	unsigned v;
	int i;

	for (i = 0; i < 4; i++) {
		v = a[i];
		if (v >= 100)
			*p++ = (char)('0' + v / 100);
		if (v >= 10)
			*p++ = (char)('0' + v / 10 % 10);
		*p++ = (char)('0' + v % 10);
		*p++ = i < 3 ? '.' : '\0';
	}
	(void)snprintf(host, hostlen, "%s", text);
}

/*
 * The index key of a peer address (IPv4 as IPv4-mapped IPv6) and its text:
 * dotted IPv4 for IPv4 and IPv4-mapped peers, IPv6 text otherwise.
 */
int
hsvr_search_key(const struct sockaddr *sa, uint8_t key[16], char *host,
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
		search_ipv4_text(key + 12, host, hostlen);
	else
		inet_ntop(AF_INET6, key, host, (socklen_t)hostlen);
	return 0;
}

SESSION *
S_search(char *ip, uint16_t port)
{
	struct hsvr_stripe *st;
	struct hsvr_tnode *n;
	struct hsvr_conn *c = NULL;
	uint8_t key[16];
	uint64_t h;

	if (ip == NULL || peers.s == NULL)
		return NULL;
	memset(key, 0, sizeof key);
	if (inet_pton(AF_INET, ip, key + 12) == 1)
		key[10] = key[11] = 0xff;
	else if (inet_pton(AF_INET6, ip, key) != 1)
		return NULL;
	h = hsvr_stripes_hash(&peers, key, port);
	st = hsvr_stripes_lock(&peers, h);
	for (n = hsvr_stripes_first(st, h); n != NULL; n = n->next) {
		c = CONN_OF(n);
		if (n->h == h && c->pub.port == port &&
		    memcmp(c->key, key, 16) == 0)
			break;
		c = NULL;
	}
	hsvr_stripes_unlock(st);
	return c != NULL ? &c->pub : NULL;
}

#ifdef HSVR_TEST_HOOKS
void
hsvr_search_shape(size_t *entries, size_t *longest)
{
	hsvr_stripes_shape(&peers, entries, longest);
}
#endif
