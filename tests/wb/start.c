/*
 * start.c - white-box test of S_start's refusals (lib/start.c): called in
 * this process with each bad parameter it returns -1 at once, saying why
 * on stderr, without listening on the port it was given or calling the
 * callback; with a TLS certificate it cannot load, or a port another
 * socket holds, it returns -1 too, saying why.
 *
 * Shown to fail: with "multi > HSVR_MAX_THREADS" removed from S_start's
 * test, the 257-threads call goes on to serve instead of returning, and
 * the watchdog ends the test (SIGALRM, a failure).
 */
#include "hsvr-int.h"
#include "wb.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int calls;

static void
cb(CTYPE type, SESSION *s)
{
	(void)type, (void)s;
	calls++;
}


/* A TCP port on 127.0.0.1 held listening by fd (*fd). */
static uint16_t
hold_port(int *fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_ANY);
	if ((*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(*fd, (struct sockaddr *)&sin, sizeof sin) != 0 ||
	    listen(*fd, 1) != 0 ||
	    getsockname(*fd, (struct sockaddr *)&sin, &len) != 0)
		wb_bail("a port to hold: %s", strerror(errno));
	return ntohs(sin.sin_port);
}

/* Nothing listens on port: a connection to it is refused. */
static int
not_listening(uint16_t port)
{
	struct sockaddr_in sin;
	int fd, rc;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		wb_bail("socket: %s", strerror(errno));
	rc = connect(fd, (struct sockaddr *)&sin, sizeof sin);
	close(fd);
	return rc != 0 && errno == ECONNREFUSED;
}

struct bad {
	uint16_t port;
	int limit, multi;
	CALLBACK_T cb;
	int tls;
	char *cert, *priv;
	const char *says, *what;
};

int
main(void)
{
	char cert[] = "/nonexistent/cert.pem", key[] = "/nonexistent/key.pem";
	int held, rc;
	uint16_t port, free_port;
	size_t i;

	wb_watchdog(120);
	wb_capture_open();
	port = hold_port(&held);
	{
		/* a port nothing listens on (bound, not listening, closed) */
		int fd;

		free_port = hold_port(&fd);
		close(fd);
	}
	{
		const struct bad cases[] = {
			{ free_port, 10, 1, NULL, 0, NULL, NULL,
			    "callback NULL", "no callback" },
			{ 0, 10, 1, cb, 0, NULL, NULL, "port 0", "port 0" },
			{ free_port, 0, 1, cb, 0, NULL, NULL, "bad parameter",
			    "limit 0" },
			{ free_port, -1, 1, cb, 0, NULL, NULL, "limit -1",
			    "limit -1" },
			{ free_port, 10, 0, cb, 0, NULL, NULL, "threads 0",
			    "0 threads" },
			{ free_port, 10, HSVR_MAX_THREADS + 1, cb, 0, NULL,
			    NULL, "threads 257", "257 threads" },
			{ free_port, 10, 1, cb, 1, NULL, key,
			    "TLS needs a certificate and a key",
			    "TLS without a certificate" },
			{ free_port, 10, 1, cb, 1, cert, NULL,
			    "TLS needs a certificate and a key",
			    "TLS without a key" },
			{ free_port, 10, 1, cb, 1, cert, key, cert,
			    "TLS with a certificate it cannot read" },
		};

		for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
			wb_capture();
			rc = S_start(cases[i].port, cases[i].limit,
			    cases[i].multi, cases[i].cb, cases[i].tls,
			    cases[i].cert, cases[i].priv);
			wb_said_now();
			wb_ok(rc == -1 && strstr(wb_said, cases[i].says) != NULL &&
			    not_listening(free_port),
			    "%s: -1, \"%s\", nothing listens (wb_said \"%.*s\")",
			    cases[i].what, cases[i].says,
			    (int)strcspn(wb_said, "\n"), wb_said);
		}
	}
	wb_capture();
	rc = S_start(port, 10, 2, cb, 0, NULL, NULL);
	wb_said_now();
	wb_ok(rc == -1 && strstr(wb_said, "cannot listen") != NULL,
	    "a port another socket listens on: -1, \"cannot listen\" (wb_said "
	    "\"%.*s\")", (int)strcspn(wb_said, "\n"), wb_said);
	close(held);
	wb_ok(calls == 0, "the callback was never called");
	return wb_done();
}
