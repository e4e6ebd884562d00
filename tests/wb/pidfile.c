/*
 * pidfile.c - white-box test of the pidfile (lib/pidfile.c): its
 * functions called in this process, a second instance played by a child,
 * in a scratch directory.
 *
 *  - opened, locked, mode 0644, written with the pid, removed at exit;
 *  - a second instance is refused (exit code 69) naming the holder's pid,
 *    or saying another instance holds it when no pid is written yet;
 *  - forgotten (a serving process): the file stays, the lock goes with
 *    the last descriptor;
 *  - not removed when its name now refers to another file;
 *  - refused (73) with a message: a symbolic link, a FIFO, a directory, a
 *    file with two links, one of another user (as root), a missing
 *    directory, a name longer than the buffer;
 *  - a name without a directory is in the working directory; in the
 *    foreground without --pidfile there is none, and writing is a no-op.
 *
 * Shown to fail: with hsvr_pidfile_remove()'s inode comparison removed,
 * the "another file now" check fails; with "sb.st_nlink != 1" removed, the
 * two-links check fails.
 */
#include "hsvr-int.h"
#include "wb.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/wb-pidfile.XXXXXX";
static struct hsvr_config cfg;

static const char *
in_dir(const char *name)
{
	static char buf[4][PATH_MAX];
	static int i;

	i = (i + 1) % 4;
	(void)snprintf(buf[i], sizeof buf[i], "%s/%s", dir, name);
	return buf[i];
}

/* hsvr_pidfile_open for path, in this process (stderr captured). */
static int
open_pf(const char *path, const char **said)
{
	int rc;

	hsvr_options_defaults(&cfg);
	cfg.pidfile = path;
	wb_capture();
	rc = hsvr_pidfile_open(&cfg);
	*said = wb_said_now();
	return rc;
}

/* The same in a child: a second instance.  Its code; said: its stderr. */
static int
second(const char *path, const char **said)
{
	int status;
	pid_t pid;

	wb_capture();
	if ((pid = fork()) < 0)
		wb_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		hsvr_options_defaults(&cfg);
		cfg.pidfile = path;
		exit(hsvr_pidfile_open(&cfg));
	}
	if (waitpid(pid, &status, 0) != pid)
		wb_bail("waitpid: %s", strerror(errno));
	*said = wb_said_now();
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static long
read_pid(const char *path)
{
	char buf[32];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return strtol(buf, NULL, 10);
}

static void
refused(const char *path, const char *says, const char *what)
{
	const char *said;
	int rc = open_pf(path, &said);

	wb_ok(rc == HSVR_EX_CANTCREAT && strstr(said, says) != NULL,
	    "%s: refused (%d), \"%s\" (said \"%.*s\")", what, rc, says,
	    (int)strcspn(said, "\n"), said);
	hsvr_pidfile_remove();          /* nothing open: does nothing */
}

int
main(void)
{
	const char *said, *a, *b;
	char longname[5000];
	struct stat st;
	int rc, fd;

	wb_watchdog(120);
	if (mkdtemp(dir) == NULL)
		wb_bail("mkdtemp: %s", strerror(errno));
	wb_capture_open();
	umask(077);

	/* The life of a pidfile, and a second instance. */
	a = in_dir("a.pid");
	rc = open_pf(a, &said);
	wb_ok(rc == 0 && stat(a, &st) == 0 && (st.st_mode & 07777) == 0644,
	    "opened: 0, the file made mode 0644 whatever the umask (%d)", rc);
	rc = second(a, &said);
	wb_ok(rc == HSVR_EX_UNAVAILABLE && strstr(said, "already running: "
	    "another instance holds") != NULL, "a second instance before "
	    "the pid is written: 69, another instance holds it (%d, \"%.*s\")",
	    rc, (int)strcspn(said, "\n"), said);
	wb_ok(hsvr_pidfile_write() == 0 && read_pid(a) == (long)getpid(),
	    "written: our pid");
	wb_ok(hsvr_pidfile_write() == 0 && read_pid(a) == (long)getpid(),
	    "written again: the same, not appended");
	rc = second(a, &said);
	{
		char want[64];

		(void)snprintf(want, sizeof want, "already running, pid %ld",
		    (long)getpid());
		wb_ok(rc == HSVR_EX_UNAVAILABLE && strstr(said, want) != NULL,
		    "a second instance: 69, \"%s\" (%d, \"%.*s\")", want, rc,
		    (int)strcspn(said, "\n"), said);
	}
	hsvr_pidfile_remove();
	wb_ok(access(a, F_OK) != 0 && errno == ENOENT, "removed at exit");
	hsvr_pidfile_remove();          /* twice: nothing left to do */

	/* Forgotten by a serving process: stays, unlocked once closed. */
	rc = open_pf(a, &said);
	hsvr_pidfile_write();
	hsvr_pidfile_forget();
	wb_ok(rc == 0 && read_pid(a) == (long)getpid(), "forgotten: the file "
	    "stays");
	rc = second(a, &said);
	wb_ok(rc == 0, "and its lock is gone with the descriptors (%d)", rc);
	unlink(a);

	/* Not removed once its name refers to another file. */
	rc = open_pf(a, &said);
	b = in_dir("other");
	if ((fd = open(b, O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) < 0 ||
	    rename(b, a) != 0)
		wb_bail("replace %s: %s", a, strerror(errno));
	close(fd);
	hsvr_pidfile_remove();
	wb_ok(rc == 0 && access(a, F_OK) == 0, "a name now of another file: "
	    "that file is left alone");
	unlink(a);

	/* What is refused. */
	if (symlink(in_dir("target"), in_dir("link.pid")) != 0 ||
	    mkfifo(in_dir("fifo.pid"), 0644) != 0 ||
	    mkdir(in_dir("dir.pid"), 0755) != 0 ||
	    (fd = open(in_dir("one.pid"), O_WRONLY | O_CREAT | O_CLOEXEC,
	    0644)) < 0 || link(in_dir("one.pid"), in_dir("two.pid")) != 0)
		wb_bail("scratch files: %s", strerror(errno));
	close(fd);
	refused(in_dir("link.pid"), "it is a symbolic link", "a symbolic link");
	wb_ok(access(in_dir("target"), F_OK) != 0,
	    "and its target was not created");
	refused(in_dir("fifo.pid"), "not a regular file", "a FIFO");
	refused(in_dir("dir.pid"), "cannot open the pidfile", "a directory");
	refused(in_dir("two.pid"), "with one link", "a file with two links");
	if (geteuid() == 0) {
		if ((fd = open(in_dir("theirs.pid"), O_WRONLY | O_CREAT |
		    O_CLOEXEC, 0644)) < 0 || fchown(fd, 65534, 65534) != 0)
			wb_bail("theirs.pid: %s", strerror(errno));
		close(fd);
		refused(in_dir("theirs.pid"), "not a regular file of uid 0",
		    "another user's file");
	}
	refused(in_dir("missing/x.pid"), "cannot open the pidfile",
	    "a missing directory");
	memset(longname, 'x', sizeof longname - 1);
	longname[0] = '/';
	longname[sizeof longname - 1] = '\0';
	refused(longname, "its name is longer than 4095 bytes",
	    "a name longer than the buffer");

	/* Where it goes without a directory, and none in the foreground. */
	if (chdir(dir) != 0)
		wb_bail("chdir: %s", strerror(errno));
	rc = open_pf("rel.pid", &said);
	hsvr_pidfile_write();
	wb_ok(rc == 0 && read_pid(in_dir("rel.pid")) == (long)getpid(),
	    "a name without a directory: in the working directory");
	hsvr_pidfile_remove();
	wb_ok(access(in_dir("rel.pid"), F_OK) != 0, "and removed from there");
	hsvr_options_defaults(&cfg);
	cfg.foreground = 1;
	wb_ok(hsvr_pidfile_open(&cfg) == 0 && hsvr_pidfile_write() == 0,
	    "in the foreground without --pidfile: none, writing does nothing");
	if (chdir("/") != 0)
		wb_bail("chdir: %s", strerror(errno));

	unlink(in_dir("fifo.pid"));
	unlink(in_dir("link.pid"));
	rmdir(in_dir("dir.pid"));
	unlink(in_dir("one.pid"));
	unlink(in_dir("two.pid"));
	unlink(in_dir("theirs.pid"));
	rmdir(dir);
	return wb_done();
}
