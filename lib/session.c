/*
 * session.c - a connection's life on its worker: opened from a hand-off
 * (after the transport's handshake where there is one), read into the worker's
 * buffer, written from its queue, timed out, closed (after flushing when
 * asked politely), retired and finally freed.
 */
#include "hsvr-int.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>


static void on_readable(evutil_socket_t, short, void *);
static void on_writable(evutil_socket_t, short, void *);
static void on_timer(evutil_socket_t, short, void *);

static void fail(struct hsvr_conn *);
static void finish(struct hsvr_conn *);
static void handshake(struct hsvr_conn *);
static void proxy_start(struct hsvr_conn *);
static void proxy_read(struct hsvr_conn *);
static void proxy_refuse(struct hsvr_conn *, const char *);
static void accepted(struct hsvr_conn *);
static void outbound_accepted(struct hsvr_conn *);
static void kick_later(struct hsvr_conn *);
static void deliver(struct hsvr_conn *, CTYPE);

/* The server's limits, given by hsvr_session_init. */
static struct {
	int idle_ms;            /* -T */
	uint64_t write_ms;      /* --write-timeout, 0 = none */
	int handshake_ms;
	int handshakes;         /* a worker's share of the handshakes */
	int proxy_ms;           /* --proxy-protocol: the header's time; 0: none */
	int max_per_ip;         /* counted here after the header, 0 = any */
} lim;
static unsigned int next_id;    /* atomic: the last session's id */
/* serv_set_connect_timeout: S_connect's time to establish, in seconds. */
static int connect_sec = 10;

/*
 * A new server: its limits, and session ids from 1 again.  The
 * handshakes at once are shared by the workers (at least one each).
 */
void
hsvr_session_init(const struct hsvr_session_cfg *cfg)
{
	int n = cfg->workers > 0 ? cfg->workers : 1;

	lim.idle_ms = cfg->timeout * 1000;
	lim.write_ms = (uint64_t)cfg->write_timeout * 1000;
	lim.handshake_ms = cfg->handshake_timeout * 1000;
	lim.handshakes = cfg->handshakes < n ? 1 :
	    (cfg->handshakes + n - 1) / n;
	lim.proxy_ms = cfg->proxy_timeout * 1000;
	lim.max_per_ip = cfg->proxy_timeout > 0 ? cfg->max_per_ip : 0;
	next_id = 0;
}

/*
 * event_add allocates (timer heap, descriptor map) and can fail: a session
 * that cannot wait for its events would hang, so it is closed instead:
 * 0, or -1 after that.
 */
static int
add_or_fail(struct hsvr_conn *c, struct event *ev, const struct timeval *tv)
{
	if (event_add(ev, tv) != 0) {
		SHARED_ADD(alloc_error, 1);
		fail(c);
		return -1;
	}
	return 0;
}

static void
arm_timer(struct hsvr_conn *c, uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	add_or_fail(c, &c->tev, &tv);
}

static uint64_t
queued(const struct hsvr_conn *c)
{
	return c->out == NULL ? 0 : evbuffer_get_length(c->out);
}

/*
 * Milliseconds from now to the session's next deadline: the end of its
 * idle period, or --write-timeout after its queued output last moved.
 * 0: none.
 */
static uint64_t
next_deadline(const struct hsvr_conn *c, uint64_t now)
{
	uint64_t next = 0, idle, stall, wt;

	wt = lim.write_ms;
	if (c->timeout_ms > 0) {
		idle = now - c->last_active;
		next = idle < (uint64_t)c->timeout_ms ?
		    (uint64_t)c->timeout_ms - idle : 1;
	}
	if (wt > 0 && queued(c) > 0) {
		stall = now - c->wstalled;
		stall = stall < wt ? wt - stall : 1;
		if (next == 0 || stall < next)
			next = stall;
	}
	return next;
}

/* (Re)arm the session's one timer for its next deadline, if any. */
static void
rearm(struct hsvr_conn *c, uint64_t now)
{
	uint64_t ms = next_deadline(c, now);

	if (ms > 0)
		arm_timer(c, ms);
	else
		event_del(&c->tev);
}

static void
want_write(struct hsvr_conn *c, int on)
{
	if (on && !c->wev_added) {
		c->wev_added = 1;
		add_or_fail(c, &c->wev, NULL);
	} else if (!on && c->wev_added) {
		event_del(&c->wev);
		c->wev_added = 0;
	}
}

/*
 * The read event in and out of the base, noted in rev_added: a session that
 * goes on reading looks at the bit after every read (keep_reading), where
 * event_pending cost 41 instructions a round trip (bench/PROFILE.md, "Echo,
 * one thread, round 5").
 */
static void
read_add(struct hsvr_conn *c)
{
	if (add_or_fail(c, &c->rev, NULL) == 0)
		c->rev_added = 1;
}

static void
read_del(struct hsvr_conn *c)
{
	event_del(&c->rev);
	c->rev_added = 0;
}

static void
refuse(struct hsvr_msg *m)
{
	uint8_t key[16];
	char host[INET6_ADDRSTRLEN];
	unsigned short port;

	if (m->u.conn.perip &&
	    hsvr_search_key((struct sockaddr *)&m->u.conn.addr, key, host,
	    sizeof host, &port) == 0)
		hsvr_perip_give(key);
	close(m->u.conn.fd);
	__atomic_sub_fetch(&hsvr_shared.live, 1, __ATOMIC_RELAXED);
	SHARED_ADD(session_error, 1);
}

/* drain_now's work, once a drain is due. */
static __attribute__((noinline)) void
drain_due_now(struct hsvr_conn *c)
{
	if (conn_state(c) != HSVR_ST_OPEN)
		return;
	c->drain_due = 0;
	/* No serv_on_drain: S_close, which on the owner's thread is this. */
	if (!hsvr_hooks_drain(c))
		hsvr_session_close(c);
}

/*
 * Draining, what the peer had sent is delivered: now serv_on_drain
 * (default S_close, which flushes the answers first).  Inline: a session
 * with no drain due (every session, except while the server drains)
 * costs the test alone, after every read.
 */
static inline void
drain_now(struct hsvr_conn *c)
{
	if (c->drain_due)
		drain_due_now(c);
}

/*
 * The server drains (SIGTERM, or replaced on SIGHUP).  Closing a session
 * at once would drop a request that reached its socket but was not read
 * yet (connect, request, close in a loop: 2 of 10,000 lost in 5 reloads),
 * so what has arrived is read and delivered first, then serv_on_drain.  A
 * session that has received nothing yet waits for its first request,
 * bounded by its idle timeout (and the drain timeout): its peer connected
 * to be served.  A request that arrives on a keep-alive session after
 * that may be lost: it is closed between requests.  Owner only.
 */
void
hsvr_session_drain(struct hsvr_conn *c)
{
	if (conn_state(c) != HSVR_ST_OPEN)
		return;
	c->drain_due = 1;
	if (c->handshaking || c->proxy != NULL || c->dialing)
		return;         /* accepted() reads once it is done */
	/* An outbound session waits for no request: at once. */
	if (c->read_paused || c->eof || !c->accepted || c->ob != NULL)
		drain_now(c);
	else
		event_active(&c->rev, EV_READ, 0);
}

/* Draining: more has arrived than this read took (or the transport holds)? */
static int
more_arrived(struct hsvr_conn *c)
{
	int unread = 0;

	return c->read_again ||
	    (ioctl(c->fd, FIONREAD, &unread) == 0 && unread > 0);
}

/*
 * Does a new plain session read at once, before its read event is added?
 * When its client's first request came with the connection, the read
 * answers it and a session closed then never touches epoll_ctl nor waits
 * for another turn of the loop (a busy or slowed-down server sees that:
 * strace, valgrind, a loaded machine).  At full speed the worker is
 * usually woken for the connection before the client has written
 * anything: the read finds nothing, and the event is added anyway
 * (bench/PROFILE.md: 1.04 reads a connection more than nginx under ab -c
 * 50).  A read that finds nothing costs about a third of what one that
 * finds the request saves (an epoll_ctl ADD and DEL and a turn), so each
 * worker keeps a score: a read at once that found the request adds
 * EARLY_HIT, one that found nothing takes 1 away, and new sessions read at
 * once while the score is above 0, which lasts while more than one read
 * in five finds the request; otherwise every EARLY_PROBE-th still does.
 */
#define EARLY_PROBE 16
#define EARLY_HIT 4
#define EARLY_MAX 32

static int
read_at_once(struct hsvr_worker *w)
{
	return w->early_score > 0 || ++w->early_skip % EARLY_PROBE == 0;
}

/* A read at once found something (or the end), or nothing. */
static void
early_seen(struct hsvr_worker *w, int found)
{
	if (found)
		w->early_score = w->early_score > EARLY_MAX - EARLY_HIT ?
		    EARLY_MAX : w->early_score + EARLY_HIT;
	else if (w->early_score > 0)
		w->early_score--;
}

/* The connection is established (handshake done, if any): a session. */
static void
accepted(struct hsvr_conn *c)
{
	struct hsvr_worker *w = c->w;

	c->accepted = 1;
	if (!c->is_unix && c->ob == NULL) {
		hsvr_search_add(c);
		c->indexed = 1;
	}
	ctr_begin(&w->ctr);
	if (c->ob == NULL)
		CTR_ADD(&w->ctr, accepted, 1);
	else
		CTR_ADD(&w->ctr, out_established, 1);
	ctr_end(&w->ctr);
	c->timeout_ms = lim.idle_ms;
	/* (Output an outbound session queued before: its write deadline
	   starts now.) */
	c->last_active = c->wstalled = hsvr_clock_ms();
	rearm(c, c->last_active);
	deliver(c, TYP_ACCEPT);
	if (c->ob != NULL)
		outbound_accepted(c);
	if (conn_state(c) == HSVR_ST_OPEN && c->read_paused)
		drain_now(c);   /* nothing will be read: drain now if due */
	if (conn_state(c) != HSVR_ST_OPEN || c->read_paused)
		return;
	/*
	 * A plain session may read at once (read_at_once), and waits for
	 * its socket only if that finds nothing (on_readable).  A handshake
	 * waits in its read event, and so does an outbound session: the
	 * server it has just reached has seldom said anything yet.
	 */
	if (c->tp->handshake == NULL && c->ob == NULL && read_at_once(w)) {
		c->early = 1;
		event_active(&c->rev, EV_READ, 0);
	} else {
		read_add(c);
	}
}

/*
 * Handshakes are bounded apart from -m (cfg->max_handshakes, half of -m
 * by default, shared out among the workers): a flood of connections
 * that never finish their handshake would otherwise fill -m and lock every
 * client out until the handshake timeout.  Past the bound the oldest
 * handshake of the worker is closed, one that has received nothing first:
 * a flood of silent connections only ever closes its own, and a client that
 * completes its handshake in time is never starved.
 */
static void
hs_del(struct hsvr_conn *c)
{
	struct hsvr_worker *w = c->w;
	int l = c->hs_list;

	if (l < 0)
		return;
	if (c->hs_prev != NULL)
		c->hs_prev->hs_next = c->hs_next;
	else
		w->hs_head[l] = c->hs_next;
	if (c->hs_next != NULL)
		c->hs_next->hs_prev = c->hs_prev;
	else
		w->hs_tail[l] = c->hs_prev;
	c->hs_prev = c->hs_next = NULL;
	c->hs_list = -1;
	w->handshakes--;
}

static void
hs_add(struct hsvr_conn *c, int l)
{
	struct hsvr_worker *w = c->w;

	c->hs_list = l;
	c->hs_next = NULL;
	c->hs_prev = w->hs_tail[l];
	if (w->hs_tail[l] != NULL)
		w->hs_tail[l]->hs_next = c;
	else
		w->hs_head[l] = c;
	w->hs_tail[l] = c;
	w->handshakes++;
}

/* Room for one more handshake on w: close the oldest if w has its share. */
static void
hs_make_room(struct hsvr_worker *w)
{
	struct hsvr_conn *old;

	while (w->handshakes >= lim.handshakes) {
		old = w->hs_head[0] != NULL ? w->hs_head[0] : w->hs_head[1];
		old->tp->handshake_failed(old, HS_CROWDED);
		finish(old);
	}
}

/*
 * The connection is the client's (its PROXY header read, if any): a
 * session now, or once the transport's handshake is done.
 */
static void
established(struct hsvr_conn *c)
{
	if (c->tp->handshake == NULL) {
		accepted(c);
		return;
	}
	/* No callback runs before the handshake; it has its own timeout. */
	hs_make_room(c->w);
	c->handshaking = 1;
	hs_add(c, 0);
	c->timeout_ms = lim.handshake_ms;
	arm_timer(c, (uint64_t)c->timeout_ms);
	read_add(c);
	/*
	 * The peer's first handshake message is usually there already:
	 * answering it now saves a loop iteration, and a client that has
	 * spoken is not among the silent handshakes that a flood makes the
	 * first to be closed.
	 */
	if (!c->failed)
		handshake(c);
}

/* A connection handed to w by the listener becomes a session. */
void
hsvr_session_open(struct hsvr_worker *w, struct hsvr_msg *m)
{
	struct hsvr_conn *c;

	/*
	 * A draining worker still opens what was accepted for it: the peer
	 * connected to be served (its first request is, hsvr_session_drain).
	 */
	if ((c = hsvr_calloc(1, sizeof *c)) == NULL) {
		refuse(m);
		return;
	}
	c->w = w;
	c->fd = m->u.conn.fd;
	c->pub.hsvr_self_ = c;
	c->tp = hsvr_transport_for(m->u.conn.is_unix);
	c->is_unix = m->u.conn.is_unix != 0;
	if (c->is_unix)
		strcpy(c->pub.host, "unix");
	else
		hsvr_search_key((struct sockaddr *)&m->u.conn.addr, c->key,
		    c->pub.host, sizeof c->pub.host, &c->pub.port);
	c->perip = m->u.conn.perip != 0;
	c->hs_list = -1;
	if (c->tp->setup(c) != 0) {
		hsvr_free(c);
		refuse(m);
		return;
	}
	c->pub.id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
	event_assign(&c->rev, w->base, c->fd, EV_READ | EV_PERSIST,
	    on_readable, c);
	event_assign(&c->wev, w->base, c->fd, EV_WRITE | EV_PERSIST,
	    on_writable, c);
	evtimer_assign(&c->tev, w->base, on_timer, c);
	hsvr_conn_list_add(&w->conns, c);
	if (w->draining)
		c->drain_due = 1;
	if (lim.proxy_ms > 0)
		proxy_start(c);
	else
		established(c);
}

/* ------------------------------------------------ outbound sessions */

int
serv_set_connect_timeout(int sec)
{
	if (sec <= 0 || sec > INT_MAX / 1000) {
		hsvr_warnx("serv_set_connect_timeout: %d: not a number of "
		    "seconds from 1", sec);
		return -1;
	}
	connect_sec = sec;
	return 0;
}

/*
 * The connection is made (or not): the session's socket, then its
 * handshake (TLS) or TYP_ACCEPT.  Whatever the application queued or asked
 * for meanwhile is taken up by outbound_accepted.
 */
static void
outbound_dialed(void *arg, int fd, const struct sockaddr *sa, const char *why)
{
	struct hsvr_conn *c = arg;
	struct hsvr_worker *w = c->w;

	c->ob->dial = NULL;
	c->dialing = 0;
	if (fd < 0) {
		hsvr_outbound_why(c->ob, why);
		finish(c);
		return;
	}
	c->fd = fd;
	if (sa != NULL)
		(void)hsvr_search_key(sa, c->key, c->pub.host,
		    sizeof c->pub.host, &c->pub.port);
	/* A kick made while dialing is done over by outbound_accepted. */
	event_del(&c->wev);
	c->kicked = 0;
	event_assign(&c->rev, w->base, c->fd, EV_READ | EV_PERSIST,
	    on_readable, c);
	event_assign(&c->wev, w->base, c->fd, EV_WRITE | EV_PERSIST,
	    on_writable, c);
	if (c->ob->flags & S_CONNECT_TLS)
		c->tp = &hsvr_transport_tls_client;
	if (c->tp->setup(c) != 0) {
		hsvr_outbound_why(c->ob, "TLS: cannot set up the connection");
		finish(c);
		return;
	}
	if (c->tp->handshake == NULL) {
		accepted(c);
		return;
	}
	/* The connect timer still runs: it bounds the handshake too. */
	c->handshaking = 1;
	read_add(c);
	if (!c->failed)
		handshake(c);   /* the client speaks first */
}

/*
 * TYP_ACCEPT of an outbound session has run: what was asked before it
 * now, as for any session: queued output written, a close finished, a
 * drain begun.
 */
static void
outbound_accepted(struct hsvr_conn *c)
{
	if (queued(c) > 0)
		want_write(c, 1);
	if (conn_state(c) == HSVR_ST_CLOSING || c->shut_wanted)
		kick_later(c);
	drain_now(c);
}

struct hsvr_conn *
hsvr_session_connect(struct hsvr_worker *w, const char *host, uint16_t port,
    int flags, void *usr)
{
	struct hsvr_conn *c;

	/* One allocation: the outbound part lives and dies with it. */
	if ((c = hsvr_calloc(1, sizeof *c + sizeof *c->ob)) == NULL)
		return NULL;
	c->ob = (struct hsvr_outbound *)(c + 1);
	c->ob->flags = flags;
	(void)snprintf(c->ob->name, sizeof c->ob->name, "%s", host);
	c->w = w;
	c->fd = -1;
	c->hs_list = -1;
	c->tp = &hsvr_transport_tcp;
	c->pub.hsvr_self_ = c;
	c->pub.outbound = 1;
	c->pub.usr = usr;
	c->pub.port = port;
	(void)snprintf(c->pub.host, sizeof c->pub.host, "%s", host);
	c->dialing = 1;
	event_assign(&c->rev, w->base, -1, EV_READ | EV_PERSIST, on_readable,
	    c);
	event_assign(&c->wev, w->base, -1, EV_WRITE | EV_PERSIST, on_writable,
	    c);
	evtimer_assign(&c->tev, w->base, on_timer, c);
	if ((c->ob->dial = hsvr_dial_start(w->base, host, port,
	    outbound_dialed, c)) == NULL) {
		hsvr_free(c);
		errno = ENOMEM;
		return NULL;
	}
	c->pub.id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
	hsvr_conn_list_add(&w->conns, c);
	if (w->draining)
		c->drain_due = 1;
	c->timeout_ms = connect_sec * 1000;
	arm_timer(c, (uint64_t)c->timeout_ms);  /* or fails, and ends */
	return c;
}

static int
would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/*
 * --proxy-protocol: the header stage, before anything else (the
 * transport's handshake, TYP_ACCEPT, --max-per-ip, the address index),
 * bounded by its own timer.  The parser (proxy.c) says how many bytes may
 * still be header; they are peeked, and only those it used are taken from
 * the socket, so what follows the header stays in the kernel for the
 * transport: a handshake, or the first request.  A partial header is
 * taken as it comes, so the level-triggered read event does not spin.
 */
static void
proxy_start(struct hsvr_conn *c)
{
	if ((c->proxy = hsvr_malloc(sizeof *c->proxy)) == NULL) {
		SHARED_ADD(alloc_error, 1);
		SHARED_ADD(session_error, 1);
		finish(c);
		return;
	}
	hsvr_proxy_init(c->proxy);
	arm_timer(c, (uint64_t)lim.proxy_ms);
	read_add(c);
	if (!c->failed)
		proxy_read(c);  /* the header is usually there already */
}

/* The header named the client: the session is its, if --max-per-ip allows. */
static void
proxy_done(struct hsvr_conn *c)
{
	struct hsvr_proxy *p = c->proxy;

	if (!p->local) {
		/* A UNIX-domain connection gets an address: indexed too. */
		hsvr_search_key((struct sockaddr *)&p->addr, c->key,
		    c->pub.host, sizeof c->pub.host, &c->pub.port);
		c->is_unix = 0;
	}
	hsvr_free(p);
	c->proxy = NULL;
	event_del(&c->tev);
	if (lim.max_per_ip > 0 && !c->is_unix) {
		switch (hsvr_perip_take(c->key)) {
		case 0:
			c->perip = 1;
			break;
		case 1:
			SHARED_ADD(session_error_per_ip, 1);
			/* FALLTHROUGH */
		default:
			SHARED_ADD(session_error, 1);
			finish(c);
			return;
		}
	}
	established(c);
}

static void
proxy_read(struct hsvr_conn *c)
{
	unsigned char *b = c->w->rbuf;
	size_t want, used;
	ssize_t n;

	while ((want = hsvr_proxy_want(c->proxy)) > 0) {
		if (want > HSVR_READ_MAX)
			want = HSVR_READ_MAX;
		n = recv(c->fd, b, want, MSG_PEEK);
		if (n < 0 && would_block())
			return;         /* the read event calls again */
		if (n <= 0) {
			proxy_refuse(c, n == 0 ? "the peer closed" :
			    "read error");
			return;
		}
		used = hsvr_proxy_feed(c->proxy, b, (size_t)n);
		if (used > 0 && recv(c->fd, b, used, 0) != (ssize_t)used) {
			proxy_refuse(c, "read error");
			return;
		}
		if (c->proxy->state == HSVR_PROXY_BAD) {
			proxy_refuse(c, c->proxy->why);
			return;
		}
		if (c->proxy->state == HSVR_PROXY_DONE) {
			proxy_done(c);
			return;
		}
		if ((size_t)n < want)
			return;         /* all there was: the rest will come */
	}
}

/* No valid header (in time): closed unanswered, before any callback. */
static void
proxy_refuse(struct hsvr_conn *c, const char *why)
{
	static struct hsvr_log_every every = { 10000, 0, 0 }; /* 10 s */
	uint64_t n;

	if ((n = hsvr_log_due(&every)) > 0)
		hsvr_log(LOG_NOTICE, "connection from %s port %u: PROXY header "
		    "refused: %s (%llu refused since the last such message)",
		    c->pub.host, c->pub.port, why, (unsigned long long)n);
	SHARED_ADD(proxy_error, 1);
	finish(c);
}

/*
 * The end of every connection: close (or linger, after a graceful close),
 * TYP_TERM (for sessions the application saw accepted), retire.  Owner
 * only.
 */
static void
finish_as(struct hsvr_conn *c, int graceful)
{
	struct hsvr_worker *w = c->w;
	size_t lost = 0;
	int lingers;

	if (conn_state(c) == HSVR_ST_CLOSED)
		return;
	__atomic_store_n(&c->pub.status, HSVR_ST_CLOSED, __ATOMIC_SEQ_CST);
	read_del(c);
	event_del(&c->wev);
	event_del(&c->tev);
	hsvr_free(c->proxy);    /* closed in the header stage */
	c->proxy = NULL;
	if (c->ob != NULL && !c->accepted) {
		hsvr_dial_cancel(c->ob->dial);
		c->ob->dial = NULL;
		c->dialing = 0;
		hsvr_outbound_why(c->ob, w->stopping_now ? "the server stopped" :
		    "closed before it was established");
		SHARED_ADD(outbound_error, 1);
	}
	if (w->stage_c == c) {
		lost = w->stage_len;    /* staged in a callback: never written */
		w->stage_c = NULL;
		w->stage_len = 0;
	}
	if (c->out != NULL) {
		lost += evbuffer_get_length(c->out);
		evbuffer_free(c->out);
		c->out = NULL;
	}
	if (lost > 0) {
		__atomic_sub_fetch(&c->pending, lost, __ATOMIC_SEQ_CST);
		SHARED_ADD(discarded_octet, lost);
	}
	/* What the queue held is released before TYP_TERM, as promised. */
	hsvr_output_release_run();
	if (c->indexed)
		hsvr_search_del(c);
	c->indexed = 0;
	hsvr_conn_list_del(&w->conns, c);
	hs_del(c);
	lingers = graceful && c->fd >= 0 && hsvr_linger_start(c);
	__atomic_store_n(&c->pub.writewait, 0, __ATOMIC_SEQ_CST);
	if (c->accepted) {
		ctr_begin(&w->ctr);
		if (c->ob == NULL)
			CTR_ADD(&w->ctr, terms, 1);
		else
			CTR_ADD(&w->ctr, out_terms, 1);
		ctr_end(&w->ctr);
	}
	/* An outbound session that failed gets TYP_TERM alone. */
	if (c->accepted || c->ob != NULL)
		deliver(c, TYP_TERM);
	if (!lingers)
		hsvr_linger_close_now(c);
	w->check_drained(w);
}

static void
finish(struct hsvr_conn *c)
{
	finish_as(c, 0);
}

void
hsvr_session_abort(struct hsvr_conn *c)
{
	finish(c);
}

/*
 * Decide, after any progress, what the session's state calls for: close
 * a failed one, finish a flushed close, deliver TYP_SENDABLE below the low
 * mark, and close after the peer's end of file once nothing is left.
 */
void
hsvr_session_kick(struct hsvr_conn *c)
{
	size_t pending;
	int state = conn_state(c);

	if (state == HSVR_ST_CLOSED)
		return;
	if (c->failed) {
		finish(c);
		return;
	}
	pending = __atomic_load_n(&c->pending, __ATOMIC_SEQ_CST);
	if (state == HSVR_ST_CLOSING) {
		if (pending == 0)
			finish_as(c, 1);        /* S_close, all written */
		return;
	}
	if (pending < (size_t)HSVR_LOW_MARK &&
	    __atomic_load_n(&c->pub.writewait, __ATOMIC_SEQ_CST) &&
	    __atomic_exchange_n(&c->pub.writewait, 0, __ATOMIC_SEQ_CST)) {
		deliver(c, TYP_SENDABLE);
		pending = __atomic_load_n(&c->pending, __ATOMIC_SEQ_CST);
	}
	if (c->shut_wanted && !c->shut_done && pending == 0 &&
	    !c->dialing && !c->handshaking &&
	    conn_state(c) == HSVR_ST_OPEN) {
		c->shut_done = 1;       /* S_shutdown, everything written */
		/*
		 * If the peer has ended too, the session ends just below and
		 * its close sends the FIN: no shutdown(2) of its own.
		 */
		c->tp->shutdown(c, c->eof &&
		    !__atomic_load_n(&c->pub.writewait, __ATOMIC_SEQ_CST));
	}
	if (c->eof && pending == 0 && conn_state(c) == HSVR_ST_OPEN &&
	    (!c->halfclose || c->shut_done) &&
	    !__atomic_load_n(&c->pub.writewait, __ATOMIC_SEQ_CST)) {
		/*
		 * The peer is done and nothing is queued: the session ends.
		 * Say "closing" first, then look at pending again: a sender
		 * on another worker counts its bytes first, then looks at the
		 * state, so either it sees "closing" and backs out, or its
		 * bytes are seen here and end the session once written.
		 * Reading pending only before changing the state let a send
		 * slip between the two: S_send said 0, its data was dropped.
		 */
		int open = HSVR_ST_OPEN;

		if (__atomic_compare_exchange_n(&c->pub.status, &open,
		    HSVR_ST_CLOSING, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) &&
		    __atomic_load_n(&c->pending, __ATOMIC_SEQ_CST) == 0)
			finish(c);
	}
}

/* Run hsvr_session_kick from the loop, not inside the caller's callback. */
static void
kick_later(struct hsvr_conn *c)
{
	c->kicked = 1;
	event_active(&c->wev, EV_WRITE, 0);
}

static void
sent(struct hsvr_conn *c, size_t n)
{
	struct hsvr_worker *w = c->w;

	__atomic_sub_fetch(&c->pending, n, __ATOMIC_SEQ_CST);
	c->pub.txoctet += n;
	c->last_active = c->wstalled = hsvr_clock_ms();
	ctr_begin(&w->ctr);
	CTR_ADD(&w->ctr, txoctet, n);
	ctr_end(&w->ctr);
}

/* Bytes counted as pending that will never be written. */
static void
lose(struct hsvr_conn *c, size_t n)
{
	__atomic_sub_fetch(&c->pending, n, __ATOMIC_SEQ_CST);
	SHARED_ADD(discarded_octet, n);
}

static void
fail(struct hsvr_conn *c)
{
	c->failed = 1;
	kick_later(c);
}

/* The output queue, made on first use; sendfile may drain a plain one. */
static struct evbuffer *
out_queue(struct hsvr_conn *c)
{
	if (c->out == NULL && (c->out = evbuffer_new()) != NULL &&
	    c->tp->sendfile)
		(void)evbuffer_set_flags(c->out, EVBUFFER_FLAG_DRAINS_TO_FD);
	return c->out;
}

/*
 * Write what the queue holds, as far as the socket takes it.  writable:
 * the socket said so, and a flush that moves nothing then is a file range
 * that ended early (sendfile finds no more bytes), not a full socket.
 */
static void
flush_out(struct hsvr_conn *c, int writable)
{
	ssize_t n;

	c->want = 0;
	n = c->tp->flush(c, c->out);
	if (n > 0) {
		sent(c, (size_t)n);
		c->stuck = 0;
	} else if (n < 0 && !would_block()) {
		c->failed = 1;
	} else if (n == 0 && writable && c->stuck < 2) {
		c->stuck++;     /* sendfile said EAGAIN, or found no bytes */
	} else if (n == 0 && writable) {
		hsvr_log(LOG_ERR, "session %u: a file range ended early "
		    "(the file shrank after S_send_file?): closed", c->pub.id);
		c->failed = 1;
	}
}

/*
 * A send is out, or failed (o is the queue's then, released with it): a
 * session that failed, whose peer's end of file was seen meanwhile, or
 * that is closing may be done now.  A closing one is the case of a send
 * from another worker that its owner's S_close found on its way: the
 * close waited for its bytes, and nothing else would look again.  0.
 */
static int
nothing_queued(struct hsvr_conn *c)
{
	if (c->eof || c->failed || conn_state(c) == HSVR_ST_CLOSING)
		kick_later(c);
	return 0;
}

/*
 * Send what o holds, already counted in c->pending: straight to the socket
 * when nothing is queued, the rest into the output queue.  more: another
 * write follows at once (a staged head before its file range).  0 or -1
 * as hsvr_session_send.
 */
static inline __attribute__((always_inline)) int
send_now(struct hsvr_conn *c, const struct hsvr_out *o, int more)
{
	ssize_t n = 0;
	short want = 0;         /* what this call's own write waited for */
	int starts;             /* the output queue was empty */

	starts = queued(c) == 0;
	if (c->dialing || c->handshaking)
		starts = 0;     /* outbound, not established: queue it */
	if (starts && o->kind != OUT_FILE) {
		c->want = 0;
		n = more && c->tp->write_more != NULL ?
		    c->tp->write_more(c, o->data, o->len) :
		    c->tp->write(c, o->data, o->len);
		want = c->want;
		if (n < 0 && !would_block()) {
			lose(c, o->len);
			fail(c);
			return -1;
		}
		if (n < 0)
			n = 0;
		if (n > 0)
			sent(c, (size_t)n);
		if ((size_t)n == o->len) {
			hsvr_output_done(o);
			return nothing_queued(c);
		}
	}
	if (out_queue(c) == NULL ||
	    hsvr_output_add(c->out, o, (size_t)n, c->tp->sendfile) != 0) {
		lose(c, o->len - (size_t)n);
		fail(c);
		return -1;
	}
	if (starts && o->kind == OUT_FILE) {
		flush_out(c, 0);        /* a file range starts at once too */
		want = c->want;
		if (c->failed || queued(c) == 0)
			return nothing_queued(c);
	}
	if (starts && lim.write_ms > 0) {
		/* Output starts to queue: its write deadline starts now. */
		c->wstalled = hsvr_clock_ms();
		rearm(c, c->wstalled);
	}
	/*
	 * The transport may need the peer's data before it can write: wait
	 * for that.  Only this call's write says so; c->want may be a read's.
	 */
	if (c->dialing || c->handshaking)
		return 0;       /* outbound_accepted writes it */
	want_write(c, want != EV_READ);
	return 0;
}

/*
 * One callback's output, corked.  A reply of several sends (an HTTP head,
 * then its body from a file) written as each comes leaves in one packet a
 * send (TCP_NODELAY), the head's alone.  So, in a session's own callback
 * on its worker, the first copy (S_send) that finds nothing queued may be
 * staged: copied to the worker's stage, which the callback's next copies
 * join, and written when something else follows (with MSG_MORE: the bytes
 * leave in that write's first segment) or when the callback returns, alone
 * then: a small reply alone leaves as the callback returns, as before.
 * Staged bytes are counted as pending as queued ones are, so what S_send
 * returns (congestion included: the stage is far below the high mark) is
 * unchanged, but for two edges: a reset found by the stage's write closes
 * the session as a queued write's would, the S_send having said 0 (a
 * direct write would have made it say -1); and with nearly 1 MiB of other
 * threads' sends in the inbox, the stage's 4 KiB may make a later send of
 * the callback say -4 sooner.
 *
 * Staging costs a copy, and an echo's one send a callback gains nothing
 * from it: the worker stages only while its callbacks are seen to send
 * more than once (cork_score, as early_score: a second send adds
 * CORK_HIT, a staged callback that sent only once takes 1 away).  Below
 * that a first send is written at once as before: the echo path pays the
 * count of its sends, a few instructions.
 */
#define CORK_HIT 4
#define CORK_MAX 32

/*
 * A corked session's output so far is written (or queued): the cork comes
 * off, so that nothing partial waits (TCP_CORK holds it up to 200 ms).
 * Not when the session closes with nothing left: its close (or the
 * lingering close's shutdown) sends the rest with the FIN, as the next
 * loop turn comes, and the system call is saved.
 */
static void
cork_end(struct hsvr_conn *c)
{
	c->corked = 0;
	if (c->fd >= 0 && !c->failed &&
	    (conn_state(c) != HSVR_ST_CLOSING ||
	    __atomic_load_n(&c->pending, __ATOMIC_SEQ_CST) > 0))
		(void)c->tp->cork(c, 0);
}

/*
 * Write the stage (more: another write follows at once).  0, or -1.  An
 * empty stage of a corked session only marks that its callback's return
 * takes the cork off (send_in_callback).
 */
static __attribute__((noinline)) int
stage_flush(struct hsvr_worker *w, int more)
{
	struct hsvr_conn *c = w->stage_c;
	struct hsvr_out o = { .kind = OUT_COPY, .data = w->stage,
	    .len = w->stage_len };
	int r = 0;

	w->stage_c = NULL;
	w->stage_len = 0;
	if (c->failed || conn_state(c) == HSVR_ST_CLOSED) {
		lose(c, o.len);
		return -1;
	}
	if (o.len > 0)
		r = send_now(c, &o, more);
	if (!more && c->corked)
		cork_end(c);
	return r;
}

/* A send of c in c's callback, past the first (or staging): see above. */
static __attribute__((noinline)) int
send_in_callback(struct hsvr_conn *c, const struct hsvr_out *o)
{
	struct hsvr_worker *w = c->w;
	int corked, r;

	if (w->cb_sends == 2)   /* this callback sends more than once */
		w->cork_score = w->cork_score > CORK_MAX - CORK_HIT ?
		    CORK_MAX : w->cork_score + CORK_HIT;
	if (w->stage_c == c) {
		if (o->kind == OUT_COPY &&
		    o->len <= HSVR_STAGE_MAX - w->stage_len) {
			memcpy(w->stage + w->stage_len, o->data, o->len);
			w->stage_len += o->len;
			return 0;
		}
		/* A head, then a long file range: corked (transport-tcp.c). */
		if (o->kind == OUT_FILE && o->len >= HSVR_CORK_FILE_MIN &&
		    !c->corked && c->tp->cork != NULL && queued(c) == 0 &&
		    c->tp->cork(c, 1) == 0)
			c->corked = 1;
		if (stage_flush(w, 1) != 0) {
			lose(c, o->len);
			return -1;
		}
		corked = c->corked;
		r = send_now(c, o, 0);
		if (!corked)
			return r;
		/*
		 * The callback's return uncorks, through c's empty stage.  A
		 * callback nested in send_now (a session ended by a failed
		 * write) may have staged another session's bytes: then now.
		 */
		if (w->stage_c == NULL) {
			w->stage_c = c;
			w->stage_len = 0;
		} else {
			cork_end(c);
		}
		return r;
	}
	if (w->cork_score > 0 && o->kind == OUT_COPY &&
	    o->len <= HSVR_STAGE_MAX && queued(c) == 0 && !c->dialing &&
	    !c->handshaking) {
		if (w->stage_c != NULL)
			(void)stage_flush(w, 0);        /* another session's */
		w->stage_c = c;
		memcpy(w->stage, o->data, o->len);
		w->stage_len = o->len;
		return 0;
	}
	return send_now(c, o, 0);
}

/* A callback that staged has returned: the stage is written. */
static __attribute__((noinline)) void
callback_staged(struct hsvr_worker *w)
{
	if (w->cb_sends == 1 && w->cork_score > 0)
		w->cork_score--;        /* staged, and nothing followed */
	(void)stage_flush(w, 0);
}

/*
 * Deliver a callback of c: what it staged is written as it returns.
 * Inlined: the echo path pays a few stores and a test, not a call.  A
 * callback inside another (a session's end inside S_connect's) ends the
 * outer one's staging: the outer session's later sends, and its sends from
 * the inner callback, find its stage (hsvr_session_send) and keep order.
 */
static inline __attribute__((always_inline)) void
deliver(struct hsvr_conn *c, CTYPE type)
{
	struct hsvr_worker *w = c->w;

	w->cb_conn = c;
	w->cb_sends = 0;
	hsvr_hooks_deliver(c, type);
	w->cb_conn = NULL;
	if (w->stage_c != NULL)
		callback_staged(w);
}

/* The last send of a corked session's staging: the cork comes off after. */
static __attribute__((noinline)) int
send_corked_last(struct hsvr_conn *c, const struct hsvr_out *o)
{
	int r = send_now(c, o, 0);

	cork_end(c);
	return r;
}

/*
 * Send what o holds, already counted in c->pending: at once, or staged
 * until its callback returns (above); counted in tx and txcount.  Owner
 * only.
 * 0: o was taken (its release is the queue's now, or is due); -1: the
 * session failed (reset, out of memory), o's bytes are lost (counted in
 * discarded_octet), o->rel is still the caller's, and the session closes.
 */
int
hsvr_session_send(struct hsvr_conn *c, const struct hsvr_out *o)
{
	struct hsvr_worker *w = c->w;

	c->pub.tx++;
	ctr_begin(&w->ctr);
	CTR_ADD(&w->ctr, txcount, 1);
	ctr_end(&w->ctr);
	if (c->failed) {
		lose(c, o->len);
		return -1;
	}
	if (c == w->cb_conn) {
		if (w->cb_sends++ > 0 || w->cork_score > 0)
			return send_in_callback(c, o);
	} else if (w->stage_c == c) {
		/* Staged by its callback, now inside another one: after that. */
		if (stage_flush(w, 1) != 0) {
			lose(c, o->len);
			return -1;
		}
		if (c->corked)
			return send_corked_last(c, o);
	}
	return send_now(c, o, 0);
}

static void
handshake(struct hsvr_conn *c)
{
	int r;

	c->want = 0;
	r = c->tp->handshake(c);
	if (r == 0) {
		if (c->hs_list == 0 && c->hs_heard) {
			hs_del(c);      /* the peer has spoken */
			hs_add(c, 1);
		}
		want_write(c, c->want == EV_WRITE);
		return;
	}
	hs_del(c);
	want_write(c, 0);
	if (r < 0) {
		c->tp->handshake_failed(c, HS_FAILED);
		finish(c);
		return;
	}
	c->handshaking = 0;
	accepted(c);
	if (c->read_again && conn_state(c) == HSVR_ST_OPEN && !c->read_paused) {
		c->read_again = 0;      /* read ahead: data already buffered */
		event_active(&c->rev, EV_READ, 0);
	}
}

/* in_handshake's part for a session not established yet. */
static __attribute__((noinline)) int
before_session(struct hsvr_conn *c)
{
	if (c->proxy != NULL) {
		if (c->failed)
			finish(c);      /* its read event could not be added */
		else
			proxy_read(c);
		return 1;
	}
	if (c->dialing) {
		c->kicked = 0;  /* S_close, or a failure: no socket to wait for */
		hsvr_session_kick(c);
		return 1;
	}
	if (!c->handshaking)
		return 0;
	if (c->failed) {
		/* An event it needs could not be added (out of memory). */
		want_write(c, 0);
		finish(c);
		return 1;
	}
	handshake(c);
	return 1;
}

/*
 * Every socket event starts here: 1 if it was the handshake's.  Inlined:
 * an established session pays a test, not a call.
 */
static inline __attribute__((always_inline)) int
in_handshake(struct hsvr_conn *c)
{
	hsvr_online();
	if (c->proxy == NULL && !c->dialing && !c->handshaking)
		return 0;
	return before_session(c);
}

static void
on_writable(evutil_socket_t fd, short what, void *arg)
{
	struct hsvr_conn *c = arg;
	int kicked;

	(void)fd, (void)what;
	if (in_handshake(c))
		return;
	if (c->want == EV_WRITE && c->read_blocked && !c->read_paused) {
		c->read_blocked = 0;
		event_active(&c->rev, EV_READ, 0);
	}
	kicked = c->kicked;
	c->kicked = 0;
	if (!c->failed && queued(c) > 0)
		flush_out(c, !kicked);
	hsvr_output_release_run();     /* they may send the next pieces */
	want_write(c, c->out != NULL && evbuffer_get_length(c->out) > 0 &&
	    c->want != EV_READ);
	hsvr_session_kick(c);
}

/* A session that goes on reading waits for its socket (see accepted). */
static void
keep_reading(struct hsvr_conn *c)
{
	if (!c->rev_added && conn_state(c) == HSVR_ST_OPEN &&
	    !c->read_paused && !c->eof)
		read_add(c);
}

/* S_close by the owner: flush what is queued, then finish. */
void
hsvr_session_close(struct hsvr_conn *c)
{
	int open = HSVR_ST_OPEN;

	if (__atomic_compare_exchange_n(&c->pub.status, &open,
	    HSVR_ST_CLOSING, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
		read_del(c);
		__atomic_store_n(&c->pub.writewait, 0, __ATOMIC_SEQ_CST);
		kick_later(c);
	}
}

static void
on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct hsvr_conn *c = arg;
	struct hsvr_worker *w = c->w;
	size_t tx;
	ssize_t n;

	(void)fd, (void)what;
	if (in_handshake(c))
		return;
	c->want = 0;
	n = c->tp->read(c, w->rbuf, HSVR_READ_MAX);
	if (c->early) {
		c->early = 0;
		early_seen(w, n >= 0 || !would_block());
	}
	if (c->want == EV_READ && c->out != NULL &&
	    evbuffer_get_length(c->out) > 0)
		want_write(c, 1);       /* a write that waited for this read */
	if (n > 0) {
		w->rbuf[n] = '\0';
		c->pub.buff = w->rbuf;
		c->pub.blen = (size_t)n;
		c->pub.rxoctet += (size_t)n;
		c->pub.rx++;
		ctr_begin(&w->ctr);
		CTR_ADD(&w->ctr, rxoctet, n);
		CTR_ADD(&w->ctr, rxcount, 1);
		ctr_end(&w->ctr);
		tx = c->pub.txoctet;
		deliver(c, TYP_READ);
		/*
		 * The read is activity as of the callback's end: a write it
		 * made stamped it already (sent), which saves a clock read a
		 * round trip.  A deadline armed meanwhile from the older
		 * stamp only comes early, and on_timer looks again.
		 */
		if (c->pub.txoctet == tx)
			c->last_active = hsvr_clock_ms();
		c->pub.buff = NULL;
		c->pub.blen = 0;
		if (c->drain_due && !c->read_paused && more_arrived(c) &&
		    conn_state(c) == HSVR_ST_OPEN) {
			c->read_again = 0;
			event_active(&c->rev, EV_READ, 0);
		} else {
			drain_now(c);
		}
		if (c->read_again && !c->read_paused) {
			c->read_again = 0;
			if (conn_state(c) == HSVR_ST_OPEN)
				event_active(&c->rev, EV_READ, 0);
		}
		keep_reading(c);
		return;
	}
	if (n < 0 && would_block()) {
		if (c->want == EV_WRITE) {
			c->read_blocked = 1;
			want_write(c, 1);
		}
		if (c->pub.rx > 0 && c->want != EV_WRITE)
			drain_now(c);   /* else: its first request comes */
		keep_reading(c);
		return;
	}
	if (n < 0) {
		finish(c);      /* reset or error: what is queued is lost */
		return;
	}
	/*
	 * End of file: the peer will send no more, but may still read.  Stop
	 * reading; the session closes once its output is written and the
	 * application has nothing more to send (hsvr_session_kick).
	 */
	c->eof = 1;
	read_del(c);
	if (c->halfclose && conn_state(c) == HSVR_ST_OPEN) {
		/* S_halfclose: the end is told, the session stays. */
		w->rbuf[0] = '\0';
		c->pub.buff = w->rbuf;
		c->pub.blen = 0;
		deliver(c, TYP_READ);
		c->pub.buff = NULL;
	}
	drain_now(c);
	kick_later(c);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct hsvr_conn *c = arg;
	uint64_t now = hsvr_clock_ms(), wt;
	uint64_t period = (uint64_t)c->timeout_ms;

	(void)fd, (void)what;
	hsvr_online();
	if (c->proxy != NULL) {
		proxy_refuse(c, "no complete header in time");
		return;
	}
	if (c->ob != NULL && !c->accepted) {
		char why[64];

		(void)snprintf(why, sizeof why, "timed out after %d s%s",
		    connect_sec, c->handshaking ? " (TLS handshake)" : "");
		hsvr_outbound_why(c->ob, why);
		finish(c);
		return;
	}
	if (c->handshaking) {
		c->tp->handshake_failed(c, HS_TIMEOUT);
		finish(c);      /* a silent client cannot hold a slot */
		return;
	}
	wt = lim.write_ms;
	if (wt > 0 && queued(c) > 0 && now - c->wstalled + 10 >= wt) {
		SHARED_ADD(write_timeout, 1);
		finish(c);      /* the peer reads nothing: drop its output */
		return;
	}
	if (period == 0 || now - c->last_active + 10 < period) {
		rearm(c, now);  /* activity since, or only a write deadline */
		return;
	}
	if (conn_state(c) == HSVR_ST_CLOSING) {
		finish(c);      /* a close that made no progress for a period */
		return;
	}
	c->last_active = now;
	rearm(c, now);
	if (c->drain_due) {
		drain_now(c);   /* no first request came in an idle period */
		return;
	}
	c->pub.timeout++;
	ctr_begin(&c->w->ctr);
	CTR_ADD(&c->w->ctr, rxtimeout, 1);
	ctr_end(&c->w->ctr);
	if (hsvr_hooks_has_timeout())
		deliver(c, TYP_TIMEOUT);
	else
		hsvr_session_close(c);
}

void
hsvr_session_settimer(struct hsvr_conn *c, int sec)
{
	if (conn_state(c) == HSVR_ST_CLOSED || c->handshaking || c->dialing)
		return;
	c->timeout_ms = sec <= 0 ? 0 : sec > INT_MAX / 1000 ?
	    INT_MAX / 1000 * 1000 : sec * 1000;
	c->last_active = hsvr_clock_ms();
	rearm(c, c->last_active);
}

/* S_shutdown by the owner: the sending side ends once all is written. */
void
hsvr_session_shutdown(struct hsvr_conn *c)
{
	if (conn_state(c) != HSVR_ST_OPEN || c->shut_wanted)
		return;
	c->shut_wanted = 1;
	kick_later(c);
}

/*
 * S_pause_read by the owner.  Resuming over TLS also reads at once: the
 * transport may hold decrypted data that no socket event would announce.
 * A plain socket's read event says when there is something: a read at
 * once would often find nothing yet (a proxy's client, resumed as its
 * backend connects).
 */
void
hsvr_session_pause_read(struct hsvr_conn *c, int paused)
{
	if (conn_state(c) != HSVR_ST_OPEN || c->eof || c->handshaking ||
	    (paused != 0) == c->read_paused)
		return;
	c->read_paused = paused != 0;
	if (!c->accepted)
		return;         /* during TYP_ACCEPT: accepted() decides */
	if (paused) {
		read_del(c);
		drain_now(c);   /* draining: nothing more will be read */
		return;
	}
	c->read_again = 0;
	read_add(c);
	if (c->tp->holds_input)
		event_active(&c->rev, EV_READ, 0);
}
