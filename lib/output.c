/*
 * output.c - how the bytes of one S_send* enter a session's output queue
 * (copied, by reference, or as a file range: sendfile or read), and how
 * their release callbacks become due and run.
 */
#include "hsvr-int.h"

#include <errno.h>
#include <sys/uio.h>
#include <unistd.h>

/* Largest piece of a file range read into the queue by one pread. */
#define READ_PIECE ((size_t)256 * 1024)

/*
 * This thread's due releases, oldest first: a worker's (hsvr_output_thread).
 * due_tail NULL: not a worker, a release runs at once.
 */
static _Thread_local struct hsvr_release *due_head, **due_tail;
static _Thread_local int due_running;   /* hsvr_output_release_run */

/* A worker thread starts (1) or ends (0): queue due releases, or not. */
void
hsvr_output_thread(int on)
{
	due_head = NULL;
	due_tail = on ? &due_head : NULL;
	due_running = 0;
}

struct hsvr_release *
hsvr_output_release_new(S_RELEASE_T fn, void *arg)
{
	struct hsvr_release *r = hsvr_malloc(sizeof *r);

	if (r != NULL) {
		r->next = NULL;
		r->fn = fn;
		r->arg = arg;
	}
	return r;
}

/*
 * r is due.  libevent calls this from inside evbuffer_drain or
 * evbuffer_free, where a release that sends (appending to the buffer
 * being drained) would lose its bytes: it is queued, and run once the
 * operation has returned.  Off a worker (the inbox dropped after the
 * workers stopped) nothing is going on: it runs now.
 */
void
hsvr_output_due(struct hsvr_release *r)
{
	if (due_tail == NULL) {
		r->fn(r->arg);
		hsvr_free(r);
		return;
	}
	r->next = NULL;
	*due_tail = r;
	due_tail = &r->next;
}

void
hsvr_output_release_run(void)
{
	struct hsvr_release *r;

	if (due_tail == NULL || due_running)
		return;
	due_running = 1;
	while ((r = due_head) != NULL) {
		if ((due_head = r->next) == NULL)
			due_tail = &due_head;
		r->fn(r->arg);
		hsvr_free(r);
	}
	due_running = 0;
}

static void
ref_done(const void *data, size_t len, void *arg)
{
	(void)data, (void)len;
	hsvr_output_due(arg);
}

static void
segment_done(const struct evbuffer_file_segment *seg, int flags, void *arg)
{
	(void)seg, (void)flags;
	hsvr_output_due(arg);
}

void
hsvr_output_drop(const struct hsvr_out *o)
{
	hsvr_free(o->rel);
}

static int
add_ref(struct evbuffer *q, const struct hsvr_out *o, size_t skip)
{
	return evbuffer_add_reference(q, o->data + skip, o->len - skip,
	    o->rel != NULL ? ref_done : NULL, o->rel);
}

/* The range as a sendfile segment of q (which drains to a plain socket). */
static int
add_segment(struct evbuffer *q, const struct hsvr_out *o, size_t skip)
{
	struct evbuffer_file_segment *seg;

	seg = evbuffer_file_segment_new(o->fd, o->off + (off_t)skip,
	    (ev_off_t)(o->len - skip),
	    EVBUF_FS_DISABLE_MMAP | EVBUF_FS_DISABLE_LOCKING);
	if (seg == NULL || evbuffer_add_file_segment(q, seg, 0, -1) != 0) {
		if (seg != NULL)
			evbuffer_file_segment_free(seg);
		return -1;
	}
	/* Called once q no longer holds the segment: the fd is free. */
	if (o->rel != NULL)
		evbuffer_file_segment_add_cleanup_cb(seg, segment_done, o->rel);
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
	hsvr_output_done(o);       /* the bytes are in q: the fd is free */
	return 0;
fail:
	evbuffer_free(tmp);
	return -1;
}

int
hsvr_output_add(struct evbuffer *q, const struct hsvr_out *o, size_t skip,
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
