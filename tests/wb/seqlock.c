/*
 * seqlock.c - white-box test of the statistics (lib/stats.c) without the
 * engine: workers' counters written under their sequence locks by real
 * threads while another thread collects them.
 *
 *  - every snapshot hsvr_stats_collect takes is consistent: the writers
 *    keep, inside each update, rxcount = 3 * accepted, rxoctet = 100 *
 *    accepted, txcount = 2 * accepted, txoctet = 7 * accepted, rxtimeout =
 *    accepted and terms = accepted - 1, so the sums show whether a
 *    worker's fields were read at one instant; counts never go backwards
 *    from one snapshot to the next; thread_session[i] is worker i's;
 *  - the totals at the end are exact, the shared counters copied, and
 *    session_high is at least the gauge;
 *  - S_stats: -1 for NULL and before any server ran; the live counters
 *    while running; after hsvr_stats_final(1) the final snapshot, whatever
 *    the workers' counters do afterwards; -1 again once it is forgotten.
 *
 * Shown to fail: with read_worker()'s loop condition made "while (0)" (no
 * retry on a torn read), the consistency check fails within the first
 * thousands of snapshots; with hsvr_stats_final() not folding (fold
 * ignored), the final-snapshot checks fail.
 */
#include "hsvr-int.h"
#include "wb.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NW 3
/*
 * Snapshots that saw the counts move (the writers ran meanwhile), and a
 * bound on the time they may take.  Not a bound on the snapshots: on two
 * cores busy with other work the writers, which yield after every update,
 * got so little time that 50,000,000 snapshots (12 s) saw fewer than
 * 2,300 changes.  The reader must not yield: it and a writer running at
 * once is what could tear a snapshot.
 */
#define MOVED 5000L
#define MOVED_SECS 90
#define UPDATES_MAX 2000000000L /* a bound only: they stop when told */

static struct hsvr_worker *workers;
static int stop;                /* atomic */
static pthread_barrier_t go;    /* every writer running, and the reader */

static void *
writer(void *arg)
{
	struct hsvr_counters *k = arg;
	long i;

	pthread_barrier_wait(&go);
	for (i = 0; i < UPDATES_MAX &&
	    !__atomic_load_n(&stop, __ATOMIC_RELAXED); i++) {
		ctr_begin(k);
		CTR_ADD(k, accepted, 1);
		CTR_ADD(k, rxoctet, 100);
		CTR_ADD(k, rxcount, 3);
		CTR_ADD(k, txoctet, 7);
		CTR_ADD(k, txcount, 2);
		CTR_ADD(k, rxtimeout, 1);
		/* terms = accepted - 1 from the second update on */
		if (k->accepted > 1)
			CTR_ADD(k, terms, 1);
		ctr_end(k);
		/* Time between updates, as a worker has between events: else
		 * a slow reader (ThreadSanitizer) may never find a window. */
		sched_yield();
	}
	return NULL;
}

/* A snapshot whose every worker was read at one instant. */
static int
consistent(const S_STATS *st)
{
	uint64_t a = st->accept_counter;
	int i, live = 0;
	uint64_t sum = 0;

	for (i = 0; i < NW; i++) {
		sum += st->thread_session[i];
		if (st->thread_session[i] > 0)
			live++;
	}
	return st->threads == NW && sum == a && st->rxcount == 3 * a &&
	    st->rxoctet == 100 * a && st->txcount == 2 * a &&
	    st->txoctet == 7 * a && st->rxtimeout == a &&
	    st->session_gauge == (uint64_t)live;
}

static int
not_backwards(const S_STATS *old, const S_STATS *now)
{
	int i;

	for (i = 0; i < NW; i++)
		if (now->thread_session[i] < old->thread_session[i])
			return 0;
	return now->accept_counter >= old->accept_counter;
}

static int
same(const S_STATS *a, const S_STATS *b)
{
	int i;

	for (i = 0; i < NW; i++)
		if (a->thread_session[i] != b->thread_session[i])
			return 0;
	return a->accept_counter == b->accept_counter &&
	    a->session_gauge == b->session_gauge &&
	    a->rxcount == b->rxcount && a->txoctet == b->txoctet &&
	    a->session_error == b->session_error &&
	    a->session_high == b->session_high && a->threads == b->threads;
}

int
main(void)
{
	pthread_t wt[NW];
	S_STATS st, prev, fin;
	long snaps = 0, moved = 0, torn = 0, back = 0;
	time_t until;
	int i, ok;

	wb_watchdog(150);
	/* A real pool, its workers set up but not started. */
	if (hsvr_qsbr_table_init(NW) != 0 ||
	    hsvr_worker_pool_init(NW, 100, 0) != 0)
		wb_bail("cannot set up the pool");
	for (i = 0; i < NW; i++)
		if (hsvr_worker_init(i) != 0)
			wb_bail("hsvr_worker_init");
	workers = hsvr_worker_pool_at(0);

	wb_ok(S_stats(NULL) == -1, "S_stats(NULL): -1");
	wb_ok(S_stats(&st) == -1, "S_stats before any server ran: -1");

	hsvr_stats_serving(1);
	memset(&prev, 0, sizeof prev);
	pthread_barrier_init(&go, NULL, NW + 1);
	for (i = 0; i < NW; i++)
		if (pthread_create(&wt[i], NULL, writer, &workers[i].ctr) != 0)
			wb_bail("pthread_create");
	pthread_barrier_wait(&go);
	until = time(NULL) + MOVED_SECS;
	/* Until the counts were seen moving MOVED times: the writers run. */
	do {
		if (S_stats(&st) != 0)
			wb_bail("S_stats while running");
		snaps++;
		if (!consistent(&st)) {
			if (torn++ == 0)
				wb_note("torn: accepted %llu rxcount %llu "
				    "rxoctet %llu gauge %llu",
				    (unsigned long long)st.accept_counter,
				    (unsigned long long)st.rxcount,
				    (unsigned long long)st.rxoctet,
				    (unsigned long long)st.session_gauge);
		}
		if (!not_backwards(&prev, &st))
			back++;
		if (st.accept_counter != prev.accept_counter)
			moved++;
		prev = st;
	} while (moved < MOVED &&
	    ((snaps & 0xffff) != 0 || time(NULL) < until));
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < NW; i++)
		pthread_join(wt[i], NULL);
	pthread_barrier_destroy(&go);
	wb_ok(moved == MOVED, "%ld snapshots taken while %d writers update, "
	    "%ld of them after a change", snaps, NW, moved);
	wb_ok(torn == 0, "every snapshot consistent (%ld torn)", torn);
	wb_ok(back == 0, "no count went backwards between snapshots (%ld)",
	    back);

	/* Exact totals, shared counters, the high mark. */
	hsvr_shared.stats.session_error = 5;
	hsvr_shared.stats.connect_error = 6;
	hsvr_shared.stats.alloc_error = 7;
	hsvr_shared.stats.session_high = 0;
	S_stats(&st);
	ok = consistent(&st);
	for (i = 0; i < NW; i++)
		ok = ok && st.thread_session[i] == workers[i].ctr.accepted;
	wb_ok(ok, "at rest: the totals are the "
	    "workers' sums (%llu accepted, gauge %llu)",
	    (unsigned long long)st.accept_counter,
	    (unsigned long long)st.session_gauge);
	wb_ok(st.session_error == 5 && st.connect_error == 6 &&
	    st.alloc_error == 7, "the shared counters are copied");
	wb_ok(st.session_high == st.session_gauge && st.session_gauge > 0,
	    "session_high is raised to the gauge "
	    "when its own count is lower");
	hsvr_shared.stats.session_high = 50;
	S_stats(&st);
	wb_ok(st.session_high == 50, "and kept when higher");

	/* The final snapshot outlives the workers' counters. */
	hsvr_stats_final(1);
	hsvr_stats_serving(0);
	fin = st;
	workers[0].ctr.accepted += 1000;
	hsvr_shared.stats.session_error = 99;
	memset(&st, 0, sizeof st);
	wb_ok(S_stats(&st) == 0 && same(&st, &fin),
	    "stopped: S_stats gives the final snapshot, not later counts");
	hsvr_worker_pool_free();
	hsvr_qsbr_table_free();
	memset(&st, 0, sizeof st);
	wb_ok(S_stats(&st) == 0 && st.accept_counter == fin.accept_counter,
	    "and still once the workers are freed");
	hsvr_stats_final(0);
	wb_ok(S_stats(&st) == -1, "forgotten (a new start): -1 while not "
	    "running");
	return wb_done();
}
