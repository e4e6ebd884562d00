/*
 * listener.c - the listening sockets (TCP on every address or one, or a
 * UNIX-domain path) and the accept loops, which hand every connection
 * to the callback given at start (the worker pool's hsvr_worker_deal).
 * By default every worker accepts on the listening sockets itself (each
 * watches its own duplicate descriptor of the one socket); with
 * --reuseport each worker has an SO_REUSEPORT socket of its own per
 * address; with --accept-thread the main thread accepts.
 */
#include "hsvr-int.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#define MAX_ADDRESSES 8
#define ACCEPT_BATCH 64
/*
 * Workers sharing a socket are all woken by a new connection; one that
 * took a whole batch would leave the others none.  A few at a time, then
 * back to its loop, where the socket, still readable, is seen again.
 */
#define SHARED_BATCH 4
#define EMFILE_PAUSE_MS 100
#define EMFILE_LOG_SEC 10       /* at most one warning per this period */

/*
 * A listening descriptor.  Its events belong to one thread: the main
 * thread's base (worker -1, --accept-thread), or that of worker `worker`,
 * which alone adds, removes and closes it once the engine runs.
 */
struct lsock {
	int fd;                 /* -1 once closed */
	int is_unix;
	int worker;             /* -1: the main thread; else the owner */
	int started;            /* its events were put on its thread's base */
	int closed;             /* atomic: its owner closed it */
	int added;              /* ev is added (accepting) */
	int paused;             /* pause is added (out of descriptors) */
	struct event ev, pause;
};

static struct lsock *lst;
static int nlst, lcap;
static int per_worker;          /* descriptors per address; 0: main's */
static int reuseport;           /* per_worker sockets, not duplicates */
static const char *unix_path;
static int unix_owner;         /* this process removes the path at close */
static hsvr_listen_cb on_connection;    /* given at start */

static void
addr_text(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	/* The analyzer misses that getsockname() sets the family. */
	/* NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult) */
	if (getnameinfo(sa, sa->sa_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in),
	    host, sizeof host, serv, sizeof serv,
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		(void)snprintf(buf, len, "?");
	else if (sa->sa_family == AF_INET6)
		(void)snprintf(buf, len, "[%s]:%s", host, serv);
	else
		(void)snprintf(buf, len, "%s:%s", host, serv);
}

static int
add_listener(int fd, int is_unix, int worker)
{
	struct lsock *bigger;
	int cap;

	if (nlst == lcap) {
		cap = lcap ? lcap * 2 : 4;
		if ((bigger = realloc(lst, sizeof *lst * (size_t)cap)) == NULL)
			return -1;
		lst = bigger;
		lcap = cap;
	}
	memset(&lst[nlst], 0, sizeof lst[nlst]);
	lst[nlst].fd = fd;
	lst[nlst].is_unix = is_unix;
	lst[nlst].worker = worker;
	nlst++;
	return 0;
}

/*
 * fd listens: give it to the main thread (--accept-thread), or to worker
 * 0 and a duplicate of it to every other worker.  A duplicate shares the
 * socket and its queue; the socket closes with the last of them.  fd
 * is the table's (or closed) whatever the result.
 */
static int
add_shared(int fd, int is_unix)
{
	int i, d;

	if (add_listener(fd, is_unix, per_worker == 0 ? -1 : 0) != 0) {
		close(fd);
		return -1;
	}
	for (i = 1; i < per_worker; i++) {
		if ((d = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
			return -1;
		if (add_listener(d, is_unix, i) != 0) {
			close(d);
			return -1;
		}
	}
	return 0;
}

/*
 * Listen on sa: one socket shared by the accepting threads, or with
 * --reuseport one per worker, each with SO_REUSEPORT so that the kernel
 * spreads connections among them.  Connections inherit TCP_NODELAY from
 * the listening socket.  0, -1 if no socket of this family can be made,
 * -2 after a message (sockets already added are freed by the caller).
 */
static int
listen_on(const struct sockaddr *sa, socklen_t salen, int backlog,
    int dual_stack)
{
	char where[NI_MAXHOST + NI_MAXSERV + 4];
	int fd, on = 1, off = 0, i, n = reuseport ? per_worker : 1;

	if (nlst >= MAX_ADDRESSES * (per_worker ? per_worker : 1))
		return -1;
	for (i = 0; i < n; i++) {
		fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd < 0 && i == 0)
			return -1;
		if (fd < 0)
			goto fail;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
		if (reuseport)
			setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
		if (sa->sa_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
			    dual_stack ? &off : &on, sizeof on);
		if (bind(fd, sa, salen) != 0 || listen(fd, backlog) != 0) {
			close(fd);
			goto fail;
		}
		if (!reuseport) {
			if (add_shared(fd, 0) != 0)
				goto fail;
		} else if (add_listener(fd, 0, i) != 0) {
			close(fd);
			goto fail;
		}
	}
	return 0;
fail:
	addr_text(sa, where, sizeof where);
	hsvr_warn("cannot listen on %s", where);
	errno = EADDRINUSE;
	return -2;
}

/* Every IPv4 and IPv6 address: one dual-stack socket, or IPv4 alone. */
static int
listen_any(const struct hsvr_config *cfg)
{
	struct sockaddr_in6 s6;
	struct sockaddr_in s4;
	int rc;

	memset(&s6, 0, sizeof s6);
	s6.sin6_family = AF_INET6;
	s6.sin6_addr = in6addr_any;
	s6.sin6_port = htons(cfg->port);
	rc = listen_on((struct sockaddr *)&s6, sizeof s6, cfg->backlog, 1);
	if (rc != -1)
		return rc == 0 ? 0 : -1;
	/* No IPv6 on this host. */
	memset(&s4, 0, sizeof s4);
	s4.sin_family = AF_INET;
	s4.sin_addr.s_addr = htonl(INADDR_ANY);
	s4.sin_port = htons(cfg->port);
	rc = listen_on((struct sockaddr *)&s4, sizeof s4, cfg->backlog, 0);
	if (rc == -1)
		hsvr_warn("cannot create a TCP socket");
	return rc == 0 ? 0 : -1;
}

static int
listen_interface(const struct hsvr_config *cfg)
{
	struct addrinfo hints, *res, *ai;
	char port[8];
	int rc, n = 0;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	(void)snprintf(port, sizeof port, "%u", cfg->port);
	rc = getaddrinfo(cfg->interface, port, &hints, &res);
	if (rc != 0) {
		hsvr_warnx("cannot listen on %s: %s", cfg->interface,
		    gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		rc = listen_on(ai->ai_addr, ai->ai_addrlen, cfg->backlog, 0);
		if (rc == -2) {
			freeaddrinfo(res);
			return -1;
		}
		n += rc == 0;
	}
	freeaddrinfo(res);
	if (n == 0)
		hsvr_warn("cannot listen on %s", cfg->interface);
	return n > 0 ? 0 : -1;
}

/*
 * -l: the socket's directory, held open from start-up to removal, so that
 * every step happens in the directory the path named at start-up, and the
 * socket's name and inode there.
 */
static int unix_dir = -1;
static char unix_base[sizeof ((struct sockaddr_un *)0)->sun_path];
static dev_t unix_dev;
static ino_t unix_ino;

/*
 * Open the directory of path (following symbolic links: /var/run is one
 * on Debian; the directories above the socket's are the administrator's)
 * and keep its last component in unix_base.  0, or -1 after a message.
 */
static int
unix_open_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash == NULL ? path : slash + 1;
	char dir[4096] = ".";
	size_t n = slash == NULL ? 0 : slash == path ? 1 :
	    (size_t)(slash - path);

	if (*base == '\0' || strlen(base) >= sizeof unix_base ||
	    n >= sizeof dir) {
		hsvr_warnx("cannot listen on %s: not a usable socket name",
		    path);
		return -1;
	}
	if (n > 0) {
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	memcpy(unix_base, base, strlen(base) + 1);
	unix_dir = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (unix_dir < 0) {
		hsvr_warn("cannot listen on %s: %s", path, dir);
		return -1;
	}
	return 0;
}

/*
 * Is a server listening on the socket unix_base of the current directory?
 * 1 yes, 0 no (stale: connection refused), 2 it is gone, -1 after a
 * message.  A full listen queue (EAGAIN) is a live server too.
 */
static int
unix_probe(const char *path)
{
	struct sockaddr_un sun;
	int fd, rc = -1;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, unix_base, strlen(unix_base) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		hsvr_warn("cannot listen on %s: socket", path);
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0 ||
	    errno == EAGAIN)
		rc = 1;
	else if (errno == ECONNREFUSED)
		rc = 0;
	else if (errno == ENOENT)
		rc = 2;
	else
		hsvr_warn("cannot listen on %s: cannot check the socket there",
		    path);
	close(fd);
	return rc;
}

/*
 * Give the listening socket "s" of the private directory pd its name in
 * unix_dir: where there is none, or over a stale socket; never over a
 * socket a server listens on, nor over another kind of file.  The current
 * directory is unix_dir (for the probe).  0, or -1 after a message.
 */
static int
unix_put(int pd, const char *path)
{
	struct stat sb;
	int tries;

	/* Each turn ends because the name changed meanwhile: a few only. */
	for (tries = 0; tries < 4; tries++) {
		if (fstatat(unix_dir, unix_base, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno != ENOENT)
				break;
			if (renameat2(pd, "s", unix_dir, unix_base,
			    RENAME_NOREPLACE) == 0)
				return 0;
			if (errno == EEXIST)
				continue;
			/* A file system without RENAME_NOREPLACE. */
			if ((errno == EINVAL || errno == ENOSYS) &&
			    renameat(pd, "s", unix_dir, unix_base) == 0)
				return 0;
			break;
		}
		if (!S_ISSOCK(sb.st_mode)) {
			hsvr_warnx("cannot listen on %s: exists and is not a "
			    "socket", path);
			return -1;
		}
		switch (unix_probe(path)) {
		case 1:
			hsvr_warnx("another server is listening on %s", path);
			return -1;
		case 0:
			/*
			 * Stale.  rename() replaces whatever the name holds
			 * now, never following it: at worst a file put there
			 * since by someone who may write the directory.
			 */
			if (renameat(pd, "s", unix_dir, unix_base) == 0)
				return 0;
			hsvr_warn("cannot listen on %s", path);
			return -1;
		case 2:
			continue;
		default:
			return -1;
		}
	}
	hsvr_warn("cannot listen on %s", path);
	return -1;
}

/*
 * Remove the socket's name, if it still names our socket: an unlink
 * through the directory held since start-up, never a path looked up
 * again.  Between the check and the unlink only someone who may write
 * the directory can change the name, and then what goes is theirs.
 */
static void
unix_remove(void)
{
	struct stat sb;

	if (unix_dir < 0)
		return;
	if (unix_owner && fstatat(unix_dir, unix_base, &sb,
	    AT_SYMLINK_NOFOLLOW) == 0 && sb.st_dev == unix_dev &&
	    sb.st_ino == unix_ino)
		(void)unlinkat(unix_dir, unix_base, 0);
	close(unix_dir);
	unix_dir = -1;
}

/*
 * The socket is made, moded and owned in a private directory (mode 0700,
 * ours) next to its place, where no one else can see it nor put anything,
 * then renamed into place: it never has a wider mode than 0770 nor another
 * owner at its name, and nothing follows a name another user controls.
 * bind() takes a name, not a descriptor: it is resolved from the private
 * directory as the current directory, which is then restored (start-up is
 * single-threaded).
 */
static int
listen_unix(const struct hsvr_config *cfg)
{
	const char *path = cfg->unix_path;
	struct sockaddr_un sun;
	struct stat sb;
	char priv[sizeof unix_base + 16];
	int fd = -1, pd = -1, cwd = -1, made = 0, rc = -1;

	if (unix_open_dir(path) != 0)
		return -1;
	(void)snprintf(priv, sizeof priv, ".%s.XXXXXX", unix_base);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, "s", 2);
	if ((cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fchdir(unix_dir) != 0 || mkdtemp(priv) == NULL) {
		hsvr_warn("cannot listen on %s: cannot make a private directory "
		    "there", path);
		goto out;
	}
	made = 1;
	/* The name is in a directory others may write: is it still ours? */
	pd = openat(unix_dir, priv, O_PATH | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (pd < 0 || fstat(pd, &sb) != 0 || sb.st_uid != geteuid() ||
	    (sb.st_mode & 077) != 0 || fchdir(pd) != 0) {
		hsvr_warnx("cannot listen on %s: its private directory %s was "
		    "replaced", path, priv);
		goto out;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0 ||
	    fchmodat(pd, "s", 0770, 0) != 0 ||
	    (cfg->drop && fchownat(pd, "s", cfg->uid, cfg->gid,
	    AT_SYMLINK_NOFOLLOW) != 0) ||
	    fstatat(pd, "s", &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
	    listen(fd, cfg->backlog) != 0 || fchdir(unix_dir) != 0) {
		hsvr_warn("cannot listen on %s", path);
		goto out;
	}
	unix_dev = sb.st_dev;
	unix_ino = sb.st_ino;
	if (unix_put(pd, path) != 0)
		goto out;
	rc = add_shared(fd, 1);
	fd = -1;        /* the table's, or closed */
	if (rc != 0) {
		hsvr_warn("cannot listen on %s", path);
		unix_owner = 1;         /* out: remove it again */
		goto out;
	}
	unix_path = path;
	unix_owner = 1;
out:
	if (pd >= 0)
		(void)unlinkat(pd, "s", 0);     /* left there on failure */
	if (made)
		(void)unlinkat(unix_dir, priv, AT_REMOVEDIR);
	if (cwd >= 0 && fchdir(cwd) != 0)
		hsvr_warn("cannot return to the working directory");
	if (cwd >= 0)
		close(cwd);
	if (pd >= 0)
		close(pd);
	if (fd >= 0)
		close(fd);
	if (rc != 0) {
		unix_remove();
		unix_owner = 0;
	}
	return rc;
}

int
hsvr_listen_open(struct hsvr_config *cfg)
{
	int rc;

	nlst = 0;
	/* --reuseport is for TCP; a UNIX socket is shared by the workers. */
	reuseport = cfg->reuseport && cfg->unix_path == NULL;
	per_worker = cfg->accept_thread && !reuseport ? 0 : cfg->threads;
	if (cfg->unix_path != NULL)
		rc = listen_unix(cfg);
	else if (cfg->interface != NULL && *cfg->interface != '\0')
		rc = listen_interface(cfg);
	else
		rc = listen_any(cfg);
	if (rc != 0)
		hsvr_listen_free();
	return rc;
}

static void
on_pause_over(evutil_socket_t fd, short what, void *arg)
{
	struct lsock *l = arg;

	(void)fd, (void)what;
	l->paused = 0;
	if (l->fd >= 0 && !l->added && event_add(&l->ev, NULL) == 0)
		l->added = 1;
}

/* Stop watching l for ms milliseconds; its timer resumes it. */
static void
pause_for(struct lsock *l, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000),
	    (suseconds_t)(ms % 1000) * 1000 };

	if (l->paused)
		return;
	if (l->added)
		event_del(&l->ev);
	l->added = 0;
	if (event_add(&l->pause, &tv) == 0)
		l->paused = 1;
}

/*
 * Until when (ms, hsvr_clock_ms) accepting pauses: the descriptors are all
 * in use, for every listener and every thread.  Atomic.
 */
static uint64_t resume_ms;

/*
 * Out of descriptors (or kernel memory): stop accepting for a moment
 * instead of spinning on a socket that stays readable, and say so in the
 * log at most once per EMFILE_LOG_SEC.  Every accepting thread pauses
 * until the same moment, so workers that share a socket do not each run
 * into the limit.  The connections wait in the listen queue and are
 * accepted once descriptors are free again.
 */
static void
pause_accepting(struct lsock *l, int err)
{
	static uint64_t logged_ms, unlogged;    /* atomic */
	uint64_t now = hsvr_clock_ms(), last, n;

	__atomic_store_n(&resume_ms, now + EMFILE_PAUSE_MS, __ATOMIC_RELAXED);
	__atomic_add_fetch(&unlogged, 1, __ATOMIC_RELAXED);
	last = __atomic_load_n(&logged_ms, __ATOMIC_RELAXED);
	if ((last == 0 || now - last >= (uint64_t)EMFILE_LOG_SEC * 1000) &&
	    __atomic_compare_exchange_n(&logged_ms, &last, now, 0,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
		n = __atomic_exchange_n(&unlogged, 0, __ATOMIC_RELAXED);
		hsvr_log(LOG_WARNING, "accept: %s: new connections wait; "
		    "%llu time%s since the last warning", strerror(err),
		    (unsigned long long)n, n == 1 ? "" : "s");
	}
	pause_for(l, EMFILE_PAUSE_MS);
}

static void
on_acceptable(evutil_socket_t lfd, short what, void *arg)
{
	struct lsock *l = arg;
	struct sockaddr_storage ss;
	socklen_t alen;
	int fd, n, is_unix = l->is_unix;
	int batch = l->worker >= 0 && !reuseport ? SHARED_BATCH : ACCEPT_BATCH;

	uint64_t now, until;

	(void)what;
	hsvr_online();
	until = __atomic_load_n(&resume_ms, __ATOMIC_RELAXED);
	if (until != 0 && (now = hsvr_clock_ms()) < until) {
		pause_for(l, until - now);     /* another thread ran out */
		return;
	}
	for (n = 0; n < batch; n++) {
		alen = sizeof ss;
		fd = accept4(lfd, (struct sockaddr *)&ss, &alen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			on_connection(fd, is_unix, &ss, alen, reuseport);
			if (l->fd < 0)
				return; /* a callback stopped this worker */
			continue;
		}
		switch (errno) {
		case EAGAIN:
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
			return;
		case EMFILE:
		case ENFILE:
			SHARED_ADD(fd_exhausted, 1);
			pause_accepting(l, errno);
			return;
		case ENOBUFS:
		case ENOMEM:
			SHARED_ADD(connect_error, 1);
			pause_accepting(l, errno);
			return;
		default:
			SHARED_ADD(connect_error, 1);
			hsvr_warn("accept");
			return;
		}
	}
}

static int
start_one(struct lsock *l, struct event_base *base)
{
	event_assign(&l->ev, base, l->fd, EV_READ | EV_PERSIST, on_acceptable,
	    l);
	evtimer_assign(&l->pause, base, on_pause_over, l);
	l->started = 1;
	if (event_add(&l->ev, NULL) != 0) {
		hsvr_warnx("cannot watch a listening socket: out of memory");
		return -1;
	}
	l->added = 1;
	return 0;
}

/* Close l; by its owner, or by anyone once no thread watches it. */
static void
stop_one(struct lsock *l)
{
	if (__atomic_load_n(&l->closed, __ATOMIC_ACQUIRE))
		return;
	if (l->added)
		event_del(&l->ev);
	if (l->paused)
		event_del(&l->pause);
	l->added = l->paused = 0;
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	__atomic_store_n(&l->closed, 1, __ATOMIC_RELEASE);
}

/* The listening descriptors of owner (-1: the main thread), on base. */
static int
start_owned(int owner, struct event_base *base)
{
	int i;

	for (i = 0; i < nlst; i++)
		if (lst[i].worker == owner && start_one(&lst[i], base) != 0)
			return -1;
	return 0;
}

/* The main thread's listening sockets (--accept-thread). */
int
hsvr_listen_start(struct event_base *base, hsvr_listen_cb cb)
{
	on_connection = cb;
	return start_owned(-1, base);
}

/*
 * Worker w's listening descriptors, watched on its base.  Called before
 * its thread starts; from then on only that thread touches them.
 */
int
hsvr_listen_start_worker(struct hsvr_worker *w, hsvr_listen_cb cb)
{
	on_connection = cb;
	return start_owned(w->index, w->base);
}

/* Worker w stops accepting (drain, stop): it closes its sockets. */
void
hsvr_listen_stop_worker(struct hsvr_worker *w)
{
	int i;

	for (i = 0; i < nlst; i++)
		if (lst[i].worker == w->index)
			stop_one(&lst[i]);
}

/* In a serving process: the path and its directory are the supervisor's. */
void
hsvr_listen_forget_path(void)
{
	unix_owner = 0;
	unix_remove();
}

/* Where the server listens, for the log: "[::]:1966", "/run/x.sock". */
void
hsvr_listen_describe(char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	size_t used = 0;
	int i;

	buf[0] = '\0';
	if (unix_path != NULL) {
		(void)snprintf(buf, len, "%s", unix_path);
		return;
	}
	for (i = 0; i < nlst && used + 2 < len; i++) {
		if (lst[i].worker > 0 || lst[i].fd < 0)
			continue;       /* one line per address */
		sl = sizeof ss;
		if (getsockname(lst[i].fd, (struct sockaddr *)&ss, &sl) != 0)
			continue;
		if (used > 0)
			buf[used++] = ' ';
		addr_text((struct sockaddr *)&ss, buf + used, len - used);
		used += strlen(buf + used);
	}
}

/*
 * Stop accepting: close the listening sockets (new connections refused).
 * Those a running worker watches are left to it (hsvr_listen_stop_worker):
 * closing a descriptor another thread's epoll watches would leave it
 * reporting a socket the supervisor still holds open.
 */
void
hsvr_listen_close(void)
{
	int i;

	for (i = 0; i < nlst; i++)
		if (lst[i].worker < 0 || !lst[i].started)
			stop_one(&lst[i]);
	unix_remove();
	unix_path = NULL;
}

/* Close everything and forget the sockets; no worker may run any more. */
void
hsvr_listen_free(void)
{
	int i;

	hsvr_listen_close();
	for (i = 0; i < nlst; i++)
		stop_one(&lst[i]);
	free(lst);
	lst = NULL;
	nlst = lcap = 0;
}
