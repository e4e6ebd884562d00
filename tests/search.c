/*
 * search.c - S_search(ip, port) and the peer address in SESSION.
 *
 * S_start server: client A over 127.0.0.1, client B over ::1, client C asks.
 *  - A's SESSION.host is "127.0.0.1" (not "::ffff:127.0.0.1"), B's is "::1",
 *    and SESSION.port is the client's port;
 *  - S_search finds A by ("127.0.0.1", A's port) and B by ("::1", B's port),
 *    and returns NULL for another address, another port, or once A closed;
 *  - S_send to what S_search found reaches that client.
 * IoC server on a UNIX socket (-l PATH, over a stale socket file left at
 * PATH): served, SESSION.host "unix" and port 0, and S_search("unix", 0)
 * finds nothing.
 */
#include "client.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static char line[1024];

static void
tcp(void)
{
	struct srv sv;
	char host[64], *out;
	const char *l;
	struct conn *a, *b, *c;
	int port, pa, pb;
	long long ida, idb;

	port = srv_start_lowlevel(&sv, 0, "100", "2");
	a = srv_connect(&sv, "127.0.0.1", port);
	b = srv_connect(&sv, "::1", port);
	c = srv_connect(&sv, "127.0.0.1", port);
	conn_cmd(a, line, sizeof line, "PING a");
	conn_cmd(b, line, sizeof line, "PING b");
	conn_cmd(c, line, sizeof line, "PING c");
	pa = conn_port(a);
	pb = conn_port(b);

	out = srv_out(&sv);
	l = t_accept_line(out, pa);
	t_ok(l != NULL && strcmp(t_word(l, "host", host, sizeof host) ?
	    host : "", "127.0.0.1") == 0, "an IPv4 client on the dual-stack "
	    "listener has SESSION.host \"127.0.0.1\" (%s)", l ? host : "none");
	ida = t_num(l, "id", -1);
	l = t_accept_line(out, pb);
	t_ok(l != NULL && strcmp(t_word(l, "host", host, sizeof host) ?
	    host : "", "::1") == 0, "an IPv6 client has SESSION.host \"::1\" (%s)",
	    l ? host : "none");
	idb = t_num(l, "id", -1);
	free(out);

	conn_cmd(c, line, sizeof line, "SEARCH 127.0.0.1 %d", pa);
	t_ok(strncmp(line, "FOUND", 5) == 0 && t_num(line, "id", -1) == ida &&
	    t_num(line, "port", -1) == pa &&
	    strcmp(t_word(line, "host", host, sizeof host) ? host : "",
	    "127.0.0.1") == 0, "S_search(\"127.0.0.1\", A's port) finds A (%s)",
	    line);
	conn_cmd(c, line, sizeof line, "SEARCH ::1 %d", pb);
	t_ok(strncmp(line, "FOUND", 5) == 0 && t_num(line, "id", -1) == idb &&
	    t_num(line, "port", -1) == pb, "S_search(\"::1\", B's port) finds B "
	    "(%s)", line);
	if (pa != pb) {
		conn_cmd(c, line, sizeof line, "SEARCH ::1 %d", pa);
		t_ok(strcmp(line, "NOTFOUND") == 0, "S_search(\"::1\", A's port) "
		    "finds nothing: A is an IPv4 client (%s)", line);
	}
	conn_cmd(c, line, sizeof line, "SEARCH 127.0.0.2 %d", pa);
	t_ok(strcmp(line, "NOTFOUND") == 0, "S_search with another address "
	    "returns NULL (%s)", line);
	conn_cmd(c, line, sizeof line, "SEARCH 127.0.0.1 %d", port);
	t_ok(strcmp(line, "NOTFOUND") == 0, "S_search with a port no client "
	    "uses returns NULL (%s)", line);

	conn_cmd(c, line, sizeof line, "SENDTO 127.0.0.1 %d to-a", pa);
	t_ok(strcmp(line, "SENT rc=0") == 0 &&
	    conn_line(a, line, sizeof line, 10) == 0 && strcmp(line, "to-a") == 0,
	    "S_send to the session S_search found reaches A");
	conn_cmd(c, line, sizeof line, "SENDTO ::1 %d to-b", pb);
	t_ok(strcmp(line, "SENT rc=0") == 0 &&
	    conn_line(b, line, sizeof line, 10) == 0 && strcmp(line, "to-b") == 0,
	    "S_send to the session S_search found reaches B");

	conn_close(a);
	srv_wait_out(&sv, "TERM id=", 1, 10);
	conn_cmd(c, line, sizeof line, "SEARCH 127.0.0.1 %d", pa);
	t_ok(strcmp(line, "NOTFOUND") == 0, "after A's TYP_TERM S_search "
	    "returns NULL for it (%s)", line);

	conn_close(b);
	conn_close(c);
	srv_end_after_terms(&sv, 3, T_ALL_CLOSED | T_TX_EXACT, "server");
}

/* A socket file with nobody listening, as a crashed server leaves it. */
static void
stale_socket(const char *path)
{
	struct sockaddr_un a;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof a.sun_path)
		t_bail("%s: too long for a UNIX socket", path);
	memcpy(a.sun_path, path, strlen(path));
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
		t_bail("cannot make %s", path);
	close(fd);
}

static void
unix_socket(void)
{
	struct srv sv;
	char path[512], host[64], *out;
	const char *l;
	struct conn *u1, *u2;

	snprintf(path, sizeof path, "%s", t_path("hsvr.sock"));
	stale_socket(path);
	srv_start_ioc(&sv, "t-srv-ioc", "-l", path, "-n", "2", NULL);
	u1 = conn_unix(path, 20);
	u2 = conn_unix(path, 20);
	t_ok(u1 != NULL && u2 != NULL &&
	    conn_cmd(u1, line, sizeof line, "PING u1") == 0 &&
	    strcmp(line, "PONG u1") == 0, "-l PATH: a client on the UNIX socket "
	    "is served (a stale socket file was there)");
	if (u1 == NULL || u2 == NULL) {
		srv_dump(&sv);
		t_bail("cannot connect to %s", path);
	}
	out = srv_out(&sv);
	l = t_line(out, "ACCEPT ", 0);
	t_ok(l != NULL && strcmp(t_word(l, "host", host, sizeof host) ? host :
	    "", "unix") == 0 && t_num(l, "port", -1) == 0,
	    "a UNIX-domain session has host \"unix\" and port 0");
	free(out);
	conn_cmd(u2, line, sizeof line, "SEARCH unix 0");
	t_ok(strcmp(line, "NOTFOUND") == 0, "S_search(\"unix\", 0) does not "
	    "find UNIX-domain sessions (%s)", line);
	conn_cmd(u2, line, sizeof line, "SENDTO unix 0 x");
	t_ok(strcmp(line, "NOTFOUND") == 0 && conn_quiet(u1, 0.1),
	    "so nothing can be sent to them through S_search");
	conn_close(u1);
	conn_close(u2);
	srv_end_after_terms(&sv, 2, T_ALL_CLOSED | T_TX_EXACT, "IoC -l");
}

T_MAIN(tcp, unix_socket)
