/*
 * proxy.c - --proxy-protocol with a hand-made client: the PROXY header
 * (v1 and v2) names the session's host and port, and only the header is
 * taken from the stream.
 *
 * t-srv-ioc --proxy-protocol --proxy-timeout 1 on 127.0.0.1, two workers.
 * Each client sends a header, then "PING x\n" and must get "PONG x" (the
 * test server answers any other first line with ERROR: a header delivered
 * to serv_on_read would show there); its ACCEPT line and S_search
 * ("SEARCH ip port") must give the header's address:
 *  - v1 TCP4 written byte by byte, 5 ms apart (the header in many reads;
 *    all of it well inside the 1 s header timeout, also under TSan: 20 ms
 *    apart took 0.9 s, and a loaded machine made it miss);
 *  - v2 TCP6 and the request in one write;
 *  - v2 with TLVs and a right CRC32C; v2 LOCAL and v1 UNKNOWN (the real
 *    peer: 127.0.0.1 and the client's own port);
 *  - refused, closed with no byte answered, no ACCEPT line, each counted
 *    in proxy_error: a v1 port with a leading zero, a v2 CRC32C that is
 *    wrong, a request without a header (at once), a silent client (after
 *    the 1 s header timeout, not before 0.8 s);
 *  - --proxy-from 127.0.0.2/32: a valid header from 127.0.0.1 is closed
 *    unanswered and counted;
 *  - --max-per-ip 1 counts the header's address: a second session "from"
 *    192.0.2.50 is refused (session_error_per_ip), one "from" 192.0.2.51
 *    is served, while all come from 127.0.0.1;
 *  - a UNIX-domain socket (-l) takes the header too.
 * (TLS after the header: tests/proxy.sh, through haproxy.)
 *
 * Shown to fail: with session.c's proxy_done() not copying the header's
 * address (the real peer kept), the ACCEPT/SEARCH checks fail; with
 * proxy_read() taking the peeked bytes whole instead of what the parser
 * used, "PONG" checks fail (the request is eaten); with the timer of the
 * header stage not armed, the silent client is never closed.
 */
#include "client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>

static char line[2048];

/* ---- v2 headers ---- */

static const unsigned char sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
    0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

static uint32_t
crc32c(const unsigned char *b, size_t n)
{
	uint32_t c = 0xffffffffu;
	int k;

	while (n-- > 0) {
		c ^= *b++;
		for (k = 0; k < 8; k++)
			c = (c & 1u) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
	}
	return c ^ 0xffffffffu;
}

/* A v2 header into b: PROXY (cmd 1) or LOCAL (0); src NULL: no address
 * block (AF_UNSPEC); crc: 0 none, 1 right, 2 wrong.  Its length. */
static size_t
v2(unsigned char *b, int cmd, const char *src, unsigned short sport,
    int crc)
{
	struct in_addr a4;
	struct in6_addr a6;
	size_t n = 16, at = 0;
	uint16_t p;
	uint32_t c;

	memcpy(b, sig, 12);
	b[12] = (unsigned char)(0x20 | cmd);
	b[13] = 0x00;
	if (src != NULL && inet_pton(AF_INET, src, &a4) == 1) {
		b[13] = 0x11;
		memcpy(b + n, &a4, 4);
		inet_pton(AF_INET, "127.0.0.1", b + n + 4);
		p = htons(sport);
		memcpy(b + n + 8, &p, 2);
		p = htons(80);
		memcpy(b + n + 10, &p, 2);
		n += 12;
	} else if (src != NULL && inet_pton(AF_INET6, src, &a6) == 1) {
		b[13] = 0x21;
		memcpy(b + n, &a6, 16);
		inet_pton(AF_INET6, "::1", b + n + 16);
		p = htons(sport);
		memcpy(b + n + 32, &p, 2);
		p = htons(80);
		memcpy(b + n + 34, &p, 2);
		n += 36;
	}
	if (crc) {
		memcpy(b + n, "\x01\x00\x02h2", 5);     /* ALPN, skipped */
		n += 5;
		memcpy(b + n, "\x04\x00\x04\0\0\0\0", 7);
		at = n + 3;
		n += 7;
	}
	b[14] = (unsigned char)((n - 16) >> 8);
	b[15] = (unsigned char)(n - 16);
	if (crc) {
		c = crc32c(b, n) + (crc == 2 ? 1u : 0u);
		b[at] = (unsigned char)(c >> 24);
		b[at + 1] = (unsigned char)(c >> 16);
		b[at + 2] = (unsigned char)(c >> 8);
		b[at + 3] = (unsigned char)c;
	}
	return n;
}

/* A connection to ip port from the local address src (127.0.0.2): the
 * loopback routes would otherwise pick 127.0.0.1.  Bails out on failure. */
static struct conn *
conn_from(const char *src, const char *ip, int port)
{
	struct sockaddr_in sa;
	struct conn *c;
	int fd;

	if ((c = calloc(1, sizeof *c)) == NULL ||
	    (fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		t_bail("conn_from: out of memory or descriptors");
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	inet_pton(AF_INET, src, &sa.sin_addr);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
		t_bail("conn_from: cannot bind %s", src);
	inet_pton(AF_INET, ip, &sa.sin_addr);
	sa.sin_port = htons((uint16_t)port);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
		t_bail("conn_from: cannot connect to %s port %d", ip, port);
	c->fd = fd;
	return c;
}

/* ---- checks ---- */

/* c's session answers PING after its header: the header was not delivered. */
static int
pings(struct conn *c, const char *word)
{
	char want[64];

	snprintf(want, sizeof want, "PONG %s", word);
	if (conn_cmd(c, line, sizeof line, "PING %s", word) != 0)
		return 0;
	return strcmp(line, want) == 0;
}

/* The server's ACCEPT line for host and port says so, and S_search finds
 * that session under them. */
static int
seen_as(struct srv *sv, struct conn *c, const char *host, int port)
{
	char *out = srv_out(sv), want[128];
	const char *l = t_accept_line_from(out, host, port);
	int ok = l != NULL;

	free(out);
	if (!ok) {
		t_note("no ACCEPT line for host=%s port=%d", host, port);
		return 0;
	}
	if (conn_cmd(c, line, sizeof line, "SEARCH %s %d", host, port) != 0)
		return 0;
	snprintf(want, sizeof want, "port=%d", port);
	return strncmp(line, "FOUND ", 6) == 0 && strstr(line, want) != NULL;
}

/* The server closes c without a byte, within secs: 1. */
static int
closed_unanswered(struct conn *c, double secs)
{
	int r = conn_wait_eof(c, secs);

	if (r != 1 && r != 2)
		t_note("closed_unanswered: conn_wait_eof said %d", r);
	return r == 1 || r == 2;
}

/* The statistic name of the server on port (STATS after a valid header
 * from src). */
static long long
stat_of(const char *src, int port, const char *name)
{
	static const char hdr[] = "PROXY TCP4 198.51.100.200 127.0.0.1 7 80\r\n";
	struct conn *c = conn_from(src, "127.0.0.1", port);
	long long v = -1;

	if (conn_send(c, hdr, sizeof hdr - 1) == 0 &&
	    conn_cmd(c, line, sizeof line, "STATS") == 0)
		v = t_num(line, name, -1);
	conn_close(c);
	return v;
}

static void
headers(void)
{
	struct srv sv;
	struct conn *c;
	unsigned char b[256];
	static const char v1[] = "PROXY TCP4 192.0.2.1 127.0.0.1 1234 80\r\n";
	size_t i, n;
	double t0, took;
	char *out;
	int port, lport;

	port = srv_start_ioc(&sv, "t-srv-ioc", "-i", "127.0.0.1", "-n", "2",
	    "--proxy-protocol", "--proxy-timeout", "1", NULL);

	c = srv_connect(&sv, "127.0.0.1", port);
	for (i = 0; i < sizeof v1 - 1; i++) {
		conn_send(c, v1 + i, 1);
		t_pause(0.005);
	}
	t_ok(pings(c, "a"), "v1 byte by byte: the request is answered (%s)",
	    line);
	t_ok(seen_as(&sv, c, "192.0.2.1", 1234), "v1 byte by byte: the "
	    "session is 192.0.2.1 port 1234 (ACCEPT, S_search)");
	conn_close(c);

	c = srv_connect(&sv, "127.0.0.1", port);
	n = v2(b, 1, "2001:db8::7", 4321, 0);
	memcpy(b + n, "PING b\n", 7);
	conn_send(c, b, n + 7);
	t_ok(conn_line(c, line, sizeof line, 10) == 0 &&
	    strcmp(line, "PONG b") == 0, "v2 and the request in one write: "
	    "the request is answered, the header is not (%s)", line);
	t_ok(seen_as(&sv, c, "2001:db8::7", 4321), "v2 TCP6: the session is "
	    "2001:db8::7 port 4321");
	conn_close(c);

	c = srv_connect(&sv, "127.0.0.1", port);
	n = v2(b, 1, "203.0.113.5", 5555, 1);
	conn_send(c, b, n);
	t_ok(pings(c, "c"), "v2 with TLVs and a right CRC32C: answered");
	t_ok(seen_as(&sv, c, "203.0.113.5", 5555), "v2 with a CRC32C: the "
	    "session is 203.0.113.5 port 5555");
	conn_close(c);

	c = srv_connect(&sv, "127.0.0.1", port);
	lport = conn_port(c);
	n = v2(b, 0, "203.0.113.6", 6666, 0);
	conn_send(c, b, n);
	t_ok(pings(c, "d") && seen_as(&sv, c, "127.0.0.1", lport),
	    "v2 LOCAL: answered, the session is the real peer");
	conn_close(c);

	c = srv_connect(&sv, "127.0.0.1", port);
	lport = conn_port(c);
	conn_sendf(c, "PROXY UNKNOWN\r\n");
	t_ok(pings(c, "e") && seen_as(&sv, c, "127.0.0.1", lport),
	    "v1 UNKNOWN: answered, the session is the real peer");
	conn_close(c);

	c = srv_connect(&sv, "127.0.0.1", port);
	lport = conn_port(c);
	conn_sendf(c, "PROXY TCP4 192.0.2.9 127.0.0.1 080 80\r\nPING f\n");
	t_ok(closed_unanswered(c, 10), "v1 port 080: closed, nothing "
	    "answered");
	conn_close(c);
	out = srv_out(&sv);
	t_ok(t_accept_line(out, lport) == NULL && strstr(out, "192.0.2.9") ==
	    NULL, "v1 port 080: no session");
	free(out);

	c = srv_connect(&sv, "127.0.0.1", port);
	n = v2(b, 1, "203.0.113.7", 7777, 2);
	memcpy(b + n, "PING g\n", 7);
	conn_send(c, b, n + 7);
	t_ok(closed_unanswered(c, 10), "v2 with a wrong CRC32C: closed, "
	    "nothing answered");
	conn_close(c);

	c = srv_connect(&sv, "127.0.0.1", port);
	conn_sendf(c, "PING h\n");
	t_ok(closed_unanswered(c, 10), "a request without a header: closed, "
	    "nothing answered");
	conn_close(c);

	c = srv_connect(&sv, "127.0.0.1", port);
	t0 = t_now();
	t_ok(closed_unanswered(c, 10), "a silent client: closed, nothing "
	    "answered");
	took = t_now() - t0;
	t_ok(took > 0.8 && took < t_secs(5), "a silent client: closed after the 1 s "
	    "header timeout (%.2f s)", took);
	conn_close(c);

	t_ok(stat_of("127.0.0.1", port, "proxy_error") == 4,
	    "proxy_error counts the 4 refused headers (%s)", line);
	srv_end(&sv, 20, T_ALL_CLOSED, "t-srv-ioc --proxy-protocol");
}

static void
from_list(void)
{
	struct srv sv;
	struct conn *c;
	int port;

	port = srv_start_ioc(&sv, "t-srv-ioc", "-i", "127.0.0.1",
	    "--proxy-protocol", "--proxy-from", "127.0.0.2/32", NULL);
	c = srv_connect(&sv, "127.0.0.1", port);
	conn_sendf(c, "PROXY TCP4 192.0.2.1 127.0.0.1 1234 80\r\nPING a\n");
	t_ok(closed_unanswered(c, 10), "--proxy-from 127.0.0.2/32: a header "
	    "from 127.0.0.1 is closed unanswered");
	conn_close(c);
	c = conn_from("127.0.0.2", "127.0.0.1", port);
	conn_sendf(c, "PROXY TCP4 192.0.2.1 127.0.0.1 1234 80\r\n");
	t_ok(pings(c, "b") && seen_as(&sv, c, "192.0.2.1", 1234),
	    "--proxy-from 127.0.0.2/32: one from 127.0.0.2 is served");
	conn_close(c);
	t_ok(stat_of("127.0.0.2", port, "proxy_error") == 1,
	    "--proxy-from: the refused connection is counted (%s)", line);
	srv_end(&sv, 20, T_ALL_CLOSED, "t-srv-ioc --proxy-from");
}

static void
per_ip(void)
{
	struct srv sv;
	struct conn *a, *b, *c;
	int port;

	port = srv_start_ioc(&sv, "t-srv-ioc", "-i", "127.0.0.1",
	    "--proxy-protocol", "--max-per-ip", "1", NULL);
	a = srv_connect(&sv, "127.0.0.1", port);
	conn_sendf(a, "PROXY TCP4 192.0.2.50 127.0.0.1 1000 80\r\n");
	t_ok(pings(a, "a"), "--max-per-ip 1: the first session of "
	    "192.0.2.50 is served");
	b = srv_connect(&sv, "127.0.0.1", port);
	conn_sendf(b, "PROXY TCP4 192.0.2.50 127.0.0.1 1001 80\r\nPING b\n");
	t_ok(closed_unanswered(b, 10), "--max-per-ip 1: a second one of "
	    "192.0.2.50 is closed");
	c = srv_connect(&sv, "127.0.0.1", port);
	conn_sendf(c, "PROXY TCP4 192.0.2.51 127.0.0.1 1002 80\r\n");
	t_ok(pings(c, "c"), "--max-per-ip 1: one of 192.0.2.51 is served, "
	    "all from 127.0.0.1");
	t_ok(conn_cmd(c, line, sizeof line, "STATS") == 0 &&
	    t_num(line, "session_error_per_ip", -1) == 1 &&
	    t_num(line, "proxy_error", -1) == 0, "--max-per-ip: counted in "
	    "session_error_per_ip, not proxy_error (%s)", line);
	conn_close(a);
	conn_close(b);
	conn_close(c);
	srv_end(&sv, 20, T_ALL_CLOSED, "t-srv-ioc --max-per-ip");
}

static void
unix_socket(void)
{
	struct srv sv;
	struct conn *c;
	const char *path = t_path("proxy.sock");

	srv_start_ioc(&sv, "t-srv-ioc", "-l", path, "--proxy-protocol", NULL);
	if ((c = conn_unix(path, 20)) == NULL)
		t_bail("cannot connect to %s", path);
	conn_sendf(c, "PROXY TCP6 2001:db8::9 ::1 999 80\r\n");
	t_ok(pings(c, "u") && seen_as(&sv, c, "2001:db8::9", 999),
	    "UNIX-domain socket: the header names the session");
	conn_close(c);
	srv_end(&sv, 20, T_ALL_CLOSED, "t-srv-ioc -l --proxy-protocol");
}

int
main(int argc, char **argv)
{
	t_init(argc, argv);
	headers();
	from_list();
	per_ip();
	unix_socket();
	return t_done();
}
