/*
 * pidfile.c - the pidfile: where it goes, held locked for the server's
 * life so a second instance refuses to start (libbsd's pidfile_open(3)),
 * written with the supervisor's pid and removed at orderly exit.
 */
#include "hsvr-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bsd/libutil.h>

static struct pidfh *pfh;
static char path[4096];

/*
 * Open and lock the pidfile, if there is to be one: --pidfile, else
 * /var/run/NAME.pid as root or $XDG_RUNTIME_DIR/NAME.pid otherwise, and
 * none in the foreground.  0, or an exit code after a message.
 */
int
hsvr_pidfile_open(const struct hsvr_config *cfg)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	pid_t other = 0;
	int n;

	if (cfg->pidfile != NULL)
		n = snprintf(path, sizeof path, "%s", cfg->pidfile);
	else if (!cfg->foreground && geteuid() == 0)
		n = snprintf(path, sizeof path, "/var/run/%s.pid", cfg->name);
	else if (!cfg->foreground && xdg != NULL && *xdg == '/')
		n = snprintf(path, sizeof path, "%s/%s.pid", xdg, cfg->name);
	else
		return 0;       /* in the foreground, or nowhere to put it */
	/* A truncated name would lock some other file. */
	if (n < 0 || (size_t)n >= sizeof path) {
		hsvr_warnx("cannot open the pidfile: its name is longer than "
		    "%zu bytes", sizeof path - 1);
		return HSVR_EX_CANTCREAT;
	}
	pfh = pidfile_open(path, 0644, &other);
	if (pfh != NULL) {
		/* Readable by all (status checks), whatever the umask. */
		(void)fchmod(pidfile_fileno(pfh), 0644);
		return 0;
	}
	if (errno == EEXIST) {
		hsvr_warnx("already running, pid %ld (%s)", (long)other, path);
		return HSVR_EX_UNAVAILABLE;
	}
	hsvr_warn("cannot open the pidfile %s", path);
	return HSVR_EX_CANTCREAT;
}

/* Write this process's pid: the supervisor's, once it is the daemon. */
int
hsvr_pidfile_write(void)
{
	if (pfh != NULL && pidfile_write(pfh) != 0) {
		hsvr_warn("cannot write the pidfile %s", path);
		return -1;
	}
	return 0;
}

/* In a serving process: let go of the descriptor, keep the file. */
void
hsvr_pidfile_forget(void)
{
	if (pfh != NULL)
		pidfile_close(pfh);
	pfh = NULL;
}

void
hsvr_pidfile_remove(void)
{
	if (pfh != NULL)
		pidfile_remove(pfh);
	pfh = NULL;
}
