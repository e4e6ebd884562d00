/*
 * notify.c - white-box test of the service manager notification
 * (lib/notify.c): hsvr_notify called in this process, a datagram socket
 * of ours as the manager.
 *
 *  - NOTIFY_SOCKET unset or empty: nothing is sent;
 *  - "@name": the datagram goes to the abstract socket "\0name", and is
 *    "STATE\nMAINPID=pid";
 *  - a path: the same to the socket there;
 *  - a send that fails (no socket at that path): one warning naming
 *    NOTIFY_SOCKET and the state; later failures (a name too long for
 *    sun_path, a relative name) send nothing and warn no more.
 *
 * Shown to fail: with "if (path[0] == '@') sun.sun_path[0] = '\0';"
 * removed, the "@name" datagrams go nowhere and those checks fail; with
 * "warned = 1;" removed, "not warned again" fails.
 */
#include "hsvr-int.h"
#include "wb.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>


/* A datagram socket bound to name (abstract if it starts with '@'). */
static int
manager(const char *name)
{
	struct sockaddr_un sun;
	size_t len = strlen(name);
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, name, len);
	if (name[0] == '@')
		sun.sun_path[0] = '\0';
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(fd, (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) != 0)
		wb_bail("manager socket %s: %s", name, strerror(errno));
	return fd;
}

/* The next datagram on fd, waiting at most 10 s. */
static const char *
next(int fd)
{
	static char buf[256];
	struct pollfd p = { fd, POLLIN, 0 };
	ssize_t n;

	buf[0] = '\0';
	if (poll(&p, 1, 10000) == 1 &&
	    (n = recv(fd, buf, sizeof buf - 1, 0)) >= 0)
		buf[n] = '\0';
	return buf;
}

/* hsvr_notify(state), then 1 if the next datagram on fd is that state
 * and "MAINPID=<our pid>". */
static int
notified(int fd, const char *state)
{
	char want[128];

	hsvr_notify(state);
	(void)snprintf(want, sizeof want, "%s\nMAINPID=%ld", state,
	    (long)getpid());
	return strcmp(next(fd), want) == 0;
}

int
main(void)
{
	char abstract[64], path[64], longname[200];
	const char *said;
	int fd, pfd;

	wb_watchdog(120);
	wb_capture_open();
	(void)snprintf(abstract, sizeof abstract, "@wb-notify-%ld",
	    (long)getpid());
	fd = manager(abstract);

	unsetenv("NOTIFY_SOCKET");
	hsvr_notify("UNSET=1");
	setenv("NOTIFY_SOCKET", "", 1);
	hsvr_notify("EMPTY=1");
	setenv("NOTIFY_SOCKET", abstract, 1);
	wb_ok(notified(fd, "READY=1"), "\"@name\": the abstract socket "
	    "gets \"READY=1\\nMAINPID=pid\", the first datagram: none was "
	    "sent while NOTIFY_SOCKET was unset or empty");

	(void)snprintf(path, sizeof path, "/tmp/wb-notify-%ld.sock",
	    (long)getpid());
	unlink(path);
	pfd = manager(path);
	setenv("NOTIFY_SOCKET", path, 1);
	wb_ok(notified(pfd, "STOPPING=1"), "a path: the socket there gets "
	    "the state");
	close(pfd);
	unlink(path);

	wb_capture();
	hsvr_notify("RELOADING=1");     /* nobody there any more */
	said = wb_said_now();
	wb_ok(strstr(said, "cannot notify the service manager") != NULL &&
	    strstr(said, path) != NULL && strstr(said, "RELOADING=1") != NULL,
	    "a failed send: a warning naming NOTIFY_SOCKET and the state "
	    "(\"%.*s\")", (int)strcspn(said, "\n"), said);

	memset(longname, 'n', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	longname[0] = '@';
	wb_capture();
	setenv("NOTIFY_SOCKET", longname, 1);
	hsvr_notify("READY=1");
	setenv("NOTIFY_SOCKET", "relative.sock", 1);
	hsvr_notify("READY=1");
	said = wb_said_now();
	wb_ok(said[0] == '\0', "failures after the first are not warned "
	    "again (\"%.*s\")", (int)strcspn(said, "\n"), said);
	setenv("NOTIFY_SOCKET", abstract, 1);
	wb_ok(notified(fd, "STATUS=last"), "nothing was sent for a name too "
	    "long for sun_path or a relative name; sending works again");
	close(fd);
	return wb_done();
}
