/*
 * accept.c - the accept loops: the table of listening descriptors, each
 * watched by one thread (a worker, or the main thread with
 * --accept-thread), and every connection accepted handed to the callback
 * given at start (the worker pool's hsvr_worker_deal).  Out of
 * descriptors, accepting pauses instead of spinning.  Workers sharing a
 * socket are woken one at a time where the kernel can (EPOLLEXCLUSIVE).
 * The sockets are opened by the start-up (listen.c), which adds them here.
 */
#include "hsvr-int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/epoll.h>
#include <sys/resource.h>
#endif

#define ACCEPT_BATCH 64
/*
 * Workers sharing a socket may all be woken by a new connection; one that
 * took a whole batch would leave the others none.  A few at a time, then
 * back to its loop, where the socket, still readable, is seen again.
 *
 * Woken alone (EPOLLEXCLUSIVE), a worker takes one connection, the one
 * it was woken for, while connections come one at a time: a second
 * accept4 would find the queue empty (0.6 to 0.8 a connection under
 * ab -c 50).  While they wait in the queue (a busy worker: hsvr-proxy
 * under 50 clients), it takes up to EXCLUSIVE_BATCH: one turn of the loop
 * for each connection was one epoll_wait for each (1.07 a connection
 * through hsvr-proxy; 0.28 with batches of 4, haproxy 0.26).  A score per
 * socket decides: a batch taken whole +4, one that stopped at the empty
 * queue after n connections n - 1 (the turns it saved), after one or
 * none -1 (an accept4 for nothing); batches while it is above 0, else
 * one connection a wake and a batch every BATCH_PROBE wakes, to see the
 * queue fill again.
 */
#define SHARED_BATCH 4
#define EXCLUSIVE_BATCH 4
#define SCORE_MAX 32
#define BATCH_PROBE 16
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
	int epfd;               /* its base's epoll (exclusive); -1 unknown */
	int back;               /* atomic, in an address's first entry: the
	                           worker whose registration joined the
	                           socket's wait queue last; -1 unknown */
	int score;              /* exclusive: batches pay while above 0 */
	int probe;              /* exclusive: wakes since the last batch */
	struct event ev, pause;
};

static struct lsock *lst;
static int nlst, lcap;
static int per_worker;          /* descriptors per address; 0: main's */
static int reuseport;           /* per_worker sockets, not duplicates */
static void (*on_close)(void);  /* given at init: after the sockets close */
static hsvr_accept_cb on_connection;    /* given at start */

/*
 * A new table: per_worker descriptors of every address (0: one, the main
 * thread's), each a socket of its own (reuseport) or a duplicate of one;
 * closed is called once the sockets are closed (hsvr_accept_close).
 */
void
hsvr_accept_init(int workers_each, int own_sockets, void (*closed)(void))
{
	hsvr_accept_free();
	per_worker = workers_each;
	reuseport = own_sockets;
	on_close = closed;
}

/* fd listens, watched by worker (-1: the main thread). */
int
hsvr_accept_add(int fd, int is_unix, int worker)
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
	lst[nlst].epfd = -1;
	lst[nlst].back = -1;
	nlst++;
	return 0;
}

/*
 * fd listens: give it to the main thread (--accept-thread), or to worker
 * 0 and a duplicate of it to every other worker.  A duplicate shares the
 * socket and its queue; the socket closes with the last of them.  fd
 * is the table's (or closed) whatever the result.
 */
int
hsvr_accept_add_shared(int fd, int is_unix)
{
	int i, d;

	if (hsvr_accept_add(fd, is_unix, per_worker == 0 ? -1 : 0) != 0) {
		close(fd);
		return -1;
	}
	for (i = 1; i < per_worker; i++) {
		if ((d = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
			return -1;
		if (hsvr_accept_add(d, is_unix, i) != 0) {
			close(d);
			return -1;
		}
	}
	return 0;
}

#if defined(__linux__) && defined(EPOLLEXCLUSIVE)
/* The largest descriptor number looked at for a base's epoll. */
#define EPOLL_SCAN_MAX 65536

/*
 * The epoll descriptor of the base that watches l: the one epoll in the
 * process that knows l->fd, a duplicate of the socket for this worker
 * alone.  Modifying the registration to what libevent gave it (EPOLLIN,
 * the descriptor in data.fd) changes nothing; any other descriptor says
 * EBADF, EINVAL (not an epoll) or ENOENT.  -1: none.
 */
static int
find_epoll(const struct lsock *l)
{
	struct epoll_event ee;
	struct rlimit rl;
	int fd, top = EPOLL_SCAN_MAX;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)top)
		top = (int)rl.rlim_cur;
	for (fd = 0; fd < top; fd++) {
		if (fd == l->fd)
			continue;
		memset(&ee, 0, sizeof ee);
		ee.events = EPOLLIN;
		ee.data.fd = l->fd;
		if (epoll_ctl(fd, EPOLL_CTL_MOD, l->fd, &ee) == 0)
			return fd;
	}
	return -1;
}

/*
 * Workers sharing a socket: only one waiting worker is woken for a new
 * connection, not all of them.  libevent 2.1 cannot ask for EPOLLEXCLUSIVE
 * (and a nested epoll does not give it: the kernel wakes every outer epoll
 * of an exclusive inner one, since none waits on the inner one itself).
 * But its epoll backend registers a descriptor at event_add, as EPOLLIN
 * with the descriptor in data.fd, and removes it at event_del: once l is
 * added, its registration is replaced by the same with EPOLLEXCLUSIVE.
 * Such a registration cannot be modified, only removed, which is all
 * libevent does with a listening socket.  A kernel before Linux 4.5
 * ignores the flag: every worker is woken, as before, and takes one
 * connection.  Where the kernel refuses it, or the base is not epoll,
 * the registration stays as libevent made it: every worker is woken and
 * takes up to SHARED_BATCH.
 */
static void
exclusive(struct lsock *l)
{
	struct epoll_event ee;

	if (l->worker < 0 || reuseport || per_worker < 2 || l->epfd == -2)
		return;
	if (l->epfd == -1 && (strcmp(event_base_get_method(
	    event_get_base(&l->ev)), "epoll") != 0 ||
	    (l->epfd = find_epoll(l)) < 0)) {
		l->epfd = -2;
		return;
	}
	memset(&ee, 0, sizeof ee);
	ee.events = EPOLLIN | EPOLLEXCLUSIVE;
	ee.data.fd = l->fd;
	if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, l->fd, NULL) != 0)
		return;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->fd, &ee) == 0)
		return;
	ee.events = EPOLLIN;    /* refused: as libevent had it */
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->fd, &ee) != 0)
		hsvr_warn("cannot watch a listening socket again");
	l->epfd = -2;
}

/*
 * The entry of l's address that says who joined its queue last: a
 * duplicate's (hsvr_accept_add_shared puts worker 0's first, then the
 * others' in order).
 */
static int *
back_of(struct lsock *l)
{
	return &l[-l->worker].back;
}
#else
static void
exclusive(struct lsock *l)
{
	(void)l;
}

static int *
back_of(struct lsock *l)
{
	return &l->back;
}
#endif

/* Watch l again (it was not). */
static int
watch(struct lsock *l)
{
	if (event_add(&l->ev, NULL) != 0)
		return -1;
	l->added = 1;
	exclusive(l);
	if (l->epfd >= 0)       /* a duplicate, registered exclusive */
		__atomic_store_n(back_of(l), l->worker, __ATOMIC_RELAXED);
	return 0;
}

static void
on_pause_over(evutil_socket_t fd, short what, void *arg)
{
	struct lsock *l = arg;

	(void)fd, (void)what;
	l->paused = 0;
	if (l->fd >= 0 && !l->added)
		(void)watch(l);
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

/* Woken alone: how many to take this time (see EXCLUSIVE_BATCH). */
static int
exclusive_batch(struct lsock *l)
{
	if (l->score > 0 || ++l->probe >= BATCH_PROBE) {
		l->probe = 0;
		return EXCLUSIVE_BATCH;
	}
	return 1;
}

/* A batch of `batch` took n connections: what it paid, in the score. */
static void
exclusive_scored(struct lsock *l, int batch, int n)
{
	if (batch == 1)
		return;         /* one taken, one asked: it says nothing */
	if (n == batch)
		l->score += 4;
	else if (n >= 2)
		l->score += n - 1;
	else
		l->score--;
	if (l->score > SCORE_MAX)
		l->score = SCORE_MAX;
	if (l->score < 0)
		l->score = 0;
}

static void
on_acceptable(evutil_socket_t lfd, short what, void *arg)
{
	struct lsock *l = arg;
	struct sockaddr_storage ss;
	socklen_t alen;
	int fd, n, is_unix = l->is_unix;
	int batch = l->epfd >= 0 ? exclusive_batch(l) : l->worker >= 0 &&
	    !reuseport ? SHARED_BATCH : ACCEPT_BATCH;

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
			if (l->epfd >= 0)
				exclusive_scored(l, batch, n);
			return;
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
	if (l->epfd >= 0)
		exclusive_scored(l, batch, n);
}

static int
start_one(struct lsock *l, struct event_base *base)
{
	event_assign(&l->ev, base, l->fd, EV_READ | EV_PERSIST, on_acceptable,
	    l);
	evtimer_assign(&l->pause, base, on_pause_over, l);
	l->started = 1;
	if (watch(l) != 0) {
		hsvr_warnx("cannot watch a listening socket: out of memory");
		return -1;
	}
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
hsvr_accept_start(struct event_base *base, hsvr_accept_cb cb)
{
	on_connection = cb;
	return start_owned(-1, base);
}

/*
 * Worker w's listening descriptors, watched on its base.  Called before
 * its thread starts; from then on only that thread touches them.
 */
int
hsvr_accept_start_worker(struct hsvr_worker *w, hsvr_accept_cb cb)
{
	on_connection = cb;
	return start_owned(w->index, w->base);
}

/*
 * Worker w holds more than it should take on (from its thread): let the
 * kernel wake the others before it for the next connections.  With
 * EPOLLEXCLUSIVE the kernel wakes the first worker waiting in the order
 * their registrations joined the socket's queue, so an idle worker 0
 * would win every connection and hand off all it should not keep; added
 * again, w's registrations go to the back.  Two epoll_ctl calls a shared
 * socket; nothing without EPOLLEXCLUSIVE, and nothing when w's is at the
 * back already: then the others were busy when w was woken, and w would
 * only take its own place again (0.47 of these pairs a connection through
 * hsvr-proxy, -n 2, 50 clients; bench/PROFILE.md "Connections through the
 * proxy").
 */
void
hsvr_accept_yield(struct hsvr_worker *w)
{
	int i, *back;

	for (i = 0; i < nlst; i++) {
		if (lst[i].worker != w->index || !lst[i].added ||
		    lst[i].epfd < 0)
			continue;
		back = back_of(&lst[i]);
		if (__atomic_load_n(back, __ATOMIC_RELAXED) == w->index)
			continue;
		exclusive(&lst[i]);
		__atomic_store_n(back, w->index, __ATOMIC_RELAXED);
	}
}

/* Worker w stops accepting (drain, stop): it closes its sockets. */
void
hsvr_accept_close_worker(struct hsvr_worker *w)
{
	int i;

	for (i = 0; i < nlst; i++)
		if (lst[i].worker == w->index)
			stop_one(&lst[i]);
}

/*
 * Stop accepting: close the listening sockets (new connections refused).
 * Those a running worker watches are left to it (hsvr_accept_close_worker):
 * closing a descriptor another thread's epoll watches would leave it
 * reporting a socket the supervisor still holds open.
 */
void
hsvr_accept_close(void)
{
	int i;

	for (i = 0; i < nlst; i++)
		if (lst[i].worker < 0 || !lst[i].started)
			stop_one(&lst[i]);
	if (on_close != NULL)
		on_close();
}

/* Close everything and forget the sockets; no worker may run any more. */
void
hsvr_accept_free(void)
{
	int i;

	hsvr_accept_close();
	for (i = 0; i < nlst; i++)
		stop_one(&lst[i]);
	free(lst);
	lst = NULL;
	nlst = lcap = 0;
}
