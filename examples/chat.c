/* chat.c - hsvr-chat: relays each line a client sends to all other clients, on any thread. */
#include <sys/queue.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsvr.h"

#define CHAT_LINE_MAX 4096  /* bytes of one line, '\n' included */

struct member {
	LIST_ENTRY(member) entry;  /* in the room, under lock */
	SESSION *s;
	int dropped;               /* closed as a slow reader, under lock */
	size_t len;                /* bytes of the partial line below */
	unsigned char line[CHAT_LINE_MAX];
};

/* The room: a member is in it from serv_on_accept to serv_on_term. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static LIST_HEAD(, member) room = LIST_HEAD_INITIALIZER(room);
static unsigned long slow_readers;

static unsigned char too_long[] = "hsvr-chat: line longer than 4096 bytes\n";

void
serv_init(void)
{
	serv_set_name("hsvr-chat");
}

void
serv_exit(void)
{
	pthread_mutex_lock(&lock);
	fprintf(stderr, "hsvr-chat: %lu slow readers disconnected\n",
	    slow_readers);
	pthread_mutex_unlock(&lock);
}

void
serv_on_accept(SESSION *s)
{
	struct member *m;

	if ((m = calloc(1, sizeof(*m))) == NULL) {
		S_close(s);
		return;
	}
	m->s = s;
	s->usr = m;
	pthread_mutex_lock(&lock);
	LIST_INSERT_HEAD(&room, m, entry);
	pthread_mutex_unlock(&lock);
}

void
serv_on_term(SESSION *s)
{
	struct member *m = s->usr;

	if (m == NULL)
		return;
	/* After this no other thread can reach s through the room. */
	pthread_mutex_lock(&lock);
	LIST_REMOVE(m, entry);
	pthread_mutex_unlock(&lock);
	free(m);
	s->usr = NULL;
}

/* Listeners may stay silent for ever; a dead one is found by congestion. */
void
serv_on_timeout(SESSION *s)
{
	(void)s;
}

/*
 * Send a line to everybody but its author.  Holding the lock keeps every
 * member's SESSION alive; S_send never blocks, so that is cheap.
 */
static void
broadcast(struct member *from, unsigned char *line, size_t len)
{
	struct member *m;

	pthread_mutex_lock(&lock);
	LIST_FOREACH(m, &room, entry) {
		if (m == from || m->dropped)
			continue;
		if (S_send(m->s, line, len) == S_ERR_CONGESTED) {
			/* One slow reader must not hold the room back. */
			m->dropped = 1;
			slow_readers++;
			S_close(m->s);
		}
	}
	pthread_mutex_unlock(&lock);
}

void
serv_on_read(SESSION *s)
{
	struct member *m = s->usr;
	unsigned char *p = s->buff, *end = s->buff + s->blen, *nl;
	size_t n;

	while (m != NULL && p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		if (m->len + n > CHAT_LINE_MAX) {
			S_send(s, too_long, sizeof(too_long) - 1);
			S_close(s);
			return;
		}
		if (nl != NULL && m->len == 0) {
			broadcast(m, p, n);
		} else {
			memcpy(m->line + m->len, p, n);
			m->len += n;
			if (nl != NULL) {
				broadcast(m, m->line, m->len);
				m->len = 0;
			}
		}
		p += n;
	}
}
