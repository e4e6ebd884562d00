/*
 * signals.c - the signals a serving process answers, all received on the
 * main thread's event base (workers block every signal): SIGTERM and
 * SIGINT stop, SIGUSR1 logs the statistics.
 */
#include "hsvr-int.h"

#include <signal.h>

static struct event sigint_ev, sigterm_ev, sigusr1_ev;
static int added;

static void
on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig, (void)what, (void)arg;
	hsvr_engine_term();
}

static void
on_usr1(evutil_socket_t sig, short what, void *arg)
{
	(void)sig, (void)what, (void)arg;
	hsvr_engine_log_stats();
}

int
hsvr_signals_start(struct event_base *base)
{
	sigset_t set;

	if (evsignal_assign(&sigint_ev, base, SIGINT, on_stop_signal, NULL) ||
	    evsignal_assign(&sigterm_ev, base, SIGTERM, on_stop_signal, NULL) ||
	    evsignal_assign(&sigusr1_ev, base, SIGUSR1, on_usr1, NULL) ||
	    evsignal_add(&sigint_ev, NULL) || evsignal_add(&sigterm_ev, NULL) ||
	    evsignal_add(&sigusr1_ev, NULL)) {
		hsvr_warnx("cannot install the signal handlers");
		return -1;
	}
	added = 1;
	/* A serving process is born with these blocked (supervisor.c). */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	return 0;
}

void
hsvr_signals_stop(void)
{
	if (!added)
		return;
	evsignal_del(&sigint_ev);
	evsignal_del(&sigterm_ev);
	evsignal_del(&sigusr1_ev);
	added = 0;
}
