/*
 * sandbox.c - confining the serving process: --chroot, no way back to
 * privilege (no_new_privs, an empty capability bounding set, no
 * capabilities, all checked) and the --seccomp system-call allowlist,
 * with libseccomp loaded only for it (configure's "libseccomp on demand").
 */
#include "hsvr-int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>

#ifdef HAVE_SECCOMP
#include <sys/ioctl.h>
#include <sched.h>
#include <seccomp.h>

/*
 * On demand only in the shared library (libtool compiles its objects with
 * -DPIC), as OpenSSL (ossl.h): the static one calls libseccomp directly.
 * Each function below is then a slot of scmp, filled by sandbox_load_once.
 */
#if defined(HSVR_LAZY_SECCOMP) && \
    (defined(PIC) || defined(HSVR_LAZY_SECCOMP_STATIC))
#define SCMP_DLOPEN 1

#define SCMP_FUNCTIONS(X) \
	X(seccomp_attr_set) \
	X(seccomp_init) \
	X(seccomp_load) \
	X(seccomp_release) \
	X(seccomp_rule_add) \
	X(seccomp_syscall_resolve_name)
#define SCMP_SLOT(name) __typeof__(name) *(name);
static struct {
	SCMP_FUNCTIONS(SCMP_SLOT)
} scmp;
#undef SCMP_SLOT
#define seccomp_attr_set (scmp.seccomp_attr_set)
#define seccomp_init (scmp.seccomp_init)
#define seccomp_load (scmp.seccomp_load)
#define seccomp_release (scmp.seccomp_release)
#define seccomp_rule_add (scmp.seccomp_rule_add)
#define seccomp_syscall_resolve_name (scmp.seccomp_syscall_resolve_name)
#endif
#endif

/* ------------------------------------------------------------- chroot */

static int
root_dir_ok(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		hsvr_warn("--chroot: %s", path);
		return 0;
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0 ||
	    (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		hsvr_warnx("--chroot: %s must be a directory owned by root and "
		    "not writable by group or others", path);
		return 0;
	}
	return 1;
}

/*
 * At start-up: --chroot needs root, an absolute path, and (as OpenSSH's
 * ChrootDirectory) every component a directory owned by root and not
 * writable by group or others, so no other user can swap what the
 * serving process will see as "/".  0, or -1 after one line.
 */
int
hsvr_sandbox_check(const struct hsvr_config *cfg)
{
	char path[PATH_MAX], *p, c;

	if (cfg->chroot_dir == NULL)
		return 0;
	if (!cfg->drop) {
		hsvr_warnx("--chroot needs the server to be started as root");
		return -1;
	}
	if ((size_t)snprintf(path, sizeof path, "%s", cfg->chroot_dir) >=
	    sizeof path) {
		hsvr_warnx("--chroot %s: path too long", cfg->chroot_dir);
		return -1;
	}
	if (!root_dir_ok("/"))
		return -1;
	/* "/a/b": "/a", then "/a/b" (options.c wants a leading slash). */
	for (p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		c = *p;
		*p = '\0';
		if (p[-1] != '/' && !root_dir_ok(path))
			return -1;
		*p = c;
		if (c == '\0')
			return 0;
	}
}

/* ------------------------------------------------------- capabilities */

static int cap_last = -1;

/* The highest capability this kernel knows (read before a chroot). */
static int
last_cap(void)
{
	char buf[16], *end;
	ssize_t n;
	long v;
	int fd, c;

	if (cap_last >= 0)
		return cap_last;
	if ((fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC))
	    >= 0) {
		n = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (n > 0) {
			buf[n] = '\0';
			v = strtol(buf, &end, 10);
			if (end != buf && (*end == '\n' || *end == '\0') &&
			    v > 0 && v < 64)
				cap_last = (int)v;
		}
	}
	/* Without /proc: the bounding set answers up to the last one. */
	if (cap_last <= 0)
		for (c = 0; c < 64 && prctl(PR_CAPBSET_READ, c, 0, 0, 0) >= 0;
		    c++)
			cap_last = c;
	return cap_last;
}

static int
caps_get(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };

	return (int)syscall(SYS_capget, &h, d);
}

/*
 * In the serving process, still root: the time zone loaded (syslog's
 * time stamps need it after a chroot), the chroot entered, the bounding
 * set emptied (it needs CAP_SETPCAP: root, or a non-root start that was
 * given it).  0, or -1 after a log line.
 */
int
hsvr_sandbox_enter(const struct hsvr_config *cfg)
{
	struct __user_cap_data_struct d[2];
	int c, last = last_cap();

	tzset();
	if (cfg->chroot_dir != NULL) {
		if (chdir(cfg->chroot_dir) != 0 || chroot(".") != 0 ||
		    chdir("/") != 0) {
			hsvr_warn("cannot chroot to %s", cfg->chroot_dir);
			return -1;
		}
	}
	memset(d, 0, sizeof d);
	if (caps_get(d) != 0 || (d[CAP_TO_INDEX(CAP_SETPCAP)].effective &
	    CAP_TO_MASK(CAP_SETPCAP)) == 0)
		return 0;
	for (c = 0; c <= last; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL) {
			hsvr_warn("cannot drop capability %d from the bounding "
			    "set", c);
			return -1;
		}
	return 0;
}

/*
 * After the change of ids: no_new_privs, every capability set emptied,
 * then all of it checked, from the kernel's own answers.  0, or -1 after
 * a log line (the serving process then exits 70).
 */
int
hsvr_sandbox_lock(const struct hsvr_config *cfg)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	int c, last = last_cap();

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		hsvr_warn("cannot set no_new_privs");
		return -1;
	}
	/* Ambient capabilities are Linux 4.3 on: EINVAL before, none to drop. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 &&
	    errno != EINVAL) {
		hsvr_warn("cannot clear the ambient capabilities");
		return -1;
	}
	/*
	 * setresuid() away from root empties the permitted and effective
	 * sets but keeps the inheritable one; lowering any set is allowed.
	 */
	memset(d, 0, sizeof d);
	if (syscall(SYS_capset, &h, d) != 0) {
		hsvr_warn("cannot drop the capabilities");
		return -1;
	}
	memset(d, 0xff, sizeof d);
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1 || caps_get(d) != 0 ||
	    (d[0].effective | d[1].effective | d[0].permitted |
	    d[1].permitted | d[0].inheritable | d[1].inheritable) != 0)
		goto bad;
	for (c = 0; c <= last; c++) {
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) > 0)
			goto bad;
		if (cfg->drop && prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 0)
			goto bad;
	}
	return 0;
bad:
	hsvr_warnx("the serving process kept privileges it gave up "
	    "(no_new_privs, capabilities or bounding set)");
	return -1;
}

/* ------------------------------------------------------------ seccomp */

#ifdef HAVE_SECCOMP

/* The application's additions (serv_seccomp_allow), as syscall numbers. */
#define APP_ALLOW_MAX 64

static pthread_mutex_t app_lock = PTHREAD_MUTEX_INITIALIZER;
static int app_allow[APP_ALLOW_MAX];
static int app_nallow;
static int seccomp_on;          /* installed, or being installed */

/* Allowed whatever their arguments. */
static const char *const allow_any[] = {
	/* memory: glibc's allocator, thread stacks (mmap and mprotect are
	 * below: never executable) */
	"brk", "munmap", "mremap", "madvise",
	/* threads */
	"futex", "set_robust_list", "get_robust_list", "rseq",
	"set_tid_address", "sched_yield", "sched_getaffinity", "gettid",
	"getpid", "getppid", "exit", "exit_group", "membarrier",
	/* time */
	"clock_gettime", "clock_getres", "gettimeofday", "time",
	"nanosleep", "clock_nanosleep",
	/* signals (libevent's handlers, raise) */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend",
	"sigaltstack", "restart_syscall",
	/* libevent */
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
	"epoll_pwait", "epoll_pwait2", "poll", "ppoll", "select", "pselect6",
	"eventfd2", "timerfd_create", "timerfd_settime", "timerfd_gettime",
	/* descriptors and files: the engine, S_send_file, the application */
	"read", "readv", "pread64", "preadv", "write", "writev", "pwrite64",
	"pwritev", "sendfile", "lseek", "close", "fcntl", "dup", "dup2",
	"dup3", "pipe", "pipe2", "fstat", "newfstatat", "stat", "lstat",
	"statx", "open", "openat", "access", "faccessat", "faccessat2",
	"readlink", "readlinkat", "getcwd", "getdents64", "fsync",
	"fdatasync", "ftruncate", "fadvise64",
	/* sockets the engine and syslog use; socket() is below */
	"accept", "accept4", "connect", "shutdown", "sendto", "recvfrom",
	"sendmsg", "recvmsg", "getsockopt", "setsockopt", "getsockname",
	"getpeername", "socketpair",
	/* OpenSSL, and what asks who we are */
	"getrandom", "uname", "getuid", "geteuid", "getgid", "getegid",
	"getresuid", "getresgid", "getgroups", "getrlimit", "prlimit64",
	"getrusage", "times", "sysinfo", "umask",
};

/* ioctl requests: bytes waiting (FIONREAD, SIOCOUTQ), isatty(). */
static const unsigned long allow_ioctl[] = {
	FIONREAD, TIOCOUTQ, FIONBIO, FIOCLEX, FIONCLEX, TCGETS,
};

/* The address families socket() may open: syslog's, outgoing TCP/UDP. */
static const int allow_family[] = { AF_UNIX, AF_INET, AF_INET6 };

/*
 * --seccomp is on: main() said so (hsvr_sandbox_load) before serv_init,
 * the first place serv_seccomp_allow may be called from.
 */
static int scmp_wanted;

#ifdef SCMP_DLOPEN
#define SCMP_NAME(name) #name,
static const char *const scmp_names[] = { SCMP_FUNCTIONS(SCMP_NAME) };
#undef SCMP_NAME

/* (Never closed: a filter once loaded needs nothing of it.) */
HSVR_ONDEMAND(scmp_lib, HSVR_LIBSECCOMP, "libseccomp", "--seccomp: ",
    scmp_names, scmp);

int
hsvr_sandbox_load(char *buf, size_t size)
{
	__atomic_store_n(&scmp_wanted, 1, __ATOMIC_RELAXED);
	return hsvr_ondemand_load(&scmp_lib, buf, size);
}

#else /* libseccomp linked in */

int
hsvr_sandbox_load(char *buf, size_t size)
{
	(void)buf, (void)size;
	__atomic_store_n(&scmp_wanted, 1, __ATOMIC_RELAXED);
	return 0;
}

#endif /* SCMP_DLOPEN */

/* Add an unconditional rule for name; names this arch lacks are skipped. */
static int
allow_name(scmp_filter_ctx ctx, const char *name)
{
	int nr = seccomp_syscall_resolve_name(name), rc;

	if (nr == __NR_SCMP_ERROR)
		return 0;
	rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	/* -EDOM/-EOPNOTSUPP: a pseudo-syscall this ABI does not have */
	return rc == -EDOM || rc == -EOPNOTSUPP ? 0 : rc;
}

static int
build_filter(scmp_filter_ctx ctx)
{
	size_t i;
	int rc = 0, self = (int)getpid();

	for (i = 0; rc == 0 && i < sizeof allow_any / sizeof allow_any[0]; i++)
		rc = allow_name(ctx, allow_any[i]);
	for (i = 0; rc == 0 && i < sizeof allow_ioctl / sizeof allow_ioctl[0];
	    i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
		    SCMP_A1(SCMP_CMP_EQ, allow_ioctl[i]));
	for (i = 0; rc == 0 &&
	    i < sizeof allow_family / sizeof allow_family[0]; i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
		    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)allow_family[i]));
	/* New memory is never executable (W^X): no code can be added. */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
		    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
		    SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* Threads, never processes: pthread_create passes CLONE_THREAD. */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
		    SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	/* clone3's flags are out of reach: ENOSYS makes glibc use clone. */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
		    SCMP_SYS(clone3), 0);
	/* Signals to this process only (raise, abort). */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
		    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
		    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
		    SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
		    SCMP_A0(SCMP_CMP_EQ, PR_GET_NAME));
	/* The application's own (serv_seccomp_allow): whatever arguments. */
	for (i = 0; rc == 0 && i < (size_t)app_nallow; i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, app_allow[i], 0);
	return rc;
}

int
serv_seccomp_allow(const char *name)
{
	int nr, i, rc = 0;

	if (name == NULL) {
		errno = EINVAL;
		return -1;
	}
	/*
	 * Without --seccomp no filter will be installed: nothing to allow,
	 * as without seccomp support, and libseccomp is not loaded for it
	 * (hsvr-proxy calls this at every start).
	 */
	if (!__atomic_load_n(&scmp_wanted, __ATOMIC_RELAXED) ||
	    hsvr_sandbox_load(NULL, 0) != 0)
		return 0;
	if ((nr = seccomp_syscall_resolve_name(name)) == __NR_SCMP_ERROR) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&app_lock);
	for (i = 0; i < app_nallow && app_allow[i] != nr; i++)
		;
	if (seccomp_on) {
		errno = EBUSY;
		rc = -1;
	} else if (i == app_nallow) {
		if (app_nallow < APP_ALLOW_MAX)
			app_allow[app_nallow++] = nr;
		else {
			errno = ENOSPC;
			rc = -1;
		}
	}
	pthread_mutex_unlock(&app_lock);
	return rc;
}

/*
 * --seccomp: install the allowlist on every thread of the process (TSYNC),
 * once every worker ran serv_worker_init.  0, or -1 after a log line.
 */
int
hsvr_sandbox_seccomp(const struct hsvr_config *cfg)
{
	scmp_filter_ctx ctx;
	int rc;

	char why[256];

	if (!cfg->seccomp)
		return 0;
	pthread_mutex_lock(&app_lock);
	seccomp_on = 1;         /* serv_seccomp_allow now says EBUSY */
	pthread_mutex_unlock(&app_lock);
	/* Loaded at start-up already (main.c): only a check. */
	if (hsvr_sandbox_load(why, sizeof why) != 0) {
		hsvr_warnx("%s", why);
		return -1;
	}
	if ((ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM))) == NULL) {
		hsvr_warnx("cannot set up the seccomp filter: out of memory");
		return -1;
	}
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (rc == 0)
		rc = build_filter(ctx);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc != 0) {
		errno = -rc;
		hsvr_warn("cannot install the seccomp filter");
		return -1;
	}
	return 0;
}

#else /* !HAVE_SECCOMP */

/* --seccomp is refused (options.c): nothing to load. */
int
hsvr_sandbox_load(char *buf, size_t size)
{
	(void)buf, (void)size;
	return 0;
}

/* Without libseccomp --seccomp is refused (options.c): nothing to allow. */
int
serv_seccomp_allow(const char *name)
{
	(void)name;
	return 0;
}

int
hsvr_sandbox_seccomp(const struct hsvr_config *cfg)
{
	if (!cfg->seccomp)
		return 0;
	hsvr_warnx("--seccomp: this build has no seccomp support");
	return -1;
}

#endif /* HAVE_SECCOMP */
