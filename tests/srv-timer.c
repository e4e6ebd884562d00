/*
 * srv-timer.c - the test server of t-timer: serv_* hooks that use the
 * worker's loop (S_timer_*, S_worker_base, S_worker_atexit).  Line
 * commands, each answered from a timer or an event on the session's
 * worker (W: the worker that read the command, R: the one that ran the
 * callback, same: 1 if on the very thread that read it):
 *   ONCE ms       one-shot -> "ONCE started=W ran=R same=S"
 *   EVERY ms n    periodic, stopped by its own n-th callback ->
 *                 "TICK i ran=R same=S" n times, then "EVERY done n"
 *   CANCEL ms     a one-shot stopped at once, another stopped by a third
 *                 timer (ms / 4) before it is due -> "CANCEL rc=0"
 *                 (a stopped timer that runs sends "VICTIM ran")
 *   AFTER ms      one-shot -> "AFTER once=N ticks=N victims=N" (what ran
 *                 so far for this session)
 *   XSTOP ms      a one-shot, then another thread tries S_timer_stop on it
 *                 and the other calls -> "XSTOP stop=-1 EPERM start=NULL
 *                 EPERM base=NULL atexit=-1 EPERM", and the timer still
 *                 runs: "XFIRED"
 *   POKE          another thread writes this worker's eventfd, watched on
 *                 S_worker_base -> "POKED ran=R same=S"
 *   LEAVE         two timers not tied to the session, due in minutes:
 *                 left pending at shutdown -> "LEFT"
 * serv_init (main thread) and serv_worker_init check the calls' errors and
 * print "VIOLATION ..." when one is wrong; serv_on_term stops the
 * session's timers and prints "TERM id=N stopped=K"; serv_worker_init's 0 ms timer
 * prints "INITTIMER worker=W ran=R"; each worker's S_worker_atexit
 * function prints "ATEXIT worker=W stop=RC" (S_timer_stop on one LEAVE
 * timer) and frees its event.
 */
#include <hsvr.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

static _Thread_local int my_worker = -1;

/* Per worker: the eventfd of POKE and its event, who waits for it. */
struct poke {
	pthread_t thread;       /* its worker's */
	int worker;
	int efd;
	struct event *ev;
	SESSION *waiter;
	pthread_t poker;
	int poker_running;
};
static _Thread_local struct poke *my_poke;
static _Thread_local S_TIMER *kept;     /* a LEAVE timer atexit stops */

enum { K_ONCE, K_EVERY, K_VICTIM1, K_VICTIM2, K_KILLER, K_AFTER, K_X,
	K_N };

struct sess;
struct slot {
	struct sess *ss;
	S_TIMER *t;             /* NULL once freed */
	int n, count;
};
struct sess {
	SESSION *s;
	int worker;             /* the one that accepted it */
	pthread_t thread;       /* that worker's */
	struct slot slot[K_N];
	int once, ticks, victims;
};

static void
violation(const char *what)
{
	printf("VIOLATION %s\n", what);
	fflush(stdout);
}

static void
say(SESSION *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void
say(SESSION *s, const char *fmt, ...)
{
	char out[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, sizeof out, fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof out)
		(void)S_send(s, (unsigned char *)out, (size_t)n);
}

/* 1 if running on the thread th (a worker's, recorded there). */
static int
same(pthread_t th)
{
	return pthread_equal(pthread_self(), th) != 0;
}

static void
never(S_TIMER *t, void *arg)
{
	(void)t, (void)arg;
	violation("a timer left pending at shutdown ran");
}

static void
main_thread_checks(void)
{
	errno = 0;
	if (S_timer_start(10, 0, never, NULL) != NULL || errno != EPERM)
		violation("S_timer_start from the main thread: not EPERM");
	if (S_worker_base() != NULL)
		violation("S_worker_base on the main thread is not NULL");
	errno = 0;
	if (S_worker_atexit(free, NULL) != -1 || errno != EPERM)
		violation("S_worker_atexit from the main thread: not EPERM");
	errno = 0;
	if (S_timer_stop(NULL) != -1 || errno != EINVAL)
		violation("S_timer_stop(NULL): not EINVAL");
}

void
serv_init(void)
{
	serv_set_name("hsvr-test-timer");
	main_thread_checks();
	printf("MAIN checked\n");
	fflush(stdout);
}

static void
init_timer(S_TIMER *t, void *arg)
{
	struct poke *p = arg;

	(void)t;
	printf("INITTIMER worker=%d ran=%d same=%d\n", p->worker, my_worker,
	    same(p->thread));
	fflush(stdout);
}

static void
on_poke(evutil_socket_t fd, short what, void *arg)
{
	struct poke *p = arg;
	uint64_t v;

	(void)what;
	if (read(fd, &v, sizeof v) != (ssize_t)sizeof v)
		return;
	if (p->poker_running) {
		pthread_join(p->poker, NULL);  /* it has written: at once */
		p->poker_running = 0;
	}
	if (p->waiter != NULL) {
		say(p->waiter, "POKED ran=%d same=%d\n", my_worker,
		    same(p->thread));
		p->waiter = NULL;
	}
}

static void
worker_exit(void *arg)
{
	struct poke *p = arg;
	int rc = kept != NULL ? S_timer_stop(kept) : 0;

	kept = NULL;
	if (S_worker_base() != NULL)
		violation("S_worker_base in an atexit function is not NULL");
	errno = 0;
	if (S_timer_start(10, 0, never, NULL) != NULL || errno != EPERM)
		violation("S_timer_start in an atexit function: not EPERM");
	if (p->poker_running)
		pthread_join(p->poker, NULL);
	event_free(p->ev);
	close(p->efd);
	free(p);
	printf("ATEXIT worker=%d stop=%d\n", my_worker, rc);
	fflush(stdout);
}

void
serv_worker_init(int worker)
{
	struct poke *p;

	my_worker = worker;
	if ((p = calloc(1, sizeof *p)) == NULL)
		abort();
	p->thread = pthread_self();
	p->worker = worker;
	errno = 0;
	if (S_timer_start(10, 0, NULL, NULL) != NULL || errno != EINVAL)
		violation("S_timer_start without a function: not EINVAL");
	errno = 0;
	if (S_timer_start(-1, 0, never, NULL) != NULL || errno != EINVAL)
		violation("S_timer_start(-1 ms): not EINVAL");
	errno = 0;
	if (S_timer_start(0, 1, never, NULL) != NULL || errno != EINVAL)
		violation("S_timer_start periodic 0 ms: not EINVAL");
	errno = 0;
	if (S_worker_atexit(NULL, NULL) != -1 || errno != EINVAL)
		violation("S_worker_atexit(NULL): not EINVAL");
	if (S_timer_start(0, 0, init_timer, p) == NULL)
		violation("S_timer_start from serv_worker_init failed");
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->efd < 0 || S_worker_base() == NULL)
		abort();
	p->ev = event_new(S_worker_base(), p->efd, EV_READ | EV_PERSIST,
	    on_poke, p);
	if (p->ev == NULL || event_add(p->ev, NULL) != 0)
		abort();
	my_poke = p;
	if (S_worker_atexit(worker_exit, p) != 0)
		violation("S_worker_atexit from serv_worker_init failed");
}

void
serv_on_accept(SESSION *s)
{
	struct sess *ss = calloc(1, sizeof *ss);
	int k;

	if (ss == NULL)
		abort();
	ss->s = s;
	ss->worker = my_worker;
	ss->thread = pthread_self();
	for (k = 0; k < K_N; k++)
		ss->slot[k].ss = ss;
	s->usr = ss;
}

/* The session's timers go with it. */
void
serv_on_term(SESSION *s)
{
	struct sess *ss = s->usr;
	int k, stopped = 0;

	for (k = 0; k < K_N; k++)
		if (ss->slot[k].t != NULL) {
			if (S_timer_stop(ss->slot[k].t) != 0)
				violation("S_timer_stop in serv_on_term failed");
			stopped++;
		}
	if (my_poke->waiter == s)
		my_poke->waiter = NULL;
	printf("TERM id=%u stopped=%d\n", s->id, stopped);
	fflush(stdout);
	free(ss);
}

static void
on_once(S_TIMER *t, void *arg)
{
	struct slot *sl = arg;

	(void)t;
	sl->ss->once++;
	say(sl->ss->s, "ONCE started=%d ran=%d same=%d\n", sl->ss->worker,
	    my_worker, same(sl->ss->thread));
	sl->t = NULL;           /* a one-shot timer is freed after this */
}

static void
on_every(S_TIMER *t, void *arg)
{
	struct slot *sl = arg;

	sl->ss->ticks++;
	sl->count++;
	say(sl->ss->s, "TICK %d ran=%d same=%d\n", sl->count, my_worker,
	    same(sl->ss->thread));
	if (sl->count == sl->n) {
		if (S_timer_stop(t) != 0)
			violation("S_timer_stop from its own callback failed");
		sl->t = NULL;
		say(sl->ss->s, "EVERY done %d\n", sl->n);
	}
}

static void
on_victim(S_TIMER *t, void *arg)
{
	struct slot *sl = arg;

	(void)t;
	sl->ss->victims++;
	sl->t = NULL;
	say(sl->ss->s, "VICTIM ran\n");
}

static void
on_killer(S_TIMER *t, void *arg)
{
	struct slot *sl = arg;
	struct slot *v = &sl->ss->slot[K_VICTIM2];

	(void)t;
	sl->t = NULL;
	if (v->t != NULL && S_timer_stop(v->t) != 0)
		violation("S_timer_stop from another timer's callback failed");
	v->t = NULL;
}

static void
on_after(S_TIMER *t, void *arg)
{
	struct slot *sl = arg;

	(void)t;
	sl->t = NULL;
	say(sl->ss->s, "AFTER once=%d ticks=%d victims=%d\n", sl->ss->once,
	    sl->ss->ticks, sl->ss->victims);
}

static void
on_x(S_TIMER *t, void *arg)
{
	struct slot *sl = arg;

	(void)t;
	sl->t = NULL;
	say(sl->ss->s, "XFIRED\n");
}

/* Another thread: none of the calls may act there. */
static void *
x_thread(void *arg)
{
	S_TIMER *t = arg;
	char res[160];
	int stop, stop_err, start_err, at, at_err;
	S_TIMER *nt;
	struct event_base *b;

	errno = 0;
	stop = S_timer_stop(t);
	stop_err = errno;
	errno = 0;
	nt = S_timer_start(10, 0, never, NULL);
	start_err = errno;
	b = S_worker_base();
	errno = 0;
	at = S_worker_atexit(free, NULL);
	at_err = errno;
	snprintf(res, sizeof res, "XSTOP stop=%d %s start=%s %s base=%s "
	    "atexit=%d %s\n", stop, stop_err == EPERM ? "EPERM" : "?",
	    nt == NULL ? "NULL" : "TIMER", start_err == EPERM ? "EPERM" : "?",
	    b == NULL ? "NULL" : "BASE", at, at_err == EPERM ? "EPERM" : "?");
	return strdup(res);
}

static void *
poker(void *arg)
{
	uint64_t one = 1;

	if (write(*(int *)arg, &one, sizeof one) != (ssize_t)sizeof one)
		violation("cannot write the eventfd");
	return NULL;
}

/* Start the timer of slot k: its pointer, or a VIOLATION line. */
static void
start(struct sess *ss, int k, int ms, int periodic, S_TIMER_T fn)
{
	struct slot *sl = &ss->slot[k];

	if (sl->t != NULL)
		(void)S_timer_stop(sl->t);
	if ((sl->t = S_timer_start(ms, periodic, fn, sl)) == NULL)
		violation("S_timer_start on a worker failed");
}

static void
command(SESSION *s, struct sess *ss, const char *line)
{
	int ms = 0, n = 0, rc;
	pthread_t th;
	void *res;

	if (sscanf(line, "ONCE %d", &ms) == 1) {
		start(ss, K_ONCE, ms, 0, on_once);
	} else if (sscanf(line, "EVERY %d %d", &ms, &n) == 2) {
		ss->slot[K_EVERY].n = n;
		ss->slot[K_EVERY].count = 0;
		start(ss, K_EVERY, ms, 1, on_every);
	} else if (sscanf(line, "CANCEL %d", &ms) == 1) {
		start(ss, K_VICTIM1, ms, 0, on_victim);
		rc = S_timer_stop(ss->slot[K_VICTIM1].t);
		ss->slot[K_VICTIM1].t = NULL;
		start(ss, K_VICTIM2, ms, 0, on_victim);
		start(ss, K_KILLER, ms / 4, 0, on_killer);
		say(s, "CANCEL rc=%d\n", rc);
	} else if (sscanf(line, "AFTER %d", &ms) == 1) {
		start(ss, K_AFTER, ms, 0, on_after);
	} else if (sscanf(line, "XSTOP %d", &ms) == 1) {
		start(ss, K_X, ms, 0, on_x);
		if (pthread_create(&th, NULL, x_thread, ss->slot[K_X].t) != 0)
			abort();
		pthread_join(th, &res);
		say(s, "%s", (char *)res);
		free(res);
	} else if (strcmp(line, "POKE") == 0) {
		my_poke->waiter = s;
		if (my_poke->poker_running)
			pthread_join(my_poke->poker, NULL);
		if (pthread_create(&my_poke->poker, NULL, poker,
		    &my_poke->efd) != 0)
			abort();
		my_poke->poker_running = 1;
	} else if (strcmp(line, "LEAVE") == 0) {
		if (kept == NULL)
			kept = S_timer_start(600000, 0, never, NULL);
		if (S_timer_start(300000, 1, never, NULL) == NULL ||
		    kept == NULL)
			violation("S_timer_start for LEAVE failed");
		say(s, "LEFT\n");
	} else {
		say(s, "ERR %s\n", line);
	}
}

void
serv_on_read(SESSION *s)
{
	char *line = (char *)s->buff, *nl;

	for (; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		*nl = '\0';
		command(s, s->usr, line);
	}
}
