/*
 * qsbr.c - quiescent-state reclamation of closed sessions: a SESSION *
 * stays valid until every hsvr thread has finished the callbacks it was
 * running when the session closed, so S_* on it never touch freed memory.
 */
#include "hsvr-int.h"

#include <stdlib.h>

#define RETRY_MS 50

_Thread_local struct hsvr_qsbr *hsvr_qs_self;

static struct hsvr_qsbr **table;  /* every thread's record (or NULL) */
static int nthreads;

struct hsvr_batch {
	struct hsvr_batch *next;
	struct hsvr_conn *conns;
	uint64_t snap[];          /* every thread's counter at retirement */
};

/* The end of a session: S_* on a stale SESSION * see it is no longer ours. */
static void
free_conn(struct hsvr_conn *c)
{
	c->pub.hsvr_self_ = NULL;
	hsvr_free(c);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct hsvr_qsbr *q = arg;

	(void)fd, (void)what;
	q->retry_armed = 0;     /* the iteration's end retries */
}

void
hsvr_qsbr_init(struct hsvr_qsbr *q, struct event_base *base)
{
	q->ctr = 0;
	q->retired = NULL;
	q->batches = NULL;
	q->tail = &q->batches;
	q->deferred = NULL;
	q->retry_armed = 0;
	evtimer_assign(&q->retry, base, on_retry, q);
}

/*
 * The table a grace period looks at: n slots, one per thread that may hold
 * a session (the workers and the main thread), each filled once before
 * that thread starts.  0, or -1 out of memory.
 */
int
hsvr_qsbr_table_init(int n)
{
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	table = calloc((size_t)n, sizeof *table);
	nthreads = table != NULL ? n : 0;
	return table != NULL ? 0 : -1;
}

void
hsvr_qsbr_table_set(int i, struct hsvr_qsbr *q)
{
	table[i] = q;
}

/* Every thread has stopped. */
void
hsvr_qsbr_table_free(void)
{
	free(table);
	table = NULL;
	nthreads = 0;
}

/* The owner of c retires it after closing it; freed after a grace period. */
void
hsvr_qsbr_retire(struct hsvr_conn *c)
{
	struct hsvr_qsbr *q = hsvr_qs_self;

	c->rnext = q->retired;
	q->retired = c;
}

/* Free c now if no queued message names it, else when the last is handled. */
static void
reclaim(struct hsvr_qsbr *q, struct hsvr_conn *c)
{
	if (__atomic_load_n(&c->refs, __ATOMIC_SEQ_CST) == 0) {
		free_conn(c);
		return;
	}
	c->reclaimable = 1;
	c->rnext = q->deferred;
	q->deferred = c;
}

/* A message naming c was handled by c's owner. */
void
hsvr_qsbr_release(struct hsvr_conn *c)
{
	struct hsvr_qsbr *q = hsvr_qs_self;
	struct hsvr_conn **pp;

	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_SEQ_CST) != 0 ||
	    !c->reclaimable)
		return;
	for (pp = &q->deferred; *pp != NULL; pp = &(*pp)->rnext)
		if (*pp == c) {
			*pp = c->rnext;
			break;
		}
	free_conn(c);
}

static int
grace_passed(const struct hsvr_batch *b)
{
	int i;
	uint64_t now;

	for (i = 0; i < nthreads; i++) {
		if (table[i] == NULL || table[i] == hsvr_qs_self)
			continue;
		if ((b->snap[i] & 1) == 0)
			continue;       /* it was between iterations */
		now = __atomic_load_n(&table[i]->ctr, __ATOMIC_SEQ_CST);
		if (now == b->snap[i])
			return 0;       /* still in the same callbacks */
	}
	return 1;
}

static void
seal_batch(struct hsvr_qsbr *q)
{
	struct hsvr_batch *b;
	int i;

	b = hsvr_malloc(sizeof *b + sizeof b->snap[0] * (size_t)nthreads);
	if (b == NULL)
		return;         /* keep them on the retired list; try again */
	for (i = 0; i < nthreads; i++)
		b->snap[i] = table[i] == NULL ? 0 :
		    __atomic_load_n(&table[i]->ctr, __ATOMIC_SEQ_CST);
	b->conns = q->retired;
	b->next = NULL;
	q->retired = NULL;
	*q->tail = b;
	q->tail = &b->next;
}

/*
 * Called by each hsvr thread between loop iterations: it holds no session
 * now, so it goes offline, then frees what every other thread has let go.
 */
void
hsvr_qsbr_end_iteration(void)
{
	struct hsvr_qsbr *q = hsvr_qs_self;
	struct hsvr_batch *b;
	struct hsvr_conn *c, *next;
	struct timeval tv = { 0, RETRY_MS * 1000L };

	if ((q->ctr & 1) != 0)
		__atomic_store_n(&q->ctr, q->ctr + 1, __ATOMIC_SEQ_CST);
	if (q->retired != NULL)
		seal_batch(q);
	while ((b = q->batches) != NULL && grace_passed(b)) {
		q->batches = b->next;
		if (q->batches == NULL)
			q->tail = &q->batches;
		for (c = b->conns; c != NULL; c = next) {
			next = c->rnext;
			reclaim(q, c);
		}
		hsvr_free(b);
	}
	if (q->batches != NULL && !q->retry_armed) {
		event_add(&q->retry, &tv);
		q->retry_armed = 1;
	}
}

/* At teardown, with no thread running: free everything retired. */
void
hsvr_qsbr_free_all(struct hsvr_qsbr *q)
{
	struct hsvr_batch *b;
	struct hsvr_conn *c, *next;

	if (q->tail == NULL)
		return;
	if (q->retry_armed)
		event_del(&q->retry);
	q->retry_armed = 0;
	while ((b = q->batches) != NULL) {
		q->batches = b->next;
		for (c = b->conns; c != NULL; c = next) {
			next = c->rnext;
			free_conn(c);
		}
		hsvr_free(b);
	}
	q->tail = &q->batches;
	for (c = q->retired; c != NULL; c = next) {
		next = c->rnext;
		free_conn(c);
	}
	for (c = q->deferred; c != NULL; c = next) {
		next = c->rnext;
		free_conn(c);
	}
	q->retired = q->deferred = NULL;
}
