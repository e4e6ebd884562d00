/*
 * tbuf.h - a growable byte buffer: the output a test server keeps, in
 * order, while S_send says -4.
 */
#ifndef HSVR_TEST_TBUF_H
#define HSVR_TEST_TBUF_H

#include "tline.h"

#include <stdlib.h>
#include <string.h>

struct tbuf {
	unsigned char *p;
	size_t len, cap;
};

/* Appends n bytes from p, doubling the room as needed; a VIOLATION line
 * and abort() when memory runs out. */
static inline void
tbuf_add(struct tbuf *b, const void *p, size_t n)
{
	size_t cap = b->cap ? b->cap : 4096;
	unsigned char *np;

	while (cap < b->len + n)
		cap *= 2;
	if (cap != b->cap) {
		if ((np = realloc(b->p, cap)) == NULL) {
			TLINE_VIOLATION("out of memory keeping %zu bytes", cap);
			abort();
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

#endif /* HSVR_TEST_TBUF_H */
