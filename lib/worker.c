/*
 * worker.c - a worker thread: its event base, its inbox of messages from
 * other threads (new connections, cross-thread sends, closes, timers) and
 * its loop, which passes a quiescent point after every iteration.
 */
#include "hsvr-int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

_Thread_local struct hsvr_worker *hsvr_self;

static struct hsvr_msg *
inbox_take(struct hsvr_worker *w, struct hsvr_conn **ctl)
{
	struct hsvr_msg *m;

	pthread_mutex_lock(&w->inbox_lock);
	m = w->inbox_head;
	w->inbox_head = NULL;
	w->inbox_tail = &w->inbox_head;
	*ctl = w->ctl_head;
	w->ctl_head = NULL;
	pthread_mutex_unlock(&w->inbox_lock);
	return m;
}

/* Queue m for w; wake w only when its inbox was empty (one wake a batch). */
void
hsvr_worker_post(struct hsvr_worker *w, struct hsvr_msg *m)
{
	int was_empty;

	m->next = NULL;
	pthread_mutex_lock(&w->inbox_lock);
	was_empty = w->inbox_head == NULL && w->ctl_head == NULL;
	*w->inbox_tail = m;
	w->inbox_tail = &m->next;
	pthread_mutex_unlock(&w->inbox_lock);
	if (was_empty)
		event_active(&w->wake, EV_READ, 0);
}

/*
 * Ask c's worker, from another thread, to act on c: set the bits in set
 * and clear those in clear, in one step.  Queues c unless already queued.
 */
void
hsvr_worker_request(struct hsvr_conn *c, uint32_t set, uint32_t clear)
{
	struct hsvr_worker *w = c->w;
	uint32_t old = __atomic_load_n(&c->ctl, __ATOMIC_SEQ_CST), want;
	int was_empty;

	do
		want = (old & ~clear) | set | CTL_QUEUED;
	while (!__atomic_compare_exchange_n(&c->ctl, &old, want, 0,
	    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	if (old & CTL_QUEUED)
		return;
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&w->inbox_lock);
	was_empty = w->inbox_head == NULL && w->ctl_head == NULL;
	c->cnext = w->ctl_head;
	w->ctl_head = c;
	pthread_mutex_unlock(&w->inbox_lock);
	if (was_empty)
		event_active(&w->wake, EV_READ, 0);
}

static void
stop(struct hsvr_worker *w)
{
	hsvr_listen_stop_worker(w);
	hsvr_conn_linger_stop(w);
	while (w->conns != NULL)
		hsvr_conn_abort(w->conns);
	w->stop = 1;
}

/*
 * A draining worker stops when it holds no session and none can come:
 * every worker has stopped accepting (so no hand-off can be made any
 * more) and none is on its way to it.  A worker that stopped with a
 * connection still in its inbox would close it unread.
 */
void
hsvr_worker_check_drained(struct hsvr_worker *w)
{
	if (w->draining && w->conns == NULL &&
	    __atomic_load_n(&hsvr_g.drained, __ATOMIC_SEQ_CST) >=
	    hsvr_g.nworkers &&
	    __atomic_load_n(&w->incoming, __ATOMIC_SEQ_CST) == 0)
		w->stop = 1;
}

/*
 * Graceful stop: stop accepting, ask every session to finish (after what
 * its peer already sent is served: hsvr_conn_drain); stop once none is
 * left.  The last worker to stop accepting wakes the others to check.
 */
static void
drain(struct hsvr_worker *w)
{
	struct hsvr_conn *c, *next;
	int i;

	hsvr_listen_stop_worker(w);
	w->draining = 1;
	for (c = w->conns; c != NULL; c = next) {
		next = c->next;
		hsvr_conn_drain(c);
	}
	if (__atomic_add_fetch(&hsvr_g.drained, 1, __ATOMIC_SEQ_CST) ==
	    hsvr_g.nworkers)
		for (i = 0; i < hsvr_g.nworkers; i++)
			if (&hsvr_g.workers[i] != w)
				event_active(&hsvr_g.workers[i].wake, EV_READ,
				    0);
	hsvr_worker_check_drained(w);
}

static void
handle(struct hsvr_worker *w, struct hsvr_msg *m)
{
	struct hsvr_conn *c = m->c;

	if (m->type == MSG_CONN) {
		__atomic_sub_fetch(&w->incoming, 1, __ATOMIC_RELAXED);
		hsvr_conn_open(w, m);
		return;
	}
	if (m->type == MSG_STOP) {
		stop(w);
		return;
	}
	if (m->type == MSG_DRAIN) {
		drain(w);
		return;
	}
	if (conn_state(c) == HSVR_ST_CLOSED) {
		if (m->type == MSG_SEND) {
			__atomic_sub_fetch(&c->pending, m->u.out.len,
			    __ATOMIC_SEQ_CST);
			SHARED_ADD(discarded_octet, m->u.out.len);
			hsvr_out_done(&m->u.out);
		}
	} else if (m->type == MSG_SEND) {
		/* S_send* said 0: the release is due even if this fails. */
		if (hsvr_conn_send(c, &m->u.out) != 0)
			hsvr_out_done(&m->u.out);
	}
	hsvr_qsbr_release(c);
}

/* The requests other threads made for c, all at once. */
static void
control(struct hsvr_conn *c)
{
	uint32_t bits = __atomic_exchange_n(&c->ctl, 0, __ATOMIC_SEQ_CST);

	if (conn_state(c) != HSVR_ST_CLOSED) {
		if (bits & CTL_TIMER)
			hsvr_conn_settimer(c,
			    __atomic_load_n(&c->ctl_sec, __ATOMIC_SEQ_CST));
		if (bits & CTL_PAUSE)
			hsvr_conn_pause_read(c, (bits & CTL_PAUSED) != 0);
		if (bits & CTL_CLOSE)
			hsvr_conn_close(c);
		else if (bits & CTL_KICK)
			hsvr_conn_kick(c);
	}
	hsvr_qsbr_release(c);
}

/* The preallocated control messages are freed once used. */
static void
forget(struct hsvr_worker *w, const struct hsvr_msg *m)
{
	if (m == w->stop_msg)
		w->stop_msg = NULL;
	if (m == w->drain_msg)
		w->drain_msg = NULL;
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct hsvr_worker *w = arg;
	struct hsvr_msg *m, *next;
	struct hsvr_conn *c, *cnext;

	(void)fd, (void)what;
	hsvr_online();
	for (m = inbox_take(w, &c); m != NULL; m = next) {
		next = m->next;
		handle(w, m);
		forget(w, m);
		hsvr_free(m);
	}
	/* Read the link first: once its bits are taken, c may be requeued. */
	for (; c != NULL; c = cnext) {
		cnext = c->cnext;
		control(c);
	}
	hsvr_release_run(w);
	hsvr_worker_check_drained(w);
}

/*
 * After the worker stopped: drop what is still queued.  Connections not yet
 * opened are closed; sessions are all closed, so sends are discarded.
 */
void
hsvr_worker_drain_inbox(struct hsvr_worker *w)
{
	struct hsvr_msg *m, *next;
	struct hsvr_conn *c, *cnext;

	for (m = inbox_take(w, &c); m != NULL; m = next) {
		next = m->next;
		if (m->type == MSG_CONN) {
			__atomic_sub_fetch(&w->incoming, 1, __ATOMIC_RELAXED);
			close(m->u.conn.fd);
			__atomic_sub_fetch(&hsvr_g.live, 1, __ATOMIC_RELAXED);
		} else if (m->type == MSG_SEND) {
			SHARED_ADD(discarded_octet, m->u.out.len);
			hsvr_out_done(&m->u.out);
		}
		if (m->c != NULL)
			__atomic_sub_fetch(&m->c->refs, 1, __ATOMIC_SEQ_CST);
		forget(w, m);
		hsvr_free(m);
	}
	for (; c != NULL; c = cnext) {
		cnext = c->cnext;
		__atomic_store_n(&c->ctl, 0, __ATOMIC_SEQ_CST);
		__atomic_sub_fetch(&c->refs, 1, __ATOMIC_SEQ_CST);
	}
	hsvr_release_run(w);    /* none left, unless its thread never ran */
}

int
hsvr_worker_init(struct hsvr_worker *w, int index)
{
	w->index = index;
	w->inbox_tail = &w->inbox_head;
	w->due_tail = &w->due;
	pthread_mutex_init(&w->inbox_lock, NULL);
	w->rbuf = malloc(HSVR_READ_MAX + 1);
	w->stop_msg = calloc(1, sizeof *w->stop_msg);
	w->drain_msg = calloc(1, sizeof *w->drain_msg);
	w->base = event_base_new();
	if (w->rbuf == NULL || w->stop_msg == NULL || w->drain_msg == NULL ||
	    w->base == NULL) {
		hsvr_warnx("cannot set up worker %d: out of memory", index);
		return -1;
	}
	event_assign(&w->wake, w->base, -1, 0, on_wake, w);
	hsvr_qsbr_init(&w->qs, w->base);
	return 0;
}

static void *
worker_main(void *arg)
{
	struct hsvr_worker *w = arg;

	hsvr_self = w;
	hsvr_qs_self = &w->qs;
	hsvr_online();
	hsvr_hook_worker_init(w->index);
	hsvr_engine_worker_ready();
	while (!w->stop) {
		event_base_loop(w->base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY);
		hsvr_release_run(w);    /* none left: each path ran its own */
		hsvr_qsbr_end_iteration();
	}
	hsvr_conn_linger_stop(w);      /* a drain does not wait for them */
	hsvr_qs_self = NULL;
	hsvr_self = NULL;
	hsvr_engine_worker_done();
	return NULL;
}

int
hsvr_worker_start(struct hsvr_worker *w)
{
	int rc;

	rc = pthread_create(&w->thread, NULL, worker_main, w);
	if (rc != 0) {
		w->thread = 0;
		hsvr_warnx("cannot start worker %d: %s", w->index,
		    strerror(rc));
		return -1;
	}
	return 0;
}

void
hsvr_worker_free(struct hsvr_worker *w)
{
	/* Its thread is gone (or never ran): its listening sockets too. */
	hsvr_listen_stop_worker(w);
	if (w->base != NULL)
		event_base_free(w->base);
	free(w->rbuf);
	free(w->stop_msg);
	free(w->drain_msg);
	pthread_mutex_destroy(&w->inbox_lock);
	memset(w, 0, sizeof *w);
}
