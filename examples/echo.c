/* echo.c - hsvr-echo: echoes every chunk, first byte turned to '!', in order even when congested. */
/*
 * Back-pressure: when S_send refuses (-4) the chunk is kept and reading
 * pauses (S_pause_read), so a peer that sends without reading holds at
 * most one chunk here and the kernel's buffers; TYP_SENDABLE sends what
 * was kept and resumes reading.
 */
#include <stdlib.h>
#include <string.h>

#include "hsvr.h"

#define PIECE (256 * 1024)                /* bytes per S_send when catching up */
#define PENDING_MAX (4 * 1024 * 1024)     /* never reached while reads pause */

/* Echo S_send refused (-4), kept in order until TYP_SENDABLE. */
struct pending {
	unsigned char *data;
	size_t off, len, cap;
};

void
serv_init(void)
{
	serv_set_name("hsvr-echo");
}

void
serv_on_accept(SESSION *s)
{
	if ((s->usr = calloc(1, sizeof(struct pending))) == NULL)
		S_close(s);
}

void
serv_on_term(SESSION *s)
{
	struct pending *p = s->usr;

	if (p != NULL)
		free(p->data);
	free(p);
	s->usr = NULL;
}

/* Keep len more bytes; -1 if the peer has fallen too far behind. */
static int
pending_add(struct pending *p, const unsigned char *data, size_t len)
{
	unsigned char *bigger;
	size_t cap;

	if (p->off > 0) {
		memmove(p->data, p->data + p->off, p->len - p->off);
		p->len -= p->off;
		p->off = 0;
	}
	if (p->len + len > PENDING_MAX)
		return -1;
	if (p->len + len > p->cap) {
		for (cap = p->cap ? p->cap : 64 * 1024; cap < p->len + len;)
			cap *= 2;
		if ((bigger = realloc(p->data, cap)) == NULL)
			return -1;
		p->data = bigger;
		p->cap = cap;
	}
	memcpy(p->data + p->len, data, len);
	p->len += len;
	return 0;
}

void
serv_on_read(SESSION *s)
{
	struct pending *p = s->usr;
	int rc = S_ERR_CONGESTED;

	if (p == NULL || s->blen == 0)
		return;
	s->buff[0] = '!';
	/* While older echo waits, new echo queues behind it. */
	if (p->len == 0)
		rc = S_send(s, s->buff, s->blen);
	if (rc != S_ERR_CONGESTED)
		return;
	if (pending_add(p, s->buff, s->blen) == -1)
		S_close(s);
	else
		(void)S_pause_read(s, 1);
}

void
serv_on_sendable(SESSION *s)
{
	struct pending *p = s->usr;
	size_t n;

	while (p != NULL && p->off < p->len) {
		n = p->len - p->off < PIECE ? p->len - p->off : PIECE;
		if (S_send(s, p->data + p->off, n) != 0)
			return;
		p->off += n;
	}
	if (p != NULL)
		p->off = p->len = 0;
	(void)S_pause_read(s, 0);
}
