/*
 * perip.c - --max-per-ip and -m against real connections from chosen
 * source addresses (tests/perip.sh runs it in a network namespace of its
 * own, with fd00:a::1-6/64 and fd00:b::1/64 on its loopback: --netns).
 *
 * Lingering closes (IoC server from the tests' build, -m 5
 * --max-per-ip 2, lingering held by HSVR_TEST_LINGER_MS until the client
 * closes): 127.0.0.2 tries six sessions and has each closed by the server
 * while its input is unread, so each close lingers.  Only two are served:
 * its lingering sockets still count for it.  127.0.0.3 is served twice
 * meanwhile; then the server is full (-m 5 with the two lingering
 * sockets) and 127.0.0.4 is refused.  Once 127.0.0.2 closes one lingering
 * socket, it is served again.
 *
 * Per /64 (--netns only; -m 100 --max-per-ip 3): fd00:a::1 to ::6 are one
 * peer, three served and three refused; fd00:b::1 is served; IPv4 counts
 * per address: 127.0.0.2 three times (once as IPv4-mapped IPv6) then
 * refused, 127.0.0.3 served.
 */
#include "client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char line[1024];
static int port;

static int
sockaddr_of(const char *ip, int p, struct sockaddr_storage *ss,
    socklen_t *len)
{
	if (t_sockaddr(ip, p, ss, len) != 0)
		t_bail("bad address %s", ip);
	return ss->ss_family;
}

/* A connection from src to dst:port, or NULL. */
static struct conn *
conn_from(const char *src, const char *dst)
{
	struct sockaddr_storage s, d;
	socklen_t slen, dlen;
	int fd;

	sockaddr_of(src, 0, &s, &slen);
	sockaddr_of(dst, port, &d, &dlen);
	if ((fd = socket(d.ss_family, SOCK_STREAM, 0)) < 0)
		return NULL;
	if (bind(fd, (struct sockaddr *)&s, slen) != 0 ||
	    connect(fd, (struct sockaddr *)&d, dlen) != 0) {
		t_note("connect from %s to %s: %m", src, dst);
		close(fd);
		return NULL;
	}
	return conn_adopt(fd);
}

/* 1: answered (c kept in *out), 0: closed at once, -1: neither. */
static int
try_from(const char *src, const char *dst, struct conn **out)
{
	struct conn *c = conn_from(src, dst);
	int eof;

	*out = NULL;
	if (c == NULL)
		return -1;
	if (conn_cmd(c, line, sizeof line, "PING %s", src) == 0 &&
	    strncmp(line, "PONG", 4) == 0) {
		*out = c;
		return 1;
	}
	eof = conn_wait_eof(c, 5);
	conn_close(c);
	return eof == 1 || eof == 2 ? 0 : -1;
}

/* Polls until a connection from src is answered: it, or NULL. */
static struct conn *
served_soon(const char *src, const char *dst)
{
	struct conn *c;
	double end = t_now() + t_secs(10);

	while (try_from(src, dst, &c) != 1 && t_now() < end)
		t_pause(0.02);
	return c;
}

static long long
stat_of(struct conn *ctl, const char *name)
{
	if (conn_cmd(ctl, line, sizeof line, "STATS") != 0)
		return -1;
	return t_num(line, name, -1);
}

static int
start(struct srv *sv, const char *m, const char *perip)
{
	struct conn *c;

	port = srv_start_ioc(sv, "t-srv-ioc-hooks", "-m", m, "--max-per-ip",
	    perip, "-n", "2", NULL);
	if ((c = conn_tcp("127.0.0.1", port, 20)) == NULL)
		t_bail("the server does not answer");
	conn_close(c);
	return 0;
}

/*
 * The server closes a's session while a's input is unread (reading paused,
 * then more sent), so the close lingers: a gets the 100 bytes, then EOF.
 */
static int
make_linger(struct srv *sv, struct conn *ctl, struct conn *a, int terms)
{
	static char junk[4096];
	const char *why;

	memset(junk, 'j', sizeof junk);
	if (conn_cmd(a, line, sizeof line, "PAUSE") != 0 ||
	    strcmp(line, "PAUSE rc=0") != 0 ||
	    conn_send(a, junk, sizeof junk) != 0 ||
	    conn_cmd(ctl, line, sizeof line, "SENDCLOSE 127.0.0.2 %d 100",
	    conn_port(a)) != 0 || strcmp(line, "SENDCLOSE rc=0") != 0 ||
	    conn_read_pattern(a, 0, 100, 10, &why) != 100 ||
	    conn_wait_eof(a, 10) != 1)
		return 0;
	return srv_wait_out(sv, "TERM id=", terms, 10) == 0;
}

static void
lingering(void)
{
	struct srv sv;
	struct conn *ctl, *a[6], *b1, *b2, *c, *x;
	int i, n = 0, refused = 0, lingers = 0, terms = 1;
	long long per_ip, errs;

	setenv("HSVR_TEST_LINGER_MS", "600000", 1);
	start(&sv, "5", "2");
	unsetenv("HSVR_TEST_LINGER_MS");
	if (try_from("127.0.0.1", "127.0.0.1", &ctl) != 1)
		t_bail("the control connection is not served");
	for (i = 0; i < 6; i++) {
		switch (try_from("127.0.0.2", "127.0.0.1", &a[n])) {
		case 1:
			lingers += make_linger(&sv, ctl, a[n], ++terms);
			n++;
			break;
		case 0:
			refused++;
			break;
		}
	}
	t_ok(n == 2 && lingers == 2 && refused == 4, "127.0.0.2 (--max-per-ip "
	    "2) closed six times with unread input: 2 served, their closes "
	    "linger, 4 refused (%d served, %d lingering, %d refused)", n,
	    lingers, refused);
	per_ip = stat_of(ctl, "session_error_per_ip");
	t_ok(per_ip == 4, "refused for its lingering sockets: "
	    "session_error_per_ip=%lld", per_ip);
	t_ok(try_from("127.0.0.3", "127.0.0.1", &b1) == 1 &&
	    try_from("127.0.0.3", "127.0.0.1", &b2) == 1,
	    "another address is served meanwhile, twice");
	errs = stat_of(ctl, "session_error");
	t_ok(try_from("127.0.0.4", "127.0.0.1", &c) == 0 &&
	    stat_of(ctl, "session_error") == errs + 1 &&
	    stat_of(ctl, "session_error_per_ip") == per_ip,
	    "-m 5 counts the lingering sockets: a third address is refused "
	    "by -m, not by --max-per-ip");
	conn_close(c);

	/* A lingering socket closed by its peer gives its slots back. */
	conn_close(b2);
	conn_close(a[0]);
	x = served_soon("127.0.0.2", "127.0.0.1");
	t_ok(x != NULL, "once 127.0.0.2 closes one lingering socket it is "
	    "served again");

	conn_close(x);
	conn_close(b1);
	conn_close(ctl);
	for (i = 1; i < n; i++)
		conn_close(a[i]);
	srv_end(&sv, 20, T_ALL_CLOSED, "server");
}

static void
per_64(void)
{
	static const char *const v6[] = { "fd00:a::1", "fd00:a::2",
	    "fd00:a::3", "fd00:a::4", "fd00:a::5", "fd00:a::6" };
	struct srv sv;
	struct conn *ctl, *c[16], *x;
	int i, n = 0, r, served6 = 0, refused6 = 0;
	long long per_ip;

	start(&sv, "100", "3");
	if (try_from("127.0.0.1", "127.0.0.1", &ctl) != 1)
		t_bail("the control connection is not served");
	for (i = 0; i < 6; i++) {
		r = try_from(v6[i], "fd00:b::1", &x);
		if (r == 1) {
			c[n++] = x;
			served6++;
		} else if (r == 0) {
			refused6++;
		}
	}
	t_ok(served6 == 3 && refused6 == 3, "six addresses of fd00:a::/64 "
	    "(--max-per-ip 3): 3 served, 3 refused (%d, %d)", served6,
	    refused6);
	t_ok(try_from("fd00:b::1", "fd00:a::1", &c[n++]) == 1,
	    "fd00:b::1, another /64, is served");
	t_ok(try_from("127.0.0.2", "127.0.0.1", &c[n++]) == 1 &&
	    try_from("127.0.0.2", "127.0.0.1", &c[n++]) == 1 &&
	    try_from("::ffff:127.0.0.2", "::ffff:127.0.0.1", &c[n++]) == 1,
	    "127.0.0.2 is served three times (once as ::ffff:127.0.0.2)");
	t_ok(try_from("::ffff:127.0.0.2", "::ffff:127.0.0.1", &x) == 0 &&
	    try_from("127.0.0.2", "127.0.0.1", &x) == 0,
	    "a fourth from 127.0.0.2, IPv4 or IPv4-mapped, is refused");
	t_ok(try_from("127.0.0.3", "127.0.0.1", &c[n++]) == 1,
	    "127.0.0.3 is served: IPv4 counts per address, not per /64");
	per_ip = stat_of(ctl, "session_error_per_ip");
	t_ok(per_ip == 5, "session_error_per_ip=%lld (5)", per_ip);
	conn_close(c[0]);
	x = served_soon("fd00:a::6", "fd00:b::1");
	t_ok(x != NULL, "one from fd00:a::/64 leaves: fd00:a::6 is served");
	conn_close(x);
	for (i = 1; i < n; i++)
		conn_close(c[i]);
	conn_close(ctl);
	srv_end(&sv, 20, T_ALL_CLOSED, "server");
}

int
main(int argc, char **argv)
{
	t_init(argc, argv);
	lingering();
	if (argc > 1 && strcmp(argv[1], "--netns") == 0)
		per_64();
	else
		t_note("SKIP per-/64 checks: no network namespace "
		    "(tests/perip.sh makes one when run as root)");
	return t_done();
}
