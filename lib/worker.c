/*
 * worker.c - the worker pool: each worker thread's event base, its inbox
 * of messages from other threads (new connections, cross-thread sends,
 * closes, timers) and its loop, which passes a quiescent point after
 * every iteration; which worker opens an accepted connection; the start
 * gate the workers wait at, and the count of those that have stopped.
 * A worker's base is touched by its own thread only, so it has no lock:
 * other threads post to its inbox (a mutex) and wake it through a
 * descriptor of its own.
 */
#include "hsvr-int.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

_Thread_local struct hsvr_worker *hsvr_self;

/* The pool of one server (hsvr_worker_pool_init). */
static struct hsvr_worker *workers;
static int nworkers;            /* set up so far (hsvr_worker_init) */
static int drained;             /* atomic: workers no longer accepting */
static unsigned int rr;         /* round-robin cursor (accept thread) */
static uint32_t max_conn;       /* -m */
static int max_per_ip;          /* --max-per-ip, 0 = any */
/* --proxy-protocol: who may send the header; NULL: no header */
static const struct hsvr_proxy_from *proxy_from;
static int posted[2];           /* stop, drain: sent to every worker */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int initialised;         /* workers that ran serv_worker_init */
static int gate_open;           /* start-up is over: the workers may serve */
static int done;                /* atomic: workers that left their loop */
static struct event done_ev;
static void (*on_all_done)(void);
static int pool_size;           /* room for this many workers */

/*
 * --metrics: each worker's loop lag.  A timer on the worker's base is
 * due every HSVR_LAG_PERIOD_MS; how late it runs is how long the loop was
 * held by callbacks (or by the CPU going elsewhere) when it was due.  A
 * callback that blocks its worker for D ms shows as a lag between D - 100
 * and D ms.  libevent's coarse clock (a few ms) bounds the resolution.
 */
const uint64_t hsvr_lag_bounds_us[HSVR_LAG_BOUNDS] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000
};

struct lag_rec {
	struct hsvr_lag h;      /* stored by its worker only, read by any */
	struct event ev;
	uint64_t due_us;
} __attribute__((aligned(HSVR_CACHELINE)));

static struct lag_rec *lags;    /* NULL: not measured */

/*
 * A new server: room for n workers, none set up, the gate closed, none
 * done; hsvr_worker_deal holds connections to max_conn (-m) and to
 * max_per_ip per address (--max-per-ip, 0 = any).  0, or -1 after a line.
 */
int
hsvr_worker_pool_init(int n, int conns, int per_ip)
{
	done = 0;
	initialised = 0;
	gate_open = 0;
	drained = 0;
	rr = 0;
	posted[0] = posted[1] = 0;
	max_conn = conns > 0 ? (uint32_t)conns : 0;
	max_per_ip = per_ip;
	nworkers = 0;
	pool_size = n;
	workers = aligned_alloc(HSVR_CACHELINE, sizeof *workers * (size_t)n);
	if (workers == NULL) {
		hsvr_warn("cannot allocate %d workers", n);
		return -1;
	}
	memset(workers, 0, sizeof *workers * (size_t)n);
	return 0;
}

/*
 * --proxy-protocol: TCP connections from outside from are closed as they
 * are accepted, and --max-per-ip counts a connection only once its
 * header has named the client (session.c).  NULL: no header.
 */
void
hsvr_worker_pool_proxy(const struct hsvr_proxy_from *from)
{
	proxy_from = from;
	if (from != NULL)
		max_per_ip = 0;
}

int
hsvr_worker_pool_count(void)
{
	return nworkers;
}

struct hsvr_worker *
hsvr_worker_pool_at(int i)
{
	return &workers[i];
}

/*
 * A worker ran serv_worker_init.  It waits until start-up is over (every
 * worker initialised, the server announced): it accepts connections
 * itself, and none may be served before that.
 */
static void
gate_pass(void)
{
	pthread_mutex_lock(&gate_lock);
	initialised++;
	pthread_cond_broadcast(&gate_cond);
	while (!gate_open)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
}

/* Let the workers serve (or, on a failed start, stop). */
void
hsvr_worker_gate_open(void)
{
	pthread_mutex_lock(&gate_lock);
	gate_open = 1;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

/* Start-up is over only when every worker has run serv_worker_init. */
void
hsvr_worker_gate_wait(int n)
{
	pthread_mutex_lock(&gate_lock);
	while (initialised < n)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
}

static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	if (__atomic_load_n(&done, __ATOMIC_SEQ_CST) >= nworkers)
		on_all_done();
}

/* all_done() on base's thread once every worker has left its loop. */
void
hsvr_worker_pool_watch(struct event_base *base, void (*all_done)(void))
{
	on_all_done = all_done;
	event_assign(&done_ev, base, -1, 0, on_done, NULL);
}

void
hsvr_worker_pool_unwatch(void)
{
	event_del(&done_ev);
}

/* A worker left its loop (from that worker's thread). */
static void
left_loop(void)
{
	__atomic_add_fetch(&done, 1, __ATOMIC_SEQ_CST);
	event_active(&done_ev, EV_READ, 0);
}

/*
 * Wake w from any thread: its wake descriptor becomes readable.  A full
 * counter or pipe (EAGAIN) means a wake is pending already.
 */
static void
wake(struct hsvr_worker *w)
{
	uint64_t one = 1;
	ssize_t n;

	do
		n = write(w->wake_wr, &one, sizeof one);
	while (n < 0 && errno == EINTR);
}

static struct hsvr_msg *
inbox_take(struct hsvr_worker *w, struct hsvr_conn **ctl)
{
	struct hsvr_msg *m;

	pthread_mutex_lock(&w->inbox_lock);
	m = w->inbox_head;
	w->inbox_head = NULL;
	w->inbox_tail = &w->inbox_head;
	*ctl = w->ctl_head;
	w->ctl_head = NULL;
	pthread_mutex_unlock(&w->inbox_lock);
	return m;
}

/* Queue m for w; wake w only when its inbox was empty (one wake a batch). */
void
hsvr_worker_post(struct hsvr_worker *w, struct hsvr_msg *m)
{
	int was_empty;

	m->next = NULL;
	pthread_mutex_lock(&w->inbox_lock);
	was_empty = w->inbox_head == NULL && w->ctl_head == NULL;
	*w->inbox_tail = m;
	w->inbox_tail = &m->next;
	pthread_mutex_unlock(&w->inbox_lock);
	if (was_empty)
		wake(w);
}

/*
 * Ask c's worker, from another thread, to act on c: set the bits in set
 * and clear those in clear, in one step.  Queues c unless already queued.
 */
void
hsvr_worker_request(struct hsvr_conn *c, uint32_t set, uint32_t clear)
{
	struct hsvr_worker *w = c->w;
	uint32_t old = __atomic_load_n(&c->ctl, __ATOMIC_SEQ_CST), want;
	int was_empty;

	do
		want = (old & ~clear) | set | CTL_QUEUED;
	while (!__atomic_compare_exchange_n(&c->ctl, &old, want, 0,
	    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	if (old & CTL_QUEUED)
		return;
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&w->inbox_lock);
	was_empty = w->inbox_head == NULL && w->ctl_head == NULL;
	c->cnext = w->ctl_head;
	w->ctl_head = c;
	pthread_mutex_unlock(&w->inbox_lock);
	if (was_empty)
		wake(w);
}

static void
stop(struct hsvr_worker *w)
{
	hsvr_accept_close_worker(w);
	hsvr_linger_close_all(w);
	while (w->conns != NULL)
		hsvr_session_abort(w->conns);
	w->stop = 1;
}

/*
 * A draining worker stops when it holds no session and none can come:
 * every worker has stopped accepting (so no hand-off can be made any
 * more) and none is on its way to it.  A worker that stopped with a
 * connection still in its inbox would close it unread.
 */
static void
check_drained(struct hsvr_worker *w)
{
	if (w->draining && w->conns == NULL &&
	    __atomic_load_n(&drained, __ATOMIC_SEQ_CST) >= nworkers &&
	    __atomic_load_n(&w->incoming, __ATOMIC_SEQ_CST) == 0)
		w->stop = 1;
}

/*
 * Graceful stop: stop accepting, ask every session to finish (after what
 * its peer already sent is served: hsvr_session_drain); stop once none is
 * left.  The last worker to stop accepting wakes the others to check.
 */
static void
drain(struct hsvr_worker *w)
{
	struct hsvr_conn *c, *next;
	int i;

	hsvr_accept_close_worker(w);
	w->draining = 1;
	for (c = w->conns; c != NULL; c = next) {
		next = c->next;
		hsvr_session_drain(c);
	}
	if (__atomic_add_fetch(&drained, 1, __ATOMIC_SEQ_CST) == nworkers)
		for (i = 0; i < nworkers; i++)
			if (&workers[i] != w)
				wake(&workers[i]);
	check_drained(w);
}

static void
handle(struct hsvr_worker *w, struct hsvr_msg *m)
{
	struct hsvr_conn *c = m->c;

	if (m->type == MSG_CONN) {
		__atomic_sub_fetch(&w->incoming, 1, __ATOMIC_RELAXED);
		hsvr_session_open(w, m);
		return;
	}
	if (m->type == MSG_STOP) {
		stop(w);
		return;
	}
	if (m->type == MSG_DRAIN) {
		drain(w);
		return;
	}
	if (conn_state(c) == HSVR_ST_CLOSED) {
		if (m->type == MSG_SEND) {
			__atomic_sub_fetch(&c->pending, m->u.out.len,
			    __ATOMIC_SEQ_CST);
			SHARED_ADD(discarded_octet, m->u.out.len);
			hsvr_output_done(&m->u.out);
		}
	} else if (m->type == MSG_SEND) {
		/* S_send* said 0: the release is due even if this fails. */
		if (hsvr_session_send(c, &m->u.out) != 0)
			hsvr_output_done(&m->u.out);
	}
	hsvr_qsbr_unref(c);
}

/* The requests other threads made for c, all at once. */
static void
control(struct hsvr_conn *c)
{
	uint32_t bits = __atomic_exchange_n(&c->ctl, 0, __ATOMIC_SEQ_CST);

	if (conn_state(c) != HSVR_ST_CLOSED) {
		if (bits & CTL_TIMER)
			hsvr_session_settimer(c,
			    __atomic_load_n(&c->ctl_sec, __ATOMIC_SEQ_CST));
		if (bits & CTL_PAUSE)
			hsvr_session_pause_read(c, (bits & CTL_PAUSED) != 0);
		if (bits & CTL_SHUT)
			hsvr_session_shutdown(c);
		if (bits & CTL_CLOSE)
			hsvr_session_close(c);
		else if (bits & CTL_KICK)
			hsvr_session_kick(c);
	}
	hsvr_qsbr_unref(c);
}

/* The preallocated control messages are freed once used. */
static void
forget(struct hsvr_worker *w, const struct hsvr_msg *m)
{
	if (m == w->stop_msg)
		w->stop_msg = NULL;
	if (m == w->drain_msg)
		w->drain_msg = NULL;
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct hsvr_worker *w = arg;
	struct hsvr_msg *m, *next;
	struct hsvr_conn *c, *cnext;
	uint64_t count[8];

	(void)what;
	hsvr_online();
	/*
	 * The wake is taken before the inbox: a post after the take finds
	 * the inbox empty and wakes the worker again; one before it is in
	 * the take.
	 */
	while (read(fd, count, sizeof count) == (ssize_t)sizeof count &&
	    w->wake_rd != w->wake_wr)
		;       /* a pipe: until empty */
	for (m = inbox_take(w, &c); m != NULL; m = next) {
		next = m->next;
		handle(w, m);
		forget(w, m);
		hsvr_free(m);
	}
	/* Read the link first: once its bits are taken, c may be requeued. */
	for (; c != NULL; c = cnext) {
		cnext = c->cnext;
		control(c);
	}
	hsvr_output_release_run();
	check_drained(w);
}

/*
 * After the worker stopped: drop what is still queued.  Connections not yet
 * opened are closed; sessions are all closed, so sends are discarded.
 */
static void
drop_inbox(struct hsvr_worker *w)
{
	struct hsvr_msg *m, *next;
	struct hsvr_conn *c, *cnext;

	for (m = inbox_take(w, &c); m != NULL; m = next) {
		next = m->next;
		if (m->type == MSG_CONN) {
			__atomic_sub_fetch(&w->incoming, 1, __ATOMIC_RELAXED);
			close(m->u.conn.fd);
			__atomic_sub_fetch(&hsvr_shared.live, 1,
			    __ATOMIC_RELAXED);
		} else if (m->type == MSG_SEND) {
			SHARED_ADD(discarded_octet, m->u.out.len);
			hsvr_output_done(&m->u.out);
		}
		if (m->c != NULL)
			__atomic_sub_fetch(&m->c->refs, 1, __ATOMIC_SEQ_CST);
		forget(w, m);
		hsvr_free(m);
	}
	for (; c != NULL; c = cnext) {
		cnext = c->cnext;
		__atomic_store_n(&c->ctl, 0, __ATOMIC_SEQ_CST);
		__atomic_sub_fetch(&c->refs, 1, __ATOMIC_SEQ_CST);
	}
}

/*
 * Sessions worker w holds, and connections on their way to it (any
 * thread may ask; a snapshot).  Those on their way count: a worker that
 * is slow to run would otherwise look light for a whole burst.
 */
static uint64_t
load_of(struct hsvr_worker *w)
{
	return __atomic_load_n(&w->ctr.accepted, __ATOMIC_RELAXED) -
	    __atomic_load_n(&w->ctr.terms, __ATOMIC_RELAXED) +
	    __atomic_load_n(&w->incoming, __ATOMIC_RELAXED);
}

/*
 * Workers sharing a socket do not take turns: the kernel wakes the first
 * worker waiting (EPOLLEXCLUSIVE), an idle one, and without it an idle
 * worker tends to win the race for a whole burst.  Either way a few
 * long-lived connections, each one idle once it is opened, could all
 * land on one worker and leave the other cores idle.  So a worker that
 * holds more sessions than the one with fewest, by more than a slack,
 * passes the connection on to it.  NULL: keep it.  The slack is 0 while
 * the worker holds fewer than 4 (a second long connection goes to the
 * other worker), then a quarter of what it holds, up to BALANCE_SLACK,
 * plus 1/16 of the least when there are many: with connections that
 * come and go, differences of a few come and go by themselves, and each
 * hand-off costs a wake-up of the other worker.  Most are avoided before
 * they are due: a worker that would hand off its next connection steps
 * back in the kernel's wake-up order (hsvr_accept_yield), so a lighter
 * worker waiting for work is woken for it (bench/PROFILE.md, "Accepting":
 * 0.09 hand-offs a connection under ab -c 50, 0.19 under ab -c 5).
 */
#define BALANCE_SLACK 4

static struct hsvr_worker *
lighter(struct hsvr_worker *self)
{
	struct hsvr_worker *best = NULL;
	uint64_t mine = load_of(self), least = mine, n, slack;
	int i;

	if (mine == 0)
		return NULL;
	for (i = 0; i < nworkers; i++) {
		n = load_of(&workers[i]);
		if (n < least) {
			least = n;
			best = &workers[i];
		}
	}
	slack = mine / 4 < BALANCE_SLACK ? mine / 4 : BALANCE_SLACK;
	return mine > least + slack + least / 16 ? best : NULL;
}

/*
 * A connection accepted (the accept loop's callback): count it against
 * the limits, then open it here when a worker accepted it, or hand it to
 * a worker: round-robin from the accept thread, or a lighter one (above).
 * keep (--reuseport): the accepting worker opens it in place, whatever
 * its load (the kernel's hash chose its socket; nothing to step back in).
 */
void
hsvr_worker_deal(int fd, int is_unix, const struct sockaddr_storage *ss,
    socklen_t alen, int keep)
{
	struct hsvr_msg *m, local;
	struct hsvr_worker *w;
	uint32_t live;
	uint64_t high;
	uint8_t key[16];
	char host[INET6_ADDRSTRLEN];
	unsigned short port;
	int perip = 0;

	if (proxy_from != NULL && !is_unix &&
	    (hsvr_search_key((const struct sockaddr *)ss, key, host,
	    sizeof host, &port) != 0 || !hsvr_proxy_from_match(proxy_from,
	    key))) {
		SHARED_ADD(proxy_error, 1);     /* not a proxy of ours */
		close(fd);
		return;
	}
	live = __atomic_add_fetch(&hsvr_shared.live, 1, __ATOMIC_RELAXED);
	if (live > max_conn)
		goto refuse;
	if (max_per_ip > 0 && !is_unix &&
	    hsvr_search_key((const struct sockaddr *)ss, key, host, sizeof host,
	    &port) == 0) {
		switch (hsvr_perip_take(key)) {
		case 0:
			perip = 1;
			break;
		case 1:
			SHARED_ADD(session_error_per_ip, 1);
			goto refuse;
		default:
			goto refuse;
		}
	}
	/* keep: not even through its own inbox (a malloc, a lock, a wake). */
	w = hsvr_self == NULL || keep ? NULL : lighter(hsvr_self);
	if (hsvr_self != NULL && w == NULL)
		m = &local;     /* a worker accepted it: it opens it now */
	else if ((m = hsvr_malloc(sizeof *m)) == NULL) {
		if (perip)
			hsvr_perip_give(key);
		goto refuse;
	}
	high = __atomic_load_n(&hsvr_shared.stats.session_high,
	    __ATOMIC_RELAXED);
	if (live > high)
		__atomic_store_n(&hsvr_shared.stats.session_high, live,
		    __ATOMIC_RELAXED);
	m->next = NULL;
	m->type = MSG_CONN;
	m->c = NULL;
	m->u.conn.fd = fd;
	m->u.conn.is_unix = is_unix;
	m->u.conn.perip = perip;
	m->u.conn.alen = alen;
	memcpy(&m->u.conn.addr, ss, sizeof *ss);
	if (m == &local) {
		hsvr_session_open(hsvr_self, m);
		/*
		 * It would hand the next one off: let a lighter worker be
		 * woken for it instead, if one is waiting (no hand-off).
		 */
		if (!keep && lighter(hsvr_self) != NULL)
			hsvr_accept_yield(hsvr_self);
		return;
	}
	if (w == NULL)
		w = &workers[rr++ % (unsigned int)nworkers];
	else
		hsvr_accept_yield(hsvr_self);
	__atomic_add_fetch(&w->incoming, 1, __ATOMIC_RELAXED);
	hsvr_worker_post(w, m);
	return;
refuse:
	__atomic_sub_fetch(&hsvr_shared.live, 1, __ATOMIC_RELAXED);
	SHARED_ADD(session_error, 1);
	close(fd);
}

/* The next lag sample is due HSVR_LAG_PERIOD_MS from now. */
static void
lag_arm(struct hsvr_worker *w, struct lag_rec *r)
{
	struct timeval tv = { 0, (suseconds_t)HSVR_LAG_PERIOD_MS * 1000 };

	/* From now, not from the loop's cached time of this iteration. */
	event_base_update_cache_time(w->base);
	r->due_us = hsvr_clock_us() + (uint64_t)HSVR_LAG_PERIOD_MS * 1000;
	event_add(&r->ev, &tv);
}

static void
on_lag(evutil_socket_t fd, short what, void *arg)
{
	struct hsvr_worker *w = arg;
	struct lag_rec *r = &lags[w->index];
	uint64_t now = hsvr_clock_us();
	uint64_t late = now > r->due_us ? now - r->due_us : 0;
	int b;

	(void)fd, (void)what;
	for (b = 0; b < HSVR_LAG_BOUNDS && late > hsvr_lag_bounds_us[b]; b++)
		;
	/* One writer: plain increments, stored whole for the readers. */
	__atomic_store_n(&r->h.bucket[b], r->h.bucket[b] + 1,
	    __ATOMIC_RELAXED);
	__atomic_store_n(&r->h.sum_us, r->h.sum_us + late, __ATOMIC_RELAXED);
	lag_arm(w, r);
}

/* Measure the workers' loop lag (1) or not (0): 0, or -1 after a line. */
int
hsvr_worker_pool_lag(int on)
{
	free(lags);
	lags = NULL;
	if (!on)
		return 0;
	lags = aligned_alloc(HSVR_CACHELINE, sizeof *lags * (size_t)pool_size);
	if (lags == NULL) {
		hsvr_warn("cannot allocate the loop lag of %d workers",
		    pool_size);
		return -1;
	}
	memset(lags, 0, sizeof *lags * (size_t)pool_size);
	return 0;
}

void
hsvr_worker_lag_read(int i, struct hsvr_lag *out)
{
	int b;

	memset(out, 0, sizeof *out);
	if (lags == NULL || i < 0 || i >= nworkers)
		return;
	for (b = 0; b <= HSVR_LAG_BOUNDS; b++)
		out->bucket[b] = __atomic_load_n(&lags[i].h.bucket[b],
		    __ATOMIC_RELAXED);
	out->sum_us = __atomic_load_n(&lags[i].h.sum_us, __ATOMIC_RELAXED);
}

/*
 * A worker's base: its thread alone uses it (set up here before the thread
 * starts, freed after it ended), so libevent's lock around every call
 * would only cost (about 2,000 instructions a connection through
 * hsvr-proxy; bench/PROFILE.md).
 */
static struct event_base *
base_new(void)
{
	struct event_config *ec;
	struct event_base *b = NULL;

	if ((ec = event_config_new()) == NULL)
		return NULL;
	if (event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK) == 0)
		b = event_base_new_with_config(ec);
	event_config_free(ec);
	/* Two priorities: the wake (0) before everything else (1). */
	if (b != NULL && event_base_priority_init(b, 2) != 0) {
		event_base_free(b);
		b = NULL;
	}
	return b;
}

/* w's wake descriptor: an eventfd, or a pipe where there is none. */
static int
wake_open(struct hsvr_worker *w)
{
#ifdef __linux__
	w->wake_rd = w->wake_wr = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return w->wake_rd >= 0 ? 0 : -1;
#else
	int fds[2];

	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
		return -1;
	w->wake_rd = fds[0];
	w->wake_wr = fds[1];
	return 0;
#endif
}

/*
 * Set up worker index, the next one (its quiescent-state record in slot
 * index of the table): 0, or -1 after a line.  Counted even if it fails,
 * for hsvr_worker_pool_free.
 */
int
hsvr_worker_init(int index)
{
	struct hsvr_worker *w = &workers[index];

	nworkers = index + 1;
	w->index = index;
	w->check_drained = check_drained;
	w->inbox_tail = &w->inbox_head;
	w->wake_rd = w->wake_wr = -1;
	pthread_mutex_init(&w->inbox_lock, NULL);
	w->rbuf = malloc(HSVR_READ_MAX + 1);
	w->stage = malloc(HSVR_STAGE_MAX);
	w->stop_msg = calloc(1, sizeof *w->stop_msg);
	w->drain_msg = calloc(1, sizeof *w->drain_msg);
	w->base = base_new();
	if (w->rbuf == NULL || w->stage == NULL || w->stop_msg == NULL ||
	    w->drain_msg == NULL || w->base == NULL) {
		hsvr_warnx("cannot set up worker %d: out of memory", index);
		return -1;
	}
	if (wake_open(w) != 0) {
		hsvr_warn("cannot set up worker %d", index);
		return -1;
	}
	event_assign(&w->wake, w->base, w->wake_rd, EV_READ | EV_PERSIST,
	    on_wake, w);
	/*
	 * Ready with other events, the inbox goes first, as when other
	 * threads activated the wake event itself: a drain or a stop closes
	 * the listening sockets before a connection ready in the same turn
	 * is accepted, a close asked for is done before more is read.
	 */
	if (event_priority_set(&w->wake, 0) != 0 ||
	    event_add(&w->wake, NULL) != 0) {
		hsvr_warnx("cannot set up worker %d: out of memory", index);
		return -1;
	}
	if (lags != NULL)
		evtimer_assign(&lags[index].ev, w->base, on_lag, w);
	hsvr_qsbr_init(&w->qs, w->base);
	hsvr_qsbr_table_set(index, &w->qs);
	return 0;
}

static void *
worker_main(void *arg)
{
	struct hsvr_worker *w = arg;

	hsvr_self = w;
	hsvr_qs_self = &w->qs;
	hsvr_output_thread(1);
	hsvr_online();
	hsvr_hooks_worker_init(w->index);
	gate_pass();
	if (lags != NULL)
		lag_arm(w, &lags[w->index]);
	while (!w->stop) {
		event_base_loop(w->base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY);
		/* None left: each path ran its own. */
		hsvr_output_release_run();
		hsvr_qsbr_end_iteration();
	}
	if (lags != NULL)
		event_del(&lags[w->index].ev);
	hsvr_linger_close_all(w); /* a drain does not wait for them */
	hsvr_output_release_run();  /* those of the sessions stop() closed */
	hsvr_output_thread(0);
	hsvr_qs_self = NULL;
	hsvr_self = NULL;
	left_loop();
	return NULL;
}

int
hsvr_worker_start(struct hsvr_worker *w)
{
	int rc;

	rc = pthread_create(&w->thread, NULL, worker_main, w);
	if (rc != 0) {
		w->thread = 0;
		hsvr_warnx("cannot start worker %d: %s", w->index,
		    strerror(rc));
		return -1;
	}
	return 0;
}

static void
worker_free(struct hsvr_worker *w)
{
	/* Its thread is gone (or never ran): its listening sockets too. */
	hsvr_accept_close_worker(w);
	if (w->base != NULL) {
		if (w->wake_rd >= 0)    /* assigned right after it opened */
			event_del(&w->wake);
		event_base_free(w->base);
	}
	if (w->wake_wr >= 0 && w->wake_wr != w->wake_rd)
		close(w->wake_wr);
	if (w->wake_rd >= 0)
		close(w->wake_rd);
	free(w->rbuf);
	free(w->stage);
	free(w->stop_msg);
	free(w->drain_msg);
	pthread_mutex_destroy(&w->inbox_lock);
	memset(w, 0, sizeof *w);
}

/* Ask every worker to drain (1) or to stop now (0): once each. */
void
hsvr_worker_pool_post(int drain)
{
	struct hsvr_msg *m;
	int i;

	if (posted[drain])
		return;
	posted[drain] = 1;
	for (i = 0; i < nworkers; i++) {
		m = drain ? workers[i].drain_msg : workers[i].stop_msg;
		m->type = drain ? MSG_DRAIN : MSG_STOP;
		hsvr_worker_post(&workers[i], m);
	}
}

/*
 * After hsvr_worker_pool_post(0): wait for the threads, then, with none
 * running, drop what is left in the inboxes and free the closed sessions.
 * The counters stay for the last statistics.
 */
void
hsvr_worker_pool_join(void)
{
	int i;

	for (i = 0; i < nworkers; i++)
		if (workers[i].thread != 0)
			pthread_join(workers[i].thread, NULL);
	for (i = 0; i < nworkers; i++)
		drop_inbox(&workers[i]);
	for (i = 0; i < nworkers; i++)
		hsvr_qsbr_free_all(&workers[i].qs);
}

void
hsvr_worker_pool_free(void)
{
	int i;

	for (i = 0; i < nworkers; i++)
		worker_free(&workers[i]);
	free(workers);
	workers = NULL;
	nworkers = 0;
	free(lags);
	lags = NULL;
}
