/*
 * envsrv.c - t-envsrv, a server on the library's main() that tells what
 * serv_init saw of socket activation: to every line it answers
 * "pid=N LISTEN_PID=... LISTEN_FDS=... LISTEN_FDNAMES=...", the
 * variables as getenv() returned them in serv_init ("-" when unset), for
 * the serving process N.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hsvr.h"

static char seen[512];

static const char *
var(const char *name)
{
	const char *v = getenv(name);

	return v == NULL ? "-" : v;
}

void
serv_init(void)
{
	serv_set_name("t-envsrv");
	(void)snprintf(seen, sizeof seen, "LISTEN_PID=%s LISTEN_FDS=%s "
	    "LISTEN_FDNAMES=%s", var("LISTEN_PID"), var("LISTEN_FDS"),
	    var("LISTEN_FDNAMES"));
}

void
serv_on_read(SESSION *s)
{
	char line[600];
	int n;

	if (s->blen == 0 || memchr(s->buff, '\n', s->blen) == NULL)
		return;
	n = snprintf(line, sizeof line, "pid=%ld %s\n", (long)getpid(), seen);
	if (n > 0)
		S_send(s, (unsigned char *)line, (size_t)n);
	S_close(s);
}
