/*
 * main.c - the main() of servers written as serv_* hooks, in the start-up
 * order of hsvr(8): options, -r, serv_init, pidfile, listening sockets,
 * daemon, then the supervisor and its unprivileged serving process.  Or,
 * for an upgrade (upgrade.c), the same start-up checked only, or adopting
 * what the old image handed over.
 */
#include "hsvr-int.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <syslog.h>
#include <unistd.h>

#ifndef HAVE_CLOSEFROM          /* libc's (glibc 2.34, BSD), else libbsd's */
#include <bsd/unistd.h>
#endif

static struct hsvr_config config;
static int in_init;

void
serv_set_name(const char *name)
{
	if (name == NULL || *name == '\0')
		return;
	/* At most 63 bytes, as documented: a longer name is cut. */
	(void)snprintf(config.name, sizeof config.name, "%s", name);
}

void
serv_set_periodic(void (*fn)(void), int seconds)
{
	if (!in_init)
		hsvr_warnx("serv_set_periodic() is only honoured inside "
		    "serv_init()");
	if (fn != NULL && seconds <= 0) {
		hsvr_warnx("serv_set_periodic(): %d is not a period; ignored",
		    seconds);
		return;
	}
	config.periodic = fn;
	config.periodic_sec = seconds;
}

/* The serving process: drop root, serve until stopped, serv_exit. */
static void __attribute__((noreturn))
serve(struct hsvr_config *cfg, int ready_fd)
{
	if (hsvr_privdrop_drop(cfg) != 0)
		exit(HSVR_EX_SOFTWARE);
	cfg->ready_fd = ready_fd;
	cfg->stats_out = cfg->foreground ? stderr : NULL;
	if (hsvr_engine_run(cfg) != 0)
		exit(HSVR_EX_OSERR);
	hsvr_hooks_exit();
	exit(0);
}

static int
start_up(void)
{
	char why[256];

	if (!hsvr_hooks_has_read()) {
		hsvr_warnx("this program defines no serv_on_read() hook");
		return HSVR_EX_SOFTWARE;
	}
	if (hsvr_privdrop_resolve(&config) != 0)
		return HSVR_EX_CONFIG;
	if (config.root_dir != NULL && chdir(config.root_dir) != 0) {
		hsvr_warn("cannot change to %s", config.root_dir);
		return HSVR_EX_CONFIG;
	}
	if (config.config_file != NULL && access(config.config_file, R_OK) != 0) {
		hsvr_warn("cannot read %s", config.config_file);
		return HSVR_EX_CONFIG;
	}
	/*
	 * libseccomp, loaded only for --seccomp: now, while files can be
	 * opened, and before serv_init, which may call serv_seccomp_allow.
	 */
	if (config.seccomp && hsvr_sandbox_load(why, sizeof why) != 0) {
		hsvr_warnx("%s", why);
		return HSVR_EX_CONFIG;
	}
	/*
	 * libevent's resolver (S_connect to a name) could not be loaded in
	 * a confined serving process: load it now.  Failing, the first name
	 * to resolve fails and says why.
	 */
	if (config.seccomp || config.chroot_dir != NULL)
		(void)hsvr_dial_load(why, sizeof why);
	hsvr_hooks_bind(NULL);
	in_init = 1;
	hsvr_hooks_init();
	in_init = 0;
	hsvr_log_open(config.name);
	/* As the starting user: the key file may be readable by root only. */
	if (hsvr_tls_init(&config) != 0)
		return HSVR_EX_CONFIG;
	return 0;
}

static int
by_number(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* Close every descriptor from 3 on but the n of keep (sorted here). */
static void
close_others(int *keep, int n)
{
	int lo = STDERR_FILENO + 1, i, fd;

	qsort(keep, (size_t)n, sizeof *keep, by_number);
	for (i = 0; i < n; i++) {
		if (keep[i] < lo)
			continue;
		if (keep[i] > lo && close_range((unsigned)lo,
		    (unsigned)keep[i] - 1, 0) != 0)
			for (fd = lo; fd < keep[i]; fd++)
				(void)close(fd);
		lo = keep[i] + 1;
	}
	closefrom(lo);
}

/*
 * Started with standard input, output or error closed, the pidfile or a
 * socket would take its number, and be replaced by /dev/null (the
 * daemon) or written to as stderr: fill them first.  Whether one is
 * closed, poll says in one call (POLLNVAL), without opening anything.
 */
static void
fill_stdio(void)
{
	struct pollfd std[3] = {
		{ STDIN_FILENO, 0, 0 },
		{ STDOUT_FILENO, 0, 0 },
		{ STDERR_FILENO, 0, 0 },
	};
	int fd;

	if (poll(std, 3, 0) >= 0 && !(std[0].revents & POLLNVAL) &&
	    !(std[1].revents & POLLNVAL) && !(std[2].revents & POLLNVAL))
		return;
	do
		fd = open("/dev/null", O_RDWR);
	while (fd >= 0 && fd <= STDERR_FILENO);
	if (fd >= 0)
		close(fd);
}

/* The supervisor, until the server stops: the exit status. */
static int
supervise(int report_fd)
{
	struct rlimit no_core = { 0, 0 };
	int rc;

	config.report_fd = report_fd;
	/*
	 * The supervisor holds the TLS keys and stays root: no core file,
	 * and none from the serving process it forks (which holds them too).
	 */
	if (setrlimit(RLIMIT_CORE, &no_core) != 0)
		hsvr_warn("cannot disable core files");
	rc = hsvr_supervisor_run(&config, serve, report_fd);
	hsvr_listen_free();
	hsvr_pidfile_remove();
	if (rc == 0)
		hsvr_log(LOG_INFO, "exiting");
	return rc;
}

int
main(int argc, char **argv)
{
	int *keep, nkeep, activated, carried, upgrade;
	int rc, fd, report_fd = -1;

	/* Before -r's chdir: the binary an upgrade executes. */
	upgrade = hsvr_upgrade_start(argc, argv);
	carried = hsvr_upgrade_fds(NULL, 0);
	keep = malloc(sizeof *keep * (size_t)(2 * HSVR_MAX_LISTEN_FDS +
	    carried));
	if (keep == NULL)
		return HSVR_EX_OSERR;

	/*
	 * What the starting shell left open (a script's redirections, make's
	 * jobserver pipe) is none of the server's business: it would reach
	 * the serving process and stay open for the daemon's life.  Only the
	 * listening sockets given to it stay: systemd's (LISTEN_FDS, whose
	 * variables go now, before serv_init) and --listen-fd's.
	 */
	activated = hsvr_listen_activated(keep, HSVR_MAX_LISTEN_FDS);
	if (activated < 0)
		return HSVR_EX_OSERR;
	nkeep = activated + hsvr_options_listen_fds(argc, argv, keep +
	    activated, HSVR_MAX_LISTEN_FDS);
	/* An upgrade's new image: what the old one handed over. */
	nkeep += hsvr_upgrade_fds(keep + nkeep, carried);
	close_others(keep, nkeep);
	free(keep);
	fill_stdio();
	hsvr_options_defaults(&config);
	/* Sorted by close_others: the first "activated" are 3, 4, ... still. */
	for (fd = 0; fd < activated; fd++)
		config.listen_fds[fd] = STDERR_FILENO + 1 + fd;
	config.n_listen_fds = config.listen_activated = activated;
	config.lock_down = hsvr_sandbox_seccomp;
	/* A starting command that is gone must not take the daemon with it. */
	(void)signal(SIGPIPE, SIG_IGN);
	hsvr_options_parse(&config, argc, argv);
	/* (In an upgrade the descriptors of --listen-fd are the old image's.) */
	if (upgrade == HSVR_UPGRADE_NONE && hsvr_listen_check(&config) != 0)
		return HSVR_EX_OSERR;
	if ((rc = start_up()) != 0)
		return rc;
	if (upgrade == HSVR_UPGRADE_CHECK) {
		/* _exit: no exit handler, nor the leak check of a sanitizer. */
		fflush(NULL);
		_exit(0);
	}
	/* From here a stop signal waits for the supervisor's handlers. */
	hsvr_signals_hold(1);
	if (upgrade == HSVR_UPGRADE_ADOPT) {
		/* No pidfile nor socket is opened: the old image's are ours. */
		if ((rc = hsvr_pidfile_adopt()) != 0)
			return rc;
		if (hsvr_listen_adopt(&config) != 0)
			return HSVR_EX_OSERR;
		/* A daemon already: its stdio is /dev/null. */
		if (!config.foreground)
			hsvr_log_stderr(0);
		return supervise(-1);
	}
	/* The pidfile first: a second instance is "already running" (69). */
	if ((rc = hsvr_pidfile_open(&config)) != 0)
		return rc;
	if (hsvr_listen_open(&config) != 0 ||
	    hsvr_listen_metrics(&config) != 0) {
		hsvr_listen_free();
		hsvr_pidfile_remove();
		return HSVR_EX_OSERR;
	}
	/* Failing from here, the sockets' names go too (-l, --metrics). */
	if (!config.foreground && (report_fd = hsvr_daemon_detach()) < 0) {
		hsvr_listen_free();
		hsvr_pidfile_remove();
		return HSVR_EX_OSERR;
	}
	if (hsvr_pidfile_write() != 0) {
		hsvr_daemon_failed(report_fd, HSVR_EX_CANTCREAT);
		hsvr_listen_free();
		hsvr_pidfile_remove();
		return HSVR_EX_CANTCREAT;
	}
	return supervise(report_fd);
}
