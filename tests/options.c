/*
 * options.c - the command line of IoC servers (the library's main()).
 *
 *  - --help: exit 0, usage on stdout with the library's options and the
 *    application's (from serv_options()); --version: exit 0, the version;
 *  - each bad option or value: exit 64, one line naming it then the usage on
 *    stderr, nothing on stdout, serv_init not called; a set() returning -1
 *    gives "invalid argument for --NAME: VALUE";
 *  - short options and long options (--name=value): the serv_* variables,
 *    the application's set() calls (before serv_init), -r (chdir before
 *    serv_init), -f, -i (only that address answers), -n (serv_worker_init
 *    for 0..n-1), serv_set_periodic;
 *  - defaults: port 1966, interface "", user and group "nobody";
 *  - as root, -u/-g: the serving process runs as that user and group;
 *  - without -x the server becomes a daemon: the command returns 0 and the
 *    server keeps serving until SIGTERM;
 *  - SIGTERM without -t drains: each session is closed after its queued
 *    output is written (serv_on_drain's default), then serv_exit, exit 0;
 *    with -t the server exits at once, output still queued or not;
 *  - -r to a missing directory and a port already in use: a message and a
 *    non-zero exit.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strcasestr */
#endif
#include "client.h"
#include "hsvr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char line[1024];

static void
help_and_version(void)
{
	static const char *const want[] = {
		"--port", "--interface", "--unix", "--max-connections",
		"--threads", "--backlog", "--timeout", "--user", "--group",
		"--root", "--config", "--foreground", "--terminate", "--help",
		"--version", "--greeting", "TEXT",
		"text sent to each new connection", "--shout", "-G"
	};
	const char *help[] = { "--help", NULL };
	const char *version[] = { "--version", NULL };
	char *out, *err;
	size_t i;
	int status, missing = 0;

	status = srv_run("t-srv-ioc", help, 20, &out, &err);
	for (i = 0; i < sizeof want / sizeof want[0]; i++)
		if (strstr(out, want[i]) == NULL) {
			t_note("--help does not mention %s", want[i]);
			missing++;
		}
	t_ok(status == 0 && strcasestr(out, "usage") != NULL && missing == 0,
	    "--help: exit 0, usage on stdout with the library's and the "
	    "application's options (status %d)", status);
	t_ok(strstr(out, "INIT") == NULL, "--help does not run serv_init");
	free(out);
	free(err);
	status = srv_run("t-srv-ioc", version, 20, &out, &err);
	t_ok(status == 0 && strstr(out, HSVR_VERSION) != NULL,
	    "--version: exit 0, prints %s (%.*s)", HSVR_VERSION,
	    (int)strcspn(out, "\n"), out);
	free(out);
	free(err);
}

struct bad {
	const char *args[6];
	const char *says;       /* the first line of stderr names this */
	const char *what;
};

static void
bad_options(void)
{
	char sock[512];
	const struct bad cases[] = {
		{ { "-x", "-n", "0", NULL }, "threads", "-n 0" },
		{ { "-x", "-n", "257", NULL }, "257", "-n 257 (over 256)" },
		{ { "-x", "-n", "abc", NULL }, "abc", "-n abc" },
		{ { "-x", "-p", "70000", NULL }, "70000", "-p 70000" },
		{ { "-x", "-p", "abc", NULL }, "abc", "-p abc" },
		{ { "-x", "-p", "12x", NULL }, "12x", "-p 12x" },
		{ { "-x", "-p", NULL }, "-p", "-p without its value" },
		{ { "-x", "-m", "abc", NULL }, "abc", "-m abc" },
		{ { "-x", "-m", "-5", NULL }, "-5", "-m -5" },
		{ { "-x", "-q", "abc", NULL }, "abc", "-q abc" },
		{ { "-x", "-T", "abc", NULL }, "abc", "-T abc" },
		{ { "-x", "--bogus", NULL }, "bogus", "an unknown long option" },
		{ { "-x", "-Z", NULL }, "Z", "an unknown short option" },
		{ { "-x", "extra", NULL }, "extra", "an extra argument" },
		{ { "-x", "-l", sock, "-p", "5000", NULL }, "unix", "-l with -p" },
		{ { "-x", "-l", sock, "-i", "127.0.0.1", NULL }, "unix",
		    "-l with -i" },
		{ { "-x", "--shout=yes", NULL }, "shout",
		    "a value for an application flag" },
		{ { "-x", "--greeting", "bad", NULL },
		    "invalid argument for --greeting", "set() returning -1" },
		{ { "-x", "-G", "bad", NULL }, "invalid argument for --greeting",
		    "set() returning -1 (short option)" },
	};
	char *out, *err, first[512];
	size_t i;
	int status;

	snprintf(sock, sizeof sock, "%s", t_path("bad.sock"));
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		status = srv_run("t-srv-ioc", cases[i].args, 5, &out, &err);
		snprintf(first, sizeof first, "%.*s", (int)strcspn(err, "\n"),
		    err);
		t_ok(status == 64 && strstr(first, cases[i].says) != NULL &&
		    strstr(err + strlen(first), "--port") != NULL &&
		    (out[0] == '\0' || strncmp(out, "SET ", 4) == 0) &&
		    strstr(out, "INIT") == NULL,
		    "%s: exit 64, '%s' then the usage on stderr (status %d)",
		    cases[i].what, first, status);
		if (i >= sizeof cases / sizeof cases[0] - 2)
			t_ok(strstr(first, ": bad") != NULL ||
			    strstr(first, ": 'bad'") != NULL,
			    "%s: the message ends with the value", cases[i].what);
		free(out);
		free(err);
	}
}

/* 1 if a connection to ip:port is refused. */
static int
refused(const char *ip, int port)
{
	struct conn *c = conn_tcp_once(ip, port, 0);

	if (c != NULL) {
		conn_close(c);
		return 0;
	}
	return errno == ECONNREFUSED;
}

static void
all_options(void)
{
	struct srv sv;
	char ps[16], root[PATH_MAX], real[PATH_MAX], conf[PATH_MAX];
	char want[4 * PATH_MAX + 512];
	char *out, *err;
	const char *args[] = { "-x", "-p", ps, "-i", "127.0.0.1", "-m", "5",
	    "-n", "3", "-q", "16", "-T", "7", "-f", conf, "-r", root, "-G", "hi",
	    "--shout", "--periodic", "-u", t_user(), "-g", t_group(), NULL };
	const char *l;
	struct conn *c;
	FILE *f;
	int port = t_free_port(), status;

	snprintf(ps, sizeof ps, "%d", port);
	snprintf(root, sizeof root, "%s", t_path("root"));
	snprintf(conf, sizeof conf, "%s", t_path("hsvr.conf"));
	mkdir(root, 0755);
	if (realpath(root, real) == NULL || (f = fopen(conf, "w")) == NULL)
		t_bail("cannot prepare %s", root);
	fprintf(f, "first-line-of-config\nsecond\n");
	fclose(f);
	srv_start(&sv, "t-srv-ioc", args);
	c = conn_must(conn_tcp("127.0.0.1", port, 20), &sv);
	t_ok(conn_line(c, line, sizeof line, 10) == 0 &&
	    strcmp(line, "HELLO hi") == 0, "-G hi: the application's set() "
	    "received \"hi\" (%s)", line);
	t_ok(refused("::1", port), "-i 127.0.0.1: ::1 is refused");
	out = srv_out(&sv);
	l = t_line(out, "INIT ", 0);
	t_note("%.*s", l ? (int)strcspn(l, "\n") : 0, l ? l : "");
	snprintf(want, sizeof want, "INIT port=%d interface=\"127.0.0.1\" "
	    "config=%s root=%s user=%s group=%s cwd=%s\n", port, conf, root,
	    t_user(), t_group(), real);
	t_ok(l != NULL && strncmp(l, want, strlen(want)) == 0,
	    "serv_port, serv_interface, serv_config_file, serv_root_dir, "
	    "serv_user, serv_group reflect -p -i -f -r -u -g, and serv_init runs "
	    "in the -r directory");
	t_ok(t_line(out, "CONFIG first=first-line-of-config", 0) != NULL,
	    "serv_init can read the -f file");
	t_ok(t_line(out, "SET greeting=hi", 0) != NULL && l != NULL &&
	    t_line(out, "SET greeting=hi", 0) < l &&
	    t_line(out, "SET shout arg=(null)", 0) != NULL,
	    "the application's set() ran before serv_init, with NULL for a flag");
	t_ok(t_line(out, "WORKER_INIT 2", 0) != NULL &&
	    t_line(out, "WORKER_INIT 3", 0) == NULL, "-n 3: serv_worker_init "
	    "for workers 0, 1, 2");
	free(out);
	conn_cmd(c, line, sizeof line, "INFO");
	snprintf(want, sizeof want, "INFO port=%d interface=\"127.0.0.1\" "
	    "config=%s root=%s user=%s group=%s", port, conf, root, t_user(),
	    t_group());
	t_ok(strcmp(line, want) == 0, "a worker sees the same serv_* values");
	t_ok(srv_wait_out(&sv, "PERIODIC n=2", 1, 10) == 0,
	    "serv_set_periodic(fn, 1) from serv_init: fn runs every second");
	conn_close(c);
	status = srv_stop_after(&sv, 1, NULL, &err);
	{
		struct tstats st;
		tstats_parse(err, &st);
		t_ok(status == 0 && st.nthreads == 3, "SIGTERM: exit 0, "
		    "statistics for 3 threads (status %d)", status);
	}
	free(err);
	srv_check_end(&sv, T_ALL_CLOSED | T_TX_EXACT);
}

/* The end of a scenario with one client c: c leaves, then the server
 * exits 0 on SIGTERM (its output in the log if anything failed). */
static void
end_served(struct srv *sv, struct conn *c)
{
	int status;

	conn_close(c);
	status = srv_stop_after(sv, 1, NULL, NULL);
	t_ok(status == 0, "exit 0 (%d)", status);
	if (t_failed())
		srv_dump(sv);
}

static void
long_options(void)
{
	struct srv sv;
	char a_port[32], a_conf[PATH_MAX + 16], a_root[PATH_MAX + 16];
	char a_user[300], a_group[300], *out;
	const char *args[] = { "--foreground", a_port, "--interface=::1",
	    "--max-connections=5", "--threads=2", "--backlog=16",
	    "--timeout=7", a_conf, a_root, "--greeting=hey", a_user, a_group,
	    NULL };
	const char *l;
	struct conn *c;
	int port = t_free_port();

	snprintf(a_port, sizeof a_port, "--port=%d", port);
	snprintf(a_conf, sizeof a_conf, "--config=%s", t_path("hsvr.conf"));
	snprintf(a_root, sizeof a_root, "--root=%s", t_path("root"));
	snprintf(a_user, sizeof a_user, "--user=%s", t_user());
	snprintf(a_group, sizeof a_group, "--group=%s", t_group());
	srv_start(&sv, "t-srv-ioc", args);
	c = conn_must(conn_tcp("::1", port, 20), &sv);
	t_ok(conn_line(c, line, sizeof line, 10) == 0 &&
	    strcmp(line, "HELLO hey") == 0, "--greeting=hey reaches set() (%s)",
	    line);
	t_ok(refused("127.0.0.1", port), "--interface=::1: 127.0.0.1 is refused");
	out = srv_out(&sv);
	l = t_line(out, "INIT ", 0);
	t_ok(l != NULL && t_num(l, "port", -1) == port &&
	    strstr(l, "interface=\"::1\"") != NULL &&
	    t_line(out, "WORKER_INIT 1", 0) != NULL &&
	    t_line(out, "WORKER_INIT 2", 0) == NULL,
	    "long options with '=': --port, --interface, --threads=2 taken");
	free(out);
	end_served(&sv, c);
}

/* 1 if port is free for the whole dual-stack wildcard. */
static int
port_free(int port)
{
	struct sockaddr_in6 a;
	int fd = socket(AF_INET6, SOCK_STREAM, 0), off = 0, ok;

	memset(&a, 0, sizeof a);
	a.sin6_family = AF_INET6;
	a.sin6_port = htons((uint16_t)port);
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
	ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

static void
defaults(void)
{
	struct srv sv;
	const char *args[] = { "-x", NULL };
	const char *l, *group = "nobody";
	char *out, want[512];
	struct passwd *pw = getpwnam("nobody");
	struct group *gr;
	struct conn *c;

	/* Where there is no group "nobody" (Debian), nobody's own group. */
	if (getgrnam("nobody") == NULL && pw != NULL &&
	    (gr = getgrgid(pw->pw_gid)) != NULL)
		group = gr->gr_name;
	if (!port_free(1966)) {
		t_note("port 1966 is in use here: the default port is not tried");
		return;
	}
	srv_start(&sv, "t-srv-ioc", args);
	c = conn_tcp("127.0.0.1", 1966, 20);
	t_ok(c != NULL && conn_cmd(c, line, sizeof line, "PING d") == 0 &&
	    strcmp(line, "PONG d") == 0, "with no option the server serves port "
	    "1966%s", geteuid() == 0 ? " (started as root, default -u/-g)" : "");
	out = srv_out(&sv);
	l = t_line(out, "INIT ", 0);
	snprintf(want, sizeof want, "INIT port=1966 interface=\"\" "
	    "config=(null) root=(null) user=nobody group=%s ", group);
	t_ok(l != NULL && strncmp(l, want, strlen(want)) == 0,
	    "defaults: serv_port \"1966\", serv_interface \"\", serv_config_file "
	    "and serv_root_dir NULL, serv_user \"nobody\", serv_group \"%s\"",
	    group);
	free(out);
	end_served(&sv, c);
}

static void
drop_privileges(void)
{
	struct srv sv;
	char ps[16];
	const char *args[] = { "-x", "-p", ps, "-u", "nobody", "-g", "nogroup",
	    NULL };
	struct passwd *pw = getpwnam("nobody");
	struct group *gr = getgrnam("nogroup");
	struct conn *c;
	int port = t_free_port();

	if (geteuid() != 0 || pw == NULL || gr == NULL) {
		t_note("not root, or no nobody/nogroup: -u/-g not tried");
		return;
	}
	snprintf(ps, sizeof ps, "%d", port);
	srv_start(&sv, "t-srv-ioc", args);
	c = conn_must(conn_tcp("127.0.0.1", port, 20), &sv);
	conn_cmd(c, line, sizeof line, "PID");
	t_ok(t_num(line, "uid", -1) == (long long)pw->pw_uid &&
	    t_num(line, "gid", -1) == (long long)gr->gr_gid, "started as root "
	    "with -u nobody -g nogroup, the server runs as %ld:%ld (%s)",
	    (long)pw->pw_uid, (long)gr->gr_gid, line);
	conn_close(c);
	srv_wait_out(&sv, "TERM id=", 1, 10);
	t_ok(srv_stop(&sv, SIGTERM, 20) == 0, "and exits 0 on SIGTERM");
	if (t_failed())
		srv_dump(&sv);
}

/* 1 once pid has exited (gone, or a zombie nobody reaps). */
static int
pid_gone(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;

	if (kill(pid, 0) != 0 && errno == ESRCH)
		return 1;
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 1;
	p = fgets(buf, sizeof buf, f);
	fclose(f);
	return p != NULL && (p = strrchr(buf, ')')) != NULL && p[2] == 'Z';
}

static void
daemon_mode(void)
{
	struct srv sv;
	char ps[16];
	const char *args[] = { "-p", ps, "-u", t_user(), "-g", t_group(), NULL };
	struct conn *c;
	pid_t launcher, pid;
	double end;
	int port = t_free_port(), status;

	snprintf(ps, sizeof ps, "%d", port);
	srv_start(&sv, "t-srv-ioc", args);
	launcher = sv.pid;
	status = srv_wait_exit(&sv, 20);
	t_ok(status == 0, "without -x the command returns 0 (%d)", status);
	if ((c = conn_tcp("127.0.0.1", port, 20)) == NULL) {
		t_ok(0, "the daemon serves");
		srv_dump(&sv);
		return;
	}
	conn_cmd(c, line, sizeof line, "PID");
	pid = (pid_t)t_num(line, "pid", 0);
	t_ok(pid > 1 && pid != launcher, "the daemon serves, from another "
	    "process (%s)", line);
	conn_close(c);
	if (pid <= 1)
		return;
	kill(pid, SIGTERM);
	end = t_now() + t_secs(20);
	while (!pid_gone(pid) && t_now() < end)
		t_pause(0.02);
	t_ok(pid_gone(pid), "the daemon exits on SIGTERM");
	if (!pid_gone(pid))
		kill(pid, SIGKILL);
}

/* A client with a small receive window, retried until the server is up. */
static struct conn *
small_window(struct srv *s, int port)
{
	double end = t_now() + t_secs(20);
	struct conn *c;

	while ((c = conn_tcp_once("127.0.0.1", port, 8192)) == NULL &&
	    t_now() < end)
		t_pause(0.02);
	return conn_must(c, s);
}

/* A client that has 800,000 bytes queued for it and reads none of them. */
static struct conn *
unread_download(struct srv *s, int port)
{
	struct conn *c = small_window(s, port);

	conn_cmd(c, line, sizeof line, "SNDBUF 16384");
	conn_sendf(c, "DOWNLOAD 800000\n");
	srv_wait_out(s, "DOWNLOAD id=", 1, 10);
	return c;
}

static void
terminate(void)
{
	struct srv st, sg;
	char p1[16], p2[16], *out;
	const char *a_t[] = { "-x", "-t", "-p", p1, "-u", t_user(), "-g",
	    t_group(), NULL };
	const char *a_g[] = { "-x", "-p", p2, "-u", t_user(), "-g", t_group(),
	    NULL };
	const char *why;
	struct conn *ct, *cg;
	size_t got;
	int status, alive;

	snprintf(p1, sizeof p1, "%d", t_free_port());
	snprintf(p2, sizeof p2, "%d", t_free_port());
	srv_start(&st, "t-srv-ioc", a_t);
	srv_start(&sg, "t-srv-ioc", a_g);
	ct = unread_download(&st, atoi(p1));
	cg = unread_download(&sg, atoi(p2));

	status = srv_stop(&st, SIGTERM, 5);
	t_ok(status == 0, "-t: SIGTERM ends the server at once, exit 0, though "
	    "its client has output left unread (%d)", status);

	kill(sg.pid, SIGTERM);
	t_pause(0.5);
	alive = srv_alive(&sg);
	t_ok(alive, "without -t: after SIGTERM the server keeps running while "
	    "its client has output left to read");
	got = conn_read_pattern(cg, 0, 1000000, 20, &why);
	t_ok(got == 800000 && strcmp(why, "eof") == 0, "without -t: the drain "
	    "(serv_on_drain's default S_close) writes the queued output, then "
	    "closes (%zu bytes, %s)", got, why);
	status = srv_wait_exit(&sg, 20);
	out = srv_out(&sg);
	t_ok(status == 0 && t_line(out, "TERM id=", 0) != NULL &&
	    t_line(out, "SERV_EXIT", 0) != NULL, "without -t: then serv_on_term, "
	    "serv_exit and exit 0 (%d)", status);
	free(out);
	conn_close(ct);
	conn_close(cg);
	if (t_failed()) {
		srv_dump(&st);
		srv_dump(&sg);
	}
}

static void
start_errors(void)
{
	struct sockaddr_in6 a;
	char ps[16], dir[PATH_MAX], first[512], *out, *err;
	const char *a_root[] = { "-x", "-p", ps, "-r", dir, NULL };
	const char *a_busy[] = { "-x", "-p", ps, "-u", t_user(), "-g",
	    t_group(), NULL };
	int port = t_free_port(), fd, off = 0, status;

	snprintf(ps, sizeof ps, "%d", port);
	snprintf(dir, sizeof dir, "%s", t_path("no-such-dir"));
	status = srv_run("t-srv-ioc", a_root, 20, &out, &err);
	snprintf(first, sizeof first, "%.*s", (int)strcspn(err, "\n"), err);
	t_ok(status > 0 && strstr(first, "no-such-dir") &&
	    strstr(out, "INIT") == NULL, "-r to a missing directory: '%s', "
	    "exit %d, serv_init not run", first, status);
	free(out);
	free(err);

	fd = socket(AF_INET6, SOCK_STREAM, 0);
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
	memset(&a, 0, sizeof a);
	a.sin6_family = AF_INET6;
	a.sin6_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 1) != 0)
		t_bail("cannot hold port %d", port);
	status = srv_run("t-srv-ioc", a_busy, 20, &out, &err);
	snprintf(first, sizeof first, "%.*s", (int)strcspn(err, "\n"), err);
	t_ok(status > 0 && strstr(err, ps) != NULL, "a port in use: '%s', "
	    "exit %d", first, status);
	free(out);
	free(err);
	close(fd);
}

int
main(int argc, char **argv)
{
	t_init(argc, argv);
	help_and_version();
	bad_options();
	all_options();
	long_options();
	defaults();
	drop_privileges();
	daemon_mode();
	terminate();
	start_errors();
	return t_done();
}
