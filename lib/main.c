/*
 * main.c - the main() of servers written as serv_* hooks: options, -r,
 * serv_init, then the engine until a stop signal, then serv_exit.
 */
#include "hsvr-int.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static struct hsvr_config config;
static int in_init;

void
serv_set_name(const char *name)
{
	if (name == NULL || *name == '\0')
		return;
	snprintf(config.name, sizeof config.name, "%s", name);
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

int
main(int argc, char **argv)
{
	hsvr_config_defaults(&config);
	hsvr_g.cfg = &config;
	hsvr_options_parse(&config, argc, argv);
	if (!hsvr_has_read_hook()) {
		hsvr_warnx("this program defines no serv_on_read() hook");
		return HSVR_EX_SOFTWARE;
	}
	if (config.tls_cert != NULL) {
		hsvr_warnx("TLS (--tls-cert) is not available in this build");
		return HSVR_EX_CONFIG;
	}
	if (config.root_dir != NULL && chdir(config.root_dir) != 0) {
		hsvr_warn("cannot change to %s", config.root_dir);
		return HSVR_EX_CONFIG;
	}
	if (config.config_file != NULL && access(config.config_file, R_OK) != 0) {
		hsvr_warn("cannot read %s", config.config_file);
		return HSVR_EX_CONFIG;
	}
	config.stats_out = stderr;
	hsvr_hooks_bind(NULL);
	in_init = 1;
	hsvr_hook_init();
	in_init = 0;
	if (hsvr_run(&config) != 0)
		return HSVR_EX_OSERR;
	hsvr_hook_exit();
	return 0;
}
