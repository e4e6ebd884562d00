/*
 * engine.c - one server's life in one process: threads set up, listener,
 * workers and --metrics started, the main loop run until the workers have
 * stopped (at once, or after a bounded drain), everything torn down.
 */
#include "hsvr-int.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <event2/thread.h>

static struct hsvr_config *cfg;        /* the server's (hsvr_engine_run) */
static struct event_base *base;        /* main thread: accept, signals */
static struct hsvr_qsbr main_qs;
static int running;                    /* atomic: one server at a time */
static struct event periodic_ev, drain_ev;
static int main_stop;
static int stopping;            /* 0 serving, 1 draining, 2 stopping now */

static void
on_periodic(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	hsvr_online();
	cfg->periodic();
}

/* --metrics: this process answers no more scrapes (a draining one
 * leaves them to its successor), and closes its copy of the socket. */
static void
metrics_stop(void)
{
	hsvr_metrics_stop();
	cfg->metrics_fd = -1;
}

static void
stop_now(void)
{
	metrics_stop();
	stopping = 2;
	hsvr_accept_close();
	hsvr_worker_pool_post(0);
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
	struct timeval tv = { cfg->drain_timeout, 0 };
	S_STATS st;

	if (stopping || cfg->terminate || cfg->cb != NULL ||
	    cfg->drain_timeout <= 0) {
		stop_now();
		return;
	}
	stopping = 1;
	hsvr_accept_close();
	metrics_stop();
	hsvr_stats_collect(&st);
	hsvr_log(LOG_INFO, "stopping: draining %llu connections (at most %d s)",
	    (unsigned long long)st.session_gauge, cfg->drain_timeout);
	hsvr_worker_pool_post(1);
	evtimer_assign(&drain_ev, base, on_drain_timeout, NULL);
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
start_workers(void)
{
	int i, rc = 0;

	if (hsvr_worker_pool_init(cfg->threads, cfg->max_conn,
	    cfg->max_per_ip) != 0 ||
	    hsvr_worker_pool_lag(cfg->metrics_fd >= 0) != 0)
		return -1;
	hsvr_worker_pool_proxy(cfg->proxy_protocol ? &cfg->proxy_from : NULL);
	for (i = 0; i < cfg->threads; i++)
		if (hsvr_worker_init(i) != 0 ||
		    hsvr_accept_start_worker(hsvr_worker_pool_at(i),
		    hsvr_worker_deal) != 0)
			return -1;
	/*
	 * Workers keep the main thread's signal mask: a signal the engine
	 * handles may run libevent's handler on any thread, which passes it
	 * to the main base.  A mask blocking everything would be inherited
	 * by every program a callback runs (system() included).
	 */
	for (i = 0; i < cfg->threads && rc == 0; i++)
		rc = hsvr_worker_start(hsvr_worker_pool_at(i));
	return rc;
}

/* Stop and join the workers; fill final (if given) before freeing them. */
static void
stop_workers(S_STATS *final)
{
	hsvr_worker_pool_post(0);
	hsvr_worker_pool_join();
	if (final != NULL) {
		hsvr_stats_final(1);    /* with what the inboxes discarded */
		hsvr_stats_collect(final);
	}
	hsvr_worker_pool_free();
}

static void
teardown(void)
{
	hsvr_worker_gate_open(); /* workers still waiting for it: stop them */
	metrics_stop();         /* it reads the workers: before they go */
	hsvr_signals_remove();
	if (base != NULL) {
		if (cfg->periodic != NULL)
			event_del(&periodic_ev);
		hsvr_worker_pool_unwatch();
		if (stopping == 1)
			event_del(&drain_ev);
	}
	hsvr_accept_close();
	stop_workers(NULL);
	hsvr_accept_free();     /* the workers are gone: all of them */
	hsvr_qsbr_free_all(&main_qs);
	hsvr_qs_self = NULL;
	if (base != NULL)
		event_base_free(base);
	base = NULL;
	hsvr_qsbr_table_free();
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
announce(void)
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
hsvr_engine_run(struct hsvr_config *config)
{
	struct hsvr_session_cfg scfg;
	struct timeval tv;
	char line[512];
	S_STATS st;

	if (__atomic_exchange_n(&running, 1, __ATOMIC_SEQ_CST)) {
		hsvr_warnx("a server is already running in this process");
		return -1;
	}
	cfg = config;
	hsvr_shared_reset();
	main_stop = 0;
	stopping = 0;
	hsvr_stats_final(0);
	hsvr_alloc_init();
	if (evthread_use_pthreads() != 0) {
		hsvr_warnx("libevent has no pthreads support");
		__atomic_store_n(&running, 0, __ATOMIC_SEQ_CST);
		return -1;
	}
	hsvr_fdlimit_raise(cfg);
	scfg.timeout = cfg->timeout;
	scfg.write_timeout = cfg->write_timeout;
	scfg.handshake_timeout = cfg->handshake_timeout;
	scfg.handshakes = cfg->max_handshakes > 0 ? cfg->max_handshakes :
	    cfg->max_conn / 2;
	scfg.workers = cfg->threads;
	scfg.proxy_timeout = cfg->proxy_protocol ? cfg->proxy_timeout : 0;
	scfg.max_per_ip = cfg->max_per_ip;
	hsvr_session_init(&scfg);
	if (hsvr_qsbr_table_init(cfg->threads + 1) != 0 ||
	    hsvr_search_init() != 0 || hsvr_perip_init(cfg->max_per_ip) != 0 ||
	    (base = event_base_new()) == NULL) {
		hsvr_warnx("cannot set up the server: out of memory");
		goto fail;
	}
	hsvr_qsbr_init(&main_qs, base);
	hsvr_qsbr_table_set(cfg->threads, &main_qs);
	hsvr_qs_self = &main_qs;
	hsvr_worker_pool_watch(base, on_workers_done);
	hsvr_signals_watch_supervisor(cfg);
	if (hsvr_signals_start(base, term, drain_unless_stopping,
	    log_stats) != 0 || start_workers() != 0 ||
	    hsvr_accept_start(base, hsvr_worker_deal) != 0 ||
	    (cfg->metrics_fd >= 0 && hsvr_metrics_start(cfg->metrics_fd) != 0))
		goto fail;
	if (cfg->periodic != NULL) {
		tv.tv_sec = cfg->periodic_sec;
		tv.tv_usec = 0;
		event_assign(&periodic_ev, base, -1, EV_PERSIST,
		    on_periodic, NULL);
		event_add(&periodic_ev, &tv);
	}
	hsvr_worker_gate_wait(cfg->threads);
	/* after serv_worker_init (--seccomp) */
	if (cfg->lock_down != NULL && cfg->lock_down(cfg) != 0)
		goto fail;
	hsvr_stats_serving(1);
	hsvr_alloc_arm(1);
	announce();
	hsvr_worker_gate_open();
	while (!main_stop) {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY);
		hsvr_qsbr_end_iteration();
	}
	/* Every worker left its loop: their counters are final. */
	metrics_stop();
	hsvr_stats_final(1);
	hsvr_stats_serving(0);
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
	__atomic_store_n(&running, 0, __ATOMIC_SEQ_CST);
	return 0;
fail:
	teardown();
	__atomic_store_n(&running, 0, __ATOMIC_SEQ_CST);
	return -1;
}
