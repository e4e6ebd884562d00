/*
 * engine.c - one server's life: threads set up, listener and workers
 * started, the main loop run until a stop signal, everything torn down.
 */
#include "hsvr-int.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/thread.h>

struct hsvr_engine hsvr_g;

static struct event periodic_ev;
static int main_stop;

static void
on_periodic(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	hsvr_online();
	hsvr_g.cfg->periodic();
}

/* Called from the signal handler's event: leave the main loop. */
void
hsvr_engine_stop(void)
{
	main_stop = 1;
}

static int
start_workers(struct hsvr_config *cfg)
{
	sigset_t all, old;
	int i, rc = 0;

	hsvr_g.workers = aligned_alloc(HSVR_CACHELINE,
	    sizeof *hsvr_g.workers * (size_t)cfg->threads);
	if (hsvr_g.workers == NULL) {
		hsvr_warn("cannot allocate %d workers", cfg->threads);
		return -1;
	}
	memset(hsvr_g.workers, 0, sizeof *hsvr_g.workers * (size_t)cfg->threads);
	for (i = 0; i < cfg->threads; i++) {
		if (hsvr_worker_init(&hsvr_g.workers[i], i) != 0)
			return -1;
		hsvr_g.nworkers = i + 1;
		hsvr_g.qs_all[i] = &hsvr_g.workers[i].qs;
	}
	/* Workers inherit a full signal mask: only the main base gets signals. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < cfg->threads && rc == 0; i++)
		rc = hsvr_worker_start(&hsvr_g.workers[i]);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

/* Stop and join the workers; fill final (if given) before freeing them. */
static void
stop_workers(S_STATS *final)
{
	struct hsvr_msg *m;
	int i;

	for (i = 0; i < hsvr_g.nworkers; i++) {
		if ((m = hsvr_g.workers[i].stop_msg) == NULL)
			continue;       /* already stopping */
		m->type = MSG_STOP;
		hsvr_worker_post(&hsvr_g.workers[i], m);
	}
	for (i = 0; i < hsvr_g.nworkers; i++)
		if (hsvr_g.workers[i].thread != 0)
			pthread_join(hsvr_g.workers[i].thread, NULL);
	/* No thread runs now: drop what is left in the inboxes, then free. */
	for (i = 0; i < hsvr_g.nworkers; i++)
		hsvr_worker_drain_inbox(&hsvr_g.workers[i]);
	for (i = 0; i < hsvr_g.nworkers; i++)
		hsvr_qsbr_free_all(&hsvr_g.workers[i].qs);
	if (final != NULL)
		hsvr_stats_collect(final);
	for (i = 0; i < hsvr_g.nworkers; i++)
		hsvr_worker_free(&hsvr_g.workers[i]);
	free(hsvr_g.workers);
	hsvr_g.workers = NULL;
	hsvr_g.nworkers = 0;
}

static void
teardown(void)
{
	hsvr_signals_stop();
	if (hsvr_g.cfg->periodic != NULL && hsvr_g.base != NULL)
		event_del(&periodic_ev);
	hsvr_listen_close();
	stop_workers(NULL);
	hsvr_qsbr_free_all(&hsvr_g.main_qs);
	hsvr_qs_self = NULL;
	if (hsvr_g.base != NULL)
		event_base_free(hsvr_g.base);
	hsvr_g.base = NULL;
	free(hsvr_g.qs_all);
	hsvr_g.qs_all = NULL;
	hsvr_index_free();
}

int
hsvr_run(struct hsvr_config *cfg)
{
	struct timeval tv;
	S_STATS st;

	if (__atomic_load_n(&hsvr_g.running, __ATOMIC_SEQ_CST)) {
		hsvr_warnx("a server is already running in this process");
		return -1;
	}
	hsvr_g.cfg = cfg;
	memset(&hsvr_g.shared, 0, sizeof hsvr_g.shared);
	hsvr_g.live = 0;
	hsvr_g.next_id = 0;
	main_stop = 0;
	signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() != 0) {
		hsvr_warnx("libevent has no pthreads support");
		return -1;
	}
	hsvr_fd_limit(cfg);
	if (hsvr_listen_open(cfg) != 0)
		return -1;
	hsvr_g.nqs = cfg->threads + 1;
	hsvr_g.qs_all = calloc((size_t)hsvr_g.nqs, sizeof *hsvr_g.qs_all);
	if (hsvr_g.qs_all == NULL || hsvr_index_init() != 0 ||
	    (hsvr_g.base = event_base_new()) == NULL) {
		hsvr_warnx("cannot set up the server: out of memory");
		goto fail;
	}
	hsvr_qsbr_init(&hsvr_g.main_qs, hsvr_g.base);
	hsvr_g.qs_all[cfg->threads] = &hsvr_g.main_qs;
	hsvr_qs_self = &hsvr_g.main_qs;
	if (hsvr_signals_start(hsvr_g.base) != 0 || start_workers(cfg) != 0 ||
	    hsvr_listen_start(hsvr_g.base) != 0)
		goto fail;
	if (cfg->periodic != NULL) {
		tv.tv_sec = cfg->periodic_sec;
		tv.tv_usec = 0;
		event_assign(&periodic_ev, hsvr_g.base, -1, EV_PERSIST,
		    on_periodic, NULL);
		event_add(&periodic_ev, &tv);
	}
	__atomic_store_n(&hsvr_g.running, 1, __ATOMIC_SEQ_CST);
	while (!main_stop) {
		event_base_loop(hsvr_g.base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY);
		hsvr_qsbr_end_iteration();
	}
	__atomic_store_n(&hsvr_g.running, 0, __ATOMIC_SEQ_CST);
	hsvr_listen_close();
	stop_workers(&st);
	S_stats_print(&st, cfg->stats_out ? cfg->stats_out : stderr);
	teardown();
	return 0;
fail:
	teardown();
	return -1;
}
