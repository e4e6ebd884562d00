/*
 * upgrade.c - SIGUSR2's in-place upgrade: the binary the server was
 * started from is run first in check mode (as `nginx -t`), then executed
 * in place, keeping the pid, with what the new image adopts (listening
 * sockets, pidfile, serving processes) described in HSVR_UPGRADE.
 *
 * HSVR_UPGRADE is "check" for the check, else words "key=value": fds=
 * the descriptors carried (comma-separated), and what each part wrote
 * (listen.c l= u= m= mu=, pidfile.c p=, the supervisor's k=).  The new
 * image reads it and removes it before anything else.
 */
#include "hsvr-int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#define ENV_NAME "HSVR_UPGRADE"
/* The check runs serv_init and the TLS set-up: seconds, not minutes. */
#define CHECK_MS 10000

extern char **environ;

static char exe[PATH_MAX];      /* what to execute: recorded at start */
static char start_dir[PATH_MAX]; /* where it started: -r, -f, argv[0]... */
static char **args;             /* argv as given (getopt permutes it) */
static char *given;             /* the HSVR_UPGRADE this image was given */

/* Being written for the next image. */
static char *text;
static size_t text_len, text_cap;
static int *fds;
static int nfds, fds_cap, carry_failed;

/* The check under way. */
static pid_t check_pid;
static int check_fd = -1;
static uint64_t check_end;      /* hsvr_clock_ms: kill it then */
static int check_killed;
static char check_out[512];     /* the end of what it printed */
static size_t check_out_len;

/*
 * The file the server was started from.  /proc/self/exe names it with
 * symbolic links resolved; argv[0], when it names the same file, keeps
 * them (a "current" link re-pointed to a new release is then followed).
 * Before -r's chdir, so that a relative argv[0] still means something.
 */
static void
record_exe(const char *argv0)
{
	char cwd[PATH_MAX], path[PATH_MAX];
	struct stat a, b;
	ssize_t n;
	int len;

	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = '\0';
	if (getcwd(cwd, sizeof cwd) == NULL)
		cwd[0] = '\0';
	memcpy(start_dir, cwd, strlen(cwd) + 1);
	if (argv0 == NULL || strchr(argv0, '/') == NULL)
		return;
	if (argv0[0] == '/')
		len = snprintf(path, sizeof path, "%s", argv0);
	else if (cwd[0] != '\0')
		len = snprintf(path, sizeof path, "%s/%s", cwd, argv0);
	else
		return;
	if (len < 0 || (size_t)len >= sizeof path)
		return;
	/* The same name (no link on the way): the same file, nothing to ask. */
	if (strcmp(path, exe) == 0)
		return;
	if (exe[0] == '\0' || (stat(path, &a) == 0 &&
	    stat("/proc/self/exe", &b) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino))
		memcpy(exe, path, (size_t)len + 1);
}

int
hsvr_upgrade_start(int argc, char **argv)
{
	const char *v = getenv(ENV_NAME);
	int i;

	record_exe(argc > 0 ? argv[0] : NULL);
	if ((args = calloc((size_t)argc + 1, sizeof *args)) != NULL)
		for (i = 0; i < argc; i++)
			if ((args[i] = strdup(argv[i])) == NULL) {
				args = NULL;    /* no upgrade then */
				break;
			}
	if (v == NULL)
		return HSVR_UPGRADE_NONE;
	given = strdup(v);
	(void)unsetenv(ENV_NAME);
	if (given == NULL)
		return HSVR_UPGRADE_NONE;
	return strcmp(given, "check") == 0 ? HSVR_UPGRADE_CHECK :
	    HSVR_UPGRADE_ADOPT;
}

/* The value of key in the given description, or NULL; until the next call. */
const char *
hsvr_upgrade_get(const char *key)
{
	static char *value;
	const char *p = given;
	size_t klen = strlen(key), n;

	free(value);
	value = NULL;
	while (p != NULL && *p != '\0') {
		n = strcspn(p, " ");
		if (n > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
			value = strndup(p + klen + 1, n - klen - 1);
			return value;
		}
		p += n;
		p += *p == ' ';
	}
	return NULL;
}

/*
 * n numbers separated by ':' from *p on into out; *p moves past them.
 * 0, or -1 if *p does not start with them.
 */
int
hsvr_upgrade_numbers(const char **p, unsigned long long *out, int n)
{
	char *end;
	int i;

	for (i = 0; i < n; i++) {
		if (i > 0 && *(*p)++ != ':')
			return -1;
		if (**p < '0' || **p > '9')
			return -1;
		errno = 0;
		out[i] = strtoull(*p, &end, 10);
		if (errno != 0)
			return -1;
		*p = end;
	}
	return 0;
}

int
hsvr_upgrade_fds(int *out, int max)
{
	const char *v = hsvr_upgrade_get("fds");
	char *end;
	long fd;
	int n = 0;

	while (v != NULL && *v != '\0') {
		fd = strtol(v, &end, 10);
		if (end == v || fd < 0 || fd > INT_MAX)
			break;
		if (n < max && out != NULL)
			out[n] = (int)fd;
		n++;
		v = *end == ',' ? end + 1 : end;
		if (*end != ',')
			break;
	}
	return n;
}

/* ------------------------------------------------------ for the next image */

void
hsvr_upgrade_add(const char *fmt, ...)
{
	va_list ap;
	char *bigger;
	size_t want;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(text + text_len, text_cap - text_len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			carry_failed = 1;
			return;
		}
		if ((size_t)n < text_cap - text_len) {
			text_len += (size_t)n;
			return;
		}
		want = text_cap * 2 + (size_t)n + 64;
		if ((bigger = realloc(text, want)) == NULL) {
			carry_failed = 1;
			return;
		}
		text = bigger;
		text_cap = want;
	}
}

void
hsvr_upgrade_add_fd(int fd)
{
	int *bigger, cap;

	if (nfds == fds_cap) {
		cap = fds_cap ? fds_cap * 2 : 16;
		if ((bigger = realloc(fds, sizeof *fds * (size_t)cap)) == NULL) {
			carry_failed = 1;
			return;
		}
		fds = bigger;
		fds_cap = cap;
	}
	fds[nfds++] = fd;
}

/* Start a new description (text_cap 0: the first add allocates). */
void
hsvr_upgrade_begin(void)
{
	text_len = 0;
	if (text != NULL)
		text[0] = '\0';
	nfds = 0;
	carry_failed = 0;
	hsvr_upgrade_add("%s=", ENV_NAME);
}

/* environ without any HSVR_UPGRADE, plus var; NULL if out of memory. */
static char **
env_with(char *var)
{
	size_t n = 0, i, j = 0, len = strlen(ENV_NAME);
	char **env;

	while (environ[n] != NULL)
		n++;
	if ((env = calloc(n + 2, sizeof *env)) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], ENV_NAME, len) != 0 ||
		    environ[i][len] != '=')
			env[j++] = environ[i];
	env[j++] = var;
	env[j] = NULL;
	return env;
}

/* Descriptors carried: close-on-exec cleared (on 0) or set again (1). */
static int
set_cloexec(int on)
{
	int i, fl;

	for (i = 0; i < nfds; i++)
		if ((fl = fcntl(fds[i], F_GETFD)) < 0 ||
		    fcntl(fds[i], F_SETFD, on ? fl | FD_CLOEXEC :
		    fl & ~FD_CLOEXEC) != 0)
			return -1;
	return 0;
}

int
hsvr_upgrade_exec(void)
{
	const char *what = "cannot execute", *obj = exe;
	char **env;
	int i, saved, here;

	if (args == NULL || exe[0] == '\0') {
		hsvr_log(LOG_ERR, "upgrade failed: the server's binary was not "
		    "recorded at start; the old binary keeps serving");
		return -1;
	}
	hsvr_upgrade_add(" fds=");
	for (i = 0; i < nfds; i++)
		hsvr_upgrade_add("%s%d", i ? "," : "", fds[i]);
	if (carry_failed || (env = env_with(text)) == NULL) {
		hsvr_log(LOG_ERR, "upgrade failed: out of memory; the old "
		    "binary keeps serving");
		return -1;
	}
	if (set_cloexec(0) != 0) {
		saved = errno;
		(void)set_cloexec(1);
		free(env);
		errno = saved;
		hsvr_warn("upgrade failed: cannot keep the descriptors across "
		    "exec; the old binary keeps serving");
		return -1;
	}
	/* Relative paths (-r, -f, --pidfile...) mean what they meant. */
	here = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	fflush(NULL);
	if (start_dir[0] != '\0' && chdir(start_dir) != 0) {
		what = "cannot return to";
		obj = start_dir;
	} else {
		execve(exe, args, env);
	}
	saved = errno;
	if (here >= 0 && fchdir(here) != 0)
		hsvr_warn("cannot return to the working directory");
	if (here >= 0)
		close(here);
	(void)set_cloexec(1);
	free(env);
	errno = saved;
	hsvr_warn("upgrade failed: %s %s; the old binary keeps serving", what,
	    obj);
	return -1;
}

/* ------------------------------------------------------------- the check */

int
hsvr_upgrade_check_start(void)
{
	static char check_var[] = ENV_NAME "=check";
	char **env;
	sigset_t none;
	int p[2];
	pid_t pid;

	if (args == NULL || exe[0] == '\0') {
		hsvr_log(LOG_ERR, "upgrade failed: the server's binary was not "
		    "recorded at start; the old binary keeps serving");
		return -1;
	}
	if ((env = env_with(check_var)) == NULL || pipe2(p, O_CLOEXEC) != 0) {
		hsvr_warn("upgrade failed: cannot check %s; the old binary "
		    "keeps serving", exe);
		free(env);
		return -1;
	}
	fflush(NULL);
	if ((pid = fork()) < 0) {
		hsvr_warn("upgrade failed: cannot check %s: fork; the old "
		    "binary keeps serving", exe);
		close(p[0]);
		close(p[1]);
		free(env);
		return -1;
	}
	if (pid == 0) {
		/*
		 * The supervisor's handlers are reset by exec; its mask not.
		 * SIGUSR2 ignored: systemctl kill -s USR2 signals every
		 * process of the unit, this one too if it came to be meanwhile.
		 */
		(void)signal(SIGUSR2, SIG_IGN);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (dup2(p[1], STDOUT_FILENO) < 0 ||
		    dup2(p[1], STDERR_FILENO) < 0)
			_exit(127);
		if (start_dir[0] != '\0' && chdir(start_dir) != 0) {
			dprintf(STDERR_FILENO, "cannot return to %s: %s\n",
			    start_dir, strerror(errno));
			_exit(127);
		}
		execve(exe, args, env);
		dprintf(STDERR_FILENO, "cannot execute it: %s\n",
		    strerror(errno));
		_exit(127);
	}
	free(env);
	close(p[1]);
	(void)fcntl(p[0], F_SETFL, O_NONBLOCK);
	check_fd = p[0];
	check_pid = pid;
	check_end = hsvr_clock_ms() + CHECK_MS;
	check_killed = 0;
	check_out_len = 0;
	check_out[0] = '\0';
	hsvr_log(LOG_INFO, "upgrading: checking %s (pid %ld)", exe, (long)pid);
	return 0;
}

pid_t
hsvr_upgrade_check_pid(void)
{
	return check_pid;
}

int
hsvr_upgrade_check_fd(void)
{
	return check_fd;
}

/* What the check printed: only its end is kept (where the reason is). */
void
hsvr_upgrade_check_read(void)
{
	char buf[512];
	ssize_t n;
	size_t keep;

	while (check_fd >= 0 && (n = read(check_fd, buf, sizeof buf)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN) {
				close(check_fd);
				check_fd = -1;
			}
			return;
		}
		if ((size_t)n >= sizeof check_out) {
			memcpy(check_out, buf + (size_t)n - (sizeof check_out -
			    1), sizeof check_out - 1);
			check_out_len = sizeof check_out - 1;
		} else {
			keep = sizeof check_out - 1 - (size_t)n;
			if (check_out_len > keep) {
				memmove(check_out, check_out + check_out_len -
				    keep, keep);
				check_out_len = keep;
			}
			memcpy(check_out + check_out_len, buf, (size_t)n);
			check_out_len += (size_t)n;
		}
		check_out[check_out_len] = '\0';
	}
	if (check_fd >= 0) {    /* end of file */
		close(check_fd);
		check_fd = -1;
	}
}

/* ms until the check's deadline (killed then), or -1 if none runs. */
int
hsvr_upgrade_check_due(void)
{
	uint64_t now = hsvr_clock_ms();

	if (check_pid <= 0)
		return -1;
	if (now >= check_end) {
		if (!check_killed)
			kill(check_pid, SIGKILL);
		check_killed = 1;
		return -1;
	}
	return (int)(check_end - now);
}

/* The last non-empty line of what the check printed, in line. */
static const char *
last_line(char *line, size_t len)
{
	char *end = check_out + check_out_len, *start;

	while (end > check_out && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	start = end;
	while (start > check_out && start[-1] != '\n')
		start--;
	(void)snprintf(line, len, "%.*s", (int)(end - start), start);
	return line;
}

int
hsvr_upgrade_check_reaped(pid_t pid, int ws, int *passed)
{
	char why[64], line[sizeof check_out];

	if (check_pid <= 0 || pid != check_pid)
		return 0;
	check_pid = 0;
	hsvr_upgrade_check_read();
	if (check_fd >= 0) {            /* a descendant holds it: enough */
		close(check_fd);
		check_fd = -1;
	}
	*passed = WIFEXITED(ws) && WEXITSTATUS(ws) == 0;
	if (*passed)
		return 1;
	if (check_killed)
		(void)snprintf(why, sizeof why, "did not finish start-up in "
		    "%d s", CHECK_MS / 1000);
	else if (WIFSIGNALED(ws))
		(void)snprintf(why, sizeof why, "was killed by signal %d",
		    WTERMSIG(ws));
	else
		(void)snprintf(why, sizeof why, "exited with status %d",
		    WEXITSTATUS(ws));
	(void)last_line(line, sizeof line);
	hsvr_log(LOG_ERR, "upgrade failed: %s, run in check mode, %s%s%s; the "
	    "old binary keeps serving", exe, why, line[0] ? ": " : "", line);
	return 1;
}

const char *
hsvr_upgrade_exe(void)
{
	return exe;
}
