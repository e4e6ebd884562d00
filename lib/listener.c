/*
 * listener.c - the listening sockets (TCP on every address or one, or a
 * UNIX-domain path) and the accept loop that hands connections to workers.
 */
#include "hsvr-int.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_LISTENERS 8
#define ACCEPT_BATCH 64
#define EMFILE_PAUSE_MS 100

static struct {
	int fd;
	int is_unix;
	struct event ev;
	int added;
} lst[MAX_LISTENERS];
static int nlst;
static struct event pause_ev;
static int pause_armed;
static const char *unix_path;
static int unix_owner;         /* this process removes the path at close */

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
listen_on(const struct sockaddr *sa, socklen_t salen, int backlog,
    int dual_stack)
{
	char where[NI_MAXHOST + NI_MAXSERV + 4];
	int fd, on = 1, off = 0;

	if (nlst == MAX_LISTENERS)
		return -1;
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
		    dual_stack ? &off : &on, sizeof on);
	if (bind(fd, sa, salen) != 0 || listen(fd, backlog) != 0) {
		addr_text(sa, where, sizeof where);
		hsvr_warn("cannot listen on %s", where);
		close(fd);
		errno = EADDRINUSE;
		return -2;
	}
	lst[nlst].fd = fd;
	lst[nlst].is_unix = 0;
	nlst++;
	return 0;
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

static int
listen_unix(const struct hsvr_config *cfg)
{
	struct sockaddr_un sun;
	struct stat sb;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	(void)snprintf(sun.sun_path, sizeof sun.sun_path, "%s", cfg->unix_path);
	/* Replace a stale socket, never another kind of file. */
	if (lstat(cfg->unix_path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode)) {
			hsvr_warnx("cannot listen on %s: exists and is not a "
			    "socket", cfg->unix_path);
			return -1;
		}
		unlink(cfg->unix_path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0 ||
	    chmod(cfg->unix_path, 0770) != 0 ||
	    (cfg->drop && chown(cfg->unix_path, cfg->uid, cfg->gid) != 0) ||
	    listen(fd, cfg->backlog) != 0) {
		hsvr_warn("cannot listen on %s", cfg->unix_path);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	lst[0].fd = fd;
	lst[0].is_unix = 1;
	nlst = 1;
	unix_path = cfg->unix_path;
	unix_owner = 1;
	return 0;
}

int
hsvr_listen_open(struct hsvr_config *cfg)
{
	int rc;

	nlst = 0;
	if (cfg->unix_path != NULL)
		rc = listen_unix(cfg);
	else if (cfg->interface != NULL && *cfg->interface != '\0')
		rc = listen_interface(cfg);
	else
		rc = listen_any(cfg);
	if (rc != 0)
		hsvr_listen_close();
	return rc;
}

static void
listeners_enable(int on)
{
	int i;

	for (i = 0; i < nlst; i++) {
		if (on && !lst[i].added)
			event_add(&lst[i].ev, NULL);
		else if (!on && lst[i].added)
			event_del(&lst[i].ev);
		lst[i].added = on;
	}
}

static void
on_pause_over(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	pause_armed = 0;
	listeners_enable(1);
}

/* Out of descriptors: stop accepting for a moment instead of spinning. */
static void
pause_accepting(void)
{
	struct timeval tv = { 0, EMFILE_PAUSE_MS * 1000L };

	if (pause_armed)
		return;
	listeners_enable(0);
	event_add(&pause_ev, &tv);
	pause_armed = 1;
}

static void
hand_off(int fd, int is_unix, const struct sockaddr_storage *ss,
    socklen_t alen)
{
	struct hsvr_msg *m;
	struct hsvr_worker *w;
	uint32_t live;
	uint64_t high;

	live = __atomic_add_fetch(&hsvr_g.live, 1, __ATOMIC_RELAXED);
	if (live > (uint32_t)hsvr_g.cfg->max_conn ||
	    (m = malloc(sizeof *m)) == NULL) {
		__atomic_sub_fetch(&hsvr_g.live, 1, __ATOMIC_RELAXED);
		SHARED_ADD(session_error, 1);
		close(fd);
		return;
	}
	high = __atomic_load_n(&hsvr_g.shared.session_high, __ATOMIC_RELAXED);
	if (live > high)
		__atomic_store_n(&hsvr_g.shared.session_high, live,
		    __ATOMIC_RELAXED);
	m->next = NULL;
	m->type = MSG_CONN;
	m->c = NULL;
	m->u.conn.fd = fd;
	m->u.conn.is_unix = is_unix;
	m->u.conn.alen = alen;
	memcpy(&m->u.conn.addr, ss, sizeof *ss);
	w = &hsvr_g.workers[hsvr_g.rr++ % (unsigned)hsvr_g.nworkers];
	hsvr_worker_post(w, m);
}

static void
on_acceptable(evutil_socket_t lfd, short what, void *arg)
{
	struct sockaddr_storage ss;
	socklen_t alen;
	intptr_t i = (intptr_t)arg;
	int fd, n;

	(void)what;
	for (n = 0; n < ACCEPT_BATCH; n++) {
		alen = sizeof ss;
		fd = accept4(lfd, (struct sockaddr *)&ss, &alen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			hand_off(fd, lst[i].is_unix, &ss, alen);
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
		case ENOBUFS:
		case ENOMEM:
			SHARED_ADD(connect_error, 1);
			pause_accepting();
			return;
		default:
			SHARED_ADD(connect_error, 1);
			hsvr_warn("accept");
			return;
		}
	}
}

int
hsvr_listen_start(struct event_base *base)
{
	int i;

	evtimer_assign(&pause_ev, base, on_pause_over, NULL);
	for (i = 0; i < nlst; i++) {
		event_assign(&lst[i].ev, base, lst[i].fd, EV_READ | EV_PERSIST,
		    on_acceptable, (void *)(intptr_t)i);
		lst[i].added = 0;
	}
	listeners_enable(1);
	return 0;
}

/* In a serving process: the path belongs to the supervisor. */
void
hsvr_listen_forget_path(void)
{
	unix_owner = 0;
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
		sl = sizeof ss;
		if (getsockname(lst[i].fd, (struct sockaddr *)&ss, &sl) != 0)
			continue;
		if (used > 0)
			buf[used++] = ' ';
		addr_text((struct sockaddr *)&ss, buf + used, len - used);
		used += strlen(buf + used);
	}
}

/* Stop accepting: close every listening socket (new connections refused). */
void
hsvr_listen_close(void)
{
	int i;

	if (pause_armed) {
		event_del(&pause_ev);
		pause_armed = 0;
	}
	for (i = 0; i < nlst; i++) {
		if (lst[i].added)
			event_del(&lst[i].ev);
		lst[i].added = 0;
		close(lst[i].fd);
	}
	if (unix_path != NULL && unix_owner)
		unlink(unix_path);
	unix_path = NULL;
	nlst = 0;
}
