/*
 * output.c - how the bytes of one S_send* enter a session's output queue:
 * copied, by reference, or as a file range (sendfile or read).
 */
#include "hsvr-int.h"

#include <errno.h>
#include <sys/uio.h>
#include <unistd.h>

/* Largest piece of a file range read into the queue by one pread. */
#define READ_PIECE ((size_t)256 * 1024)

/* The application's release, for libevent's cleanup callbacks. */
struct release {
	S_RELEASE_T fn;
	void *arg;
};

static struct release *
release_new(const struct hsvr_out *o)
{
	struct release *r = hsvr_malloc(sizeof *r);

	if (r != NULL) {
		r->fn = o->release;
		r->arg = o->arg;
	}
	return r;
}

static void
ref_done(const void *data, size_t len, void *arg)
{
	struct release *r = arg;

	(void)data, (void)len;
	r->fn(r->arg);
	hsvr_free(r);
}

static void
segment_done(const struct evbuffer_file_segment *seg, int flags, void *arg)
{
	(void)seg, (void)flags;
	ref_done(NULL, 0, arg);
}

void
hsvr_out_done(const struct hsvr_out *o)
{
	if (o->release != NULL)
		o->release(o->arg);
}

static int
add_ref(struct evbuffer *q, const struct hsvr_out *o, size_t skip)
{
	struct release *r = NULL;

	if (o->release != NULL && (r = release_new(o)) == NULL)
		return -1;
	if (evbuffer_add_reference(q, o->data + skip, o->len - skip,
	    r != NULL ? ref_done : NULL, r) != 0) {
		hsvr_free(r);
		return -1;
	}
	return 0;
}

/* The range as a sendfile segment of q (which drains to a plain socket). */
static int
add_segment(struct evbuffer *q, const struct hsvr_out *o, size_t skip)
{
	struct evbuffer_file_segment *seg;
	struct release *r = NULL;

	if (o->release != NULL && (r = release_new(o)) == NULL)
		return -1;
	seg = evbuffer_file_segment_new(o->fd, o->off + (off_t)skip,
	    (ev_off_t)(o->len - skip),
	    EVBUF_FS_DISABLE_MMAP | EVBUF_FS_DISABLE_LOCKING);
	if (seg == NULL || evbuffer_add_file_segment(q, seg, 0, -1) != 0) {
		if (seg != NULL)
			evbuffer_file_segment_free(seg);
		hsvr_free(r);
		return -1;
	}
	/* Called once q no longer holds the segment: the fd is free. */
	if (r != NULL)
		evbuffer_file_segment_add_cleanup_cb(seg, segment_done, r);
	evbuffer_file_segment_free(seg);
	return 0;
}

/*
 * The range read into q (TLS encrypts it anyway: no mapping, which a file
 * shrinking under it would turn into SIGBUS).  All or nothing: read into a
 * buffer of its own first.
 */
static int
add_read(struct evbuffer *q, const struct hsvr_out *o, size_t skip)
{
	struct evbuffer *tmp;
	struct evbuffer_iovec v;
	off_t off = o->off + (off_t)skip;
	size_t left = o->len - skip, got;
	ssize_t n;

	if ((tmp = evbuffer_new()) == NULL)
		return -1;
	while (left > 0) {
		got = left < READ_PIECE ? left : READ_PIECE;
		if (evbuffer_reserve_space(tmp, (ev_ssize_t)got, &v, 1) != 1)
			goto fail;
		got = 0;
		while (got < v.iov_len && got < left) {
			n = pread(o->fd, (char *)v.iov_base + got,
			    (v.iov_len < left ? v.iov_len : left) - got,
			    off + (off_t)got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				goto fail;      /* an error, or the file shrank */
			got += (size_t)n;
		}
		v.iov_len = got;
		if (evbuffer_commit_space(tmp, &v, 1) != 0)
			goto fail;
		off += (off_t)got;
		left -= got;
	}
	if (evbuffer_add_buffer(q, tmp) != 0)
		goto fail;
	evbuffer_free(tmp);
	hsvr_out_done(o);       /* the bytes are in q: the fd is free */
	return 0;
fail:
	evbuffer_free(tmp);
	return -1;
}

int
hsvr_out_add(struct evbuffer *q, const struct hsvr_out *o, size_t skip,
    int sendfile)
{
	switch (o->kind) {
	case OUT_COPY:
		return evbuffer_add(q, o->data + skip, o->len - skip);
	case OUT_REF:
		return add_ref(q, o, skip);
	case OUT_FILE:
		return sendfile ? add_segment(q, o, skip) : add_read(q, o, skip);
	}
	return -1;
}
