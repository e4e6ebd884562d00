/*
 * pidfile.c - the pidfile: where it goes, held locked for the server's
 * life so a second instance refuses to start, written with the
 * supervisor's pid and removed at orderly exit.  It may sit in a
 * directory others can write: it is opened without following a symbolic
 * link, must be a regular file of ours, and is removed only while its
 * name still refers to it.
 */
#include "hsvr-int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int pid_fd = -1;         /* the pidfile, locked */
static int dir_fd = -1;         /* its directory */
static char path[4096];
static const char *base;        /* its name in dir_fd: within path */

/*
 * Open the directory of path (following symbolic links: /var/run is one
 * on Debian; the directories above the pidfile are the administrator's)
 * and point base at the last component.  A descriptor, or -1.
 */
static int
open_parent(void)
{
	const char *slash = strrchr(path, '/');
	char dir[sizeof path];
	size_t n;

	if (slash == NULL) {
		base = path;
		return open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	base = slash + 1;
	n = slash == path ? 1 : (size_t)(slash - path);
	memcpy(dir, path, n);
	dir[n] = '\0';
	return open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* The pid the holder of the lock wrote, 0 while it has not yet. */
static long
holder_pid(void)
{
	struct timespec ts = { 0, 5000000 };
	char buf[24], *end;
	ssize_t n;
	long pid;
	int i;

	/* It writes its pid once it is a daemon: wait a little, as libbsd. */
	for (i = 0; i < 20; i++) {
		n = pread(pid_fd, buf, sizeof buf - 1, 0);
		if (n > 0) {
			buf[n] = '\0';
			pid = strtol(buf, &end, 10);
			return end != buf && pid > 0 ? pid : 0;
		}
		nanosleep(&ts, NULL);
	}
	return 0;
}

static void
close_all(void)
{
	if (pid_fd >= 0)
		close(pid_fd);
	if (dir_fd >= 0)
		close(dir_fd);
	pid_fd = dir_fd = -1;
}

/*
 * Open and lock the pidfile, if there is to be one: --pidfile, else
 * /var/run/NAME.pid as root or $XDG_RUNTIME_DIR/NAME.pid otherwise, and
 * none in the foreground.  0, or an exit code after a message.
 */
int
hsvr_pidfile_open(const struct hsvr_config *cfg)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat sb;
	long other;
	int n;

	if (cfg->pidfile != NULL)
		n = snprintf(path, sizeof path, "%s", cfg->pidfile);
	else if (!cfg->foreground && geteuid() == 0)
		n = snprintf(path, sizeof path, "/var/run/%s.pid", cfg->name);
	else if (!cfg->foreground && xdg != NULL && *xdg == '/')
		n = snprintf(path, sizeof path, "%s/%s.pid", xdg, cfg->name);
	else
		return 0;       /* in the foreground, or nowhere to put it */
	/* A truncated name would lock some other file. */
	if (n < 0 || (size_t)n >= sizeof path) {
		hsvr_warnx("cannot open the pidfile: its name is longer than "
		    "%zu bytes", sizeof path - 1);
		return HSVR_EX_CANTCREAT;
	}
	if ((dir_fd = open_parent()) < 0) {
		hsvr_warn("cannot open the pidfile %s", path);
		return HSVR_EX_CANTCREAT;
	}
	/* Non-blocking: a FIFO planted there must not hang the start. */
	pid_fd = openat(dir_fd, base, O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0644);
	if (pid_fd < 0) {
		if (errno == ELOOP)
			hsvr_warnx("refusing the pidfile %s: it is a symbolic "
			    "link", path);
		else
			hsvr_warn("cannot open the pidfile %s", path);
		close_all();
		return HSVR_EX_CANTCREAT;
	}
	if (fstat(pid_fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_uid != geteuid() || sb.st_nlink != 1) {
		hsvr_warnx("refusing the pidfile %s: not a regular file of uid "
		    "%ld with one link", path, (long)geteuid());
		close_all();
		return HSVR_EX_CANTCREAT;
	}
	if (flock(pid_fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK) {
			hsvr_warn("cannot lock the pidfile %s", path);
			close_all();
			return HSVR_EX_CANTCREAT;
		}
		if ((other = holder_pid()) > 0)
			hsvr_warnx("already running, pid %ld (%s)", other,
			    path);
		else
			hsvr_warnx("already running: another instance holds "
			    "%s", path);
		close_all();
		return HSVR_EX_UNAVAILABLE;
	}
	/* Readable by all (status checks), whatever the umask. */
	if ((sb.st_mode & 07777) != 0644)
		(void)fchmod(pid_fd, 0644);
	return 0;
}

/* Write this process's pid: the supervisor's, once it is the daemon. */
int
hsvr_pidfile_write(void)
{
	char buf[24];
	int n;

	if (pid_fd < 0)
		return 0;
	n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	if (ftruncate(pid_fd, 0) != 0 ||
	    pwrite(pid_fd, buf, (size_t)n, 0) != (ssize_t)n) {
		hsvr_warn("cannot write the pidfile %s", path);
		return -1;
	}
	return 0;
}

/* In a serving process: let go of the descriptors, keep the file. */
void
hsvr_pidfile_forget(void)
{
	close_all();
}

/*
 * Remove the pidfile if its name still refers to our file, then unlock
 * it.  Between the check and the unlink only someone who may write the
 * directory can change the name (and in a sticky one not ours), and then
 * what goes is theirs.
 */
void
hsvr_pidfile_remove(void)
{
	struct stat mine, now;

	if (pid_fd >= 0 && fstat(pid_fd, &mine) == 0 &&
	    fstatat(dir_fd, base, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
	    now.st_dev == mine.st_dev && now.st_ino == mine.st_ino)
		(void)unlinkat(dir_fd, base, 0);
	close_all();
}

/* An upgrade: the pidfile, still locked, goes to the next image. */
void
hsvr_pidfile_carry(void)
{
	if (pid_fd < 0)
		return;
	hsvr_upgrade_add_fd(pid_fd);
	hsvr_upgrade_add_fd(dir_fd);
	hsvr_upgrade_add(" p=%d:%d", pid_fd, dir_fd);
}

/*
 * The new image of an upgrade: the pidfile the old one held (the lock
 * goes with the descriptor; the pid written is the same), its name read
 * back from /proc.  0, or an exit code after a line.
 */
int
hsvr_pidfile_adopt(void)
{
	const char *v = hsvr_upgrade_get("p");
	unsigned long long fd[2];
	char link[64], *slash;
	ssize_t n;

	if (v == NULL)
		return 0;
	if (hsvr_upgrade_numbers(&v, fd, 2) == 0 && fd[0] <= INT_MAX &&
	    fd[1] <= INT_MAX) {
		pid_fd = (int)fd[0];
		dir_fd = (int)fd[1];
	}
	if (pid_fd < 0 || fcntl(pid_fd, F_SETFD, FD_CLOEXEC) != 0 ||
	    fcntl(dir_fd, F_SETFD, FD_CLOEXEC) != 0) {
		hsvr_warnx("upgrade: the pidfile handed over is not usable");
		pid_fd = dir_fd = -1;
		return HSVR_EX_OSERR;
	}
	(void)snprintf(link, sizeof link, "/proc/self/fd/%d", pid_fd);
	n = readlink(link, path, sizeof path - 1);
	path[n > 0 ? n : 0] = '\0';
	slash = strrchr(path, '/');
	base = slash == NULL ? path : slash + 1;
	return 0;
}
