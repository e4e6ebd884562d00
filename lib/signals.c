/*
 * signals.c - the signals of the library's processes.  Those a serving
 * process answers, all received on the main thread's event base: SIGTERM
 * and SIGINT stop (so does the death of the supervisor, which sends
 * SIGTERM), SIGUSR1 logs the statistics; in a serving process SIGHUP (the
 * supervisor's business) is ignored.  And the supervisor's, held from
 * main() until its handlers are in place.
 */
#include "hsvr-int.h"

#include <signal.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

static struct event sigint_ev, sigterm_ev, sigusr1_ev, sighup_ev;
static int added;
static int orphaned;            /* the supervisor's death was seen */
static pid_t supervisor;        /* a serving process's supervisor, or 0 */
static void (*on_stop)(void), (*on_orphan)(void), (*on_stats)(void);

static const int engine_sigs[] = { SIGTERM, SIGINT, SIGUSR1, SIGHUP };

/* The signals the engine handles (blocked in a serving process until then). */
void
hsvr_signals_set(sigset_t *set)
{
	size_t i;

	sigemptyset(set);
	for (i = 0; i < sizeof engine_sigs / sizeof engine_sigs[0]; i++)
		sigaddset(set, engine_sigs[i]);
}

/*
 * A serving process whose supervisor is gone (killed outright) would go
 * on serving with nobody to stop or restart it.  The kernel sends SIGTERM
 * when the supervisor dies; one that died before this was set is seen by
 * its pid (the orphan has another parent): SIGTERM then too, pending
 * until the engine handles it.  Set after the credentials changed, which
 * clear it.
 */
void
hsvr_signals_watch_supervisor(const struct hsvr_config *cfg)
{
	orphaned = 0;
	supervisor = cfg->supervisor > 0 ? cfg->supervisor : 0;
	if (supervisor == 0)
		return;
#ifdef PR_SET_PDEATHSIG
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
		hsvr_warn("cannot watch the supervisor: prctl");
#endif
	if (getppid() != supervisor)
		kill(getpid(), SIGTERM);
}

static void
on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what, (void)arg;
	if (sig == SIGTERM && !orphaned && supervisor > 0 &&
	    getppid() != supervisor) {
		orphaned = 1;
		hsvr_log(LOG_WARNING, "the supervisor (pid %ld) is gone: "
		    "draining, then exiting", (long)supervisor);
		on_orphan();
		return;
	}
	on_stop();
}

static void
on_usr1(evutil_socket_t sig, short what, void *arg)
{
	(void)sig, (void)what, (void)arg;
	on_stats();
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig, (void)what, (void)arg;
}

/* Nothing to do: a write to a closed peer fails with EPIPE instead. */
static void
on_sigpipe(int sig)
{
	(void)sig;
}

/*
 * Handle the engine's signals on base: stop() on SIGTERM and SIGINT,
 * orphan() on the SIGTERM of a supervisor's death (the supervisor given
 * to hsvr_signals_watch_supervisor), stats() on SIGUSR1.
 */
int
hsvr_signals_start(struct event_base *base, void (*stop)(void),
    void (*orphan)(void), void (*stats)(void))
{
	struct sigaction sa;
	sigset_t set;
	int supervised = supervisor > 0;

	on_stop = stop;
	on_orphan = orphan;
	on_stats = stats;

	/*
	 * SIGPIPE caught, not ignored: an ignored signal stays ignored in
	 * the programs a callback runs, a caught one is back to default.
	 */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_sigpipe;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGPIPE, &sa, NULL);
	if (evsignal_assign(&sigint_ev, base, SIGINT, on_stop_signal, NULL) ||
	    evsignal_assign(&sigterm_ev, base, SIGTERM, on_stop_signal, NULL) ||
	    evsignal_assign(&sigusr1_ev, base, SIGUSR1, on_usr1, NULL) ||
	    evsignal_assign(&sighup_ev, base, SIGHUP, on_hup, NULL) ||
	    evsignal_add(&sigint_ev, NULL) || evsignal_add(&sigterm_ev, NULL) ||
	    evsignal_add(&sigusr1_ev, NULL) ||
	    (supervised && evsignal_add(&sighup_ev, NULL))) {
		hsvr_warnx("cannot install the signal handlers");
		return -1;
	}
	added = 1 + supervised;
	/* A serving process is born with these blocked (supervisor.c). */
	hsvr_signals_set(&set);
	if (!supervised)
		sigdelset(&set, SIGHUP);
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
	if (added > 1)
		evsignal_del(&sighup_ev);
	added = 0;
}

/*
 * What the starting command ignored, back to its default: a shell's
 * background job ignores SIGINT and SIGQUIT, nohup SIGHUP, and an ignored
 * signal stays ignored across fork and exec, down to the programs the
 * callbacks run.  A daemon starts from a clean state (daemon(7)); the
 * signals the library handles get their handlers later.  Done in the
 * serving process the supervisor forks (in the supervisor itself it made
 * ThreadSanitizer lose an early SIGTERM); S_start leaves its
 * application's signals alone.
 */
void
hsvr_signals_reset(void)
{
	struct sigaction sa;
	int sig;

	for (sig = 1; sig < NSIG; sig++) {
		/* SIGPIPE: main() ignores it until the engine catches it. */
		if (sig == SIGKILL || sig == SIGSTOP || sig == SIGPIPE ||
		    sigaction(sig, NULL, &sa) != 0 || sa.sa_handler != SIG_IGN)
			continue;
		sa.sa_handler = SIG_DFL;
		sa.sa_flags = 0;
		sigemptyset(&sa.sa_mask);
		(void)sigaction(sig, &sa, NULL);
	}
}

/*
 * Hold (block) or release the supervisor's signals (supervisor.c), but
 * SIGCHLD.  main() holds them from the moment the server listens, so that
 * a SIGTERM sent as soon as a connection is accepted waits for the
 * handlers instead of killing the supervisor before it can clean up.
 */
void
hsvr_signals_hold(int hold)
{
	static const int held[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1,
	    SIGUSR2 };
	sigset_t set;
	size_t i;

	sigemptyset(&set);
	for (i = 0; i < sizeof held / sizeof held[0]; i++)
		sigaddset(&set, held[i]);
	sigprocmask(hold ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}
