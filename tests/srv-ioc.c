/*
 * srv-ioc.c - test server written as serv_* hooks: the library supplies
 * main() and parses the command line.  Defines every hook (serv_on_timeout
 * only without -DTS_NO_TIMEOUT_HOOK) and two application options:
 *   -G, --greeting TEXT   sends "HELLO TEXT" to each new connection;
 *                         the value "bad" is rejected (set() returns -1)
 *   --shout               a flag, only reported
 *   --periodic            serv_set_periodic(.., 1) from serv_init
 *   --defer SECONDS       serv_set_defer_accept(SECONDS), from set(); its
 *                         answer is printed "SET defer=.. rc=.."
 * Prints "SET ..." from set(), "INIT ..." from serv_init, "WORKER_INIT n",
 * "PERIODIC n main=1" and "SERV_EXIT" (stdout and stderr) from serv_exit.
 */
#include "tserver.h"
#include "topt.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int periodic;

static int
set_greeting(const char *arg)
{
	tline_say("SET greeting=%s", arg ? arg : "(null)");
	if (arg == NULL || strcmp(arg, "bad") == 0)
		return -1;
	ts_greeting = arg;
	return 0;
}

static int
set_shout(const char *arg)
{
	tline_say("SET shout arg=%s", arg ? arg : "(null)");
	return 0;
}

TOPT_FLAG(set_periodic, periodic)

static int
set_defer(const char *arg)
{
	long v;
	int rc;

	/* What the library refuses, the option refuses: -1. */
	rc = serv_set_defer_accept(topt_long(arg, -1000000, 1000000, &v) == 0 ?
	    (int)v : -1);
	tline_say("SET defer=%s rc=%d", arg, rc);
	return rc;
}

static const struct serv_option options[] = {
	{ "greeting", 'G', "TEXT", "text sent to each new connection", set_greeting },
	{ "shout", 0, NULL, "a flag that only says it was given", set_shout },
	{ "periodic", 0, NULL, "print PERIODIC every second", set_periodic },
	{ "defer", 0, "SECONDS", "serv_set_defer_accept(SECONDS)", set_defer },
	{ NULL, 0, NULL, NULL, NULL }
};

const struct serv_option *
serv_options(void)
{
	return options;
}

static void
tick(void)
{
	static int n;

	tline_say("PERIODIC n=%d", ++n);
}

void
serv_init(void)
{
	static char name[64];
	char cwd[PATH_MAX], first[256] = "";
	FILE *f;

	ts_ioc = 1;
	ts_mark_main();
	/* Its own pidfile name, should two test runs overlap. */
	snprintf(name, sizeof name, "hsvr-test-ioc-%ld", (long)getpid());
	serv_set_name(name);
	if (getcwd(cwd, sizeof cwd) == NULL)
		snprintf(cwd, sizeof cwd, "?");
	tline_say("INIT port=%s interface=\"%s\" config=%s root=%s user=%s "
	    "group=%s cwd=%s", serv_port ? serv_port : "(null)",
	    serv_interface ? serv_interface : "(null)",
	    serv_config_file ? serv_config_file : "(null)",
	    serv_root_dir ? serv_root_dir : "(null)",
	    serv_user ? serv_user : "(null)",
	    serv_group ? serv_group : "(null)", cwd);
	if (serv_config_file != NULL && (f = fopen(serv_config_file, "r"))) {
		if (fgets(first, sizeof first, f) != NULL)
			first[strcspn(first, "\n")] = '\0';
		fclose(f);
		tline_say("CONFIG first=%s", first);
	}
	if (periodic)
		serv_set_periodic(tick, 1);
}

void
serv_exit(void)
{
	tline_say("SERV_EXIT");
	fprintf(stderr, "SERV_EXIT\n");
	fflush(stderr);
}

void
serv_worker_init(int worker)
{
	ts_worker_init(worker);
	tline_say("WORKER_INIT %d", worker);
}

void
serv_on_accept(SESSION *s)
{
	ts_accept(s);
}

void
serv_on_read(SESSION *s)
{
	ts_read(s);
}

#ifndef TS_NO_TIMEOUT_HOOK
void
serv_on_timeout(SESSION *s)
{
	ts_timeout(s);
}
#endif

void
serv_on_sendable(SESSION *s)
{
	ts_sendable(s);
}

void
serv_on_term(SESSION *s)
{
	ts_term(s);
}
