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

static char errfile[] = "/tmp/wb-start.XXXXXX";
static int errfd = -1, saved_err = -1;
static char said[4096];

/* stderr into errfile from now on, until said_now(). */
static void
capture(void)
{
	fflush(stderr);
	if (ftruncate(errfd, 0) != 0 || lseek(errfd, 0, SEEK_SET) != 0 ||
	    dup2(errfd, STDERR_FILENO) < 0)
		wb_bail("capture: %s", strerror(errno));
}

static const char *
said_now(void)
{
	ssize_t n;

	fflush(stderr);
	dup2(saved_err, STDERR_FILENO);
	n = pread(errfd, said, sizeof said - 1, 0);
	said[n > 0 ? n : 0] = '\0';
	return said;
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
	if ((errfd = mkstemp(errfile)) < 0 ||
	    (saved_err = dup(STDERR_FILENO)) < 0)
		wb_bail("mkstemp: %s", strerror(errno));
	unlink(errfile);
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
			capture();
			rc = S_start(cases[i].port, cases[i].limit,
			    cases[i].multi, cases[i].cb, cases[i].tls,
			    cases[i].cert, cases[i].priv);
			said_now();
			wb_ok(rc == -1 && strstr(said, cases[i].says) != NULL &&
			    not_listening(free_port),
			    "%s: -1, \"%s\", nothing listens (said \"%.*s\")",
			    cases[i].what, cases[i].says,
			    (int)strcspn(said, "\n"), said);
		}
	}
	capture();
	rc = S_start(port, 10, 2, cb, 0, NULL, NULL);
	said_now();
	wb_ok(rc == -1 && strstr(said, "cannot listen") != NULL,
	    "a port another socket listens on: -1, \"cannot listen\" (said "
	    "\"%.*s\")", (int)strcspn(said, "\n"), said);
	close(held);
	wb_ok(calls == 0, "the callback was never called");
	return wb_done();
}
