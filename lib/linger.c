/*
 * linger.c - the end of a connection's descriptor: closed at once, or,
 * when closing now would answer unread input with a reset, after a
 * lingering close.  Only when it is closed does the connection stop
 * counting for -m and --max-per-ip; then it is retired.
 */
#include "hsvr-int.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#ifdef __linux__
#include <linux/sock_diag.h> /* SK_MEMINFO_* */
#include <linux/sockios.h>   /* SIOCOUTQ */
#endif
#include <sys/socket.h>
#include <unistd.h>

static int
would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/*
 * The descriptor is closed: only now does an accepted connection stop
 * counting for -m and --max-per-ip (a lingering close holds a socket
 * too), retire.
 */
void
hsvr_linger_close_now(struct hsvr_conn *c)
{
	if (c->fd >= 0)         /* an outbound session may have none */
		c->tp->close(c);
	c->fd = -1;
	if (c->perip)
		hsvr_perip_give(c->key);
	c->perip = 0;
	if (c->ob == NULL)      /* outbound sessions are not counted in -m */
		__atomic_sub_fetch(&hsvr_shared.live, 1, __ATOMIC_RELAXED);
	if (c->tp->free_state != NULL)
		c->tp->free_state(c);
	hsvr_qsbr_retire(c);
}

static void
linger_end(struct hsvr_conn *c)
{
	event_del(&c->rev);
	event_del(&c->tev);
	hsvr_conn_list_del(&c->w->lingering, c);
	hsvr_linger_close_now(c);
}

/*
 * What the kernel holds of the connection: *unread, input not read yet
 * (on Linux the receive queue's memory, counting a FIN not yet read), and
 * *unsent, output not sent or not acknowledged (on Linux the send queue's
 * memory).  Linux says both in one system call (SO_MEMINFO); elsewhere an
 * ioctl for each.  0 for what the socket cannot say.
 */
static void
kernel_holds(int fd, int *unread, uint64_t *unsent)
{
	int n = 0;
#if defined(SO_MEMINFO)
	uint32_t mem[SK_MEMINFO_VARS];
	socklen_t len = sizeof mem;

	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) == 0 &&
	    len > SK_MEMINFO_WMEM_QUEUED * sizeof mem[0]) {
		*unread = mem[SK_MEMINFO_RMEM_ALLOC] > 0;
		*unsent = mem[SK_MEMINFO_WMEM_QUEUED];
		return;
	}
#endif
	*unread = ioctl(fd, FIONREAD, &n) == 0 && n > 0;
	*unsent = 0;
#if defined(SIOCOUTQ)
	if (ioctl(fd, SIOCOUTQ, &n) == 0 && n > 0)
		*unsent = (uint64_t)n;
#elif defined(FIONWRITE)
	if (ioctl(fd, FIONWRITE, &n) == 0 && n > 0)
		*unsent = (uint64_t)n;
#endif
}

/*
 * A closing session whose peer may still send would, closed now, make the
 * kernel answer that input with a reset, and a reset destroys the reply
 * the peer has not read yet (an error page for an oversized upload, say).
 * So, like nginx's lingering close, the write side is shut down (the peer
 * sees the end of the reply) and input is read and discarded until the
 * peer closes.  The close lingers while input is waiting or the reply is
 * still in the kernel (unsent or unacknowledged): input may yet come, and
 * the reply would go with the reset it draws.  After S_linger(s, 0) the
 * application knows the peer will send nothing more that matters (an
 * HTTP request answered with "Connection: close", read to its end), so
 * the close lingers only if input is waiting unread at it, as nginx's
 * "lingering_close on" does: a reply merely unacknowledged no longer
 * costs a shutdown, two epoll changes, a wait and a read (about 13 % of
 * the CPU of a 1 MB HTTP/1.0 request, bench/PROFILE.md).  A lingering
 * close ends LINGER_MS after the peer last made progress (sent, or took
 * some of the reply), and LINGER_MAX_MS after the close in any case.
 * While lingering, last_active is the time of the close and wstalled the
 * unsent count last seen (kernel_holds' unit).
 */
#ifdef HSVR_TEST_HOOKS
/* HSVR_TEST_LINGER_MS sets both periods: a test holds a linger at will. */
static long
linger_test_ms(long dflt)
{
	const char *s = getenv("HSVR_TEST_LINGER_MS");

	return s != NULL && atol(s) > 0 ? atol(s) : dflt;
}
#define LINGER_MS linger_test_ms(2000)
#define LINGER_MAX_MS ((uint64_t)linger_test_ms(30000))
#else
#define LINGER_MS 2000L
#define LINGER_MAX_MS 30000u
#endif

static int
linger_arm(struct hsvr_conn *c)
{
	long ms = LINGER_MS;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000L };

	return event_add(&c->tev, &tv);
}

/* Lingering: discard what the peer still sends, until its end or time. */
static void
on_linger(evutil_socket_t fd, short what, void *arg)
{
	struct hsvr_conn *c = arg;
	ssize_t n = 0;
	uint64_t unsent;
	int i, unread;

	hsvr_online();
	if (what & EV_READ) {
		for (i = 0; i < 4; i++)
			if ((n = read(fd, c->w->rbuf, HSVR_READ_MAX)) <= 0)
				break;
		if ((n > 0 || (n < 0 && would_block())) &&
		    hsvr_clock_ms() - c->last_active < LINGER_MAX_MS) {
			if (n > 0 || i > 0)
				(void)linger_arm(c);
			return;
		}
	} else if (what & EV_TIMEOUT) {
		/* The peer is still taking the reply: give it more time. */
		kernel_holds(fd, &unread, &unsent);
		if (unsent > 0 && unsent < c->wstalled &&
		    hsvr_clock_ms() - c->last_active < LINGER_MAX_MS &&
		    linger_arm(c) == 0) {
			c->wstalled = unsent;
			return;
		}
	}
	linger_end(c);
}

/* Close c lingering if it may: 1 if it does (it ends on its own), else 0. */
int
hsvr_linger_start(struct hsvr_conn *c)
{
	uint64_t unsent;
	int unread;

	if (!c->tp->lingers || c->failed || c->eof || c->w->stopping_now)
		return 0;
	kernel_holds(c->fd, &unread, &unsent);
	if (!unread && (unsent == 0 ||
	    __atomic_load_n(&c->linger_input_only, __ATOMIC_SEQ_CST)))
		return 0;
	if (shutdown(c->fd, SHUT_WR) != 0)
		return 0;
	c->last_active = hsvr_clock_ms();
	c->wstalled = unsent;
	event_assign(&c->rev, c->w->base, c->fd, EV_READ | EV_PERSIST,
	    on_linger, c);
	evtimer_assign(&c->tev, c->w->base, on_linger, c);
	if (event_add(&c->rev, NULL) != 0 || linger_arm(c) != 0) {
		event_del(&c->rev);
		return 0;
	}
	hsvr_conn_list_add(&c->w->lingering, c);
	return 1;
}

/* Stopping: every lingering close ends now.  Owner only. */
void
hsvr_linger_close_all(struct hsvr_worker *w)
{
	w->stopping_now = 1;
	while (w->lingering != NULL)
		linger_end(w->lingering);
}
