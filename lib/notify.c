/*
 * notify.c - telling a service manager how the server is doing (systemd's
 * notification protocol: READY, RELOADING, STOPPING) when NOTIFY_SOCKET is
 * set: one datagram to that UNIX socket, as sd_notify(3) documents it.
 *
 * Written here rather than linking libsystemd for its sd_notify: the
 * protocol is stable and is the interface (the systemd project recommends
 * reimplementing it), and libsystemd brings six more libraries into both
 * server processes (start-up time, resident memory, attack surface).
 */
#include "hsvr-int.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

void
hsvr_notify(const char *state)
{
	static int warned;
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	char msg[128];
	size_t plen;
	int fd, n, ok = 0;

	if (path == NULL || *path == '\0')
		return;
	plen = strlen(path);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	n = snprintf(msg, sizeof msg, "%s\nMAINPID=%ld", state, (long)getpid());
	/* A path, or "@name" for the abstract namespace. */
	if ((path[0] == '/' || path[0] == '@') && plen < sizeof sun.sun_path &&
	    n > 0 && (size_t)n < sizeof msg) {
		memcpy(sun.sun_path, path, plen);
		if (path[0] == '@')
			sun.sun_path[0] = '\0';
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		ok = fd >= 0 && sendto(fd, msg, (size_t)n, MSG_NOSIGNAL,
		    (struct sockaddr *)&sun,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen)) ==
		    (ssize_t)n;
		if (fd >= 0)
			close(fd);
	}
	if (!ok && !warned) {
		warned = 1;
		hsvr_warn("cannot notify the service manager (NOTIFY_SOCKET=%s) "
		    "of %s", path, state);
	}
}
