/*
 * dsrv.c - t-dsrv, the daemon tests' server: serv_* hooks on the library's
 * main().  Each hook appends one line to a trace file saying when, where
 * and as whom it ran; the connection protocol lets a test ask the serving
 * process who it is, make it send a long checkable stream, hold a session
 * open through a drain, log through serv_log, or crash.
 *
 * Trace (the -f FILE, opened by serv_init as the starting user and kept
 * open, so the unprivileged serving process still writes to it): one line
 * per hook, "EVENT key=value ...", written with a single write(2):
 *   init         serv_init
 *   worker_init  serv_worker_init, at its end (worker=N
 *                regain=denied|POSSIBLE:...)
 *   reload       serv_on_reload
 *   drain        serv_on_drain (id= keep= busy=)
 *   term         serv_on_term (id= tx=)
 *   exit         serv_exit (stats_rc= accept_counter=: S_stats there)
 * Every line has pid ppid sid pgid uid=r,e,s gid=r,e,s groups=a,b cwd=
 * stderr= (where fd 2 points) umask= listening=0|1 (can 127.0.0.1:-p, or
 * --probe-unix PATH, be connected to now; init and worker_init only, -1
 * elsewhere) pidfile= (first line of --probe-pidfile PATH, or "absent",
 * or "unreadable") t= (monotonic nanoseconds).
 *
 * Protocol: '\n'-terminated commands, answered with one line:
 *   pid           "pid=N"
 *   ids           "pid=N uid=r,e,s gid=r,e,s groups=... regain=..."
 *   keep          "ok": serv_on_drain leaves this session open; it ends
 *                 when the peer closes (or at the drain timeout)
 *   big N         N bytes of pat_byte(), paced by S_send's -4 and
 *                 TYP_SENDABLE, then the session closes; serv_on_drain
 *                 lets the transfer finish
 *   log TEXT      serv_log(LOG_NOTICE, "dsrv: TEXT"), then "ok"
 *   crash [SIG]   the serving process dies of signal SIG (default SEGV,
 *                 by a real invalid access), with the default action
 *                 restored and the signal unblocked first, so that
 *                 neither a sanitizer's handler nor a signal
 *                 mask turns it into something else
 *   echo TEXT     "TEXT"
 *   version       "version=N": N is DSRV_VARIANT (the upgrade test builds
 *                 this file three times: 1, 2, and 3, whose serving
 *                 process fails to start as with --fail-start)
 *   hang          "hanging", then the hook never returns (its worker is
 *                 stuck: only the supervisor's SIGKILL ends the process)
 *   sigs          "worker SigBlk: X" (the mask of the worker thread running
 *                 the callback), then what a program run from the callback
 *                 (popen) says of itself: "SigBlk: X SigIgn: Y"
 *   try CALL [PATH] make a system call a sandbox may refuse and answer
 *                 "CALL=ok" or "CALL=ERRNO-NAME": execve (of a path that
 *                 does not exist: ENOENT unless refused), netlink and
 *                 packet (socket(2) of AF_NETLINK, AF_PACKET), ptrace
 *                 (PTRACE_TRACEME), mkdir PATH
 * Application options: --name NAME (serv_set_name, default "dsrv"),
 * --probe-pidfile PATH, --probe-unix PATH, --slow-start MS (each
 * serv_worker_init first sleeps MS milliseconds, then traces), --fail-start
 * (then worker 0's serv_worker_init logs an error and the serving process
 * exits 3), --stats-thread (worker 0's serv_worker_init starts a thread
 * that calls S_stats without pause until the process exits),
 * --seccomp-allow NAME (serv_seccomp_allow(NAME) in serv_init;
 * the init line traces allow_bad=, what it says for a name that is no
 * system call), --seccomp-allow-worker NAME (the same in worker 1's
 * serv_worker_init), --pattern-file N (serv_init writes N bytes of
 * pat_byte() to an unlinked file, and "big" sends from it with
 * S_send_file: the sendfile path).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* getresuid, struct ucred */
#endif

#include "hsvr.h"
#include "../tline.h"
#include "../topt.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "../pattern.h"

#ifndef DSRV_VARIANT
#define DSRV_VARIANT 1
#endif

#define CHUNK (256 * 1024)
#define LINE_MAX_LEN 512

struct sess {
	char line[LINE_MAX_LEN];
	size_t len;
	int keep;
	unsigned long long big_total, big_off;
	unsigned char *chunk;
};

static const char *name = "dsrv";
static const char *probe_pidfile;
static const char *probe_unix;
static int fail_start;
static int slow_start_ms;
static int stats_thread;
static int trace_fd = -1;
static const char *allow_init, *allow_worker;
static unsigned long long pattern_size;
static int pattern_fd = -1;

static int
set_name(const char *arg)
{
	if (arg == NULL || *arg == '\0')
		return -1;
	name = arg;
	return 0;
}

TOPT_TEXT(set_probe_pidfile, probe_pidfile)

TOPT_TEXT(set_probe_unix, probe_unix)

TOPT_FLAG(set_fail_start, fail_start)

TOPT_FLAG(set_stats_thread, stats_thread)

/* S_stats from a thread of the application, through the shutdown too. */
static void *
stats_loop(void *arg)
{
	S_STATS st;

	(void)arg;
	for (;;) {
		(void)S_stats(&st);
		sched_yield();
	}
	return NULL;
}

TOPT_INT(set_slow_start, slow_start_ms, 0, 60000)

TOPT_TEXT(set_allow, allow_init)

TOPT_TEXT(set_allow_worker, allow_worker)

static int
set_pattern_file(const char *arg)
{
	char *end;

	pattern_size = strtoull(arg, &end, 10);
	return *arg == '\0' || *end != '\0' || pattern_size == 0 ||
	    pattern_size > 1ULL << 30 ? -1 : 0;
}

const struct serv_option *
serv_options(void)
{
	static const struct serv_option options[] = {
		{ "name", 0, "NAME", "serv_set_name(NAME) (default dsrv)",
		    set_name },
		{ "probe-pidfile", 0, "PATH", "trace the content of PATH",
		    set_probe_pidfile },
		{ "probe-unix", 0, "PATH", "trace whether PATH accepts",
		    set_probe_unix },
		{ "fail-start", 0, NULL, "the serving process fails to start",
		    set_fail_start },
		{ "slow-start", 0, "MS", "serv_worker_init takes MS ms",
		    set_slow_start },
		{ "stats-thread", 0, NULL, "a thread calls S_stats all along",
		    set_stats_thread },
		{ "seccomp-allow", 0, "NAME", "serv_seccomp_allow(NAME) in "
		    "serv_init", set_allow },
		{ "seccomp-allow-worker", 0, "NAME", "serv_seccomp_allow(NAME) "
		    "in worker 1's serv_worker_init", set_allow_worker },
		{ "pattern-file", 0, "N", "big sends from a file of N pattern "
		    "bytes (S_send_file)", set_pattern_file },
		{ NULL, 0, NULL, NULL, NULL }
	};

	return options;
}

/* ------------------------------------------------------------- tracing */

static int
listening(void)
{
	struct sockaddr_in sin;
	struct sockaddr_un sun;
	int fd, rc;

	if (probe_unix != NULL) {
		memset(&sun, 0, sizeof sun);
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof sun.sun_path, "%s", probe_unix);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		rc = fd >= 0 && connect(fd, (struct sockaddr *)&sun,
		    sizeof sun) == 0;
	} else {
		memset(&sin, 0, sizeof sin);
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin.sin_port = htons((uint16_t)atoi(serv_port));
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		rc = fd >= 0 && connect(fd, (struct sockaddr *)&sin,
		    sizeof sin) == 0;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

static void
pidfile_text(char *buf, size_t len)
{
	FILE *f;
	char *nl;

	snprintf(buf, len, "none");
	if (probe_pidfile == NULL)
		return;
	if ((f = fopen(probe_pidfile, "r")) == NULL) {
		snprintf(buf, len, "%s", errno == ENOENT ? "absent" :
		    "unreadable");
		return;
	}
	if (fgets(buf, (int)len, f) == NULL)
		snprintf(buf, len, "empty");
	fclose(f);
	if ((nl = strchr(buf, '\n')) != NULL)
		*nl = '\0';
}

static void
umask_text(char *buf, size_t len)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	snprintf(buf, len, "?");
	while (f != NULL && fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "Umask: %15s", buf) == 1)
			break;
	if (f != NULL)
		fclose(f);
}

static void
groups_text(char *buf, size_t len)
{
	gid_t g[64];
	int i, n = getgroups(64, g);
	size_t used = 0;

	buf[0] = '\0';
	for (i = 0; i < n && used + 12 < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%u",
		    i ? "," : "", (unsigned)g[i]);
	if (n <= 0)
		snprintf(buf, len, "-");
}

static void
ids_text(char *buf, size_t len)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	char groups[256];

	getresuid(&ru, &eu, &su);
	getresgid(&rg, &eg, &sg);
	groups_text(groups, sizeof groups);
	snprintf(buf, len, "uid=%u,%u,%u gid=%u,%u,%u groups=%s",
	    (unsigned)ru, (unsigned)eu, (unsigned)su, (unsigned)rg,
	    (unsigned)eg, (unsigned)sg, groups);
}

/*
 * probe: also say whether the server accepts (only from hooks that run
 * before any connection, or a self-connection would trace itself).
 */
static void __attribute__((format(printf, 3, 4)))
trace(const char *event, int probe, const char *fmt, ...)
{
	char line[2048], extra[512] = "", ids[384], cwd[PATH_MAX], fd2[PATH_MAX];
	char pf[64], um[16];
	struct timespec ts;
	ssize_t n;
	va_list ap;

	if (trace_fd < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(extra, sizeof extra, fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (getcwd(cwd, sizeof cwd) == NULL)
		snprintf(cwd, sizeof cwd, "?");
	n = readlink("/proc/self/fd/2", fd2, sizeof fd2 - 1);
	fd2[n > 0 ? n : 0] = '\0';
	ids_text(ids, sizeof ids);
	pidfile_text(pf, sizeof pf);
	umask_text(um, sizeof um);
	n = snprintf(line, sizeof line, "%s pid=%ld ppid=%ld sid=%ld pgid=%ld "
	    "%s cwd=%s stderr=%s umask=%s listening=%d pidfile=%s t=%lld%s%s\n",
	    event, (long)getpid(), (long)getppid(), (long)getsid(0),
	    (long)getpgrp(), ids, cwd, fd2, um, probe ? listening() : -1, pf,
	    (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec,
	    extra[0] ? " " : "", extra);
	if (n > 0)
		(void)!write(trace_fd, line, strlen(line));
}

/* "denied" when every way back to root fails, else what succeeded. */
static void
regain_text(char *buf, size_t len)
{
	gid_t zero = 0;

	snprintf(buf, len, "denied");
	if (setuid(0) == 0)
		snprintf(buf, len, "POSSIBLE:setuid");
	else if (seteuid(0) == 0)
		snprintf(buf, len, "POSSIBLE:seteuid");
	else if (setgid(0) == 0)
		snprintf(buf, len, "POSSIBLE:setgid");
	else if (setegid(0) == 0)
		snprintf(buf, len, "POSSIBLE:setegid");
	else if (setgroups(1, &zero) == 0)
		snprintf(buf, len, "POSSIBLE:setgroups");
	else if (getuid() == 0 || geteuid() == 0)
		snprintf(buf, len, "POSSIBLE:is-root");
}

/* --------------------------------------------------------------- hooks */

/* --pattern-file: an unlinked file holding the pattern's first bytes. */
static void
make_pattern_file(void)
{
	char path[] = "/tmp/dsrv-pattern.XXXXXX";
	unsigned char buf[65536];
	unsigned long long off, i;
	size_t n;

	if ((pattern_fd = mkstemp(path)) < 0) {
		perror("dsrv: mkstemp");
		exit(1);
	}
	unlink(path);
	for (off = 0; off < pattern_size; off += n) {
		n = pattern_size - off < sizeof buf ? (size_t)(pattern_size -
		    off) : sizeof buf;
		for (i = 0; i < n; i++)
			buf[i] = pat_byte(off + i);
		if (write(pattern_fd, buf, n) != (ssize_t)n) {
			perror("dsrv: pattern file");
			exit(1);
		}
	}
}

void
serv_init(void)
{
	serv_set_name(name);
	if (serv_config_file != NULL)
		trace_fd = open(serv_config_file,
		    O_WRONLY | O_APPEND | O_CLOEXEC);
	if (pattern_size > 0)
		make_pattern_file();
	trace("init", 1, "name=%s allow=%d allow_bad=%d", name,
	    allow_init != NULL ? serv_seccomp_allow(allow_init) : 0,
	    serv_seccomp_allow("no_such_system_call"));
}

void
serv_worker_init(int worker)
{
	char regain[64];

	if (slow_start_ms > 0)
		usleep((useconds_t)slow_start_ms * 1000);
	regain_text(regain, sizeof regain);
	trace("worker_init", 1, "worker=%d regain=%s allow=%d", worker, regain,
	    allow_worker != NULL && worker == 1 ?
	    serv_seccomp_allow(allow_worker) : 0);
	if (stats_thread && worker == 0) {
		pthread_t t;

		if (pthread_create(&t, NULL, stats_loop, NULL) == 0)
			pthread_detach(t);
	}
	if ((fail_start || DSRV_VARIANT == 3) && worker == 0) {
		serv_log(LOG_ERR, "dsrv: cannot start: --fail-start given");
		_exit(3);
	}
}

void
serv_exit(void)
{
	S_STATS st;
	int rc = S_stats(&st);

	trace("exit", 0, "serv_exit=1 stats_rc=%d accept_counter=%llu", rc,
	    rc == 0 ? (unsigned long long)st.accept_counter : 0ULL);
}

void
serv_on_reload(void)
{
	trace("reload", 0, "serv_on_reload=1");
}

void
serv_on_accept(SESSION *s)
{
	s->usr = calloc(1, sizeof(struct sess));
	if (s->usr == NULL)
		S_close(s);
}

#define reply(s, ...) (void)tline_send(tline_s_send, s, NULL, __VA_ARGS__)

/* Queue the rest of a "big" transfer until S_send pushes back. */
static void
pump(SESSION *s, struct sess *st)
{
	unsigned long long left;
	size_t n, i;
	int rc;

	while (st->big_off < st->big_total) {
		left = st->big_total - st->big_off;
		n = left < CHUNK ? (size_t)left : CHUNK;
		if (pattern_fd >= 0 && st->big_total <= pattern_size) {
			rc = S_send_file(s, pattern_fd, (off_t)st->big_off, n,
			    NULL, NULL);
		} else {
			for (i = 0; i < n; i++)
				st->chunk[i] = pat_byte(st->big_off + i);
			rc = S_send(s, st->chunk, n);
		}
		if (rc == S_ERR_CONGESTED)
			return;         /* TYP_SENDABLE goes on */
		if (rc != S_OK) {
			S_close(s);
			return;
		}
		st->big_off += n;
	}
	S_close(s);
}

/*
 * Die of sig like a crash would: the default action restored (a
 * sanitizer's handler must not turn it into an exit) and the signal
 * unblocked (in case a mask holds it); SIGSEGV by a real fault.
 */
static int *volatile nowhere;

static void
crash(int sig)
{
	sigset_t set;

	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (sig == SIGSEGV) {
		/* A page with no access: a real fault, yet no null pointer
		 * for UBSan to stop at first. */
		nowhere = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
		if (nowhere != MAP_FAILED)
			*nowhere = 1;
	}
	raise(sig);
}

/* "try CALL [PATH]": the call's outcome, "ok" or the errno's name. */
static void
try_call(SESSION *s, const char *what)
{
	char *const argv[] = { "hsvr-no-such-program", NULL };
	const char *err = "ok";
	int rc = -1, fd;

	errno = 0;
	if (strcmp(what, "execve") == 0) {
		rc = execve("/nonexistent/hsvr-no-such-program", argv, argv + 1);
	} else if (strcmp(what, "netlink") == 0 || strcmp(what, "packet") == 0) {
		fd = socket(what[0] == 'n' ? AF_NETLINK : AF_PACKET,
		    SOCK_RAW | SOCK_CLOEXEC, 0);
		if (fd >= 0)
			close(fd);
		rc = fd >= 0 ? 0 : -1;
	} else if (strcmp(what, "ptrace") == 0) {
		rc = (int)ptrace(PTRACE_TRACEME, 0, NULL, NULL);
	} else if (strncmp(what, "mkdir ", 6) == 0) {
		rc = mkdir(what + 6, 0700);
	} else {
		reply(s, "unknown call '%s'", what);
		return;
	}
	if (rc != 0)
		err = errno == EPERM ? "EPERM" : errno == ENOENT ? "ENOENT" :
		    errno == EACCES ? "EACCES" : errno == ENOSYS ? "ENOSYS" :
		    strerror(errno);
	reply(s, "%.*s=%s", (int)strcspn(what, " "), what, err);
}

static void
command(SESSION *s, struct sess *st, char *line)
{
	char text[1024];
	int sig;

	if (strcmp(line, "pid") == 0) {
		reply(s, "pid=%ld", (long)getpid());
	} else if (strcmp(line, "version") == 0) {
		reply(s, "version=%d", DSRV_VARIANT);
	} else if (strcmp(line, "ids") == 0) {
		char regain[64];

		ids_text(text, sizeof text);
		regain_text(regain, sizeof regain);
		reply(s, "pid=%ld %s regain=%s", (long)getpid(), text, regain);
	} else if (strcmp(line, "keep") == 0) {
		st->keep = 1;
		reply(s, "ok");
	} else if (strncmp(line, "big ", 4) == 0) {
		st->big_total = strtoull(line + 4, NULL, 10);
		st->big_off = 0;
		if (st->chunk == NULL && (st->chunk = malloc(CHUNK)) == NULL) {
			S_close(s);
			return;
		}
		pump(s, st);
	} else if (strncmp(line, "log ", 4) == 0) {
		serv_log(LOG_NOTICE, "dsrv: %s", line + 4);
		reply(s, "ok");
	} else if (strncmp(line, "crash", 5) == 0) {
		sig = line[5] == ' ' ? atoi(line + 6) : SIGSEGV;
		if (sig <= 0 || sig >= NSIG)
			sig = SIGSEGV;
		crash(sig);
		reply(s, "still alive after signal %d", sig);
	} else if (strncmp(line, "echo ", 5) == 0) {
		reply(s, "%s", line + 5);
	} else if (strcmp(line, "sigs") == 0) {
		FILE *p, *me = fopen("/proc/thread-self/status", "r");
		char l[128], out[256] = "";
		size_t used = 0;

		while (me != NULL && fgets(l, sizeof l, me) != NULL)
			if (strncmp(l, "SigBlk:", 7) == 0) {
				l[strcspn(l, "\n")] = '\0';
				used = (size_t)snprintf(out, sizeof out,
				    "worker %s", l);
			}
		if (me != NULL)
			fclose(me);
		p = popen("grep -E '^Sig(Blk|Ign):' /proc/self/status", "r");

		while (p != NULL && fgets(l, sizeof l, p) != NULL &&
		    used < sizeof out - 1) {
			l[strcspn(l, "\n")] = '\0';
			used += (size_t)snprintf(out + used, sizeof out - used,
			    "%s%s", used ? " " : "", l);
			if (used >= sizeof out)
				used = sizeof out - 1;
		}
		if (p != NULL)
			pclose(p);
		for (used = 0; out[used] != '\0'; used++)
			if (out[used] == '\t')
				out[used] = ' ';
		reply(s, "%s", out[0] ? out : "no answer");
	} else if (strncmp(line, "try ", 4) == 0) {
		try_call(s, line + 4);
	} else if (strcmp(line, "hang") == 0) {
		reply(s, "hanging");
		for (;;)        /* a hook that never returns */
			pause();
	} else {
		reply(s, "unknown command '%s'", line);
	}
}

void
serv_on_read(SESSION *s)
{
	struct sess *st = s->usr;
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < s->blen; i++) {
		if (s->buff[i] == '\r')
			continue;
		if (s->buff[i] != '\n') {
			if (st->len < sizeof st->line - 1)
				st->line[st->len++] = (char)s->buff[i];
			continue;
		}
		st->line[st->len] = '\0';
		st->len = 0;
		command(s, st, st->line);
	}
}

void
serv_on_sendable(SESSION *s)
{
	struct sess *st = s->usr;

	if (st != NULL && st->big_total > 0)
		pump(s, st);
}

void
serv_on_drain(SESSION *s)
{
	struct sess *st = s->usr;
	int busy = st != NULL && st->big_off < st->big_total;

	trace("drain", 0, "id=%u keep=%d busy=%d", s->id, st ? st->keep : 0,
	    busy);
	if (st == NULL || (!st->keep && !busy))
		S_close(s);
}

void
serv_on_term(SESSION *s)
{
	struct sess *st = s->usr;

	trace("term", 0, "id=%u tx=%zu", s->id, s->txoctet);
	if (st != NULL) {
		free(st->chunk);
		free(st);
	}
	s->usr = NULL;
}
