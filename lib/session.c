/*
 * session.c - a connection's life on its worker: opened from a hand-off
 * (after a TLS handshake where there is one), read into the worker's
 * buffer, written from its queue, timed out, closed (after flushing when
 * asked politely), retired and finally freed.
 */
#include "hsvr-int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void on_readable(evutil_socket_t, short, void *);
static void on_writable(evutil_socket_t, short, void *);
static void on_timer(evutil_socket_t, short, void *);

uint64_t
hsvr_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
arm_timer(struct hsvr_conn *c, uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	event_add(&c->tev, &tv);
}

static void
want_write(struct hsvr_conn *c, int on)
{
	if (on && !c->wev_added)
		event_add(&c->wev, NULL);
	else if (!on && c->wev_added)
		event_del(&c->wev);
	c->wev_added = on != 0;
}

static void
list_add(struct hsvr_worker *w, struct hsvr_conn *c)
{
	c->prev = NULL;
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
}

static void
list_del(struct hsvr_worker *w, struct hsvr_conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

static void
refuse(struct hsvr_msg *m)
{
	close(m->u.conn.fd);
	__atomic_sub_fetch(&hsvr_g.live, 1, __ATOMIC_RELAXED);
	SHARED_ADD(session_error, 1);
}

/* The connection is established (TLS: handshake done): it is a session. */
static void
accepted(struct hsvr_conn *c)
{
	struct hsvr_worker *w = c->w;

	c->accepted = 1;
	if (!c->is_unix) {
		hsvr_index_add(c);
		c->indexed = 1;
	}
	ctr_begin(&w->ctr);
	CTR_ADD(&w->ctr, accepted, 1);
	ctr_end(&w->ctr);
	c->timeout_ms = hsvr_g.cfg->timeout * 1000;
	c->last_active = hsvr_now_ms();
	event_del(&c->tev);
	if (c->timeout_ms > 0)
		arm_timer(c, (uint64_t)c->timeout_ms);
	hsvr_deliver(c, TYP_ACCEPT);
	if (conn_state(c) == HSVR_ST_OPEN)
		event_add(&c->rev, NULL);
}

/* A connection handed to w by the listener becomes a session. */
void
hsvr_conn_open(struct hsvr_worker *w, struct hsvr_msg *m)
{
	struct hsvr_conn *c;

	if (w->draining || (c = calloc(1, sizeof *c)) == NULL) {
		refuse(m);
		return;
	}
	c->w = w;
	c->fd = m->u.conn.fd;
	c->pub.hsvr_self_ = c;
	if (hsvr_tls_enabled())
		c->tp = &hsvr_transport_tls;
	else if (m->u.conn.is_unix)
		c->tp = &hsvr_transport_unix;
	else
		c->tp = &hsvr_transport_tcp;
	c->is_unix = m->u.conn.is_unix != 0;
	if (c->is_unix)
		strcpy(c->pub.host, "unix");
	else
		hsvr_addr_key((struct sockaddr *)&m->u.conn.addr, c->key,
		    c->pub.host, sizeof c->pub.host, &c->pub.port);
	if (c->tp->setup(c) != 0) {
		free(c);
		refuse(m);
		return;
	}
	c->pub.id = __atomic_add_fetch(&hsvr_g.next_id, 1, __ATOMIC_RELAXED);
	event_assign(&c->rev, w->base, c->fd, EV_READ | EV_PERSIST,
	    on_readable, c);
	event_assign(&c->wev, w->base, c->fd, EV_WRITE | EV_PERSIST,
	    on_writable, c);
	evtimer_assign(&c->tev, w->base, on_timer, c);
	list_add(w, c);
	if (c->tp->handshake == NULL) {
		accepted(c);
		return;
	}
	/* No callback runs before the handshake; it has its own timeout. */
	c->handshaking = 1;
	c->timeout_ms = hsvr_g.cfg->tls_handshake_timeout * 1000;
	arm_timer(c, (uint64_t)c->timeout_ms);
	event_add(&c->rev, NULL);
}

/*
 * The end of every connection: close, TYP_TERM (for sessions the
 * application saw accepted), retire.  Owner only.
 */
static void
finish(struct hsvr_conn *c)
{
	struct hsvr_worker *w = c->w;
	size_t lost = 0;

	if (conn_state(c) == HSVR_ST_CLOSED)
		return;
	__atomic_store_n(&c->pub.status, HSVR_ST_CLOSED, __ATOMIC_SEQ_CST);
	event_del(&c->rev);
	event_del(&c->wev);
	event_del(&c->tev);
	if (c->out != NULL) {
		lost = evbuffer_get_length(c->out);
		evbuffer_free(c->out);
		c->out = NULL;
	}
	if (lost > 0) {
		__atomic_sub_fetch(&c->pending, lost, __ATOMIC_SEQ_CST);
		SHARED_ADD(discarded_octet, lost);
	}
	c->tp->close(c);
	c->fd = -1;
	if (c->indexed)
		hsvr_index_del(c);
	c->indexed = 0;
	list_del(w, c);
	__atomic_sub_fetch(&hsvr_g.live, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&c->pub.writewait, 0, __ATOMIC_SEQ_CST);
	if (c->accepted) {
		ctr_begin(&w->ctr);
		CTR_ADD(&w->ctr, terms, 1);
		ctr_end(&w->ctr);
		hsvr_deliver(c, TYP_TERM);
	}
	hsvr_qsbr_retire(c);
	if (w->draining && w->conns == NULL)
		w->stop = 1;
}

void
hsvr_conn_abort(struct hsvr_conn *c)
{
	finish(c);
}

/*
 * Decide, after any progress, what the session's state calls for: close
 * a failed one, finish a flushed close, deliver TYP_SENDABLE below the low
 * mark, and close after the peer's end of file once nothing is left.
 */
void
hsvr_conn_kick(struct hsvr_conn *c)
{
	size_t pending;
	int state = conn_state(c);

	if (state == HSVR_ST_CLOSED)
		return;
	if (c->failed) {
		finish(c);
		return;
	}
	pending = __atomic_load_n(&c->pending, __ATOMIC_SEQ_CST);
	if (state == HSVR_ST_CLOSING) {
		if (pending == 0)
			finish(c);
		return;
	}
	if (pending < (size_t)HSVR_LOW_MARK &&
	    __atomic_load_n(&c->pub.writewait, __ATOMIC_SEQ_CST) &&
	    __atomic_exchange_n(&c->pub.writewait, 0, __ATOMIC_SEQ_CST)) {
		hsvr_deliver(c, TYP_SENDABLE);
		pending = __atomic_load_n(&c->pending, __ATOMIC_SEQ_CST);
	}
	if (c->eof && pending == 0 && conn_state(c) == HSVR_ST_OPEN &&
	    !__atomic_load_n(&c->pub.writewait, __ATOMIC_SEQ_CST))
		finish(c);
}

/* Run hsvr_conn_kick from the loop, not inside the caller's callback. */
static void
kick_later(struct hsvr_conn *c)
{
	event_active(&c->wev, EV_WRITE, 0);
}

static void
sent(struct hsvr_conn *c, size_t n)
{
	struct hsvr_worker *w = c->w;

	__atomic_sub_fetch(&c->pending, n, __ATOMIC_SEQ_CST);
	c->pub.txoctet += n;
	c->last_active = hsvr_now_ms();
	ctr_begin(&w->ctr);
	CTR_ADD(&w->ctr, txoctet, n);
	ctr_end(&w->ctr);
}

/* Bytes counted as pending that will never be written. */
static void
lose(struct hsvr_conn *c, size_t n)
{
	__atomic_sub_fetch(&c->pending, n, __ATOMIC_SEQ_CST);
	SHARED_ADD(discarded_octet, n);
}

static void
fail(struct hsvr_conn *c)
{
	c->failed = 1;
	kick_later(c);
}

static int
would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/*
 * Write len bytes, already counted in c->pending: straight to the socket
 * when nothing is queued, the rest into the output queue.  Owner only.
 */
void
hsvr_conn_write(struct hsvr_conn *c, const unsigned char *data, size_t len)
{
	ssize_t n = 0;
	short want = 0;         /* what this call's own write waited for */

	if (c->failed) {
		lose(c, len);
		return;
	}
	if (c->out == NULL || evbuffer_get_length(c->out) == 0) {
		c->tls_want = 0;
		n = c->tp->write(c, data, len);
		want = c->tls_want;
		if (n < 0 && !would_block()) {
			lose(c, len);
			fail(c);
			return;
		}
		if (n < 0)
			n = 0;
		if (n > 0)
			sent(c, (size_t)n);
		if ((size_t)n == len)
			return;
	}
	if ((c->out == NULL && (c->out = evbuffer_new()) == NULL) ||
	    evbuffer_add(c->out, data + n, len - (size_t)n) != 0) {
		lose(c, len - (size_t)n);
		fail(c);
		return;
	}
	/*
	 * TLS may need the peer's data before it can write: wait for that.
	 * Only this call's write says so; c->tls_want may be a read's.
	 */
	want_write(c, want != EV_READ);
}

static void
handshake(struct hsvr_conn *c)
{
	int r;

	c->tls_want = 0;
	r = c->tp->handshake(c);
	if (r == 0) {
		want_write(c, c->tls_want == EV_WRITE);
		return;
	}
	want_write(c, 0);
	if (r < 0) {
		SHARED_ADD(tls_handshake_error, 1);
		finish(c);
		return;
	}
	c->handshaking = 0;
	accepted(c);
}

static void
on_writable(evutil_socket_t fd, short what, void *arg)
{
	struct hsvr_conn *c = arg;
	ssize_t n;

	(void)fd, (void)what;
	hsvr_online();
	if (c->handshaking) {
		handshake(c);
		return;
	}
	if (c->tls_want == EV_WRITE && c->tls_read_blocked) {
		c->tls_read_blocked = 0;
		event_active(&c->rev, EV_READ, 0);
	}
	if (!c->failed && c->out != NULL && evbuffer_get_length(c->out) > 0) {
		c->tls_want = 0;
		n = c->tp->flush(c, c->out);
		if (n > 0)
			sent(c, (size_t)n);
		else if (n < 0 && !would_block())
			c->failed = 1;
	}
	want_write(c, c->out != NULL && evbuffer_get_length(c->out) > 0 &&
	    c->tls_want != EV_READ);
	hsvr_conn_kick(c);
}

/* S_close by the owner: flush what is queued, then finish. */
void
hsvr_conn_close(struct hsvr_conn *c)
{
	int open = HSVR_ST_OPEN;

	if (__atomic_compare_exchange_n(&c->pub.status, &open,
	    HSVR_ST_CLOSING, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		event_del(&c->rev);
		__atomic_store_n(&c->pub.writewait, 0, __ATOMIC_SEQ_CST);
		kick_later(c);
	}
}

static void
on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct hsvr_conn *c = arg;
	struct hsvr_worker *w = c->w;
	ssize_t n;

	(void)fd, (void)what;
	hsvr_online();
	if (c->handshaking) {
		handshake(c);
		return;
	}
	c->tls_want = 0;
	n = c->tp->read(c, w->rbuf, HSVR_READ_MAX);
	if (c->tls_want == EV_READ && c->out != NULL &&
	    evbuffer_get_length(c->out) > 0)
		want_write(c, 1);       /* a write that waited for this read */
	if (n > 0) {
		w->rbuf[n] = '\0';
		c->pub.buff = w->rbuf;
		c->pub.blen = (size_t)n;
		c->pub.rxoctet += (size_t)n;
		c->pub.rx++;
		c->last_active = hsvr_now_ms();
		ctr_begin(&w->ctr);
		CTR_ADD(&w->ctr, rxoctet, n);
		CTR_ADD(&w->ctr, rxcount, 1);
		ctr_end(&w->ctr);
		hsvr_deliver(c, TYP_READ);
		c->pub.buff = NULL;
		c->pub.blen = 0;
		if (c->read_again) {
			c->read_again = 0;
			if (conn_state(c) == HSVR_ST_OPEN)
				event_active(&c->rev, EV_READ, 0);
		}
		return;
	}
	if (n < 0 && would_block()) {
		if (c->tls_want == EV_WRITE) {
			c->tls_read_blocked = 1;
			want_write(c, 1);
		}
		return;
	}
	if (n < 0) {
		finish(c);      /* reset or error: what is queued is lost */
		return;
	}
	/*
	 * End of file: the peer will send no more, but may still read.  Stop
	 * reading; the session closes once its output is written and the
	 * application has nothing more to send (hsvr_conn_kick).
	 */
	c->eof = 1;
	event_del(&c->rev);
	kick_later(c);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct hsvr_conn *c = arg;
	uint64_t now = hsvr_now_ms(), idle = now - c->last_active;
	uint64_t period = (uint64_t)c->timeout_ms;

	(void)fd, (void)what;
	hsvr_online();
	if (c->handshaking) {
		SHARED_ADD(tls_handshake_error, 1);
		finish(c);      /* a silent client cannot hold a slot */
		return;
	}
	if (period == 0)
		return;
	if (idle + 10 < period) {       /* activity since: wait the rest */
		arm_timer(c, period - idle);
		return;
	}
	if (conn_state(c) == HSVR_ST_CLOSING) {
		finish(c);      /* a close that made no progress for a period */
		return;
	}
	c->last_active = now;
	arm_timer(c, period);
	c->pub.timeout++;
	ctr_begin(&c->w->ctr);
	CTR_ADD(&c->w->ctr, rxtimeout, 1);
	ctr_end(&c->w->ctr);
	if (hsvr_has_timeout_handler())
		hsvr_deliver(c, TYP_TIMEOUT);
	else
		hsvr_conn_close(c);
}

void
hsvr_conn_settimer(struct hsvr_conn *c, int sec)
{
	if (conn_state(c) == HSVR_ST_CLOSED || c->handshaking)
		return;
	c->timeout_ms = sec <= 0 ? 0 : sec > INT_MAX / 1000 ?
	    INT_MAX / 1000 * 1000 : sec * 1000;
	c->last_active = hsvr_now_ms();
	if (c->timeout_ms > 0)
		arm_timer(c, (uint64_t)c->timeout_ms);
	else
		event_del(&c->tev);
}

void
hsvr_conn_free(struct hsvr_conn *c)
{
	c->pub.hsvr_self_ = NULL;
	free(c);
}
