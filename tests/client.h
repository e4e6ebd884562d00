/*
 * client.h - what every test program needs: TAP-style verdict lines, test
 * servers run as child processes (their stdout and stderr kept in files),
 * blocking clients with deadlines, and the statistics the servers print.
 *
 * Nothing here sleeps for correctness: waits poll for a condition until a
 * deadline.  Deadlines are multiplied by $HSVR_TEST_SCALE (set larger in
 * sanitizer builds).
 */
#ifndef HSVR_TEST_CLIENT_H
#define HSVR_TEST_CLIENT_H

#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define T_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* ---- verdicts ---------------------------------------------------------- */

/* Starts a test program: SIGPIPE ignored, scratch dir, watchdog alarm. */
void t_init(int argc, char **argv);
/* Prints "ok N - what" or "not ok N - what"; returns cond. */
int t_ok(int cond, const char *fmt, ...) T_PRINTF(2, 3);
/* Prints "# ..." (goes to the test's .log). */
void t_note(const char *fmt, ...) T_PRINTF(1, 2);
/* Gives up: "Bail out! ...", servers are killed, exit 1. */
_Noreturn void t_bail(const char *fmt, ...) T_PRINTF(1, 2);
/* Prints the plan; returns the exit status: 0 all passed, 1 otherwise. */
int t_done(void);
int t_failed(void);

/* The scenarios of a test program, run in order by T_MAIN. */
typedef void t_scenario(void);
/* t_init, each scenario of the NULL-terminated list, t_done: its status. */
int t_main(int argc, char **argv, t_scenario *const *scenarios);
/* main() of a test program that is its scenarios: T_MAIN(tcp, unix_socket). */
#define T_MAIN(...) \
	int main(int argc, char **argv) \
	{ \
		return t_main(argc, argv, \
		    (t_scenario *const[]){ __VA_ARGS__, NULL }); \
	}

/* One scenario run with each of several arguments (a transport, an
 * option): T_MAIN_ON(run, "tcp", "unix"). */
typedef void t_scenario_on(const char *arg);
int t_main_on(int argc, char **argv, t_scenario_on *scenario,
    const char *const *args, size_t n);
#define T_MAIN_ON(scenario, ...) \
	int main(int argc, char **argv) \
	{ \
		static const char *const args_[] = { __VA_ARGS__ }; \
\
		return t_main_on(argc, argv, scenario, args_, \
		    sizeof args_ / sizeof args_[0]); \
	}

double t_now(void);
/* A deadline or a duration, scaled by $HSVR_TEST_SCALE. */
double t_secs(double base);
/* Pacing only (a slow client, a quiet period to watch), never to wait for
 * something to happen. */
void t_pause(double secs);
/* The same, cut short by a signal whose handler set *stop. */
void t_pause_unless(double secs, volatile sig_atomic_t *stop);
/* A file name in the test's scratch directory (static buffer rotation). */
const char *t_path(const char *name);
const char *t_tmpdir(void);

/* ---- text of server output --------------------------------------------- */

/* Occurrences of needle in text. */
int t_count(const char *text, const char *needle);
/* Start of the n-th (from 0) line of text that begins with prefix, or NULL. */
const char *t_line(const char *text, const char *prefix, int n);
/* Integer value of "key=NUMBER" in the line starting at line, or dflt. */
long long t_num(const char *line, const char *key, long long dflt);
/* Text value of "key=WORD" in the line at line into buf; buf or NULL. */
char *t_word(const char *line, const char *key, char *buf, size_t cap);

/* ---- test servers -------------------------------------------------------- */

struct srv {
	pid_t pid;       /* 0 once reaped */
	int status;      /* exit code, 128+signal, or -1 while running */
	char name[64];
	char out[4400];  /* file holding its stdout */
	char err[4400];  /* file holding its stderr */
};

/* What to pass as -u/-g to IoC servers: the user and group running the
 * test, or nobody and its group when that is root (which the library
 * refuses to serve as). */
const char *t_user(void);
const char *t_group(void);

/* Path of a program built next to the tests ($HSVR_TEST_BINDIR). */
const char *t_prog(const char *name);
/* Starts tests/<prog> with the NULL-terminated argv (without argv[0]). */
int srv_start(struct srv *s, const char *prog, const char *const *args);
/* 1 while the process runs (reaps it when it has exited). */
int srv_alive(struct srv *s);
/* Its stdout / stderr so far (malloc'd, never NULL). */
char *srv_out(const struct srv *s);
char *srv_err(const struct srv *s);
/* Waits until stdout contains needle at least count times: 0, or -1. */
int srv_wait_out(struct srv *s, const char *needle, int count, double timeout);
/* Sends sig and waits for the exit: its exit code, 128+signal, or -1 if it
 * was still running at the deadline (then it is killed). */
int srv_stop(struct srv *s, int sig, double timeout);
/* The end of a scenario: once s has printed `terms` "TERM id=" lines (10 s
 * at most), srv_stop with SIGTERM (20 s); then its stdout in *out and its
 * stderr in *err (malloc'd) unless they are NULL.  As srv_stop. */
int srv_stop_after(struct srv *s, int terms, char **out, char **err);
/* Waits for an exit without signalling it; as srv_stop. */
int srv_wait_exit(struct srv *s, double timeout);
/* Copies its stdout and stderr into the log as "# " lines. */
void srv_dump(const struct srv *s);
/* Runs prog to completion: exit code (128+signal), or -1 on timeout. */
int srv_run(const char *prog, const char *const *args, double timeout,
    char **out, char **err);

/* Starts t-srv-lowlevel (S_start) on port, a free one if 0, with the
 * session limit and the number of threads: the port. */
int srv_start_lowlevel(struct srv *s, int port, const char *limit,
    const char *threads);
/* Starts an IoC test server (t-srv-ioc, t-srv-ioc-hooks...) in the
 * foreground (-x) as t_user() and t_group(), with the options given (at
 * most SRV_IOC_MAX words, then NULL) and, unless they say -p or -l, -p and
 * a free port: that port, or 0. */
#define SRV_IOC_MAX 24
int srv_start_ioc(struct srv *s, const char *prog, ...)
    __attribute__((sentinel));
/* t-srv-ioc-hooks on 127.0.0.1, two workers the accept thread feeds in
 * turn, no timeout (-T 0), and a cross-thread S_send that first sleeps
 * delay_us microseconds (HSVR_TEST_DELAY_SEND_US): its port. */
int srv_start_delayed(struct srv *s, const char *delay_us);
/* t-srv-ioc with two workers on 127.0.0.1 (tr "tcp") or on the UNIX
 * socket sock in the scratch directory (tr "unix"): its port, 0 on UNIX;
 * *where is the address or the socket's path (until the next call). */
int srv_start_ioc_on(struct srv *s, const char *tr, const char *sock,
    const char **where);
/* c, a connection to server s; if it is NULL, bails out with the
 * server's output in the log. */
struct conn *conn_must(struct conn *c, struct srv *s);
/* Connects to server s (conn_tcp, 20 s); bails out, its output in the
 * log, if that fails. */
struct conn *srv_connect(struct srv *s, const char *ip, int port);
/* Verdicts on a test server's event lines (see tserver.h): no VIOLATION
 * line; at most one TERM per ACCEPT id (exactly one with T_ALL_CLOSED);
 * in each TERM line the library's rx, rxoctet and timeout counters equal
 * the application's, and with T_TX_EXACT tx and txoctet too. */
#define T_ALL_CLOSED 1
#define T_TX_EXACT 2
#define T_NO_TIMEOUT_HOOK 4     /* no callback counts TYP_TIMEOUT */
void t_check_events(const struct srv *s, int flags);
/* The ACCEPT line of the connection from local port port (the newest such
 * line: a port can come again in one test), or NULL. */
const char *t_accept_line(const char *out, int port);
/* The same, of host ("127.0.0.1", "::1") too: two clients of two addresses
 * can have one port at once. */
const char *t_accept_line_from(const char *out, const char *host, int port);
/* The end of a test server: SIGTERM, a verdict that it exits 0 (the
 * printf-like fmt says which server), srv_check_end.  Its exit status. */
int srv_end(struct srv *s, double timeout, int flags, const char *fmt, ...)
    T_PRINTF(4, 5);
/* The end once clients closed: wait up to 10 s for terms TERM lines in
 * all, then srv_end (20 s). */
int srv_end_after_terms(struct srv *s, int terms, int flags,
    const char *fmt, ...) T_PRINTF(4, 5);
/* The thread= of the session from local port lport (its ACCEPT line), or
 * -1. */
long long srv_thread_of(const struct srv *s, int lport);
/* t_check_events, then the server's output into the log if any check of
 * the test failed so far. */
void srv_check_end(const struct srv *s, int flags);

/* ---- clients --------------------------------------------------------------- */

struct conn {
	int fd;
	size_t off, len;
	unsigned char buf[65536];
};

/* The IPv4 or IPv6 address ip (numeric) with port into *ss and *len: 0,
 * or -1 (errno EINVAL) if ip is neither. */
int t_sockaddr(const char *ip, int port, struct sockaddr_storage *ss,
    socklen_t *len);
/* If buf holds a whole line from *off to len: that line without its '\n'
 * into line (cut to cap - 1), *off past the '\n', and the length copied;
 * otherwise -1. */
ssize_t t_take_line(const unsigned char *buf, size_t *off, size_t len,
    char *line, size_t cap);
/* A port that nothing listens on right now (IPv4 and IPv6). */
int t_free_port(void);
/* Connects, retrying while refused, until timeout; NULL on failure. */
struct conn *conn_tcp(const char *ip, int port, double timeout);
/* One attempt; rcvbuf > 0 sets SO_RCVBUF first.  NULL, errno set. */
struct conn *conn_tcp_once(const char *ip, int port, int rcvbuf);
struct conn *conn_unix(const char *path, double timeout);
/* The local port of the connection, of socket fd: -1 on error, 0 if it
 * is no IP socket. */
int conn_port(const struct conn *c);
int t_local_port(int fd);
int conn_send(struct conn *c, const void *p, size_t n);
/* Where t_sendf hands the text: n bytes at p for connection c; 0 or -1. */
typedef int t_put(void *c, const void *p, size_t n);
/* fmt (at most 4 KiB) to put(c, ...): its result, or -1 if it did not fit. */
int t_sendf(t_put *put, void *c, const char *fmt, ...) T_PRINTF(3, 4);
/* conn_send as a t_put, and printf-like. */
int conn_put(void *c, const void *p, size_t n);
#define conn_sendf(c, ...) t_sendf(conn_put, c, __VA_ARGS__)
/* One line without its '\n': 0, or -1 on timeout, EOF or error. */
int conn_line(struct conn *c, char *line, size_t cap, double timeout);
/* The next line (into line) begins with prefix: 1; else 0, with a note
 * saying what came instead. */
int conn_line_has(struct conn *c, char *line, size_t cap, const char *prefix,
    double timeout);
/* A connection of the socket fd, made elsewhere (accept, bind first). */
struct conn *conn_adopt(int fd);
/* Sends a line (fmt, '\n' added) and reads the reply line: 0 or -1. */
int conn_cmd(struct conn *c, char *reply, size_t cap, const char *fmt, ...)
    T_PRINTF(4, 5);
/* Sends cmd every `every` s, for at most 10 s (scaled), until its reply
 * (left in reply) has key=want: 1, or 0 if it never had. */
int conn_cmd_until(struct conn *c, char *reply, size_t cap, const char *cmd,
    const char *key, long long want, double every);
/* Up to n bytes: > 0, 0 on EOF, -1 on timeout or error. */
ssize_t conn_read(struct conn *c, void *p, size_t n, double timeout);
/* Reads n bytes and checks them against the pattern from offset off.
 * Returns the number of bytes that arrived and matched (n if all did);
 * *why says what stopped it ("", "timeout", "eof", "reset", "mismatch"). */
size_t conn_read_pattern(struct conn *c, uint64_t off, size_t n,
    double timeout, const char **why);
/* 1 on EOF, 2 on a reset, 0 if data arrived, -1 on timeout. */
int conn_wait_eof(struct conn *c, double timeout);
/* 1 if nothing at all arrives for secs, 0 otherwise. */
int conn_quiet(struct conn *c, double secs);
void conn_close(struct conn *c);

/* ---- statistics as the servers print them ------------------------------------ */

#define TSTATS_N 12
extern const char *const tstats_names[TSTATS_N];

struct tstats {
	long long v[TSTATS_N];    /* -1 when absent */
	int in_order;             /* the names appear in the documented order */
	int nthreads;             /* "thread N session=M" lines */
	int threads_numbered;     /* they are numbered 0, 1, ... in order */
	long long thread[256];
	long long thread_sum, thread_min, thread_max;
};

/* Parses name=value and thread lines; returns how many names were found. */
int tstats_parse(const char *text, struct tstats *st);
long long tstats(const struct tstats *st, const char *name);

#endif /* HSVR_TEST_CLIENT_H */
