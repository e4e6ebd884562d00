/*
 * apptimer.c - the worker's loop for the application: S_timer_start and
 * S_timer_stop (timers on the calling worker), S_worker_base and
 * S_worker_atexit; what a worker's thread still holds when it ends.
 */
#include "hsvr-int.h"

#include <errno.h>
#include <pthread.h>

struct hsvr_timer {
	struct event ev;
	struct hsvr_timer *prev, *next;  /* its worker's timers */
	struct apptimer_held *owner;
	S_TIMER_T fn;
	void *arg;
	int periodic;
	int in_cb;              /* its callback is running */
	int stopped;            /* stopped during it: freed after it */
};

struct apptimer_exit {
	void (*fn)(void *);
	void *arg;
	struct apptimer_exit *next;
};

/*
 * What one worker thread holds, made by its first S_timer_start or
 * S_worker_atexit.  The thread-specific key's destructor runs on that
 * thread once it has left its loop and returns (worker_main), before
 * hsvr_worker_pool_join returns and so before its base is freed: no
 * change to the worker's loop is needed for a thread to clean up.
 */
struct apptimer_held {
	struct hsvr_timer *timers;
	struct apptimer_exit *exits;    /* last registered first */
};

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t key;
static int key_made;
static _Thread_local struct apptimer_held *held;

static void
unlink_timer(struct hsvr_timer *t)
{
	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		t->owner->timers = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;
}

/* The worker's thread ends: its exit functions, then its timers freed
 * without their callbacks. */
static void
thread_end(void *p)
{
	struct apptimer_held *h = p;
	struct apptimer_exit *x;
	struct hsvr_timer *t;

	held = h;               /* S_timer_stop from an exit function */
	while ((x = h->exits) != NULL) {
		h->exits = x->next;
		x->fn(x->arg);
		hsvr_free(x);
	}
	while ((t = h->timers) != NULL) {
		event_del(&t->ev);
		unlink_timer(t);
		hsvr_free(t);
	}
	held = NULL;
	hsvr_free(h);
}

static void
make_key(void)
{
	key_made = pthread_key_create(&key, thread_end) == 0;
}

/* This worker thread's record (made now if need be), or NULL (ENOMEM). */
static struct apptimer_held *
hold(void)
{
	struct apptimer_held *h;

	if (held != NULL)
		return held;
	if (pthread_once(&key_once, make_key) != 0 || !key_made) {
		errno = ENOMEM;
		return NULL;
	}
	if ((h = hsvr_calloc(1, sizeof *h)) == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	if (pthread_setspecific(key, h) != 0) {
		hsvr_free(h);
		errno = ENOMEM;
		return NULL;
	}
	held = h;
	return h;
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct hsvr_timer *t = arg;

	(void)fd, (void)what;
	hsvr_online();
	t->in_cb = 1;
	t->fn(t, t->arg);
	t->in_cb = 0;
	/* A periodic timer's event is added again before its callback. */
	if (!t->periodic || t->stopped) {
		unlink_timer(t);
		hsvr_free(t);
	}
}

S_TIMER *
S_timer_start(int ms, int periodic, S_TIMER_T fn, void *arg)
{
	struct hsvr_worker *w = hsvr_self;
	struct apptimer_held *h;
	struct hsvr_timer *t;
	struct timeval tv;

	if (fn == NULL || ms < 0 || (periodic && ms == 0)) {
		errno = EINVAL;
		return NULL;
	}
	if (w == NULL) {
		errno = EPERM;
		return NULL;
	}
	if ((h = hold()) == NULL)
		return NULL;
	if ((t = hsvr_calloc(1, sizeof *t)) == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	t->owner = h;
	t->fn = fn;
	t->arg = arg;
	t->periodic = periodic != 0;
	event_assign(&t->ev, w->base, -1, t->periodic ? EV_PERSIST : 0,
	    on_timer, t);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	/* From now, not from the loop's cached time of this iteration. */
	event_base_update_cache_time(w->base);
	if (event_add(&t->ev, &tv) != 0) {
		hsvr_free(t);
		errno = ENOMEM;
		return NULL;
	}
	t->next = h->timers;
	if (h->timers != NULL)
		h->timers->prev = t;
	h->timers = t;
	return t;
}

int
S_timer_stop(S_TIMER *t)
{
	if (t == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (held == NULL || t->owner != held) {
		errno = EPERM;
		return -1;
	}
	if (t->stopped)
		return 0;
	event_del(&t->ev);
	if (t->in_cb) {
		t->stopped = 1;
		return 0;
	}
	unlink_timer(t);
	hsvr_free(t);
	return 0;
}

struct event_base *
S_worker_base(void)
{
	return hsvr_self != NULL ? hsvr_self->base : NULL;
}

int
S_worker_atexit(void (*fn)(void *arg), void *arg)
{
	struct apptimer_held *h;
	struct apptimer_exit *x;

	if (fn == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (hsvr_self == NULL) {
		errno = EPERM;
		return -1;
	}
	if ((h = hold()) == NULL)
		return -1;
	if ((x = hsvr_malloc(sizeof *x)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	x->fn = fn;
	x->arg = arg;
	x->next = h->exits;
	h->exits = x;
	return 0;
}
