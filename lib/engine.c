/*
 * engine.c - one server's life in one process: threads set up, listener
 * and workers started, the main loop run until the workers have stopped
 * (at once, or after a bounded drain), everything torn down.
 */
#include "hsvr-int.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/thread.h>

struct hsvr_engine hsvr_g;

static struct event periodic_ev, drain_ev;
static int main_stop;
static int stopping;            /* 0 serving, 1 draining, 2 stopping now */
static int posted[2];           /* stop, drain messages sent to workers */

static void
on_periodic(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	hsvr_online();
	hsvr_g.cfg->periodic();
}

static void
post_control(int drain)
{
	struct hsvr_msg *m;
	int i;

	if (posted[drain])
		return;
	posted[drain] = 1;
	for (i = 0; i < hsvr_g.nworkers; i++) {
		m = drain ? hsvr_g.workers[i].drain_msg :
		    hsvr_g.workers[i].stop_msg;
		m->type = drain ? MSG_DRAIN : MSG_STOP;
		hsvr_worker_post(&hsvr_g.workers[i], m);
	}
}

static void
stop_now(void)
{
	stopping = 2;
	hsvr_accept_close();
	post_control(0);
}

static void
on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	hsvr_log(LOG_WARNING, "drain timeout: closing the remaining "
	    "connections");
	stop_now();
}

/*
 * SIGTERM or SIGINT.  The first one drains: listeners closed at once, every
 * session asked to finish (serv_on_drain), bounded by --drain-timeout.  A
 * second one, -t, or an S_start server stops at once.
 */
static void
term(void)
{
	struct timeval tv = { hsvr_g.cfg->drain_timeout, 0 };
	S_STATS st;

	if (stopping || hsvr_g.cfg->terminate || hsvr_g.cfg->cb != NULL ||
	    hsvr_g.cfg->drain_timeout <= 0) {
		stop_now();
		return;
	}
	stopping = 1;
	hsvr_accept_close();
	hsvr_stats_collect(&st);
	hsvr_log(LOG_INFO, "stopping: draining %llu connections (at most %d s)",
	    (unsigned long long)st.session_gauge, hsvr_g.cfg->drain_timeout);
	post_control(1);
	evtimer_assign(&drain_ev, hsvr_g.base, on_drain_timeout, NULL);
	event_add(&drain_ev, &tv);
}

/* The supervisor died: drain, unless already stopping. */
static void
drain_unless_stopping(void)
{
	if (!stopping)
		term();
}

/* Every worker left its loop (the pool tells, on the main thread). */
static void
on_workers_done(void)
{
	main_stop = 1;
}

static int
start_workers(struct hsvr_config *cfg)
{
	int i, rc = 0;

	hsvr_g.workers = aligned_alloc(HSVR_CACHELINE,
	    sizeof *hsvr_g.workers * (size_t)cfg->threads);
	if (hsvr_g.workers == NULL) {
		hsvr_warn("cannot allocate %d workers", cfg->threads);
		return -1;
	}
	memset(hsvr_g.workers, 0, sizeof *hsvr_g.workers * (size_t)cfg->threads);
	for (i = 0; i < cfg->threads; i++) {
		if (hsvr_worker_init(&hsvr_g.workers[i], i) != 0 ||
		    hsvr_accept_start_worker(&hsvr_g.workers[i],
		    hsvr_worker_deal) != 0)
			return -1;
		hsvr_g.nworkers = i + 1;
		hsvr_g.qs_all[i] = &hsvr_g.workers[i].qs;
	}
	/*
	 * Workers keep the main thread's signal mask: a signal the engine
	 * handles may run libevent's handler on any thread, which passes it
	 * to the main base.  A mask blocking everything would be inherited
	 * by every program a callback runs (system() included).
	 */
	for (i = 0; i < cfg->threads && rc == 0; i++)
		rc = hsvr_worker_start(&hsvr_g.workers[i]);
	return rc;
}

/* Stop and join the workers; fill final (if given) before freeing them. */
static void
stop_workers(S_STATS *final)
{
	int i;

	post_control(0);
	for (i = 0; i < hsvr_g.nworkers; i++)
		if (hsvr_g.workers[i].thread != 0)
			pthread_join(hsvr_g.workers[i].thread, NULL);
	/* No thread runs now: drop what is left in the inboxes, then free. */
	for (i = 0; i < hsvr_g.nworkers; i++)
		hsvr_worker_drain_inbox(&hsvr_g.workers[i]);
	for (i = 0; i < hsvr_g.nworkers; i++)
		hsvr_qsbr_free_all(&hsvr_g.workers[i].qs);
	if (final != NULL) {
		hsvr_stats_final(1);    /* with what the inboxes discarded */
		hsvr_stats_collect(final);
	}
	for (i = 0; i < hsvr_g.nworkers; i++)
		hsvr_worker_free(&hsvr_g.workers[i]);
	free(hsvr_g.workers);
	hsvr_g.workers = NULL;
	hsvr_g.nworkers = 0;
}

static void
teardown(void)
{
	hsvr_worker_gate_open(); /* workers still waiting for it: stop them */
	hsvr_signals_stop();
	if (hsvr_g.base != NULL) {
		if (hsvr_g.cfg->periodic != NULL)
			event_del(&periodic_ev);
		hsvr_worker_pool_unwatch();
		if (stopping == 1)
			event_del(&drain_ev);
	}
	hsvr_accept_close();
	stop_workers(NULL);
	hsvr_accept_free();     /* the workers are gone: all of them */
	hsvr_qsbr_free_all(&hsvr_g.main_qs);
	hsvr_qs_self = NULL;
	if (hsvr_g.base != NULL)
		event_base_free(hsvr_g.base);
	hsvr_g.base = NULL;
	free(hsvr_g.qs_all);
	hsvr_g.qs_all = NULL;
	hsvr_search_free();
	hsvr_perip_free();
}

/* SIGUSR1: the statistics to the log, the server goes on. */
static void
log_stats(void)
{
	char line[512];
	S_STATS st;

	hsvr_stats_collect(&st);
	hsvr_stats_line(&st, line, sizeof line);
	hsvr_log(LOG_INFO, "%s", line);
}

static void
announce(struct hsvr_config *cfg)
{
	if (cfg->report_fd >= 0) {
		hsvr_log_report_to(-1);
		close(cfg->report_fd);
		cfg->report_fd = -1;
	}
	if (cfg->cb == NULL)
		hsvr_log(LOG_INFO, "hsvr %s serving on %s: %d threads, at most "
		    "%d connections", HSVR_VERSION, cfg->where, cfg->threads,
		    cfg->max_conn);
	if (cfg->ready_fd >= 0) {
		(void)!write(cfg->ready_fd, "READY\n", 6);
		close(cfg->ready_fd);
		cfg->ready_fd = -1;
	}
}

/*
 * Run a server with cfg on listening sockets already open (hsvr_listen_open)
 * until it stops: 0, or -1 after a message.
 */
int
hsvr_engine_run(struct hsvr_config *cfg)
{
	struct timeval tv;
	char line[512];
	S_STATS st;

	if (__atomic_load_n(&hsvr_g.running, __ATOMIC_SEQ_CST)) {
		hsvr_warnx("a server is already running in this process");
		return -1;
	}
	hsvr_g.cfg = cfg;
	memset(&hsvr_g.shared, 0, sizeof hsvr_g.shared);
	hsvr_g.live = 0;
	hsvr_g.drained = 0;
	hsvr_g.next_id = 0;
	main_stop = 0;
	stopping = 0;
	hsvr_worker_pool_reset();
	posted[0] = posted[1] = 0;
	hsvr_stats_final(0);
	hsvr_alloc_init();
	if (evthread_use_pthreads() != 0) {
		hsvr_warnx("libevent has no pthreads support");
		return -1;
	}
	hsvr_fdlimit_raise(cfg);
	hsvr_g.nqs = cfg->threads + 1;
	/* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
	hsvr_g.qs_all = calloc((size_t)hsvr_g.nqs, sizeof *hsvr_g.qs_all);
	if (hsvr_g.qs_all == NULL || hsvr_search_init() != 0 ||
	    hsvr_perip_init() != 0 ||
	    (hsvr_g.base = event_base_new()) == NULL) {
		hsvr_warnx("cannot set up the server: out of memory");
		goto fail;
	}
	hsvr_qsbr_init(&hsvr_g.main_qs, hsvr_g.base);
	hsvr_g.qs_all[cfg->threads] = &hsvr_g.main_qs;
	hsvr_qs_self = &hsvr_g.main_qs;
	hsvr_worker_pool_watch(hsvr_g.base, on_workers_done);
	hsvr_signals_watch_supervisor(cfg);
	if (hsvr_signals_start(hsvr_g.base, term, drain_unless_stopping,
	    log_stats) != 0 || start_workers(cfg) != 0 ||
	    hsvr_accept_start(hsvr_g.base, hsvr_worker_deal) != 0)
		goto fail;
	if (cfg->periodic != NULL) {
		tv.tv_sec = cfg->periodic_sec;
		tv.tv_usec = 0;
		event_assign(&periodic_ev, hsvr_g.base, -1, EV_PERSIST,
		    on_periodic, NULL);
		event_add(&periodic_ev, &tv);
	}
	hsvr_worker_gate_wait(cfg->threads);
	/* after serv_worker_init (--seccomp) */
	if (cfg->lock_down != NULL && cfg->lock_down(cfg) != 0)
		goto fail;
	__atomic_store_n(&hsvr_g.running, 1, __ATOMIC_SEQ_CST);
	hsvr_alloc_arm(1);
	announce(cfg);
	hsvr_worker_gate_open();
	while (!main_stop) {
		event_base_loop(hsvr_g.base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY);
		hsvr_qsbr_end_iteration();
	}
	/* Every worker left its loop: their counters are final. */
	hsvr_stats_final(1);
	__atomic_store_n(&hsvr_g.running, 0, __ATOMIC_SEQ_CST);
	hsvr_alloc_arm(0);
	hsvr_accept_close();
	stop_workers(&st);
	if (cfg->stats_out != NULL)
		hsvr_stats_print(&st, cfg->stats_out);
	if (cfg->cb == NULL) {
		hsvr_stats_line(&st, line, sizeof line);
		hsvr_log_stderr(0);     /* already printed as name=value */
		hsvr_log(LOG_INFO, "%s", line);
		hsvr_log(LOG_INFO, "stopped");
	}
	teardown();
	return 0;
fail:
	teardown();
	return -1;
}
