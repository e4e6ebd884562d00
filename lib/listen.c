/*
 * listen.c - the listening sockets, opened by the start-up as root before
 * anything else: TCP on every address or one, or a UNIX-domain path made
 * and named without following a path another user controls.  Each socket
 * goes to the accept loops' table (accept.c); what it listens on is noted
 * in the configuration, for the log.  Or sockets inherited already
 * listening (--listen-fd, systemd's LISTEN_FDS), taken as they are.  And
 * --metrics's socket (TCP or UNIX-domain, made as the others are), handed
 * to the engine in cfg->metrics_fd, whose thread serves it (metrics.c).
 */
#include "hsvr-int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#define MAX_ADDRESSES 8
#define METRICS_BACKLOG 64

static int naddr;               /* addresses listened on */
static int per_worker;          /* descriptors per address; 0: main's */
static int reuseport;           /* per_worker sockets, not duplicates */
static char *described;         /* the configuration's "where" */
static size_t described_len;
static struct hsvr_config *config;      /* metrics_fd: --metrics's socket */

/*
 * The sockets themselves (not the duplicates the workers get), for an
 * upgrade to hand over: kind 't' TCP, 'r' TCP of worker's --reuseport,
 * 'u' the -l socket, 'i' and 'j' inherited TCP and UNIX-domain, 'm'
 * --metrics's (TCP or UNIX-domain).
 */
#define MAX_SOCKETS (MAX_ADDRESSES * 256 + HSVR_MAX_LISTEN_FDS + 1)
static struct {
	int fd;
	char kind;
	int worker;
} sockets[MAX_SOCKETS];
static int nsockets;

/*
 * serv_set_defer_accept: a TCP connection is handed to the server only
 * once its client has sent something, or after about this many seconds
 * (0: at once, the default).
 */
#define DEFER_MAX 3600
static int defer_sec;

int
serv_set_defer_accept(int seconds)
{
	if (seconds < 0 || seconds > DEFER_MAX) {
		hsvr_warnx("serv_set_defer_accept: %d: not a number of "
		    "seconds from 0 to %d", seconds, DEFER_MAX);
		return -1;
	}
	defer_sec = seconds;
	return 0;
}

/*
 * The kernel keeps a connection on the TCP socket fd until its first
 * data (Linux's TCP_DEFER_ACCEPT, FreeBSD's "dataready" accept filter),
 * as serv_set_defer_accept said: the read at accept then finds the
 * request.  A socket made here is left alone when nothing was asked;
 * one an older image handed over (force) gets this image's word, 0
 * included; one inherited from a socket-activating supervisor keeps
 * what that set, unless the application asks.
 */
static void
listen_defer(int fd, int force)
{
	static int warned;

	if (defer_sec == 0 && !force)
		return;
#if defined(TCP_DEFER_ACCEPT)
	if (setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_sec,
	    sizeof defer_sec) == 0)
		return;
#elif defined(SO_ACCEPTFILTER)
	struct accept_filter_arg afa;

	memset(&afa, 0, sizeof afa);
	(void)snprintf(afa.af_name, sizeof afa.af_name, "dataready");
	if (defer_sec > 0 ? setsockopt(fd, SOL_SOCKET, SO_ACCEPTFILTER, &afa,
	    sizeof afa) == 0 : setsockopt(fd, SOL_SOCKET, SO_ACCEPTFILTER,
	    NULL, 0) == 0 || errno == EINVAL)
		return;
#else
	errno = ENOPROTOOPT;
#endif
	if (defer_sec > 0 && !warned) {
		warned = 1;
		hsvr_warn("serv_set_defer_accept: connections are accepted "
		    "before their first data");
	}
}

/* fd, a socket of the server's (kind as below), kept for an upgrade. */
static void
remember(int fd, char kind, int worker)
{
	if (nsockets < MAX_SOCKETS) {
		sockets[nsockets].fd = fd;
		sockets[nsockets].kind = kind;
		sockets[nsockets++].worker = worker;
	}
}

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

/* fd listens on an address of its own: add it to the description. */
static void
note_address(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	size_t used = strlen(described);

	if (used + 2 >= described_len ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return;
	if (used > 0)
		described[used++] = ' ';
	addr_text((struct sockaddr *)&ss, described + used,
	    described_len - used);
}

#define TCP_NODELAY_ON 1   /* connections inherit TCP_NODELAY */
#define TCP_REUSEPORT 2    /* SO_REUSEPORT */
#define TCP_DUAL_STACK 4   /* IPv6 and IPv4 (else IPv6 only) */

/*
 * A TCP socket listening on sa (with SO_REUSEADDR, and what flags ask):
 * the descriptor; -1 if no socket of this family can be made, -2 if it
 * cannot listen there (errno set in both cases; nothing said).
 */
static int
tcp_listen(const struct sockaddr *sa, socklen_t salen, int backlog,
    int flags)
{
	int fd, on = 1, off = 0, saved;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	if (flags & TCP_NODELAY_ON)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
	if (flags & TCP_REUSEPORT)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
		    (flags & TCP_DUAL_STACK) ? &off : &on, sizeof on);
	if (bind(fd, sa, salen) != 0 || listen(fd, backlog) != 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -2;
	}
	return fd;
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
	int fd, i, n = reuseport ? per_worker : 1;

	if (naddr >= MAX_ADDRESSES)
		return -1;
	for (i = 0; i < n; i++) {
		fd = tcp_listen(sa, salen, backlog, TCP_NODELAY_ON |
		    (reuseport ? TCP_REUSEPORT : 0) |
		    (dual_stack ? TCP_DUAL_STACK : 0));
		if (fd == -1 && i == 0)
			return -1;
		if (fd < 0)
			goto fail;
		if (i == 0)
			note_address(fd);
		if (!reuseport) {
			if (hsvr_accept_add_shared(fd, 0) != 0)
				goto fail;
		} else if (hsvr_accept_add(fd, 0, i) != 0) {
			close(fd);
			goto fail;
		}
		listen_defer(fd, 0);
		remember(fd, reuseport ? 'r' : 't', i);
	}
	naddr++;
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
 * A UNIX-domain socket's name: its directory, held open from start-up to
 * removal, so that every step happens in the directory the path named at
 * start-up, and the socket's name and inode there.  Two: -l's and
 * --metrics unix:PATH's, made and removed by the same code.  owner: this
 * process removes the name at close.
 */
struct unix_name {
	int dir;
	int owner;
	dev_t dev;
	ino_t ino;
	char base[sizeof ((struct sockaddr_un *)0)->sun_path];
};
static struct unix_name lsock = { .dir = -1 }, msock = { .dir = -1 };

/*
 * Open the directory of path (following symbolic links: /var/run is one
 * on Debian; the directories above the socket's are the administrator's)
 * and keep its last component in u->base.  what: the path as messages
 * name it.  0, or -1 after a message.
 */
static int
unix_open_dir(struct unix_name *u, const char *path, const char *what)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash == NULL ? path : slash + 1;
	char dir[4096] = ".";
	size_t n = slash == NULL ? 0 : slash == path ? 1 :
	    (size_t)(slash - path);

	if (*base == '\0' || strlen(base) >= sizeof u->base ||
	    n >= sizeof dir) {
		hsvr_warnx("cannot listen on %s: not a usable socket name",
		    what);
		return -1;
	}
	if (n > 0) {
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	memcpy(u->base, base, strlen(base) + 1);
	u->dir = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (u->dir < 0) {
		hsvr_warn("cannot listen on %s: %s", what, dir);
		return -1;
	}
	return 0;
}

/*
 * Is a server listening on the socket u->base of the current directory?
 * 1 yes, 0 no (stale: connection refused), 2 it is gone, -1 after a
 * message.  A full listen queue (EAGAIN) is a live server too.
 */
static int
unix_probe(const struct unix_name *u, const char *what)
{
	struct sockaddr_un sun;
	int fd, rc = -1;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, u->base, strlen(u->base) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		hsvr_warn("cannot listen on %s: socket", what);
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
		    what);
	close(fd);
	return rc;
}

/*
 * Give the listening socket "s" of the private directory pd its name in
 * u->dir: where there is none, or over a stale socket; never over a
 * socket a server listens on, nor over another kind of file.  The current
 * directory is u->dir (for the probe).  0, or -1 after a message.
 */
static int
unix_put(const struct unix_name *u, int pd, const char *what)
{
	struct stat sb;
	int tries;

	/* Each turn ends because the name changed meanwhile: a few only. */
	for (tries = 0; tries < 4; tries++) {
		if (fstatat(u->dir, u->base, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
			if (errno != ENOENT)
				break;
			if (renameat2(pd, "s", u->dir, u->base,
			    RENAME_NOREPLACE) == 0)
				return 0;
			if (errno == EEXIST)
				continue;
			/* A file system without RENAME_NOREPLACE. */
			if ((errno == EINVAL || errno == ENOSYS) &&
			    renameat(pd, "s", u->dir, u->base) == 0)
				return 0;
			break;
		}
		if (!S_ISSOCK(sb.st_mode)) {
			hsvr_warnx("cannot listen on %s: exists and is not a "
			    "socket", what);
			return -1;
		}
		switch (unix_probe(u, what)) {
		case 1:
			hsvr_warnx("another server is listening on %s", what);
			return -1;
		case 0:
			/*
			 * Stale.  rename() replaces whatever the name holds
			 * now, never following it: at worst a file put there
			 * since by someone who may write the directory.
			 */
			if (renameat(pd, "s", u->dir, u->base) == 0)
				return 0;
			hsvr_warn("cannot listen on %s", what);
			return -1;
		case 2:
			continue;
		default:
			return -1;
		}
	}
	hsvr_warn("cannot listen on %s", what);
	return -1;
}

/*
 * Remove the socket's name, if this process owns it and it still names
 * our socket: an unlink through the directory held since start-up, never
 * a path looked up again.  Between the check and the unlink only someone
 * who may write the directory can change the name, and then what goes is
 * theirs.  The directory is closed: once only.
 */
static void
unix_remove(struct unix_name *u)
{
	struct stat sb;

	if (u->dir < 0)
		return;
	if (u->owner && fstatat(u->dir, u->base, &sb,
	    AT_SYMLINK_NOFOLLOW) == 0 && sb.st_dev == u->dev &&
	    sb.st_ino == u->ino)
		(void)unlinkat(u->dir, u->base, 0);
	close(u->dir);
	u->dir = -1;
	u->owner = 0;
}

/* The accept table's sockets closed: -l's name goes. */
static void
lsock_remove(void)
{
	unix_remove(&lsock);
}

/*
 * A UNIX-domain socket listening at path, named in u (what: the path as
 * messages name it), for -l and for --metrics unix:PATH.  The socket is
 * made, moded and owned in a private directory (mode 0700, ours) next to
 * its place, where no one else can see it nor put anything, then renamed
 * into place: it never has a wider mode than 0770 nor another owner at
 * its name, and nothing follows a name another user controls.  bind()
 * takes a name, not a descriptor: it is resolved from the private
 * directory as the current directory, which is then restored (start-up
 * is single-threaded).  The descriptor (u owns the name), or -1 after a
 * message.
 */
static int
unix_listen(struct unix_name *u, const char *path, const char *what,
    const struct hsvr_config *cfg, int backlog)
{
	struct sockaddr_un sun;
	struct stat sb;
	char priv[sizeof u->base + 16];
	int fd = -1, pd = -1, cwd = -1, made = 0, ok = 0;

	if (unix_open_dir(u, path, what) != 0)
		return -1;
	(void)snprintf(priv, sizeof priv, ".%s.XXXXXX", u->base);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, "s", 2);
	if ((cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    fchdir(u->dir) != 0 || mkdtemp(priv) == NULL) {
		hsvr_warn("cannot listen on %s: cannot make a private directory "
		    "there", what);
		goto out;
	}
	made = 1;
	/* The name is in a directory others may write: is it still ours? */
	pd = openat(u->dir, priv, O_PATH | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (pd < 0 || fstat(pd, &sb) != 0 || sb.st_uid != geteuid() ||
	    (sb.st_mode & 077) != 0 || fchdir(pd) != 0) {
		hsvr_warnx("cannot listen on %s: its private directory %s was "
		    "replaced", what, priv);
		goto out;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0 ||
	    fchmodat(pd, "s", 0770, 0) != 0 ||
	    (cfg->drop && fchownat(pd, "s", cfg->uid, cfg->gid,
	    AT_SYMLINK_NOFOLLOW) != 0) ||
	    fstatat(pd, "s", &sb, AT_SYMLINK_NOFOLLOW) != 0 ||
	    listen(fd, backlog) != 0 || fchdir(u->dir) != 0) {
		hsvr_warn("cannot listen on %s", what);
		goto out;
	}
	u->dev = sb.st_dev;
	u->ino = sb.st_ino;
	ok = unix_put(u, pd, what) == 0;
out:
	if (pd >= 0)
		(void)unlinkat(pd, "s", 0);     /* left there on failure */
	if (made)
		(void)unlinkat(u->dir, priv, AT_REMOVEDIR);
	if (cwd >= 0 && fchdir(cwd) != 0)
		hsvr_warn("cannot return to the working directory");
	if (cwd >= 0)
		close(cwd);
	if (pd >= 0)
		close(pd);
	if (!ok) {
		if (fd >= 0)
			close(fd);
		unix_remove(u);         /* not the owner: the directory only */
		return -1;
	}
	u->owner = 1;
	return fd;
}

/* -l: the socket, shared by the workers. */
static int
listen_unix(const struct hsvr_config *cfg)
{
	const char *path = cfg->unix_path;
	int fd;

	if ((fd = unix_listen(&lsock, path, path, cfg, cfg->backlog)) < 0)
		return -1;
	/* The table's, or closed. */
	if (hsvr_accept_add_shared(fd, 1) != 0) {
		hsvr_warn("cannot listen on %s", path);
		unix_remove(&lsock);
		return -1;
	}
	(void)snprintf(described, described_len, "%s", path);
	remember(fd, 'u', 0);
	return 0;
}

/*
 * Socket activation, read by hand (sd_listen_fds(3) semantics, without
 * libsystemd): LISTEN_PID must be this process, LISTEN_FDS counts the
 * descriptors from 3 on.  LISTEN_FDNAMES (colon-separated) is kept for
 * the log.  The variables are removed whoever they were for: nothing
 * the server runs may take them as its own.
 */
static char fd_names[128];

int
hsvr_listen_activated(int *fds, int max)
{
	const char *pid = getenv("LISTEN_PID"), *nfd = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	char *end;
	long v;
	int i, n = 0;

	fd_names[0] = '\0';
	if (pid != NULL && nfd != NULL) {
		errno = 0;
		v = strtol(pid, &end, 10);
		if (*pid == '\0' || *end != '\0' || errno != 0 ||
		    v != (long)getpid())
			goto out;
		v = strtol(nfd, &end, 10);
		if (*nfd == '\0' || *end != '\0' || errno != 0 || v < 1 ||
		    v > max) {
			hsvr_warnx("cannot listen on the sockets of LISTEN_FDS="
			    "%s: 1 to %d are served", nfd, max);
			n = -1;
			goto out;
		}
		for (i = 0; i < v; i++)
			fds[n++] = STDERR_FILENO + 1 + i;
		if (names != NULL)
			(void)snprintf(fd_names, sizeof fd_names, "%s", names);
	}
out:
	(void)unsetenv("LISTEN_PID");
	(void)unsetenv("LISTEN_FDS");
	(void)unsetenv("LISTEN_FDNAMES");
	return n;
}

/*
 * Is fd an open stream socket (TCP or UNIX-domain) that listens?  It
 * could be anything a starting command left at that number.  Its address
 * in ss; 0, or -1 after a line.
 */
static int
inherited_check(int fd, const char *origin, struct sockaddr_storage *ss)
{
	socklen_t sl = sizeof *ss, ol = sizeof(int);
	int type = 0, listening = 0;

	memset(ss, 0, sizeof *ss);
	if (fcntl(fd, F_GETFD) < 0) {
		hsvr_warnx("cannot listen on descriptor %d (%s): not open",
		    fd, origin);
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &ol) != 0) {
		if (errno == ENOTSOCK)
			hsvr_warnx("cannot listen on descriptor %d (%s): not a "
			    "socket", fd, origin);
		else
			hsvr_warn("cannot listen on descriptor %d (%s)", fd,
			    origin);
		return -1;
	}
	ol = sizeof listening;
	if (type != SOCK_STREAM || getsockname(fd, (struct sockaddr *)ss,
	    &sl) != 0 || (ss->ss_family != AF_INET &&
	    ss->ss_family != AF_INET6 && ss->ss_family != AF_UNIX)) {
		hsvr_warnx("cannot listen on descriptor %d (%s): not a TCP or "
		    "UNIX-domain stream socket", fd, origin);
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ol) != 0 ||
	    !listening) {
		hsvr_warnx("cannot listen on descriptor %d (%s): the socket "
		    "is not listening", fd, origin);
		return -1;
	}
	return 0;
}

static const char *
inherited_origin(const struct hsvr_config *cfg, int i)
{
	return i < cfg->listen_activated ? "LISTEN_FDS" : "--listen-fd";
}

/*
 * Right after the options, before start-up opens anything (the log, TLS
 * files, serv_init's): a descriptor named but not open would be taken by
 * one of those, and served.  0, or -1 after a line.
 */
int
hsvr_listen_check(const struct hsvr_config *cfg)
{
	struct sockaddr_storage ss;
	int i;

	for (i = 0; i < cfg->n_listen_fds; i++)
		if (inherited_check(cfg->listen_fds[i],
		    inherited_origin(cfg, i), &ss) != 0)
			return -1;
	return 0;
}

/*
 * Serve on fd, inherited listening, checked again, then made
 * close-on-exec and non-blocking and shared by the workers.  Its
 * address, or its path, is not ours: nothing is removed at exit.  0, or
 * -1 after a line.
 */
static int
listen_inherited(int fd, const char *origin)
{
	struct sockaddr_storage ss;
	size_t used;
	int on = 1, fl, moved, null;

	if (inherited_check(fd, origin, &ss) != 0)
		return -1;
	/* inetd's "wait" servers get it as 0: those the daemon makes null. */
	if (fd <= STDERR_FILENO) {
		moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
		null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (moved < 0 || null < 0 || dup2(null, fd) < 0) {
			hsvr_warn("cannot listen on descriptor %d (%s)", fd,
			    origin);
			if (moved >= 0)
				close(moved);
			if (null >= 0)
				close(null);
			return -1;
		}
		close(null);
		fd = moved;
	}
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
	    (fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
		hsvr_warn("cannot listen on descriptor %d (%s)", fd, origin);
		return -1;
	}
	if (ss.ss_family != AF_UNIX) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
		listen_defer(fd, 0);
	}
	used = strlen(described);
	if (ss.ss_family != AF_UNIX)
		note_address(fd);
	else if (used + 2 < described_len)
		(void)snprintf(described + used, described_len - used, "%s%s",
		    used > 0 ? " " : "", ((struct sockaddr_un *)&ss)->sun_path);
	if (hsvr_accept_add_shared(fd, ss.ss_family == AF_UNIX) != 0) {
		hsvr_warn("cannot listen on descriptor %d (%s)", fd, origin);
		return -1;
	}
	remember(fd, ss.ss_family == AF_UNIX ? 'j' : 'i', 0);
	return 0;
}

/* Every inherited socket, or none. */
static int
listen_all_inherited(const struct hsvr_config *cfg)
{
	size_t used;
	int i;

	for (i = 0; i < cfg->n_listen_fds; i++)
		if (listen_inherited(cfg->listen_fds[i],
		    inherited_origin(cfg, i)) != 0)
			return -1;
	used = strlen(described);
	if (cfg->listen_activated > 0 && used + 2 < described_len)
		(void)snprintf(described + used, described_len - used,
		    " (socket activation%s%s)", fd_names[0] ? ": " : "",
		    fd_names);
	return 0;
}

/* The table, empty, for cfg's sockets. */
static void
listen_init(struct hsvr_config *cfg)
{
	naddr = 0;
	nsockets = 0;
	config = cfg;
	described = cfg->where;
	described_len = sizeof cfg->where;
	described[0] = '\0';
	/* --reuseport is for TCP; a UNIX socket is shared by the workers. */
	reuseport = cfg->reuseport && cfg->unix_path == NULL &&
	    cfg->n_listen_fds == 0;
	per_worker = cfg->accept_thread && !reuseport ? 0 : cfg->threads;
	hsvr_accept_init(per_worker, reuseport, lsock_remove);
}

int
hsvr_listen_open(struct hsvr_config *cfg)
{
	int rc;

	listen_init(cfg);
	if (cfg->n_listen_fds > 0)
		rc = listen_all_inherited(cfg);
	else if (cfg->unix_path != NULL)
		rc = listen_unix(cfg);
	else if (cfg->interface != NULL && *cfg->interface != '\0')
		rc = listen_interface(cfg);
	else
		rc = listen_any(cfg);
	if (rc != 0)
		hsvr_listen_free();
	return rc;
}

/* ------------------------------------------------------------ --metrics */

static char m_where[300];               /* the --metrics argument */
static char m_host[256], m_port[8];     /* TCP */
static char m_path[sizeof msock.base];  /* unix: */

int
hsvr_listen_metrics_parse(const char *arg, char *err, size_t errlen)
{
	const char *colon, *h, *p;
	char *end;
	size_t hl;
	long v;

	m_host[0] = m_port[0] = m_path[0] = '\0';
	if (strncmp(arg, "unix:", 5) == 0) {
		if (arg[5] == '\0' || strlen(arg + 5) >= sizeof m_path) {
			(void)snprintf(err, errlen, "a UNIX socket's path, "
			    "at most %zu bytes", sizeof m_path - 1);
			return -1;
		}
		memcpy(m_path, arg + 5, strlen(arg + 5) + 1);
	} else {
		colon = strrchr(arg, ':');
		if (colon == NULL) {
			(void)snprintf(err, errlen, "ADDR:PORT, [IPV6]:PORT "
			    "or unix:PATH");
			return -1;
		}
		h = arg;
		hl = (size_t)(colon - arg);
		if (hl >= 2 && arg[0] == '[' && arg[hl - 1] == ']') {
			h++;
			hl -= 2;
		} else if (memchr(arg, ':', hl) != NULL) {
			(void)snprintf(err, errlen, "an IPv6 address goes in "
			    "brackets: [::1]:9100");
			return -1;
		}
		p = colon + 1;
		errno = 0;
		v = strtol(p, &end, 10);
		if (hl == 0 || hl >= sizeof m_host || *p == '\0' ||
		    *end != '\0' || errno != 0 || v < 1 || v > 65535) {
			(void)snprintf(err, errlen, "ADDR:PORT with an address "
			    "and a port from 1 to 65535");
			return -1;
		}
		memcpy(m_host, h, hl);
		m_host[hl] = '\0';
		(void)snprintf(m_port, sizeof m_port, "%ld", v);
	}
	(void)snprintf(m_where, sizeof m_where, "%s", arg);
	return 0;
}

/* ADDR:PORT: the first of its addresses that can be listened on. */
static int
metrics_tcp(void)
{
	struct addrinfo hints, *res, *ai;
	int fd = -1, rc, saved = 0;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(m_host, m_port, &hints, &res);
	if (rc != 0) {
		hsvr_warnx("cannot listen on %s (--metrics): %s", m_where,
		    gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
		if ((fd = tcp_listen(ai->ai_addr, ai->ai_addrlen,
		    METRICS_BACKLOG, 0)) < 0)
			saved = errno;
	freeaddrinfo(res);
	if (fd < 0) {
		errno = saved;
		hsvr_warn("cannot listen on %s (--metrics)", m_where);
	}
	return fd;
}

/*
 * --metrics, after hsvr_listen_open: its socket, in the table (carried
 * by an upgrade, closed with the others) and in cfg->metrics_fd for the
 * engine.  unix:PATH is made as -l's socket is, and its name removed as
 * -l's.  0 (nothing to do without --metrics), or -1 after a line.
 */
int
hsvr_listen_metrics(struct hsvr_config *cfg)
{
	char what[sizeof m_where + 16];
	int fd;

	if (m_where[0] == '\0')
		return 0;
	config = cfg;
	if (m_path[0] != '\0') {
		(void)snprintf(what, sizeof what, "%s (--metrics)", m_where);
		fd = unix_listen(&msock, m_path, what, cfg, METRICS_BACKLOG);
	} else {
		fd = metrics_tcp();
	}
	if (fd < 0)
		return -1;
	cfg->metrics_fd = fd;
	remember(fd, 'm', 0);
	return 0;
}

/* This process's copy of --metrics's socket closed, its name removed. */
static void
metrics_close(void)
{
	if (config != NULL && config->metrics_fd >= 0) {
		(void)close(config->metrics_fd);
		config->metrics_fd = -1;
	}
	unix_remove(&msock);
}

/* ------------------------------------------------------------ the end */

/* In a serving process: the paths and their directories are the
 * supervisor's. */
void
hsvr_listen_forget_path(void)
{
	lsock.owner = msock.owner = 0;
	unix_remove(&lsock);
	unix_remove(&msock);
}

/*
 * Stop accepting: the sockets closed, --metrics's too (a scrape is
 * refused, not queued for a draining process that answers none), the
 * UNIX sockets' names removed.
 */
void
hsvr_listen_close(void)
{
	nsockets = 0;
	hsvr_accept_close();
	unix_remove(&lsock);
	metrics_close();
}

/* Close everything and forget the sockets; no worker may run any more. */
void
hsvr_listen_free(void)
{
	nsockets = 0;
	hsvr_accept_free();
	unix_remove(&lsock);
	metrics_close();
}

/* " KEY=dir:dev:ino" for u's directory and inode, if this process owns
 * its name. */
static void
carry_name(const char *key, const struct unix_name *u)
{
	if (u->dir >= 0 && u->owner) {
		hsvr_upgrade_add_fd(u->dir);
		hsvr_upgrade_add(" %s=%d:%ju:%ju", key, u->dir,
		    (uintmax_t)u->dev, (uintmax_t)u->ino);
	}
}

/*
 * An upgrade: the sockets go to the next image, as they are (listening
 * all along: no connection is refused), with the UNIX sockets'
 * directories and inodes so that it removes the names at exit as this
 * one would.  --metrics's as "m=fd" (what images before it was
 * recorded here understand), its directory as "mu=".
 */
void
hsvr_listen_carry(void)
{
	int i, n = 0;

	hsvr_upgrade_add(" l=");
	for (i = 0; i < nsockets; i++) {
		hsvr_upgrade_add_fd(sockets[i].fd);
		if (sockets[i].kind != 'm')
			hsvr_upgrade_add("%s%d:%c:%d", n++ ? "," : "",
			    sockets[i].fd, sockets[i].kind, sockets[i].worker);
	}
	for (i = 0; i < nsockets; i++)
		if (sockets[i].kind == 'm')
			hsvr_upgrade_add(" m=%d", sockets[i].fd);
	carry_name("u", &lsock);
	carry_name("mu", &msock);
}

/* One socket handed over: in the table as the old image had it. */
static int
adopt_one(const struct hsvr_config *cfg, int fd, char kind, int worker)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	size_t used = strlen(described);
	int rc;

	if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
		return -1;
	switch (kind) {
	case 't':
	case 'i':
		note_address(fd);
		listen_defer(fd, kind == 't');
		rc = hsvr_accept_add_shared(fd, 0);
		break;
	case 'r':
		if (worker == 0)
			note_address(fd);
		listen_defer(fd, 1);
		/* Fewer workers than before: some watch two sockets. */
		rc = hsvr_accept_add(fd, 0, per_worker > 0 ?
		    worker % per_worker : 0);
		break;
	case 'u':
	case 'j':
		memset(&ss, 0, sizeof ss);
		if (kind == 'j' && getsockname(fd, (struct sockaddr *)&ss,
		    &sl) == 0 && used + 2 < described_len)
			(void)snprintf(described + used, described_len - used,
			    "%s%s", used > 0 ? " " : "",
			    ((struct sockaddr_un *)&ss)->sun_path);
		else if (kind == 'u')
			(void)snprintf(described, described_len, "%s",
			    cfg->unix_path != NULL ? cfg->unix_path : "?");
		rc = hsvr_accept_add_shared(fd, 1);
		break;
	default:
		return -1;
	}
	if (rc == 0)
		remember(fd, kind, worker);
	return rc;
}

/*
 * The value of key, "dir:dev:ino", into u with the last component of
 * path: this image removes that name at exit.  0 (also without key), or
 * -1 if it is not that.
 */
static int
adopt_name(const char *key, struct unix_name *u, const char *path)
{
	const char *v = hsvr_upgrade_get(key), *slash;
	unsigned long long n[3];

	if (v == NULL)
		return 0;
	if (hsvr_upgrade_numbers(&v, n, 3) != 0 || n[0] > INT_MAX)
		return -1;
	u->dir = (int)n[0];
	(void)fcntl(u->dir, F_SETFD, FD_CLOEXEC);
	u->dev = (dev_t)n[1];
	u->ino = (ino_t)n[2];
	slash = strrchr(path, '/');
	(void)snprintf(u->base, sizeof u->base, "%s",
	    slash == NULL ? path : slash + 1);
	u->owner = 1;
	return 0;
}

/*
 * The new image of an upgrade: the old one's sockets, never closed, in
 * place of opening any; --metrics's into cfg->metrics_fd.  0, or -1
 * after a line.
 */
int
hsvr_listen_adopt(struct hsvr_config *cfg)
{
	const char *v;
	char *end, kind;
	unsigned long long m;
	long fd, worker;

	listen_init(cfg);
	if ((v = hsvr_upgrade_get("l")) == NULL || *v == '\0')
		goto bad;
	while (*v != '\0') {
		fd = strtol(v, &end, 10);
		if (end == v || *end != ':' || end[1] == '\0' || end[2] != ':')
			goto bad;
		kind = end[1];
		v = end + 3;
		worker = strtol(v, &end, 10);
		if (end == v || (*end != ',' && *end != '\0') || fd < 0 ||
		    fd > INT_MAX || worker < 0 || worker > INT_MAX ||
		    adopt_one(cfg, (int)fd, kind, (int)worker) != 0)
			goto bad;
		v = *end == ',' ? end + 1 : end;
	}
	if ((cfg->unix_path != NULL &&
	    adopt_name("u", &lsock, cfg->unix_path) != 0) ||
	    (m_path[0] != '\0' && adopt_name("mu", &msock, m_path) != 0))
		goto bad;
	/* Not usable: not served, as if --metrics had not been given. */
	if ((v = hsvr_upgrade_get("m")) != NULL &&
	    hsvr_upgrade_numbers(&v, &m, 1) == 0 && m <= INT_MAX &&
	    fcntl((int)m, F_SETFD, FD_CLOEXEC) == 0) {
		cfg->metrics_fd = (int)m;
		remember(cfg->metrics_fd, 'm', 0);
	}
	return 0;
bad:
	hsvr_warnx("upgrade: the listening sockets handed over are not "
	    "usable");
	lsock.owner = msock.owner = 0;
	hsvr_listen_free();
	return -1;
}
