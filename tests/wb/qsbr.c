/*
 * qsbr.c - white-box test of the grace periods of lib/qsbr.c, without the
 * engine: real threads, each with its own record in the qsbr table, driven
 * step by step, then all at once.
 *
 *  - a session retired while another thread is online (inside callbacks)
 *    is not freed until that thread has gone offline or moved on; it is
 *    freed then, once, and its SESSION's hsvr_self_ is NULL;
 *  - it waits for every such thread, not the first one to move; a thread
 *    that was offline at the retirement or has no record does not hold it;
 *  - batches are freed in order, each as its own grace period passes;
 *  - a session still named by queued messages (refs) waits for the last
 *    hsvr_qsbr_release after its grace period, and not before;
 *  - the idle retry timer is armed while a batch waits, and fires;
 *  - a batch that cannot be allocated keeps its sessions for later;
 *  - hsvr_qsbr_free_all frees what waits, what was retired and what is
 *    deferred;
 *  - stress: a writer replaces published sessions and retires the old
 *    ones while readers, online, use what they loaded: no reader ever sees
 *    a freed one, and every retired one is freed exactly once.
 *
 * The frees are seen through -Wl,--wrap=hsvr_free: a test session is
 * marked freed (and its memory kept, so a late reader reads a mark, not
 * freed memory), anything else really freed.
 *
 * Shown to fail: with grace_passed()'s "if (now == b->snap[i]) return 0;"
 * removed, the step-by-step checks "not freed while ... online" and the
 * stress readers fail; with reclaim()'s refs test removed, the deferred
 * checks fail.
 */
#include "hsvr-int.h"
#include "wb.h"

#include <stdint.h>
#include <string.h>

#define NT 3                    /* step-by-step threads A, B, C */
#define POOL 6000
#define LIVE 0x5a5a

void __real_hsvr_free(void *);
void __wrap_hsvr_free(void *);

static struct hsvr_conn pool[POOL];
static int freed[POOL];         /* atomic: times hsvr_free saw it */
static int used;

void
__wrap_hsvr_free(void *p)
{
	uintptr_t a = (uintptr_t)p, lo = (uintptr_t)pool;

	if (a >= lo && a < lo + sizeof pool) {
		__atomic_add_fetch(&freed[(a - lo) / sizeof pool[0]], 1,
		    __ATOMIC_SEQ_CST);
		return;
	}
	__real_hsvr_free(p);
}

static struct hsvr_conn *
new_conn(uint32_t refs)
{
	struct hsvr_conn *c;

	if (used == POOL)
		wb_bail("pool exhausted");
	c = &pool[used++];
	c->pub.hsvr_self_ = c;
	c->fd = LIVE;
	c->refs = refs;
	return c;
}

static int
times_freed(const struct hsvr_conn *c)
{
	return __atomic_load_n(&freed[c - pool], __ATOMIC_SEQ_CST);
}

/* ---- threads driven one command at a time ---- */

enum cmd { C_NONE, C_ONLINE, C_END, C_RETIRE, C_RELEASE, C_LOOP, C_FREE_ALL,
	C_QUIT };

struct th {
	pthread_t tid;
	struct hsvr_qsbr q;
	struct event_base *base;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum cmd cmd;
	struct hsvr_conn *arg;
	int ready;              /* its record is initialised */
};

static struct th ths[NT];

static void *
th_main(void *arg)
{
	struct th *t = arg;
	enum cmd cmd;

	if ((t->base = event_base_new()) == NULL)
		wb_bail("event_base_new");
	hsvr_qs_self = &t->q;
	hsvr_qsbr_init(&t->q, t->base);
	pthread_mutex_lock(&t->lock);
	t->ready = 1;
	for (;;) {
		/* C_NONE: ready for the next command */
		pthread_cond_broadcast(&t->cond);
		while (t->cmd == C_NONE)
			pthread_cond_wait(&t->cond, &t->lock);
		cmd = t->cmd;
		pthread_mutex_unlock(&t->lock);
		switch (cmd) {
		case C_ONLINE:
			hsvr_online();
			break;
		case C_END:
			hsvr_qsbr_end_iteration();
			break;
		case C_RETIRE:
			hsvr_qsbr_retire(t->arg);
			break;
		case C_RELEASE:
			hsvr_qsbr_release(t->arg);
			break;
		case C_LOOP:
			event_base_loop(t->base, EVLOOP_ONCE);
			break;
		case C_FREE_ALL:
			hsvr_qsbr_free_all(&t->q);
			break;
		default:
			break;
		}
		pthread_mutex_lock(&t->lock);
		t->cmd = C_NONE;
		if (cmd == C_QUIT)
			break;
	}
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	event_base_free(t->base);
	return NULL;
}

/* Thread t runs cmd; returns once it has. */
static void
run(int t, enum cmd cmd, struct hsvr_conn *c)
{
	struct th *h = &ths[t];

	pthread_mutex_lock(&h->lock);
	while (h->cmd != C_NONE)
		pthread_cond_wait(&h->cond, &h->lock);
	h->cmd = cmd;
	h->arg = c;
	pthread_cond_broadcast(&h->cond);
	while (h->cmd != C_NONE)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
}

enum { A, B, C };

static void
step_by_step(void)
{
	struct hsvr_conn *c1, *c2, *c3, *c4, *c5, *c6, *c7, *c8, *c9;
	struct hsvr_conn *c10, *c11, *c12, *c13, *c14;
	int i;

	for (i = 0; i < NT; i++) {
		pthread_mutex_init(&ths[i].lock, NULL);
		pthread_cond_init(&ths[i].cond, NULL);
		if (pthread_create(&ths[i].tid, NULL, th_main, &ths[i]) != 0)
			wb_bail("pthread_create");
	}
	/* Every record initialised before any thread reads them. */
	for (i = 0; i < NT; i++) {
		pthread_mutex_lock(&ths[i].lock);
		while (!ths[i].ready)
			pthread_cond_wait(&ths[i].cond, &ths[i].lock);
		pthread_mutex_unlock(&ths[i].lock);
	}
	if (hsvr_qsbr_table_init(NT) != 0)
		wb_bail("hsvr_qsbr_table_init");
	for (i = 0; i < NT; i++)
		hsvr_qsbr_table_set(i, &ths[i].q);

	/* One thread online holds a retired session until it moves. */
	c1 = new_conn(0);
	run(B, C_ONLINE, NULL);
	run(A, C_RETIRE, c1);
	run(A, C_END, NULL);
	run(A, C_END, NULL);
	wb_ok(times_freed(c1) == 0,
	    "not freed while a thread online at its retirement stays there");
	run(B, C_END, NULL);
	wb_ok(times_freed(c1) == 0, "not freed by the other thread moving "
	    "alone: the retiring thread frees it");
	run(A, C_END, NULL);
	wb_ok(times_freed(c1) == 1 && c1->pub.hsvr_self_ == NULL,
	    "freed once that thread went offline, SESSION no longer ours");

	/* Every thread online at the retirement, not just one. */
	c2 = new_conn(0);
	run(B, C_ONLINE, NULL);
	run(C, C_ONLINE, NULL);
	run(A, C_RETIRE, c2);
	run(A, C_END, NULL);
	run(B, C_END, NULL);
	run(B, C_ONLINE, NULL);         /* moved on: a new iteration */
	run(A, C_END, NULL);
	wb_ok(times_freed(c2) == 0, "not freed while a second thread is "
	    "still in the same callbacks");
	run(C, C_END, NULL);
	run(A, C_END, NULL);
	wb_ok(times_freed(c2) == 1, "freed once every thread has moved on "
	    "(one is online again, in a later iteration)");
	run(B, C_END, NULL);

	/* Offline threads do not hold anything. */
	c3 = new_conn(0);
	run(A, C_ONLINE, NULL);
	run(A, C_RETIRE, c3);
	run(A, C_END, NULL);
	wb_ok(times_freed(c3) == 1, "freed at the retiring thread's next "
	    "iteration end when no other thread was online");

	/* A thread online without a record (NULL) does not hold it. */
	c4 = new_conn(0);
	run(C, C_ONLINE, NULL);
	hsvr_qsbr_table_set(C, NULL);
	run(A, C_RETIRE, c4);
	run(A, C_END, NULL);
	wb_ok(times_freed(c4) == 1, "a thread without a record is not "
	    "waited for");
	hsvr_qsbr_table_set(C, &ths[C].q);
	run(C, C_END, NULL);

	/* Batches in order, each freed when its own grace period passed. */
	c4 = new_conn(0);
	c5 = new_conn(0);
	run(B, C_ONLINE, NULL);
	run(A, C_RETIRE, c4);
	run(A, C_END, NULL);
	run(B, C_END, NULL);
	run(B, C_ONLINE, NULL);
	run(A, C_RETIRE, c5);
	run(A, C_END, NULL);
	wb_ok(times_freed(c4) == 1 && times_freed(c5) == 0,
	    "two batches: the first freed, the second (B online again "
	    "since) kept");
	run(B, C_END, NULL);
	run(A, C_END, NULL);
	wb_ok(times_freed(c5) == 1, "the second freed once B moved again");

	/* Sessions named by queued messages wait for the last release. */
	c6 = new_conn(2);
	run(A, C_RETIRE, c6);
	run(A, C_END, NULL);
	wb_ok(times_freed(c6) == 0 && c6->reclaimable,
	    "grace passed with two messages queued: deferred, not freed");
	run(A, C_RELEASE, c6);
	wb_ok(times_freed(c6) == 0, "not freed by the first release");
	run(A, C_RELEASE, c6);
	wb_ok(times_freed(c6) == 1, "freed by the last release");
	c7 = new_conn(1);
	run(A, C_RELEASE, c7);
	wb_ok(times_freed(c7) == 0, "a release before the grace period "
	    "frees nothing");
	run(A, C_RETIRE, c7);
	run(A, C_END, NULL);
	wb_ok(times_freed(c7) == 1, "then it is freed at the grace period");
	c8 = new_conn(1);
	c9 = new_conn(1);
	run(A, C_RETIRE, c8);
	run(A, C_RETIRE, c9);
	run(A, C_END, NULL);            /* deferred list: c8, then c9 */
	run(A, C_RELEASE, c9);          /* not the head of the list */
	wb_ok(times_freed(c9) == 1 && times_freed(c8) == 0,
	    "of two deferred, the one released is freed, the other kept");
	run(A, C_RELEASE, c8);
	wb_ok(times_freed(c8) == 1 && ths[A].q.deferred == NULL,
	    "and the other at its own release; none left deferred");

	/* A waiting batch arms the retry timer; it fires. */
	c10 = new_conn(0);
	run(B, C_ONLINE, NULL);
	run(A, C_RETIRE, c10);
	run(A, C_END, NULL);
	wb_ok(ths[A].q.retry_armed == 1, "a batch waits: the retry timer is "
	    "armed");
	run(A, C_LOOP, NULL);
	wb_ok(ths[A].q.retry_armed == 0 && times_freed(c10) == 0,
	    "the timer fired (the loop's iteration end retries); still kept");
	run(B, C_END, NULL);
	run(A, C_END, NULL);
	wb_ok(times_freed(c10) == 1 && ths[A].q.retry_armed == 0,
	    "freed on the retry; nothing armed any more");

	/* No memory for a batch: kept on the retired list, sealed later. */
	c11 = new_conn(0);
	run(A, C_RETIRE, c11);
	hsvr_alloc_arm(1);
	run(A, C_END, NULL);
	hsvr_alloc_arm(0);
	wb_ok(times_freed(c11) == 0 && ths[A].q.retired == c11,
	    "a batch allocation failing keeps the session retired");
	run(A, C_END, NULL);
	wb_ok(times_freed(c11) == 1, "and it is freed at the next iteration");

	/* Teardown frees what waits, what is retired, what is deferred. */
	c14 = new_conn(1);
	run(A, C_RETIRE, c14);
	run(A, C_END, NULL);            /* deferred: one message queued */
	c12 = new_conn(0);
	c13 = new_conn(0);
	run(B, C_ONLINE, NULL);
	run(A, C_RETIRE, c12);
	run(A, C_END, NULL);            /* a batch waiting for B */
	run(A, C_RETIRE, c13);          /* retired, not sealed */
	run(A, C_FREE_ALL, NULL);
	wb_ok(times_freed(c12) == 1 && times_freed(c13) == 1 &&
	    times_freed(c14) == 1, "free_all frees the waiting batch, the "
	    "retired and the deferred sessions, once each");
	wb_ok(ths[A].q.batches == NULL && ths[A].q.retired == NULL &&
	    ths[A].q.deferred == NULL && ths[A].q.retry_armed == 0,
	    "and leaves the record empty");
	run(B, C_END, NULL);

	for (i = 0; i < NT; i++) {
		run(i, C_FREE_ALL, NULL);
		run(i, C_QUIT, NULL);
		pthread_join(ths[i].tid, NULL);
	}
}

/* ---- stress: readers use what a writer retires ---- */

#define READERS 3
#define SLOTS 8
#define WRITES 5000

static struct hsvr_conn *slot[SLOTS];    /* atomic */
static int writer_done;                  /* atomic */
static struct hsvr_qsbr srec[READERS + 1];
static long seen_freed, reads;            /* atomic */
static pthread_barrier_t inited;          /* every record initialised */

static void *
reader(void *arg)
{
	struct hsvr_qsbr *q = arg;
	struct event_base *base = event_base_new();
	struct hsvr_conn *c;
	long bad = 0, n = 0;
	int i, j;

	if (base == NULL)
		wb_bail("event_base_new");
	hsvr_qs_self = q;
	hsvr_qsbr_init(q, base);
	pthread_barrier_wait(&inited);
	while (!__atomic_load_n(&writer_done, __ATOMIC_SEQ_CST)) {
		hsvr_online();
		for (i = 0; i < SLOTS; i++) {
			c = __atomic_load_n(&slot[i], __ATOMIC_SEQ_CST);
			/* held across the whole iteration, as callbacks do */
			for (j = 0; j < 4; j++, n++)
				if (times_freed(c) != 0 ||
				    __atomic_load_n(&c->fd, __ATOMIC_RELAXED) !=
				    LIVE)
					bad++;
		}
		hsvr_qsbr_end_iteration();
	}
	hsvr_qsbr_free_all(q);
	event_base_free(base);
	__atomic_add_fetch(&seen_freed, bad, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&reads, n, __ATOMIC_SEQ_CST);
	return NULL;
}

static void
stress(void)
{
	pthread_t rt[READERS];
	struct event_base *base = event_base_new();
	struct hsvr_conn *old;
	int i, first = used, wrong = 0;

	if (base == NULL)
		wb_bail("event_base_new");
	hsvr_qsbr_table_free();
	if (hsvr_qsbr_table_init(READERS + 1) != 0)
		wb_bail("hsvr_qsbr_table_init");
	for (i = 0; i <= READERS; i++)
		hsvr_qsbr_table_set(i, &srec[i]);
	hsvr_qs_self = &srec[READERS];
	hsvr_qsbr_init(&srec[READERS], base);
	for (i = 0; i < SLOTS; i++)
		slot[i] = new_conn(0);
	pthread_barrier_init(&inited, NULL, READERS + 1);
	for (i = 0; i < READERS; i++)
		if (pthread_create(&rt[i], NULL, reader, &srec[i]) != 0)
			wb_bail("pthread_create");
	pthread_barrier_wait(&inited);
	for (i = 0; i < WRITES; i++) {
		hsvr_online();
		old = __atomic_exchange_n(&slot[i % SLOTS], new_conn(0),
		    __ATOMIC_SEQ_CST);
		hsvr_qsbr_retire(old);
		if (i % 4 == 3)
			hsvr_qsbr_end_iteration();
	}
	hsvr_qsbr_end_iteration();
	__atomic_store_n(&writer_done, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < READERS; i++)
		pthread_join(rt[i], NULL);
	pthread_barrier_destroy(&inited);
	wb_ok(seen_freed == 0, "stress: %d readers made %ld reads of "
	    "published sessions; none was freed under them (%ld)", READERS,
	    reads, seen_freed);
	for (i = 0; i < SLOTS; i++)
		hsvr_qsbr_retire(slot[i]);
	hsvr_qsbr_free_all(&srec[READERS]);
	event_base_free(base);
	for (i = first; i < used; i++)
		if (freed[i] != 1)
			wrong++;
	wb_ok(wrong == 0, "stress: each of the %d sessions freed exactly "
	    "once (%d not)", used - first, wrong);
}

int
main(void)
{
	wb_watchdog(120);
	/* Every allocation fails while armed (the batch test). */
	setenv("HSVR_FAULT_ALLOC", "1", 1);
	hsvr_log_stderr(0);
	hsvr_alloc_init();
	step_by_step();
	stress();
	return wb_done();
}
