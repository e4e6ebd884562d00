/*
 * notify.c - telling a service manager how the server is doing (systemd's
 * sd_notify: READY, RELOADING, STOPPING) when NOTIFY_SOCKET is set.
 */
#include "hsvr-int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

void
hsvr_notify(const char *state)
{
#ifdef HAVE_LIBSYSTEMD
	if (getenv("NOTIFY_SOCKET") == NULL)
		return;
	if (sd_notifyf(0, "%s\nMAINPID=%ld", state, (long)getpid()) < 0)
		hsvr_warnx("cannot notify the service manager of %s", state);
#else
	static int warned;

	if (getenv("NOTIFY_SOCKET") != NULL && !warned) {
		warned = 1;
		hsvr_warnx("NOTIFY_SOCKET is set but this build has no "
		    "libsystemd: %s not sent", state);
	}
#endif
}
