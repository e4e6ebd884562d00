/*
 * stats.c - statistics: per-worker counters read under their sequence
 * locks, plus the shared rare-event counters, summed into one snapshot;
 * the last one kept once the workers are gone.
 */
#include "hsvr-int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)

/* One worker's counters as they were at a single instant. */
static void
read_worker(struct hsvr_counters *k, struct hsvr_counters *out)
{
	uint64_t s1, s2;

	do {
		s1 = __atomic_load_n(&k->seq, __ATOMIC_ACQUIRE);
		out->accepted = LOAD(&k->accepted);
		out->terms = LOAD(&k->terms);
		out->rxoctet = LOAD(&k->rxoctet);
		out->rxcount = LOAD(&k->rxcount);
		out->txoctet = LOAD(&k->txoctet);
		out->txcount = LOAD(&k->txcount);
		out->rxtimeout = LOAD(&k->rxtimeout);
		s2 = __atomic_load_n(&k->seq, __ATOMIC_RELAXED);
	} while ((s1 & 1) != 0 || s1 != s2);
}

void
hsvr_stats_collect(S_STATS *st)
{
	struct hsvr_counters k;
	int i;

	memset(st, 0, sizeof *st);
	for (i = 0; i < hsvr_g.nworkers; i++) {
		read_worker(&hsvr_g.workers[i].ctr, &k);
		st->accept_counter += k.accepted;
		st->session_gauge += k.accepted - k.terms;
		st->rxoctet += k.rxoctet;
		st->rxcount += k.rxcount;
		st->txoctet += k.txoctet;
		st->txcount += k.txcount;
		st->rxtimeout += k.rxtimeout;
		st->thread_session[i] = k.accepted;
	}
	st->threads = hsvr_g.nworkers;
	st->session_error = LOAD(&hsvr_g.shared.session_error);
	st->session_high = LOAD(&hsvr_g.shared.session_high);
	st->discarded_octet = LOAD(&hsvr_g.shared.discarded_octet);
	st->discarded_packet = LOAD(&hsvr_g.shared.discarded_packet);
	st->connect_error = LOAD(&hsvr_g.shared.connect_error);
	st->tls_handshake_error = LOAD(&hsvr_g.shared.tls_handshake_error);
	st->session_error_per_ip = LOAD(&hsvr_g.shared.session_error_per_ip);
	st->write_timeout = LOAD(&hsvr_g.shared.write_timeout);
	st->fd_exhausted = LOAD(&hsvr_g.shared.fd_exhausted);
	st->alloc_error = LOAD(&hsvr_g.shared.alloc_error);
	if (st->session_high < st->session_gauge)
		st->session_high = st->session_gauge;
}

/*
 * Once the workers have stopped, their counters are folded into a final
 * snapshot before they are freed; S_stats reads that one from then on (in
 * serv_exit, from a thread of the application...).  The lock keeps the
 * workers from being freed under a reader.
 */
static pthread_rwlock_t final_lock = PTHREAD_RWLOCK_INITIALIZER;
static S_STATS final;
static int have_final;

void
hsvr_stats_final(int fold)
{
	pthread_rwlock_wrlock(&final_lock);
	if (fold)
		hsvr_stats_collect(&final);
	have_final = fold;
	pthread_rwlock_unlock(&final_lock);
}

int
S_stats(S_STATS *st)
{
	int rc = 0;

	if (st == NULL)
		return -1;
	pthread_rwlock_rdlock(&final_lock);
	if (have_final)
		*st = final;
	else if (__atomic_load_n(&hsvr_g.running, __ATOMIC_SEQ_CST))
		hsvr_stats_collect(st);
	else
		rc = -1;
	pthread_rwlock_unlock(&final_lock);
	return rc;
}

void
S_stats_print(const S_STATS *st, FILE *fp)
{
	hsvr_stats_print(st, fp);
}

/* st as name=value lines on fp (S_stats_print, the statistics at exit). */
void
hsvr_stats_print(const S_STATS *st, FILE *fp)
{
	int i;

	fprintf(fp,
	    "session_gauge=%" PRIu64 "\n"
	    "session_high=%" PRIu64 "\n"
	    "accept_counter=%" PRIu64 "\n"
	    "session_error=%" PRIu64 "\n"
	    "rxoctet=%" PRIu64 "\n"
	    "rxcount=%" PRIu64 "\n"
	    "txoctet=%" PRIu64 "\n"
	    "txcount=%" PRIu64 "\n"
	    "rxtimeout=%" PRIu64 "\n"
	    "discarded_octet=%" PRIu64 "\n"
	    "discarded_packet=%" PRIu64 "\n"
	    "connect_error=%" PRIu64 "\n",
	    st->session_gauge, st->session_high, st->accept_counter,
	    st->session_error, st->rxoctet, st->rxcount, st->txoctet,
	    st->txcount, st->rxtimeout, st->discarded_octet,
	    st->discarded_packet, st->connect_error);
	if (hsvr_tls_enabled())
		fprintf(fp, "tls_handshake_error=%" PRIu64 "\n",
		    st->tls_handshake_error);
	fprintf(fp,
	    "session_error_per_ip=%" PRIu64 "\n"
	    "write_timeout=%" PRIu64 "\n"
	    "fd_exhausted=%" PRIu64 "\n"
	    "alloc_error=%" PRIu64 "\n",
	    st->session_error_per_ip, st->write_timeout, st->fd_exhausted,
	    st->alloc_error);
	for (i = 0; i < st->threads && i < HSVR_MAX_THREADS; i++)
		fprintf(fp, "thread %d session=%" PRIu64 "\n", i,
		    st->thread_session[i]);
	fflush(fp);
}
