/*
 * client.c - verdicts, child servers, blocking clients with deadlines and
 * the parsing of printed statistics, shared by the test programs.
 */
#include "client.h"
#include "freeport.h"
#include "pattern.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int t_count_ok, t_count_all;
static double t_scale = 1.0;
static char t_dir[PATH_MAX];
static char t_bindir[PATH_MAX];
static const char *t_argv0 = "test";

#define MAX_SRV 32
static struct srv *t_servers[MAX_SRV];
static int t_nservers;

/* ---- verdicts ---------------------------------------------------------- */

/* Waits up to secs for every server signalled to exit: 1 if all did. */
static int
reap_servers(double secs)
{
	double end = t_now() + secs;
	int i, left;

	for (;;) {
		left = 0;
		for (i = 0; i < t_nservers; i++) {
			struct srv *s = t_servers[i];
			if (s->pid > 0 && waitpid(s->pid, NULL, WNOHANG) == s->pid)
				s->pid = 0;
			left += s->pid > 0;
		}
		if (left == 0 || t_now() > end)
			return left == 0;
		t_pause(0.01);
	}
}

/*
 * The servers a test left running: SIGTERM (twice: the second ends an
 * IoC server's drain at once), so that they exit as servers do and write
 * their coverage counts (make coverage); SIGKILL for any still running.
 */
static void
kill_servers(void)
{
	int i, round;

	for (round = 0; round < 2; round++) {
		for (i = 0; i < t_nservers; i++)
			if (t_servers[i]->pid > 0)
				kill(t_servers[i]->pid, SIGTERM);
		if (reap_servers(round == 0 ? 1 : 2))
			return;
	}
	for (i = 0; i < t_nservers; i++) {
		struct srv *s = t_servers[i];
		if (s->pid > 0) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, NULL, 0);
			s->pid = 0;
		}
	}
}

static void
remove_tmpdir(void)
{
	DIR *d;
	struct dirent *e;
	char p[PATH_MAX + 260];

	if (t_dir[0] == '\0' || (d = opendir(t_dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof p, "%s/%s", t_dir, e->d_name);
		if (unlink(p) != 0)
			rmdir(p);
	}
	closedir(d);
	rmdir(t_dir);
}

static void
t_atexit(void)
{
	kill_servers();
	if (t_count_ok == t_count_all)
		remove_tmpdir();
	else
		printf("# server output kept in %s\n", t_dir);
	fflush(stdout);
}

static void
t_watchdog(int sig)
{
	static const char msg[] = "Bail out! the test ran past its time limit\n";
	int i;

	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof msg - 1) < 0)
		_exit(1);
	for (i = 0; i < t_nservers; i++)
		if (t_servers[i]->pid > 0)
			kill(t_servers[i]->pid, SIGKILL);
	_exit(1);
}

void
t_init(int argc, char **argv)
{
	const char *e, *tmp, *base;
	char *slash;

	(void)argc;
	t_argv0 = argv[0];
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if ((e = getenv("HSVR_TEST_SCALE")) != NULL && atof(e) >= 1.0)
		t_scale = atof(e);
	if ((e = getenv("HSVR_TEST_BINDIR")) != NULL && *e != '\0') {
		snprintf(t_bindir, sizeof t_bindir, "%s", e);
	} else {
		snprintf(t_bindir, sizeof t_bindir, "%s", argv[0]);
		if ((slash = strrchr(t_bindir, '/')) != NULL)
			*slash = '\0';
		else
			snprintf(t_bindir, sizeof t_bindir, ".");
	}
	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
		tmp = "/tmp";
	base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	snprintf(t_dir, sizeof t_dir, "%s/hsvr-%s-XXXXXX", tmp, base);
	if (mkdtemp(t_dir) == NULL) {
		printf("Bail out! mkdtemp %s: %s\n", t_dir, strerror(errno));
		exit(1);
	}
	chmod(t_dir, 0755);     /* servers may run as nobody */
	atexit(t_atexit);
	signal(SIGALRM, t_watchdog);
	alarm((unsigned)(240 * t_scale));
	t_note("%s: scratch %s, time scale %.1f", base, t_dir, t_scale);
}

int
t_ok(int cond, const char *fmt, ...)
{
	va_list ap;

	t_count_all++;
	if (cond)
		t_count_ok++;
	printf("%sok %d - ", cond ? "" : "not ", t_count_all);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	return cond;
}

void
t_note(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

void
t_bail(const char *fmt, ...)
{
	va_list ap;

	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	t_count_all++;          /* keeps the scratch directory */
	exit(1);
}

int
t_done(void)
{
	printf("1..%d\n", t_count_all);
	printf("# %d passed, %d failed\n", t_count_ok, t_count_all - t_count_ok);
	return t_count_ok == t_count_all && t_count_all > 0 ? 0 : 1;
}

int
t_main(int argc, char **argv, t_scenario *const *scenarios)
{
	t_init(argc, argv);
	while (*scenarios != NULL)
		(*scenarios++)();
	return t_done();
}

int
t_main_on(int argc, char **argv, t_scenario_on *scenario,
    const char *const *args, size_t n)
{
	size_t i;

	t_init(argc, argv);
	for (i = 0; i < n; i++)
		scenario(args[i]);
	return t_done();
}

int
t_failed(void)
{
	return t_count_all - t_count_ok;
}

double
t_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double
t_secs(double base)
{
	return base * t_scale;
}

void
t_pause(double secs)
{
	t_pause_unless(secs, NULL);
}

void
t_pause_unless(double secs, volatile sig_atomic_t *stop)
{
	struct timespec ts;

	if (secs <= 0)
		return;
	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR &&
	    (stop == NULL || !*stop))
		;
}

/* dir/name in the next of 8 static buffers. */
static const char *
path_in(const char *dir, const char *name)
{
	static char bufs[8][PATH_MAX + 64];
	static int next;
	char *b = bufs[next++ % 8];

	snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
	return b;
}

const char *
t_path(const char *name)
{
	return path_in(t_dir, name);
}

const char *
t_tmpdir(void)
{
	return t_dir;
}

/* ---- text --------------------------------------------------------------- */

int
t_count(const char *text, const char *needle)
{
	int n = 0;
	size_t len = strlen(needle);

	if (len == 0)
		return 0;
	while ((text = strstr(text, needle)) != NULL) {
		n++;
		text += len;
	}
	return n;
}

const char *
t_line(const char *text, const char *prefix, int n)
{
	size_t len = strlen(prefix);
	const char *p = text;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, prefix, len) == 0 && n-- == 0)
			return p;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return NULL;
}

/* Where "key=" starts a word in the line at line, or NULL. */
static const char *
find_key(const char *line, const char *key)
{
	size_t len = strlen(key);
	const char *end = strchr(line, '\n');
	const char *p = line;

	if (end == NULL)
		end = line + strlen(line);
	while ((p = strstr(p, key)) != NULL && p < end) {
		if ((p == line || p[-1] == ' ' || p[-1] == '\t') && p[len] == '=')
			return p + len + 1;
		p += len;
	}
	return NULL;
}

long long
t_num(const char *line, const char *key, long long dflt)
{
	const char *v;
	char *end;
	long long n;

	if (line == NULL || (v = find_key(line, key)) == NULL)
		return dflt;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (end == v || errno != 0)
		return dflt;
	return n;
}

char *
t_word(const char *line, const char *key, char *buf, size_t cap)
{
	const char *v;
	size_t n;

	if (line == NULL || cap == 0 || (v = find_key(line, key)) == NULL)
		return NULL;
	n = strcspn(v, " \t\n");
	if (n >= cap)
		n = cap - 1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	return buf;
}

/* ---- servers -------------------------------------------------------------- */

/* As root, IoC servers must be told an unprivileged user: nobody. */
static struct passwd *
test_user(void)
{
	return geteuid() == 0 ? getpwnam("nobody") : getpwuid(getuid());
}

const char *
t_user(void)
{
	static char name[256];
	struct passwd *pw = test_user();

	if (pw != NULL)
		snprintf(name, sizeof name, "%s", pw->pw_name);
	else
		snprintf(name, sizeof name, "%ld", (long)getuid());
	return name;
}

const char *
t_group(void)
{
	static char name[256];
	struct passwd *pw = test_user();
	gid_t gid = pw != NULL ? pw->pw_gid : getgid();
	struct group *gr = getgrgid(gid);

	if (gr != NULL)
		snprintf(name, sizeof name, "%s", gr->gr_name);
	else
		snprintf(name, sizeof name, "%ld", (long)gid);
	return name;
}

const char *
t_prog(const char *name)
{
	return path_in(t_bindir, name);
}

static pid_t
spawn(const char *path, const char *const *args, const char *out,
    const char *err)
{
	char *argv[64];
	int i, fd;
	pid_t pid;
	sigset_t none;

	argv[0] = (char *)path;
	for (i = 0; args != NULL && args[i] != NULL && i < 62; i++)
		argv[i + 1] = (char *)args[i];
	argv[i + 1] = NULL;
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) != 0)
		return pid;
	/* Child: the server gets default signals, no stdin, files for output. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGALRM, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if ((fd = open("/dev/null", O_RDONLY)) >= 0) {
		dup2(fd, STDIN_FILENO);
		close(fd);
	}
	if ((fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644)) >= 0) {
		dup2(fd, STDOUT_FILENO);
		close(fd);
	}
	if ((fd = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644)) >= 0) {
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	execv(path, argv);
	dprintf(STDERR_FILENO, "cannot run %s: %s\n", path, strerror(errno));
	_exit(127);
}

int
srv_start(struct srv *s, const char *prog, const char *const *args)
{
	static int seq;
	int i;
	char line[1024];
	size_t len;

	memset(s, 0, sizeof *s);
	s->status = -1;
	snprintf(s->name, sizeof s->name, "%s", prog);
	snprintf(s->out, sizeof s->out, "%s/%s.%d.out", t_dir, prog, seq);
	snprintf(s->err, sizeof s->err, "%s/%s.%d.err", t_dir, prog, seq);
	seq++;
	len = (size_t)snprintf(line, sizeof line, "start %s", prog);
	for (i = 0; args != NULL && args[i] != NULL && len < sizeof line; i++)
		len += (size_t)snprintf(line + len, sizeof line - len, " %s",
		    args[i]);
	t_note("%s", line);
	s->pid = spawn(t_prog(prog), args, s->out, s->err);
	if (s->pid < 0) {
		s->pid = 0;
		return -1;
	}
	if (t_nservers < MAX_SRV)
		t_servers[t_nservers++] = s;
	return 0;
}

static void
record_status(struct srv *s, int st)
{
	if (WIFEXITED(st))
		s->status = WEXITSTATUS(st);
	else if (WIFSIGNALED(st))
		s->status = 128 + WTERMSIG(st);
	s->pid = 0;
}

int
srv_alive(struct srv *s)
{
	int st;

	if (s->pid <= 0)
		return 0;
	if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
		record_status(s, st);
		return 0;
	}
	return 1;
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t len = 0, cap = 4096, n;

	if ((buf = malloc(cap)) == NULL)
		abort();
	if (f != NULL) {
		while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
			len += n;
			if (cap - len < 2 && (buf = realloc(buf, cap *= 2)) == NULL)
				abort();
		}
		fclose(f);
	}
	buf[len] = '\0';
	return buf;
}

char *
srv_out(const struct srv *s)
{
	return slurp(s->out);
}

char *
srv_err(const struct srv *s)
{
	return slurp(s->err);
}

int
srv_wait_out(struct srv *s, const char *needle, int count, double timeout)
{
	double end = t_now() + t_secs(timeout);
	char *text;
	int n, dead = 0;

	for (;;) {
		text = srv_out(s);
		n = t_count(text, needle);
		free(text);
		if (n >= count)
			return 0;
		if (dead || t_now() > end)
			return -1;
		dead = !srv_alive(s);   /* one more look after it exited */
		t_pause(0.01);
	}
}

int
srv_wait_exit(struct srv *s, double timeout)
{
	double end = t_now() + t_secs(timeout);
	int st;

	while (s->pid > 0) {
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			record_status(s, st);
			break;
		}
		if (t_now() > end) {
			kill(s->pid, SIGKILL);
			waitpid(s->pid, NULL, 0);
			s->pid = 0;
			s->status = -1;
			return -1;
		}
		t_pause(0.01);
	}
	return s->status;
}

int
srv_stop(struct srv *s, int sig, double timeout)
{
	if (s->pid > 0)
		kill(s->pid, sig);
	return srv_wait_exit(s, timeout);
}

int
srv_stop_after(struct srv *s, int terms, char **out, char **err)
{
	int status;

	srv_wait_out(s, "TERM id=", terms, 10);
	status = srv_stop(s, SIGTERM, 20);
	if (out != NULL)
		*out = srv_out(s);
	if (err != NULL)
		*err = srv_err(s);
	return status;
}

static void
dump_file(const char *what, const char *path)
{
	char *text = slurp(path), *p = text, *nl;
	size_t shown = 0;

	printf("# ---- %s (%s)\n", what, path);
	while (*p != '\0' && shown < 60000) {
		if ((nl = strchr(p, '\n')) != NULL)
			*nl = '\0';
		printf("# %s\n", p);
		shown += strlen(p) + 1;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	if (shown >= 60000)
		printf("# ... (cut)\n");
	free(text);
}

void
srv_dump(const struct srv *s)
{
	dump_file("stdout of", s->out);
	dump_file("stderr of", s->err);
}

int
srv_run(const char *prog, const char *const *args, double timeout,
    char **out, char **err)
{
	struct srv *s = calloc(1, sizeof *s);
	int rc;

	if (s == NULL || srv_start(s, prog, args) != 0)
		return -1;
	rc = srv_wait_exit(s, timeout);
	if (out != NULL)
		*out = srv_out(s);
	if (err != NULL)
		*err = srv_err(s);
	return rc;              /* s stays registered (and is reaped): leaked */
}

int
srv_start_lowlevel(struct srv *s, int port, const char *limit,
    const char *threads)
{
	char ps[16];
	const char *args[4];

	if (port == 0)
		port = t_free_port();
	snprintf(ps, sizeof ps, "%d", port);
	args[0] = ps;
	args[1] = limit;
	args[2] = threads;
	args[3] = NULL;
	srv_start(s, "t-srv-lowlevel", args);
	return port;
}

int
srv_start_ioc(struct srv *s, const char *prog, ...)
{
	const char *args[SRV_IOC_MAX + 7], *a;
	char ps[16];
	va_list ap;
	int n = 0, port = 0, local = 0, i;

	args[n++] = "-x";
	va_start(ap, prog);
	while ((a = va_arg(ap, const char *)) != NULL) {
		if (n >= SRV_IOC_MAX + 1)
			t_bail("srv_start_ioc: more than %d options", SRV_IOC_MAX);
		args[n++] = a;
	}
	va_end(ap);
	for (i = 1; i < n; i++)
		if (strcmp(args[i], "-l") == 0 || strcmp(args[i], "-p") == 0)
			local = 1;
	if (!local) {
		port = t_free_port();
		snprintf(ps, sizeof ps, "%d", port);
		args[n++] = "-p";
		args[n++] = ps;
	}
	args[n++] = "-u";
	args[n++] = t_user();
	args[n++] = "-g";
	args[n++] = t_group();
	args[n] = NULL;
	srv_start(s, prog, args);
	return port;
}

int
srv_start_delayed(struct srv *s, const char *delay_us)
{
	if (setenv("HSVR_TEST_DELAY_SEND_US", delay_us, 1) != 0)
		t_bail("setenv");
	return srv_start_ioc(s, "t-srv-ioc-hooks", "-i", "127.0.0.1", "-n",
	    "2", "--accept-thread", "-T", "0", NULL);
}

int
srv_start_ioc_on(struct srv *s, const char *tr, const char *sock,
    const char **where)
{
	static char path[4400];

	if (strcmp(tr, "tcp") == 0) {
		*where = "127.0.0.1";
		return srv_start_ioc(s, "t-srv-ioc", "-i", *where, "-n", "2",
		    NULL);
	}
	snprintf(path, sizeof path, "%s", t_path(sock));
	*where = path;
	return srv_start_ioc(s, "t-srv-ioc", "-l", path, "-n", "2", NULL);
}

struct conn *
conn_must(struct conn *c, struct srv *s)
{
	if (c == NULL) {
		srv_dump(s);
		t_bail("cannot connect to %s", s->name);
	}
	return c;
}

struct conn *
srv_connect(struct srv *s, const char *ip, int port)
{
	struct conn *c = conn_tcp(ip, port, 20);

	if (c == NULL) {
		srv_dump(s);
		t_bail("cannot connect to %s at %s port %d", s->name, ip, port);
	}
	return c;
}

int
srv_end(struct srv *s, double timeout, int flags, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	int status = srv_stop(s, SIGTERM, timeout);

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	t_ok(status == 0, "%s: SIGTERM, exit status 0 (%d)", what, status);
	srv_check_end(s, flags);
	return status;
}

int
srv_end_after_terms(struct srv *s, int terms, int flags, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	srv_wait_out(s, "TERM id=", terms, 10);
	return srv_end(s, 20, flags, "%s", what);
}

long long
srv_thread_of(const struct srv *s, int lport)
{
	char *out = srv_out(s);
	long long t = t_num(t_accept_line(out, lport), "thread", -1);

	free(out);
	return t;
}

void
srv_check_end(const struct srv *s, int flags)
{
	t_check_events(s, flags);
	if (t_failed())
		srv_dump(s);
}

const char *
t_accept_line(const char *out, int port)
{
	return t_accept_line_from(out, NULL, port);
}

/*
 * The newest ACCEPT line of port (a client port can come again in one
 * test) and, unless host is NULL, of host: a client of 127.0.0.1 and one
 * of ::1 can have the same port at once.
 */
const char *
t_accept_line_from(const char *out, const char *host, int port)
{
	const char *l, *last = NULL, *end, *at;
	char want[96];
	int i;

	(void)snprintf(want, sizeof want, " host=%s port=%d ",
	    host != NULL ? host : "", port);
	for (i = 0; (l = t_line(out, "ACCEPT ", i)) != NULL; i++) {
		if (host == NULL) {
			if (t_num(l, "port", -1) == port)
				last = l;
			continue;
		}
		end = strchr(l, '\n');
		at = strstr(l, want);
		if (at != NULL && (end == NULL || at < end))
			last = l;
	}
	return last;
}

void
t_check_events(const struct srv *s, int flags)
{
	static const char *const pairs[][2] = {
		{ "rx", "app_rx" }, { "rxoctet", "app_rxoctet" },
		{ "timeout", "app_timeout" }, { "tx", "app_tx" },
		{ "txoctet", "app_txoctet" }
	};
	char *out = srv_out(s), *p, *nl;
	const char **term;      /* the (first) TERM line of each id */
	int *terms, *accepted;
	int k, nacc = 0, bad_terms = 0, bad_counts = 0, nviol = 0;
	long long id, maxid = 0;
	size_t n;

	/* One pass to size the tables by the largest id, one to fill them. */
	for (p = out; *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			break;
		if (strncmp(p, "ACCEPT ", 7) == 0 || strncmp(p, "TERM ", 5) == 0)
			if ((id = t_num(p, "id", -1)) > maxid)
				maxid = id;
	}
	n = (size_t)maxid + 1;
	term = calloc(n, sizeof *term);
	terms = calloc(n, sizeof *terms);
	accepted = calloc(n, sizeof *accepted);
	if (term == NULL || terms == NULL || accepted == NULL)
		abort();
	for (p = out; *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			break;
		if (strncmp(p, "VIOLATION", 9) == 0 && nviol++ < 20)
			t_note("%s: %.*s", s->name, (int)(nl - p), p);
		id = t_num(p, "id", -1);
		if (id < 0 || id > maxid)
			continue;
		if (strncmp(p, "ACCEPT ", 7) == 0) {
			accepted[id]++;
			nacc++;
		} else if (strncmp(p, "TERM ", 5) == 0 && terms[id]++ == 0) {
			term[id] = p;
		}
	}
	t_ok(nviol == 0, "%s: the server saw every callback as documented "
	    "(%d VIOLATION lines)", s->name, nviol);
	for (id = 0; id <= maxid; id++) {
		if (!accepted[id])
			continue;
		if (terms[id] > 1 || ((flags & T_ALL_CLOSED) && terms[id] == 0)) {
			t_note("session id=%lld: %d TYP_TERM", id, terms[id]);
			bad_terms++;
		}
		if (term[id] == NULL)
			continue;
		for (k = 0; k < 5; k++) {
			if (k >= 3 && !(flags & T_TX_EXACT))
				break;
			if (k == 2 && (flags & T_NO_TIMEOUT_HOOK))
				continue;
			if (t_num(term[id], pairs[k][0], -1) !=
			    t_num(term[id], pairs[k][1], -2)) {
				t_note("session id=%lld: SESSION.%s=%lld, the "
				    "application counted %lld", id, pairs[k][0],
				    t_num(term[id], pairs[k][0], -1),
				    t_num(term[id], pairs[k][1], -2));
				bad_counts++;
			}
		}
	}
	t_ok(bad_terms == 0, "%s: TYP_TERM %s per accepted session (%d "
	    "sessions)", s->name, flags & T_ALL_CLOSED ? "exactly once" :
	    "at most once", nacc);
	t_ok(bad_counts == 0, "%s: SESSION rx/rxoctet/timeout%s at TYP_TERM "
	    "match what the callbacks saw", s->name,
	    flags & T_TX_EXACT ? "/tx/txoctet" : "");
	free(term);
	free(terms);
	free(accepted);
	free(out);
}

/* ---- clients -------------------------------------------------------------- */

int
t_free_port(void)
{
	int port = freeport_pick();

	if (port < 0)
		t_bail("no free port: %s", strerror(errno));
	return port;
}

static struct conn *
conn_new(int fd)
{
	struct conn *c = calloc(1, sizeof *c);
	int one = 1;

	if (c == NULL)
		abort();
	c->fd = fd;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return c;
}

/* Non-blocking connect with a short deadline, then back to blocking. */
static int
connect_fd(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int fl = fcntl(fd, F_GETFL), err = 0;
	socklen_t el = sizeof err;

	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	if (connect(fd, sa, len) != 0) {
		if (errno != EINPROGRESS)
			return -1;
		if (poll(&p, 1, (int)(t_secs(5) * 1000)) != 1) {
			errno = ETIMEDOUT;
			return -1;
		}
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err != 0) {
			errno = err;
			return -1;
		}
	}
	fcntl(fd, F_SETFL, fl);
	return 0;
}

int
t_sockaddr(const char *ip, int port, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof *a4;
	} else if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof *a6;
	} else {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

struct conn *
conn_tcp_once(const char *ip, int port, int rcvbuf)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, e;

	if (t_sockaddr(ip, port, &ss, &len) != 0)
		return NULL;
	if ((fd = socket(ss.ss_family, SOCK_STREAM, 0)) < 0)
		return NULL;
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	if (connect_fd(fd, (struct sockaddr *)&ss, len) != 0) {
		e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	return conn_new(fd);
}

struct conn *
conn_tcp(const char *ip, int port, double timeout)
{
	double end = t_now() + t_secs(timeout);
	struct conn *c;

	for (;;) {
		if ((c = conn_tcp_once(ip, port, 0)) != NULL)
			return c;
		if (errno != ECONNREFUSED || t_now() > end) {
			t_note("connect %s port %d: %s", ip, port,
			    strerror(errno));
			return NULL;
		}
		t_pause(0.02);
	}
}

struct conn *
conn_unix(const char *path, double timeout)
{
	double end = t_now() + t_secs(timeout);
	struct sockaddr_un a;
	int fd;

	memset(&a, 0, sizeof a);
	a.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof a.sun_path) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	memcpy(a.sun_path, path, strlen(path));
	for (;;) {
		if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
			return NULL;
		if (connect_fd(fd, (struct sockaddr *)&a, sizeof a) == 0)
			return conn_new(fd);
		close(fd);
		if ((errno != ECONNREFUSED && errno != ENOENT) ||
		    t_now() > end) {
			t_note("connect %s: %s", path, strerror(errno));
			return NULL;
		}
		t_pause(0.02);
	}
}

int
conn_port(const struct conn *c)
{
	return t_local_port(c->fd);
}

int
t_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

int
conn_send(struct conn *c, const void *p, size_t n)
{
	const unsigned char *b = p;
	ssize_t w;

	while (n > 0) {
		w = send(c->fd, b, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int
t_sendf(t_put *put, void *c, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof buf)
		return -1;
	return put(c, buf, (size_t)n);
}

int
conn_put(void *c, const void *p, size_t n)
{
	return conn_send(c, p, n);
}

/* Fills the buffer from the socket: 1 data, 0 EOF, -1 timeout, -2 error
 * (a reset: errno says which). */
static int
fill(struct conn *c, double end)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	ssize_t r;
	double left;

	if (c->off > 0) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	for (;;) {
		left = end - t_now();
		if (left < 0)
			left = 0;
		if (poll(&p, 1, (int)(left * 1000)) == 0)
			return -1;
		r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
		if (r > 0) {
			c->len += (size_t)r;
			return 1;
		}
		if (r == 0)
			return 0;
		if (errno != EINTR && errno != EAGAIN)
			return -2;
	}
}

ssize_t
t_take_line(const unsigned char *buf, size_t *off, size_t len, char *line,
    size_t cap)
{
	const unsigned char *nl = memchr(buf + *off, '\n', len - *off);
	size_t n;

	if (nl == NULL)
		return -1;
	n = (size_t)(nl - (buf + *off));
	if (n >= cap)
		n = cap - 1;
	memcpy(line, buf + *off, n);
	line[n] = '\0';
	*off = (size_t)(nl - buf) + 1;
	return (ssize_t)n;
}

int
conn_line(struct conn *c, char *line, size_t cap, double timeout)
{
	double end = t_now() + t_secs(timeout);

	for (;;) {
		if (t_take_line(c->buf, &c->off, c->len, line, cap) >= 0)
			return 0;
		if (c->len - c->off == sizeof c->buf || fill(c, end) != 1) {
			line[0] = '\0';
			return -1;
		}
	}
}

int
conn_line_has(struct conn *c, char *line, size_t cap, const char *prefix,
    double timeout)
{
	if (conn_line(c, line, cap, timeout) != 0) {
		t_note("no line where \"%s...\" was due", prefix);
		return 0;
	}
	if (strncmp(line, prefix, strlen(prefix)) != 0) {
		t_note("got \"%s\" where \"%s...\" was due", line, prefix);
		return 0;
	}
	return 1;
}

struct conn *
conn_adopt(int fd)
{
	struct conn *c;

	if ((c = calloc(1, sizeof *c)) == NULL)
		t_bail("out of memory");
	c->fd = fd;
	return c;
}

int
conn_cmd(struct conn *c, char *reply, size_t cap, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof buf - 1)
		return -1;
	buf[n++] = '\n';
	if (conn_send(c, buf, (size_t)n) != 0)
		return -1;
	return conn_line(c, reply, cap, 10);
}

int
conn_cmd_until(struct conn *c, char *reply, size_t cap, const char *cmd,
    const char *key, long long want, double every)
{
	double end = t_now() + t_secs(10);

	do {
		if (conn_cmd(c, reply, cap, "%s", cmd) == 0 &&
		    t_num(reply, key, -1) == want)
			return 1;
		t_pause(every);
	} while (t_now() < end);
	return 0;
}

/* Up to n bytes before the absolute deadline end. */
static ssize_t
read_until(struct conn *c, void *p, size_t n, double end)
{
	size_t have;
	int r;

	if (c->len == c->off && (r = fill(c, end)) != 1) {
		if (r == -1)
			errno = ETIMEDOUT;
		return r == 0 ? 0 : -1;
	}
	have = c->len - c->off;
	if (have > n)
		have = n;
	memcpy(p, c->buf + c->off, have);
	c->off += have;
	return (ssize_t)have;
}

ssize_t
conn_read(struct conn *c, void *p, size_t n, double timeout)
{
	return read_until(c, p, n, t_now() + t_secs(timeout));
}

size_t
conn_read_pattern(struct conn *c, uint64_t off, size_t n, double timeout,
    const char **why)
{
	unsigned char buf[65536];
	size_t got = 0, bad;
	ssize_t r;
	double end = t_now() + t_secs(timeout);

	*why = "";
	while (got < n) {
		r = read_until(c, buf, n - got < sizeof buf ? n - got : sizeof buf,
		    end);
		if (r <= 0) {
			*why = r == 0 ? "eof" : errno == ETIMEDOUT ? "timeout" :
			    "reset";
			return got;
		}
		bad = pat_check(buf, off + got, (size_t)r);
		if (bad < (size_t)r) {
			*why = "mismatch";
			return got + bad;
		}
		got += (size_t)r;
	}
	return got;
}

int
conn_wait_eof(struct conn *c, double timeout)
{
	double end = t_now() + t_secs(timeout);
	int r;

	if (c->len > c->off)
		return 0;
	r = fill(c, end);
	return r == 1 ? 0 : r == 0 ? 1 : r == -2 ? 2 : -1;
}

int
conn_quiet(struct conn *c, double secs)
{
	if (c->len > c->off)
		return 0;
	return fill(c, t_now() + secs) == -1;
}

void
conn_close(struct conn *c)
{
	if (c != NULL) {
		close(c->fd);
		free(c);
	}
}

/* ---- statistics ----------------------------------------------------------- */

const char *const tstats_names[TSTATS_N] = {
	"session_gauge", "session_high", "accept_counter", "session_error",
	"rxoctet", "rxcount", "txoctet", "txcount", "rxtimeout",
	"discarded_octet", "discarded_packet", "connect_error"
};

int
tstats_parse(const char *text, struct tstats *st)
{
	const char *p, *prev = NULL, *l;
	int i, found = 0, n;
	long long v;
	char name[64];

	memset(st, 0, sizeof *st);
	st->in_order = 1;
	for (i = 0; i < TSTATS_N; i++) {
		snprintf(name, sizeof name, "%s=", tstats_names[i]);
		st->v[i] = -1;
		if ((p = t_line(text, name, 0)) == NULL) {
			st->in_order = 0;
			continue;
		}
		found++;
		st->v[i] = strtoll(p + strlen(name), NULL, 10);
		if (prev != NULL && p < prev)
			st->in_order = 0;
		prev = p;
	}
	st->threads_numbered = 1;
	st->thread_min = -1;
	for (i = 0; (l = t_line(text, "thread ", i)) != NULL && i < 256; i++) {
		if (sscanf(l, "thread %d session=%lld", &n, &v) != 2 || n != i) {
			st->threads_numbered = 0;
			continue;
		}
		if (prev != NULL && l < prev)
			st->in_order = 0;
		st->thread[i] = v;
		st->thread_sum += v;
		if (st->thread_min < 0 || v < st->thread_min)
			st->thread_min = v;
		if (v > st->thread_max)
			st->thread_max = v;
	}
	st->nthreads = i;
	return found;
}

long long
tstats(const struct tstats *st, const char *name)
{
	int i;

	for (i = 0; i < TSTATS_N; i++)
		if (strcmp(tstats_names[i], name) == 0)
			return st->v[i];
	return -1;
}
