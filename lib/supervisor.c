/*
 * supervisor.c - the process that keeps what needs root: the listening
 * sockets and the pidfile.  It forks the unprivileged serving process,
 * restarts it after a crash (rate-limited), replaces it on SIGHUP,
 * upgrades itself in place on SIGUSR2 (upgrade.c) and stops it on
 * SIGTERM, killing it if it has not stopped in time.
 */
#include "hsvr-int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define MAX_KIDS 8              /* the serving process and those retiring */
#define RESTART_WINDOW 60       /* seconds */
#define RESTART_MAX 5           /* crashes in a window before giving up */
/*
 * A serving process told to stop has its drain timeout and then this long
 * to exit before it is killed: its own drain timer closes every session,
 * so only a hook that never returns makes it overstay.
 */
#define KILL_GRACE_MS 5000

struct kid {
	pid_t pid;
	int ready_fd;           /* the serving process writes READY here */
	int ready;
	int retiring;           /* replaced by a newer one, draining */
	uint64_t kill_at;       /* ms (hsvr_clock_ms): SIGKILL then; 0 = never */
};

static struct kid kids[MAX_KIDS];
static int sigpipe_fd[2] = { -1, -1 };
static volatile sig_atomic_t got_term, got_hup, got_usr1, got_usr2, got_chld;

static void
on_signal(int sig)
{
	int saved = errno;

	if (sig == SIGTERM || sig == SIGINT)
		got_term++;
	else if (sig == SIGHUP)
		got_hup = 1;
	else if (sig == SIGUSR1)
		got_usr1 = 1;
	else if (sig == SIGUSR2)
		got_usr2 = 1;
	else if (sig == SIGCHLD)
		got_chld = 1;
	(void)!write(sigpipe_fd[1], "", 1);
	errno = saved;
}

/*
 * The supervisor's signals (signals.c holds them, but SIGCHLD, from
 * main() on: keep the two lists alike).  SIGPIPE is ignored since main().
 */
static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2,
    SIGCHLD };

static void
set_handlers(void (*fn)(int))
{
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
}

static struct kid *
current(void)
{
	int i;

	for (i = 0; i < MAX_KIDS; i++)
		if (kids[i].pid > 0 && !kids[i].retiring)
			return &kids[i];
	return NULL;
}

static int
live_kids(void)
{
	int i, n = 0;

	for (i = 0; i < MAX_KIDS; i++)
		n += kids[i].pid > 0;
	return n;
}

/*
 * A serving process's SIGUSR2: caught and nothing done, so that a signal
 * meant for the supervisor's upgrade and sent to the whole service
 * (systemctl kill signals every process of the unit) does not kill it.
 * Caught rather than ignored: what a callback runs gets it as default.
 */
static void
on_usr2_serving(int sig)
{
	(void)sig;
}

/* Fork a serving process; in the child, serve() never returns. */
static struct kid *
spawn(struct hsvr_config *cfg, void (*serve)(struct hsvr_config *, int))
{
	struct kid *k = NULL;
	struct sigaction sa;
	sigset_t block, old;
	int p[2], i;
	pid_t pid, me;

	for (i = 0; i < MAX_KIDS && k == NULL; i++)
		if (kids[i].pid == 0)
			k = &kids[i];
	if (k == NULL) {
		hsvr_warnx("too many serving processes still draining");
		return NULL;
	}
	if (pipe2(p, O_CLOEXEC) != 0) {
		hsvr_warn("cannot start a serving process: pipe");
		return NULL;
	}
	/*
	 * Blocked across the fork: the child must not run our handlers.
	 */
	sigemptyset(&block);
	for (i = 0; i < (int)(sizeof sigs / sizeof sigs[0]); i++)
		sigaddset(&block, sigs[i]);
	sigprocmask(SIG_BLOCK, &block, &old);
	fflush(NULL);
	me = getpid();
	if ((pid = fork()) < 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		hsvr_warn("cannot start a serving process: fork");
		close(p[0]);
		close(p[1]);
		return NULL;
	}
	if (pid == 0) {
		set_handlers(SIG_DFL);
		hsvr_signals_reset();   /* what the starting command ignored */
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = on_usr2_serving;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESTART;
		sigaction(SIGUSR2, &sa, NULL);
		/*
		 * Nothing else blocked (the starting shell's mask included),
		 * and only the signals its engine handles until it handles
		 * them: a SIGTERM sent early is then a drain, not a sudden
		 * death.  What the application runs inherits a clean mask.
		 */
		hsvr_signals_set(&block);
		sigprocmask(SIG_SETMASK, &block, NULL);
		cfg->supervisor = me;
		hsvr_listen_forget_path();
		close(sigpipe_fd[0]);
		close(sigpipe_fd[1]);
		for (i = 0; i < MAX_KIDS; i++)
			if (kids[i].ready_fd >= 0 && kids[i].pid > 0)
				close(kids[i].ready_fd);
		close(p[0]);
		/* Out of the terminal's process group: ^C reaches us only once. */
		setpgid(0, 0);
		hsvr_pidfile_forget();
		serve(cfg, p[1]);
		_exit(HSVR_EX_SOFTWARE);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(p[1]);
	k->pid = pid;
	k->ready_fd = p[0];
	k->ready = 0;
	k->retiring = 0;
	k->kill_at = 0;
	return k;
}

/* k was told to stop (drain unless drain is 0): give it a deadline. */
static void
set_deadline(struct kid *k, int drain_sec)
{
	uint64_t at = hsvr_clock_ms() + (uint64_t)drain_sec * 1000 +
	    KILL_GRACE_MS;

	if (k->kill_at == 0 || at < k->kill_at)
		k->kill_at = at;
}

/* Kill what overstayed its deadline; ms until the next one, or -1. */
static int
kill_overdue(void)
{
	uint64_t now = hsvr_clock_ms(), next = 0;
	int i;

	for (i = 0; i < MAX_KIDS; i++) {
		if (kids[i].pid <= 0 || kids[i].kill_at == 0)
			continue;
		if (now >= kids[i].kill_at) {
			hsvr_log(LOG_ERR, "serving process %ld did not stop in "
			    "time (a hook that does not return?); killing it",
			    (long)kids[i].pid);
			kill(kids[i].pid, SIGKILL);
			kids[i].kill_at = 0;
		} else if (next == 0 || kids[i].kill_at < next) {
			next = kids[i].kill_at;
		}
	}
	return next == 0 ? -1 : (int)(next - now);
}

static void
signal_kids(int sig, int retiring_too)
{
	int i;

	for (i = 0; i < MAX_KIDS; i++)
		if (kids[i].pid > 0 && (retiring_too || !kids[i].retiring))
			kill(kids[i].pid, sig);
}

/* Allow RESTART_MAX crashes in RESTART_WINDOW seconds. */
static int
may_restart(void)
{
	static time_t crashes[RESTART_MAX];
	static int n;
	time_t now = time(NULL);
	int i, recent = 0;

	for (i = 0; i < RESTART_MAX; i++)
		recent += crashes[i] != 0 && now - crashes[i] < RESTART_WINDOW;
	crashes[n++ % RESTART_MAX] = now;
	return recent < RESTART_MAX;
}

struct state {
	struct hsvr_config *cfg;
	void (*serve)(struct hsvr_config *, int);
	int report_fd;          /* the starting command, until ready */
	int reload_again;       /* SIGHUP while a reload was starting */
	int upgrading;          /* a new image's first serving process starts */
	int stopping;
	int status;             /* exit status of the supervisor */
};

static void upgrade_exec(struct state *);

static void
reap(struct state *st)
{
	char why[64];
	struct kid *k;
	pid_t pid;
	int i, ws, passed;

	while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
		if (hsvr_upgrade_check_reaped(pid, ws, &passed)) {
			if (passed)
				upgrade_exec(st);
			else
				hsvr_notify("READY=1");
			continue;
		}
		for (k = NULL, i = 0; i < MAX_KIDS; i++)
			if (kids[i].pid == pid)
				k = &kids[i];
		if (k == NULL)
			continue;
		if (k->ready_fd >= 0)
			close(k->ready_fd);
		k->pid = 0;
		k->ready_fd = -1;
		if (WIFSIGNALED(ws))
			(void)snprintf(why, sizeof why,
			    "killed by signal %d (%s)", WTERMSIG(ws),
			    strsignal(WTERMSIG(ws)));
		else
			(void)snprintf(why, sizeof why, "exited with status %d",
			    WEXITSTATUS(ws));
		if (k->retiring || (st->stopping && WIFEXITED(ws) &&
		    WEXITSTATUS(ws) == 0))
			continue;
		if (st->stopping) {
			hsvr_log(LOG_ERR, "serving process %ld %s", (long)pid,
			    why);
			st->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 1;
			continue;
		}
		if (!k->ready) {
			/* Start-up failed: the reason was logged by it. */
			st->reload_again = 0;
			if (st->upgrading && current() != NULL)
				hsvr_log(LOG_ERR, "upgrade failed: the new binary's "
				    "serving process %ld %s during start-up; the "
				    "old serving process keeps serving", (long)pid,
				    why);
			else
				hsvr_log(LOG_ERR, "serving process %ld %s during "
				    "start-up", (long)pid, why);
			st->upgrading = 0;
			if (current() != NULL) {
				/* a reload failed: keep the old */
				hsvr_notify("READY=1");
				continue;
			}
			st->status = WIFEXITED(ws) && WEXITSTATUS(ws) != 0 ?
			    WEXITSTATUS(ws) : HSVR_EX_SOFTWARE;
			st->stopping = 1;
			continue;
		}
		if (current() != NULL)
			continue;
		if (!WIFSIGNALED(ws)) {
			hsvr_log(LOG_ERR, "serving process %ld %s", (long)pid,
			    why);
			st->status = WEXITSTATUS(ws);
			st->stopping = 1;
			continue;
		}
		if (!may_restart()) {
			hsvr_log(LOG_ERR, "serving process %ld %s; %d crashes "
			    "in %d s, giving up", (long)pid, why, RESTART_MAX,
			    RESTART_WINDOW);
			st->status = HSVR_EX_SOFTWARE;
			st->stopping = 1;
			continue;
		}
		hsvr_log(LOG_ERR, "serving process %ld %s; restarting",
		    (long)pid, why);
		(void)spawn(st->cfg, st->serve);
	}
}

static void
on_ready(struct state *st, struct kid *k)
{
	char buf[16];
	ssize_t n = read(k->ready_fd, buf, sizeof buf);
	int i;

	if (n == 0) {           /* it died first: reap() will say how */
		close(k->ready_fd);
		k->ready_fd = -1;
		return;
	}
	if (n < 0 || k->ready)
		return;
	k->ready = 1;
	if (st->report_fd >= 0) {
		hsvr_daemon_ready(st->report_fd);
		st->report_fd = -1;
		st->cfg->report_fd = -1;        /* later children: no one waits */
	}
	/* A reload's new process serves: the old ones drain and go. */
	for (i = 0; i < MAX_KIDS; i++)
		if (&kids[i] != k && kids[i].pid > 0 && !kids[i].retiring) {
			kids[i].retiring = 1;
			kill(kids[i].pid, SIGTERM);
			set_deadline(&kids[i], st->cfg->drain_timeout);
		}
	hsvr_notify("READY=1");
	if (st->upgrading) {
		st->upgrading = 0;
		hsvr_log(LOG_INFO, "upgraded: serving process %ld runs the new "
		    "binary", (long)k->pid);
	}
	if (st->reload_again) {         /* SIGHUPs that came meanwhile */
		st->reload_again = 0;
		got_hup = 1;
	}
}

/* One serving process starting at a time; it replaces the ready ones. */
static int
reload_under_way(void)
{
	int i;

	for (i = 0; i < MAX_KIDS; i++)
		if (kids[i].pid > 0 && !kids[i].retiring && !kids[i].ready)
			return 1;
	return 0;
}

/*
 * SIGUSR2: the binary the server was started from is checked first (it
 * runs in check mode: upgrade.c), and executed in place once the check
 * passed (upgrade_exec).  One upgrade at a time, and none while a
 * serving process starts (a reload, a restart, the first start, a new
 * image's) or while stopping: that SIGUSR2 is logged and ignored, to be
 * sent again once the server serves.
 */
static void
upgrade_start(struct state *st)
{
	const char *why = NULL;

	if (st->stopping)
		why = "the server is stopping";
	else if (hsvr_upgrade_check_pid() > 0)
		why = "an upgrade is under way";
	else if (reload_under_way() || current() == NULL)
		why = "a serving process is starting";
	if (why != NULL) {
		hsvr_log(LOG_WARNING, "SIGUSR2 ignored: %s", why);
		return;
	}
	hsvr_notify("RELOADING=1");
	if (hsvr_upgrade_check_start() != 0)
		hsvr_notify("READY=1");
}

/*
 * The check passed: execute the binary in place, keeping the pid, the
 * listening sockets (the metrics socket among them), the pidfile, and
 * the serving processes (still our children: the new image adopts them,
 * starts a fresh one, and on its READY they drain).  Returns only on
 * failure.
 */
static void
upgrade_exec(struct state *st)
{
	uint64_t now = hsvr_clock_ms();
	sigset_t block, old;
	size_t i;
	int n = 0;

	if (st->stopping || reload_under_way() || current() == NULL) {
		hsvr_log(LOG_WARNING, "upgrade abandoned: the server %s meanwhile",
		    st->stopping ? "is stopping" : "starts a serving process");
		if (!st->stopping)
			hsvr_notify("READY=1");
		return;
	}
	hsvr_upgrade_begin();
	hsvr_listen_carry();
	hsvr_pidfile_carry();
	hsvr_upgrade_add(" k=");
	for (i = 0; i < MAX_KIDS; i++)
		if (kids[i].pid > 0)
			hsvr_upgrade_add("%s%ld:%d:%llu", n++ ? "," : "",
			    (long)kids[i].pid, kids[i].retiring,
			    kids[i].kill_at == 0 ? 0ULL : kids[i].kill_at > now ?
			    (unsigned long long)(kids[i].kill_at - now) + 1 :
			    1ULL);
	hsvr_log(LOG_INFO, "upgrading: executing %s", hsvr_upgrade_exe());
	/* What comes meanwhile waits, pending, for the new image. */
	sigemptyset(&block);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaddset(&block, sigs[i]);
	sigprocmask(SIG_BLOCK, &block, &old);
	(void)hsvr_upgrade_exec();
	sigprocmask(SIG_SETMASK, &old, NULL);
	hsvr_notify("READY=1");
}

/*
 * The new image of an upgrade: the serving processes the old one had
 * ("k=pid:retiring:deadline,...", the deadline in ms from now plus 1, 0
 * for none), still our children, as they were: ready.  1 if there were
 * any.
 */
static int
adopt_kids(void)
{
	const char *v = hsvr_upgrade_get("k");
	unsigned long long k[3];
	int i = 0;

	while (v != NULL && i < MAX_KIDS && hsvr_upgrade_numbers(&v, k, 3) == 0) {
		if (k[0] > 0 && k[0] <= INT_MAX) {
			kids[i].pid = (pid_t)k[0];
			kids[i].ready_fd = -1;
			kids[i].ready = 1;
			kids[i].retiring = k[1] != 0;
			kids[i].kill_at = k[2] == 0 ? 0 : hsvr_clock_ms() + k[2];
			i++;
		}
		if (*v++ != ',')
			break;
	}
	return i > 0;
}

static void
handle_signals(struct state *st)
{
	static int terms_seen;
	int i, drain;

	if (got_term > terms_seen) {
		/* A second signal, or -t: the serving process stops at once. */
		drain = st->stopping || st->cfg->terminate ? 0 :
		    st->cfg->drain_timeout;
		terms_seen = got_term;
		if (!st->stopping) {
			st->stopping = 1;
			hsvr_notify("STOPPING=1");
			/* New connections are refused from now on, and
			 * scrapes (listen.c closes --metrics's socket too):
			 * the serving process answers none while it drains,
			 * and a queued one would wait unanswered. */
			hsvr_listen_close();
		}
		signal_kids(SIGTERM, 1);
		for (i = 0; i < MAX_KIDS; i++)
			if (kids[i].pid > 0)
				set_deadline(&kids[i], drain);
	}
	if (got_hup) {
		got_hup = 0;
		if (reload_under_way()) {
			st->reload_again = 1;   /* once the new one is ready */
		} else if (!st->stopping) {
			hsvr_log(LOG_INFO, "reloading: starting a new serving "
			    "process");
			hsvr_notify("RELOADING=1");
			hsvr_tls_reload(st->cfg);
			hsvr_hooks_reload();
			(void)spawn(st->cfg, st->serve);
		}
	}
	if (got_usr1) {
		got_usr1 = 0;
		signal_kids(SIGUSR1, 0);
	}
	if (got_usr2) {
		got_usr2 = 0;
		upgrade_start(st);
	}
	if (got_chld) {
		got_chld = 0;
		reap(st);
	}
}

/*
 * Run the supervisor until the server stops: returns its exit status.
 * serve(cfg, ready_fd) is the serving process's body.
 */
int
hsvr_supervisor_run(struct hsvr_config *cfg,
    void (*serve)(struct hsvr_config *, int), int report_fd)
{
	struct pollfd pfd[MAX_KIDS + 2];
	struct kid *map[MAX_KIDS + 2];
	struct state st = { cfg, serve, report_fd, 0, 0, 0, 0 };
	sigset_t chld;
	char drain[64];
	int i, n, wait_ms, check_fd, check_ms;

	for (i = 0; i < MAX_KIDS; i++)
		kids[i].ready_fd = -1;
	if (pipe2(sigpipe_fd, O_NONBLOCK | O_CLOEXEC) != 0) {
		hsvr_warn("cannot start the supervisor: pipe");
		return HSVR_EX_OSERR;
	}
	set_handlers(on_signal);
	if (adopt_kids()) {
		/*
		 * An upgrade's new image: the old one blocked SIGCHLD too,
		 * and a serving process may have exited before our handler.
		 */
		st.upgrading = 1;
		sigemptyset(&chld);
		sigaddset(&chld, SIGCHLD);
		sigprocmask(SIG_UNBLOCK, &chld, NULL);
		got_chld = 1;
		(void)!write(sigpipe_fd[1], "", 1);
		hsvr_log(LOG_INFO, "upgrading: %s starts a new serving process",
		    hsvr_upgrade_exe());
		if (spawn(cfg, serve) == NULL) {
			st.upgrading = 0;
			hsvr_log(LOG_ERR, "upgrade failed: the new binary cannot "
			    "start a serving process; the old one keeps serving");
			hsvr_notify("READY=1");
		}
		hsvr_signals_hold(0);
	} else {
		hsvr_signals_hold(0);   /* what came since main() held them */
		if (spawn(cfg, serve) == NULL)
			return HSVR_EX_OSERR;
	}
	while (!st.stopping || live_kids() > 0) {
		pfd[0].fd = sigpipe_fd[0];
		pfd[0].events = POLLIN;
		for (n = 1, i = 0; i < MAX_KIDS; i++)
			if (kids[i].pid > 0 && !kids[i].ready &&
			    kids[i].ready_fd >= 0) {
				pfd[n].fd = kids[i].ready_fd;
				pfd[n].events = POLLIN;
				map[n++] = &kids[i];
			}
		if ((check_fd = hsvr_upgrade_check_fd()) >= 0) {
			pfd[n].fd = check_fd;
			pfd[n].events = POLLIN;
			map[n++] = NULL;
		}
		wait_ms = kill_overdue();
		check_ms = hsvr_upgrade_check_due();
		if (check_ms >= 0 && (wait_ms < 0 || check_ms < wait_ms))
			wait_ms = check_ms;
		if (poll(pfd, (nfds_t)n, wait_ms) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents & POLLIN)
			while (read(sigpipe_fd[0], drain, sizeof drain) ==
			    (ssize_t)sizeof drain)
				;
		for (i = 1; i < n; i++)
			if ((pfd[i].revents & (POLLIN | POLLHUP)) &&
			    map[i] == NULL)
				hsvr_upgrade_check_read();
			else if (pfd[i].revents & (POLLIN | POLLHUP))
				on_ready(&st, map[i]);
		handle_signals(&st);
		(void)kill_overdue();
	}
	if (st.report_fd >= 0)
		hsvr_daemon_failed(st.report_fd, st.status ? st.status : 1);
	set_handlers(SIG_DFL);
	return st.status;
}
