/*
 * stats.c - statistics: per-worker counters read under their sequence
 * locks, plus the shared rare-event counters, summed into one snapshot;
 * the last one kept once the workers are gone; each named once, also as
 * a Prometheus metric.
 */
#include "hsvr-int.h"

#include <inttypes.h>
#include <stddef.h>
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
		out->out_established = LOAD(&k->out_established);
		out->out_terms = LOAD(&k->out_terms);
		s2 = __atomic_load_n(&k->seq, __ATOMIC_RELAXED);
	} while ((s1 & 1) != 0 || s1 != s2);
}

void
hsvr_stats_collect(S_STATS *st)
{
	hsvr_stats_collect_each(st, NULL, 0);
}

void
hsvr_stats_collect_each(S_STATS *st, struct hsvr_counters *each, int max)
{
	struct hsvr_counters k;
	int i, n;

	memset(st, 0, sizeof *st);
	n = hsvr_worker_pool_count();
	for (i = 0; i < n; i++) {
		read_worker(&hsvr_worker_pool_at(i)->ctr, &k);
		if (each != NULL && i < max)
			each[i] = k;
		st->accept_counter += k.accepted;
		st->session_gauge += k.accepted - k.terms;
		st->rxoctet += k.rxoctet;
		st->rxcount += k.rxcount;
		st->txoctet += k.txoctet;
		st->txcount += k.txcount;
		st->rxtimeout += k.rxtimeout;
		st->thread_session[i] = k.accepted;
		st->outbound_counter += k.out_established;
		st->outbound_gauge += k.out_established - k.out_terms;
	}
	st->threads = n;
	st->session_error = LOAD(&hsvr_shared.stats.session_error);
	st->session_high = LOAD(&hsvr_shared.stats.session_high);
	st->discarded_octet = LOAD(&hsvr_shared.stats.discarded_octet);
	st->discarded_packet = LOAD(&hsvr_shared.stats.discarded_packet);
	st->connect_error = LOAD(&hsvr_shared.stats.connect_error);
	st->tls_handshake_error = LOAD(&hsvr_shared.stats.tls_handshake_error);
	st->session_error_per_ip = LOAD(&hsvr_shared.stats.session_error_per_ip);
	st->write_timeout = LOAD(&hsvr_shared.stats.write_timeout);
	st->fd_exhausted = LOAD(&hsvr_shared.stats.fd_exhausted);
	st->alloc_error = LOAD(&hsvr_shared.stats.alloc_error);
	st->proxy_error = LOAD(&hsvr_shared.stats.proxy_error);
	st->outbound_error = LOAD(&hsvr_shared.stats.outbound_error);
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
static int serving;              /* atomic */

/* 1: the server serves, S_stats may collect; 0: it does not (any more). */
void
hsvr_stats_serving(int on)
{
	__atomic_store_n(&serving, on, __ATOMIC_SEQ_CST);
}

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
	else if (__atomic_load_n(&serving, __ATOMIC_SEQ_CST))
		hsvr_stats_collect(st);
	else
		rc = -1;
	pthread_rwlock_unlock(&final_lock);
	return rc;
}

/*
 * Every statistic, named once, in the order of the original manual (and of
 * S_STATS): S_stats_print, the log line of SIGUSR1 and (through
 * S_stats_print) the test servers read this table, and metrics.c its
 * Prometheus names (hsvr_ prefix; counters end in _total, after the unit,
 * _bytes).  A TLS-only statistic is printed by S_stats_print when TLS is
 * on; the log line and the metrics always have all of them.
 */
static const struct stats_field {
	const char *name;
	size_t off;
	const char *metric;
	const char *help;
	int shown;      /* SHOWN_*: when S_stats_print prints it */
	int counter;
} stats_fields[] = {
#define SHOWN_ALWAYS 0
#define SHOWN_TLS 1         /* when TLS is on */
#define SHOWN_OUTBOUND 2    /* when S_connect was used */
#define STATS_FIELD(f, shown, m, c, h) \
	{ #f, offsetof(S_STATS, f), m, h, shown, c }
	STATS_FIELD(session_gauge, 0, "hsvr_connections_open", 0,
	    "Connections open now."),
	STATS_FIELD(session_high, 0, "hsvr_connections_open_max", 0,
	    "Most connections open at once."),
	STATS_FIELD(accept_counter, 0, "hsvr_connections_accepted_total", 1,
	    "Connections accepted and served."),
	STATS_FIELD(session_error, 0, "hsvr_connections_refused_total", 1,
	    "Connections refused (-m, --max-per-ip) or that failed to open."),
	STATS_FIELD(rxoctet, 0, "hsvr_received_bytes_total", 1,
	    "Bytes received from the peers."),
	STATS_FIELD(rxcount, 0, "hsvr_reads_total", 1,
	    "Reads delivered to the application (TYP_READ)."),
	STATS_FIELD(txoctet, 0, "hsvr_sent_bytes_total", 1,
	    "Bytes written to the peers."),
	STATS_FIELD(txcount, 0, "hsvr_sends_total", 1,
	    "S_send calls that queued data."),
	STATS_FIELD(rxtimeout, 0, "hsvr_idle_timeouts_total", 1,
	    "Idle timeouts of sessions."),
	STATS_FIELD(discarded_octet, 0, "hsvr_discarded_bytes_total", 1,
	    "Bytes refused (congested) or lost to a peer that went away."),
	STATS_FIELD(discarded_packet, 0, "hsvr_discarded_sends_total", 1,
	    "S_send calls refused because the session was congested."),
	STATS_FIELD(connect_error, 0, "hsvr_accept_errors_total", 1,
	    "accept() calls that failed."),
	STATS_FIELD(tls_handshake_error, SHOWN_TLS,
	    "hsvr_tls_handshake_errors_total", 1,
	    "TLS handshakes that failed or timed out."),
	STATS_FIELD(session_error_per_ip, 0,
	    "hsvr_connections_refused_per_ip_total", 1,
	    "Connections refused by --max-per-ip (also in "
	    "hsvr_connections_refused_total)."),
	STATS_FIELD(write_timeout, 0, "hsvr_write_timeouts_total", 1,
	    "Sessions closed by --write-timeout."),
	STATS_FIELD(fd_exhausted, 0, "hsvr_accept_fd_exhausted_total", 1,
	    "accept() calls that found no descriptor free."),
	STATS_FIELD(alloc_error, 0, "hsvr_alloc_errors_total", 1,
	    "Allocations that failed (the library coped)."),
	/* after thread_session[] in S_STATS */
	STATS_FIELD(proxy_error, 0, "hsvr_proxy_errors_total", 1,
	    "Connections closed for a missing, malformed or late PROXY "
	    "header, or from outside --proxy-from."),
	STATS_FIELD(outbound_gauge, SHOWN_OUTBOUND, "hsvr_outbound_sessions", 0,
	    "Outbound sessions (S_connect) open now."),
	STATS_FIELD(outbound_counter, SHOWN_OUTBOUND,
	    "hsvr_outbound_connections_total", 1,
	    "Outbound connections (S_connect) established."),
	STATS_FIELD(outbound_error, SHOWN_OUTBOUND, "hsvr_outbound_errors_total", 1,
	    "Outbound connections (S_connect) that could not be established."),
#undef STATS_FIELD
};

#define NFIELDS (sizeof stats_fields / sizeof stats_fields[0])

/*
 * A statistic added to S_STATS but not here does not compile: those before
 * threads, and those added since at the end (the struct only grows).
 */
_Static_assert(NFIELDS * sizeof(uint64_t) == offsetof(S_STATS, threads) +
    sizeof(S_STATS) - offsetof(S_STATS, proxy_error),
    "every 64-bit statistic of S_STATS is in stats_fields");

static uint64_t
stats_value(const S_STATS *st, size_t i)
{
	uint64_t v;

	memcpy(&v, (const char *)st + stats_fields[i].off, sizeof v);
	return v;
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
	int tls = hsvr_tls_enabled();
	int outbound = st->outbound_counter + st->outbound_error > 0;
	size_t i;
	int t, shown;

	for (i = 0; i < NFIELDS; i++)
		if ((shown = stats_fields[i].shown) == SHOWN_ALWAYS ||
		    (shown == SHOWN_TLS && tls) ||
		    (shown == SHOWN_OUTBOUND && outbound))
			fprintf(fp, "%s=%" PRIu64 "\n", stats_fields[i].name,
			    stats_value(st, i));
	for (t = 0; t < st->threads && t < HSVR_MAX_THREADS; t++)
		fprintf(fp, "thread %d session=%" PRIu64 "\n", t,
		    st->thread_session[t]);
	fflush(fp);
}

/* st on one line, "statistics: name=value ...", every statistic (the log). */
void
hsvr_stats_line(const S_STATS *st, char *buf, size_t len)
{
	size_t i, at;
	int n;

	n = snprintf(buf, len, "statistics:");
	at = n > 0 ? (size_t)n : 0;
	for (i = 0; i < NFIELDS && at < len; i++) {
		n = snprintf(buf + at, len - at, " %s=%" PRIu64,
		    stats_fields[i].name, stats_value(st, i));
		if (n < 0)
			break;
		at += (size_t)n;
	}
}

/* Statistic i of st as a Prometheus metric (metrics.c): 0, or -1. */
int
hsvr_stats_metric(const S_STATS *st, size_t i, struct hsvr_stats_metric *out)
{
	if (i >= NFIELDS)
		return -1;
	out->name = stats_fields[i].metric;
	out->help = stats_fields[i].help;
	out->counter = stats_fields[i].counter;
	out->value = stats_value(st, i);
	return 0;
}
