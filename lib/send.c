/*
 * send.c - S_send, S_close, S_settimer and S_pause_read: done directly on the
 * session's own worker, asked of that worker from any other thread.
 */
#include "hsvr-int.h"

#include <stdlib.h>
#include <string.h>

/* The conn behind s if s is a session of ours, else NULL. */
static struct hsvr_conn *
conn_of(SESSION *s)
{
	if (s == NULL || s->hsvr_self_ != s)
		return NULL;
	return CONN(s);
}

static void
refused(size_t len)
{
	SHARED_ADD(discarded_packet, 1);
	SHARED_ADD(discarded_octet, len);
}

/* Post S_send's data for c to its worker; the message holds a reference. */
static int
post_send(struct hsvr_conn *c, const void *data, size_t len)
{
	struct hsvr_msg *m;

	m = hsvr_malloc(sizeof *m + len);
	if (m == NULL)
		return -1;
	m->type = MSG_SEND;
	m->c = c;
	m->u.len = len;
	memcpy(m->data, data, len);
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_SEQ_CST);
	hsvr_worker_post(c->w, m);
	return 0;
}

/* Mark c congested; from a foreign thread, make the owner re-check. */
static void
congested(struct hsvr_conn *c, size_t len, int owner)
{
	int zero = 0;

	refused(len);
	if (__atomic_compare_exchange_n(&c->pub.writewait, &zero, 1, 0,
	    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) && !owner)
		hsvr_worker_request(c, CTL_KICK, 0);
}

int
S_send(SESSION *s, unsigned char *buff, size_t len)
{
	struct hsvr_conn *c;
	struct hsvr_worker *w;
	size_t before;
	int owner;

	if (s == NULL || (buff == NULL && len > 0))
		return S_ERR_PARAM;
	if ((c = conn_of(s)) == NULL)
		return S_ERR_INTERNAL;
	if (__atomic_load_n(&s->writewait, __ATOMIC_SEQ_CST)) {
		if (conn_state(c) != HSVR_ST_OPEN)
			return S_ERR_INTERNAL;
		refused(len);
		return S_ERR_CONGESTED;
	}
	/*
	 * Count the bytes as pending before looking at the state: S_close
	 * then either sees them and waits for them, or we see it and back out.
	 */
	before = __atomic_fetch_add(&c->pending, len, __ATOMIC_SEQ_CST);
	w = c->w;
	owner = hsvr_self == w;
	if (conn_state(c) != HSVR_ST_OPEN) {
		__atomic_sub_fetch(&c->pending, len, __ATOMIC_SEQ_CST);
		if (!owner && conn_state(c) == HSVR_ST_CLOSING)
			hsvr_worker_request(c, CTL_KICK, 0);
		return S_ERR_INTERNAL;
	}
	if (before > (size_t)HSVR_HIGH_MARK) {
		__atomic_sub_fetch(&c->pending, len, __ATOMIC_SEQ_CST);
		congested(c, len, owner);
		return S_ERR_CONGESTED;
	}
	if (len == 0) {
		return S_OK;
	}
	if (owner) {
		s->tx++;
		ctr_begin(&w->ctr);
		CTR_ADD(&w->ctr, txcount, 1);
		ctr_end(&w->ctr);
		if (hsvr_conn_write(c, buff, len) != 0)
			return S_ERR_INTERNAL;  /* lost and closing */
		return S_OK;
	}
	if (post_send(c, buff, len) != 0) {
		__atomic_sub_fetch(&c->pending, len, __ATOMIC_SEQ_CST);
		refused(len);
		return S_ERR_INTERNAL;
	}
	return S_OK;
}

void
S_close(SESSION *s)
{
	struct hsvr_conn *c = conn_of(s);

	if (c == NULL || conn_state(c) != HSVR_ST_OPEN)
		return;
	if (hsvr_self == c->w)
		hsvr_conn_close(c);
	else
		hsvr_worker_request(c, CTL_CLOSE, 0);
}

int
S_pause_read(SESSION *s, int paused)
{
	struct hsvr_conn *c = conn_of(s);

	if (c == NULL || conn_state(c) != HSVR_ST_OPEN)
		return S_ERR_INTERNAL;
	if (hsvr_self == c->w)
		hsvr_conn_pause_read(c, paused);
	else
		hsvr_worker_request(c, CTL_PAUSE | (paused ? CTL_PAUSED : 0),
		    paused ? 0 : CTL_PAUSED);
	return S_OK;
}

void
S_settimer(SESSION *s, int sec)
{
	struct hsvr_conn *c = conn_of(s);

	if (c == NULL || conn_state(c) == HSVR_ST_CLOSED)
		return;
	if (hsvr_self == c->w)
		hsvr_conn_settimer(c, sec);
	else {
		__atomic_store_n(&c->ctl_sec, sec, __ATOMIC_SEQ_CST);
		hsvr_worker_request(c, CTL_TIMER, 0);
	}
}
