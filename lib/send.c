/*
 * send.c - S_send (and its zero-copy forms), S_close, S_settimer,
 * S_pause_read and S_shutdown: done directly on the session's own worker,
 * asked of that worker from any other thread; S_halfclose on the worker;
 * S_linger, a flag its close reads, from any thread.
 */
#include "hsvr-int.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef HSVR_TEST_HOOKS
#include <time.h>
#endif

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

#ifdef HSVR_TEST_HOOKS
/*
 * HSVR_TEST_DELAY_SEND_US: a send from another thread sleeps this long
 * between counting its bytes and posting them, so that the owner's
 * S_close falls in between (tests/t-closerace).  Tests' build only.
 */
static void
delay_send(void)
{
	static long us = -1;
	long v = __atomic_load_n(&us, __ATOMIC_RELAXED);
	const char *e;
	struct timespec ts;

	if (v < 0) {
		e = getenv("HSVR_TEST_DELAY_SEND_US");
		v = e != NULL ? strtol(e, NULL, 10) : 0;
		if (v < 0 || v > 1000000)
			v = 0;
		__atomic_store_n(&us, v, __ATOMIC_RELAXED);
	}
	if (v > 0) {
		ts.tv_sec = v / 1000000;
		ts.tv_nsec = v % 1000000 * 1000;
		(void)nanosleep(&ts, NULL);
	}
}
#endif

/*
 * Post o for c to its worker; the message holds a reference to c.  A copy's
 * bytes travel in the message, a reference or a file range as o says.
 */
static int
post_send(struct hsvr_conn *c, const struct hsvr_out *o)
{
	size_t extra = o->kind == OUT_COPY ? o->len : 0;
	struct hsvr_msg *m;

	m = hsvr_malloc(sizeof *m + extra);
	if (m == NULL)
		return -1;
	m->type = MSG_SEND;
	m->c = c;
	m->u.out = *o;
	if (o->kind == OUT_COPY) {
		memcpy(m->data, o->data, o->len);
		m->u.out.data = m->data;
	}
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

/*
 * Bytes counted for c that will not be sent after all.  A closing session
 * may be waiting for just these (its owner saw them pending): from another
 * thread, ask the owner to look again.
 */
static void
unpend(struct hsvr_conn *c, size_t len, int owner)
{
	__atomic_sub_fetch(&c->pending, len, __ATOMIC_SEQ_CST);
	if (!owner && conn_state(c) == HSVR_ST_CLOSING)
		hsvr_worker_request(c, CTL_KICK, 0);
}

/* What S_send, S_send_ref and S_send_file share: o for session s. */
static int
send_out(SESSION *s, const struct hsvr_out *o)
{
	struct hsvr_conn *c;
	size_t before, len = o->len;
	int owner;

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
	owner = hsvr_self == c->w;
	if (conn_state(c) != HSVR_ST_OPEN ||
	    __atomic_load_n(&c->shut_asked, __ATOMIC_SEQ_CST)) {
		unpend(c, len, owner);
		return S_ERR_INTERNAL;
	}
	if (before > (size_t)HSVR_HIGH_MARK) {
		unpend(c, len, owner);
		congested(c, len, owner);
		return S_ERR_CONGESTED;
	}
	if (len == 0) {
		hsvr_output_done(o);
		return S_OK;
	}
	if (owner)
		return hsvr_session_send(c, o) != 0 ? S_ERR_INTERNAL : S_OK;
#ifdef HSVR_TEST_HOOKS
	delay_send();
#endif
	if (post_send(c, o) != 0) {
		unpend(c, len, owner);
		refused(len);
		return S_ERR_INTERNAL;
	}
	return S_OK;
}

/*
 * o (with a release) by send_out; whatever became due meanwhile runs
 * before the call returns, unless the caller is itself a release (then
 * right after it, from the loop that runs releases).
 */
static int
send_zc(SESSION *s, struct hsvr_out *o, S_RELEASE_T release, void *arg)
{
	int rc;

	if (release != NULL &&
	    (o->rel = hsvr_output_release_new(release, arg)) == NULL) {
		refused(o->len);
		return S_ERR_INTERNAL;
	}
	if ((rc = send_out(s, o)) != S_OK)
		hsvr_output_drop(o);
	hsvr_output_release_run();
	return rc;
}

int
S_send(SESSION *s, unsigned char *buff, size_t len)
{
	struct hsvr_out o = { .kind = OUT_COPY, .data = buff, .len = len };

	if (s == NULL || (buff == NULL && len > 0))
		return S_ERR_PARAM;
	return send_out(s, &o);
}

int
S_send_ref(SESSION *s, const void *data, size_t len, S_RELEASE_T release,
    void *arg)
{
	struct hsvr_out o = { .kind = OUT_REF, .data = data, .len = len };

	if (s == NULL || (data == NULL && len > 0))
		return S_ERR_PARAM;
	return send_zc(s, &o, release, arg);
}

int
S_send_file(SESSION *s, int fd, off_t offset, size_t len,
    S_RELEASE_T release, void *arg)
{
	struct hsvr_out o = { .kind = OUT_FILE, .fd = fd, .off = offset,
	    .len = len };
	struct stat st;

	if (s == NULL || fd < 0 || offset < 0)
		return S_ERR_PARAM;
	/* A range the file holds now: sendfile would stop short of it. */
	if (len > 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    offset > st.st_size || len > (uintmax_t)(st.st_size - offset)))
		return S_ERR_PARAM;
	return send_zc(s, &o, release, arg);
}

void
S_close(SESSION *s)
{
	struct hsvr_conn *c = conn_of(s);

	if (c == NULL || conn_state(c) != HSVR_ST_OPEN)
		return;
	if (hsvr_self == c->w)
		hsvr_session_close(c);
	else
		hsvr_worker_request(c, CTL_CLOSE, 0);
}

int
S_linger(SESSION *s, int on)
{
	struct hsvr_conn *c = conn_of(s);

	if (c == NULL || conn_state(c) != HSVR_ST_OPEN)
		return S_ERR_INTERNAL;
	/* Read by the owner when the close is decided (linger.c). */
	__atomic_store_n(&c->linger_input_only, on == 0, __ATOMIC_SEQ_CST);
	return S_OK;
}

int
S_pause_read(SESSION *s, int paused)
{
	struct hsvr_conn *c = conn_of(s);

	if (c == NULL || conn_state(c) != HSVR_ST_OPEN)
		return S_ERR_INTERNAL;
	if (hsvr_self == c->w)
		hsvr_session_pause_read(c, paused);
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
		hsvr_session_settimer(c, sec);
	else {
		__atomic_store_n(&c->ctl_sec, sec, __ATOMIC_SEQ_CST);
		hsvr_worker_request(c, CTL_TIMER, 0);
	}
}

int
S_shutdown(SESSION *s)
{
	struct hsvr_conn *c = conn_of(s);

	if (c == NULL || conn_state(c) != HSVR_ST_OPEN)
		return S_ERR_INTERNAL;
	/* From now on S_send refuses; what it took before goes out first. */
	__atomic_store_n(&c->shut_asked, 1, __ATOMIC_SEQ_CST);
	if (hsvr_self == c->w)
		hsvr_session_shutdown(c);
	else
		hsvr_worker_request(c, CTL_SHUT, 0);
	return S_OK;
}

int
S_halfclose(SESSION *s, int on)
{
	struct hsvr_conn *c = conn_of(s);

	if (c == NULL || conn_state(c) != HSVR_ST_OPEN)
		return S_ERR_INTERNAL;
	if (hsvr_self != c->w) {
		errno = EPERM;
		return S_ERR_INTERNAL;
	}
	c->halfclose = on != 0;
	return S_OK;
}
