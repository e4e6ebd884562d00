/*
 * hsvr.h - the whole public contract of libhsvr: the S_* low-level API and
 * the serv_* inversion-of-control hooks, each documented where declared.
 */
#ifndef HSVR_H
#define HSVR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HSVR_VERSION "0.1.0"

/* Largest number of bytes one TYP_READ delivers. */
#define HSVR_READ_MAX 64000
/* S_send congestion marks (bytes of unsent output per session). */
#define HSVR_HIGH_MARK (1024 * 1024)
#define HSVR_LOW_MARK (128 * 1024)
/* Upper bound of worker threads (-n, S_start's multi). */
#define HSVR_MAX_THREADS 256

/* Event types delivered to a CALLBACK_T, in the original hsvr order. */
typedef enum {
	TYP_ACCEPT,   /* connection established (on the session's worker) */
	TYP_READ,     /* data received: buff/blen */
	TYP_TERM,     /* connection closed; the last event of a session */
	TYP_TIMEOUT,  /* no data received for the session's idle period */
	TYP_SENDABLE  /* congestion over: S_send accepts data again */
} CTYPE;

/*
 * One connection.  Every field but usr is read-only to the application.
 * A SESSION * handed to a callback stays safe to pass to S_* until that
 * callback returns, even if the connection closes meanwhile on another
 * thread (S_* then return -1 or do nothing).
 */
/* _session_t is the original library's name, kept for its programs. */
/* NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */
typedef struct _session_t {
	unsigned int id;        /* unique per process, from 1 */
	int status;             /* HSVR_ST_* below */
	size_t txoctet;         /* bytes written to the peer */
	size_t tx;              /* S_send calls that queued data */
	size_t rxoctet;         /* bytes received */
	size_t rx;              /* TYP_READ callbacks */
	size_t timeout;         /* idle timeouts (TYP_TIMEOUT, or the close
	                           of a server without serv_on_timeout) */
	int writewait;          /* 1 while congested (S_send returns -4) */
	unsigned char *buff;    /* TYP_READ: received data, NUL-terminated */
	size_t blen;            /* TYP_READ: bytes in buff (NUL not counted) */
	char host[46];          /* peer address text; "unix" for UNIX sockets */
	unsigned short port;    /* peer port; 0 for UNIX sockets */
	void *usr;              /* the application's per-connection pointer */
	const void *hsvr_self_; /* private to the library */
	/* Added in libtool interface 5; the library allocates SESSION, so
	   programs built before still work. */
	int outbound;           /* 1 for a session opened by S_connect */
} SESSION;

/* SESSION.status */
#define HSVR_ST_OPEN 0      /* serving */
#define HSVR_ST_CLOSING 1   /* S_close: flushing output, then closed */
#define HSVR_ST_CLOSED 2    /* closed; TYP_TERM delivered or being delivered */

typedef void (*CALLBACK_T)(CTYPE type, SESSION *session);

/* S_send return codes */
#define S_OK 0
#define S_ERR_INTERNAL (-1)  /* internal error, session closed or not ours */
#define S_ERR_PARAM (-2)     /* bad parameter */
#define S_ERR_CONGESTED (-4) /* congested: data NOT queued, wait for TYP_SENDABLE */

/*
 * Start a TCP server on all IPv4 and IPv6 addresses at port, with at most
 * limit simultaneous connections and multi worker threads; cb receives every
 * event.  Blocks while the server runs; SIGINT or SIGTERM stop it, print the
 * statistics on stdout and make S_start return 0.  Returns -1 (with a message
 * on stderr) if the server cannot start.  tls=1 serves TLS with the PEM
 * certificate cert and the unencrypted private key priv.
 */
int S_start(uint16_t port, int limit, int multi, CALLBACK_T cb, int tls,
    char *cert, char *priv);

/*
 * Queue len bytes for the peer (copied; asynchronous).  Returns 0, -1 if the
 * session is closing, closed or not one of ours, -2 for a NULL session or
 * NULL data with len > 0, -4 if congested: the output already queued exceeds
 * the high mark, the data is not queued, writewait is 1 and every S_send
 * returns -4 until the output drains below the low mark and TYP_SENDABLE is
 * delivered once.  len 0 is a no-op returning 0.  Safe from any hsvr thread.
 */
int S_send(SESSION *s, unsigned char *buff, size_t len);

/*
 * Zero-copy sends.  Like S_send, but the library keeps a reference instead
 * of a copy: S_send_ref sends len bytes at data, S_send_file len bytes of
 * the regular file fd from offset (with sendfile(2) on TCP and UNIX
 * sockets; over TLS the range is read into the output queue when it is
 * queued, so send large files in pieces).  The bytes count as queued output
 * exactly as S_send's do: same return codes, same -4 and TYP_SENDABLE.
 * If the call returns 0, the library owns the reference until it no longer
 * needs it (the bytes were written, or the session ended and they never
 * will be), then calls release(arg) once, if release is not NULL.  Until
 * then the data must not change and fd must stay open (the file's range
 * must stay in the file).  If the call returns anything else, nothing was
 * kept and release is not called.  S_send_file returns -2 also when fd is
 * not a regular file or the range passes its end.  Safe from any hsvr
 * thread.
 *
 * release runs on the session's worker thread, never inside the
 * library's own buffer work and never inside another release: before the
 * call returns when everything could be written at once (right after the
 * calling release returns, when the call was made from a release);
 * otherwise once the bytes are written, or, if the session ends first,
 * before its TYP_TERM.  A send from another thread whose message reaches
 * its session after it closed is released then, after TYP_TERM (at
 * shutdown, on the thread that stops the server).  A release may call
 * S_send, S_send_ref and S_send_file on any session, its own included
 * (sending the next piece when the previous one is released is the way to
 * stream a large reply), and S_close; the releases its sends make due run
 * after it, one after the other, so a chain of pieces each written at once
 * does not deepen the stack.
 */
typedef void (*S_RELEASE_T)(void *arg);
int S_send_ref(SESSION *s, const void *data, size_t len, S_RELEASE_T release,
    void *arg);
int S_send_file(SESSION *s, int fd, off_t offset, size_t len,
    S_RELEASE_T release, void *arg);

/*
 * The live session whose peer is ip (IPv4 or IPv6 text) and port, or NULL.
 * UNIX-domain sessions are never found.  Safe from any hsvr thread; the
 * pointer is valid until the calling callback returns.
 */
SESSION *S_search(char *ip, uint16_t port);

/*
 * Close asynchronously: queued output (including sends still on their way
 * from other threads) is written first, then the connection closes and
 * TYP_TERM is delivered.  No TYP_SENDABLE after S_close.  Safe from any hsvr
 * thread; a no-op on a session already closing or closed.
 */
void S_close(SESSION *s);

/*
 * How the session's close waits for its peer.  By default (on=1) a close
 * that would leave the peer's input unread, or its reply not yet sent or
 * acknowledged, lingers: the sending side ends (FIN), and what the peer
 * still sends is read and thrown away until it closes (2 s after it last
 * sent or took some of the reply, 30 s at most).  Closing at once would
 * make the kernel answer later input with a reset, and a reset destroys
 * the part of the reply the peer has not received yet.
 *
 * S_linger(s, 0) says that the peer will send nothing more that matters
 * (HTTP: a request answered with "Connection: close", read to its end,
 * nothing after it): the close then lingers only if input is waiting
 * unread when it comes, not for the reply to be acknowledged, which saves
 * a wait and a handful of system calls per connection.  Should the peer
 * send anyway after the close, it may lose the end of the reply.  No
 * effect on TLS sessions and UNIX-domain sockets, which never linger.
 * Safe from any hsvr thread; call it before S_close.  0, or -1 if the
 * session is not open.
 */
int S_linger(SESSION *s, int on);

/*
 * Idle timeout of the session in seconds (default 60 or -T): TYP_TIMEOUT
 * fires after sec seconds in which nothing was received and no queued output
 * could be written.  sec <= 0 disables it.  Safe from any hsvr thread.
 */
void S_settimer(SESSION *s, int sec);

/*
 * Stop (paused=1) or resume (paused=0) reading the session: while paused no
 * TYP_READ is delivered and what the peer sends waits in the kernel, whose
 * flow control then slows the peer down.  For back-pressure from the
 * application: pause when S_send returns -4, resume on TYP_SENDABLE.  The
 * idle timeout still runs.  0, or -1 for a session that is not open.  Safe
 * from any hsvr thread (from another one it takes effect shortly after).
 */
int S_pause_read(SESSION *s, int paused);

/* ---------------- outbound sessions: connections the server opens ----- */

/*
 * S_connect opens a TCP connection to host (an IPv4 or IPv6 address, or a
 * name) at port, on the calling worker, so that the session it makes and
 * the one that asked for it live on one thread and never need a lock.
 * Call it on a worker (serv_worker_init, a callback, a timer's
 * callback); elsewhere it fails with EPERM.
 *
 * The outbound session gets the events of an accepted one, through the
 * same callbacks (the serv_on_* hooks, or S_start's CALLBACK_T), always
 * later, from the worker's loop, never inside S_connect:
 *  - TYP_ACCEPT once the connection is established (after the TLS
 *    handshake with S_CONNECT_TLS): from then on it is a session like any
 *    other (S_send*, S_pause_read, S_settimer, S_close, TYP_READ,
 *    TYP_SENDABLE, TYP_TIMEOUT with the -T idle period, TYP_TERM);
 *  - or, if it could not be established (a name not found, refused,
 *    unreachable, no answer within the connect timeout, the TLS
 *    handshake or the peer's certificate failed, the server stopping),
 *    TYP_TERM alone, once, without TYP_ACCEPT; S_connect_error then says
 *    why.
 * s->outbound is 1 and s->usr is usr from the start; s->host and s->port
 * name the peer (host as given until the name is resolved).  S_send,
 * S_close and S_pause_read may be called before TYP_ACCEPT: the data
 * waits until the connection is established (and is lost with it if it
 * fails).  The SESSION * is valid until its TYP_TERM returns.
 *
 * Names are resolved without blocking the worker (libevent's evdns, one
 * resolver per worker, /etc/resolv.conf and /etc/hosts read when the
 * worker first resolves), the addresses tried in turn; numeric addresses
 * are used as they are.  Outbound sessions are counted apart from
 * accepted ones (S_STATS outbound_*) and not against -m.  Under
 * --seccomp the application allows "socket" and "connect" itself
 * (serv_seccomp_allow), and resolving names needs /etc/resolv.conf.
 *
 * flags:
 *  S_CONNECT_TLS       TLS client: SNI is host when host is a name, the
 *                      peer's certificate is verified against host (name
 *                      or address) and the system's CAs, or those of
 *                      serv_set_connect_ca; ALPN from
 *                      serv_set_connect_alpn
 *  S_CONNECT_NOVERIFY  with S_CONNECT_TLS: do not verify the peer
 * Returns the session, or NULL with errno EINVAL (host NULL or empty,
 * port 0, unknown flags), EPERM (not on a worker), ESHUTDOWN (the worker
 * is stopping: its sessions are being closed) or ENOMEM.
 */
#define S_CONNECT_TLS      0x01
#define S_CONNECT_NOVERIFY 0x02
SESSION *S_connect(const char *host, uint16_t port, int flags, void *usr);

/*
 * In TYP_TERM of an outbound session that never reached TYP_ACCEPT: why,
 * as one line for a log ("connection refused", "timed out after 10 s",
 * "name not found: example.invalid", "TLS: certificate verify failed").
 * NULL for any other session or event.
 */
const char *S_connect_error(SESSION *s);

/*
 * Settings of every S_connect, from serv_init (or before S_start):
 * the time in seconds a connection has to be established, resolution and
 * TLS handshake included (default 10); the PEM file of the CAs that
 * verify TLS peers (default: the system's); the ALPN protocols offered,
 * comma-separated ("h2,http/1.1"; default none).  0, or -1 with a line
 * on stderr for a bad value (sec <= 0, a CA file that cannot be loaded
 * is reported when the server starts).
 */
int serv_set_connect_timeout(int sec);
int serv_set_connect_ca(const char *path);
int serv_set_connect_alpn(const char *protocols);

/*
 * Half-close, as a proxy needs it: one direction of a connection ends
 * while the other goes on.
 *
 * S_shutdown: once everything S_send* queued before it is written, the
 * session's sending side ends (TCP FIN; over TLS, close_notify first); the
 * session goes on reading.  S_send* then return -1.  Safe from any hsvr
 * thread; 0, or -1 if the session is not open.
 *
 * S_halfclose(s, 1): the peer's end of stream no longer ends the session.
 * It is delivered as one TYP_READ with blen 0 (buff "") and the session
 * stays open for sending, until S_shutdown (the session then ends by
 * itself, as it does when the peer ends after S_shutdown), S_close or its
 * timeout.  Without it (the default, and the original's behaviour) the
 * peer's end closes the session once its output is written.  On the
 * session's worker only (its callbacks; an S_connect session before
 * TYP_ACCEPT too): 0, or -1 (errno EPERM on another thread).
 */
int S_shutdown(SESSION *s);
int S_halfclose(SESSION *s, int on);

/* ---------------- the worker's loop for the application --------------- */

/*
 * Timers and descriptors of the application run on a worker's own loop,
 * beside its sessions, so that an application never needs a loop or a
 * thread of its own.  Everything here belongs to the worker that calls
 * it: call it from a callback running on a worker (serv_on_*, a
 * CALLBACK_T, a timer's callback, an event of S_worker_base) or from
 * serv_worker_init; from any other thread it fails with EPERM.
 *
 * S_timer_start: fn(timer, arg) runs on the calling worker's thread ms
 * milliseconds from now (libevent's monotonic clock; late by as long as
 * the loop is held), once (periodic 0; ms 0: at the loop's next turn) or
 * every ms from then on (periodic 1, ms > 0; each due time is the
 * previous one plus ms, and a turn missed while the loop was held is not
 * made up).  Returns the timer, or NULL with errno EINVAL (fn NULL, ms < 0,
 * or periodic with ms 0), EPERM (not on a worker) or ENOMEM.
 *
 * S_timer_stop: the timer's callback will not run again, and the timer is
 * freed (during its own callback: once the callback returns).  Only on
 * the worker that started it: 0, or -1 with errno EINVAL (NULL) or EPERM
 * (another thread; the timer is left alone).
 *
 * A timer is freed exactly once, and its pointer must not be used after:
 *  - a one-shot timer once its callback returns (it may S_timer_stop
 *    itself there, to no further effect): forget it in the callback;
 *  - any timer by S_timer_stop (outside its callback: at once);
 *  - timers still pending when their worker stops: after the TYP_TERM of
 *    the worker's last session and after its S_worker_atexit functions
 *    (which may still stop them), without their callbacks running.
 * A timer that refers to a session must be stopped by that session's
 * TYP_TERM at the latest: the SESSION * is invalid once TYP_TERM returns.
 * A pending timer does not keep a draining worker from stopping.  From
 * the callback, S_send and S_close to a session of the same worker act at
 * once, as from the session's own callbacks.
 */
typedef struct hsvr_timer S_TIMER;
typedef void (*S_TIMER_T)(S_TIMER *timer, void *arg);
S_TIMER *S_timer_start(int ms, int periodic, S_TIMER_T fn, void *arg);
int S_timer_stop(S_TIMER *timer);

/*
 * The calling worker's libevent base (struct event_base of
 * <event2/event.h>), NULL on any other thread, for the application's own
 * descriptors: event_new(S_worker_base(), fd, EV_READ | EV_PERSIST, cb,
 * arg) and event_add.  The rules:
 *  - use the base and those events only on that worker's thread (another
 *    thread wakes the worker through a descriptor: a pipe, an eventfd);
 *    the base has no lock (EVENT_BASE_FLAG_NOLOCK), so a call on it from
 *    another thread is a data race, even event_active;
 *  - never block in their callbacks, nor run the base's loop: the worker
 *    runs it, and every session of the worker waits while a callback
 *    runs;
 *  - delete and free every such event before the worker stops: in the
 *    TYP_TERM of the session it serves, or in a function given to
 *    S_worker_atexit, the last moment (the base is freed after).
 * This header only names struct event_base: an application that uses it
 * includes <event2/event.h> and links with libevent (-levent_core).
 */
struct event_base;
struct event_base *S_worker_base(void);

/*
 * fn(arg) runs once on the calling worker's thread when it stops: after
 * its loop ended and the TYP_TERM of its last session, before its
 * pending timers and its base are freed, before serv_exit runs or
 * S_start returns; the last registered first.
 * There, free what the worker held (S_worker_base's events, S_timer_stop
 * on its timers); S_timer_start, S_worker_atexit and S_worker_base no
 * longer work there (EPERM, NULL).  0, or -1 with errno EINVAL (fn NULL),
 * EPERM (not on a worker) or ENOMEM.
 */
int S_worker_atexit(void (*fn)(void *arg), void *arg);

/* Statistics snapshot (names of the original manual, 64-bit). */
typedef struct hsvr_stats {
	uint64_t session_gauge;    /* connections open now */
	uint64_t session_high;     /* most connections open at once */
	uint64_t accept_counter;   /* connections accepted and served */
	uint64_t session_error;    /* connections refused (limit) or failed */
	uint64_t rxoctet;          /* bytes received */
	uint64_t rxcount;          /* TYP_READ callbacks */
	uint64_t txoctet;          /* bytes written */
	uint64_t txcount;          /* S_send calls that queued data */
	uint64_t rxtimeout;        /* idle timeouts of every session */
	uint64_t discarded_octet;  /* bytes refused (-4) or lost to a dead peer */
	uint64_t discarded_packet; /* S_send calls refused with -4 */
	uint64_t connect_error;    /* accept() failures */
	uint64_t tls_handshake_error; /* TLS handshakes failed or timed out */
	uint64_t session_error_per_ip; /* refused by --max-per-ip (in session_error too) */
	uint64_t write_timeout;    /* sessions closed by --write-timeout */
	uint64_t fd_exhausted;     /* accept() calls that found no descriptor free */
	uint64_t alloc_error;      /* allocations that failed (the library coped) */
	int threads;               /* worker threads */
	uint64_t thread_session[HSVR_MAX_THREADS]; /* connections per worker */
	/*
	 * Added in libtool interface 3 (libhsvr.so.3), after the per-worker
	 * array: S_STATS grew, so programs built against libhsvr.so.0 must be
	 * rebuilt (S_stats fills the whole struct).
	 */
	uint64_t proxy_error;      /* --proxy-protocol: closed unanswered for a
	                              missing, malformed or late header, or
	                              from outside --proxy-from */
	/* Added in libtool interface 5 (libhsvr.so.5): S_connect's sessions,
	   counted apart from accepted ones. */
	uint64_t outbound_gauge;   /* outbound sessions open now */
	uint64_t outbound_counter; /* outbound connections established */
	uint64_t outbound_error;   /* S_connect that failed (TYP_TERM alone) */
} S_STATS;

/*
 * Fill st with a consistent snapshot: for every worker its counters are
 * read at one instant, so accept_counter = terminated + session_gauge holds.
 * The workers are read one after another, not all at one instant, and a
 * session is counted (accepted, terminated) just before its TYP_ACCEPT or
 * TYP_TERM: counts the application keeps in those callbacks never exceed
 * the library's if they are read before S_stats, but may if read after.
 * Once the server has stopped (in serv_exit, say) st gets its final
 * counters.  Returns 0, or -1 if no server has run yet.  Safe from any
 * thread, at any time.
 */
int S_stats(S_STATS *st);

/* Print st as name=value lines (the original's format) on fp. */
void S_stats_print(const S_STATS *st, FILE *fp);

/*
 * The application's own Prometheus metrics, served with the library's by
 * --metrics (hsvr(8)) as GET /metrics.  Register each once, from serv_init
 * (or any thread, at any time: a metric registered late appears from the
 * next scrape on); a serving process starts with the values its
 * supervisor had (those set in serv_init), and each one counts from there.
 *
 * name must be a Prometheus metric name, [a-zA-Z_:][a-zA-Z0-9_:]*, at
 * most 127 characters, without ':' (Prometheus keeps colons for
 * recording rules); be new; not start with hsvr_ or process_ (the
 * library's); and a counter's name ends in _total.  help, required, is
 * the text of "# HELP" (copied; a newline or backslash in it is escaped).
 * Both return NULL after a line on stderr and syslog saying why (up to
 * 256 metrics), or the metric, valid for the life of the process.
 *
 * hsvr_metric_add adds n to a counter (n < 0 is ignored: counters only
 * grow) or to a gauge; hsvr_metric_set sets a gauge (a counter is left
 * alone).  Both are lock-free (one relaxed atomic operation), safe from
 * any thread, and do nothing with NULL, so a failed registration needs
 * no check at each use.  Without --metrics the values are kept, not
 * served.
 */
typedef struct hsvr_metric hsvr_metric;
hsvr_metric *hsvr_metric_counter(const char *name, const char *help);
hsvr_metric *hsvr_metric_gauge(const char *name, const char *help);
void hsvr_metric_add(hsvr_metric *m, int64_t n);
void hsvr_metric_set(hsvr_metric *m, int64_t v);

/* TLS details of a session, from S_tls_info. */
typedef struct hsvr_tls_info {
	char version[16];  /* "TLSv1.3" */
	char cipher[64];
	char alpn[32];     /* protocol chosen by ALPN, "" if none */
	char peer[256];    /* client certificate subject, "" if none */
	int verified;      /* 1 if a client certificate was verified */
} S_TLS_INFO;

/*
 * Fill info for a TLS session: 0, or -1 if s is not a TLS session.  Call it
 * only from s's own callbacks, TYP_TERM included (it reads the connection's
 * TLS state, which is freed after TYP_TERM).
 */
int S_tls_info(SESSION *s, S_TLS_INFO *info);

/*
 * For a protocol whose client speaks first (HTTP, TLS, SMTP is not): the
 * kernel hands a TCP connection to the server only once its client has
 * sent something, or after about seconds (Linux's TCP_DEFER_ACCEPT,
 * FreeBSD's "dataready" accept filter), so that its first read finds the
 * request.  0 (the default): at once.  Call before the server starts (in
 * serv_init or an option's set function, or before S_start).  0, or -1
 * (with a warning) if seconds is not from 0 to 3600.
 */
int serv_set_defer_accept(int seconds);

/*
 * ALPN protocols the server accepts, in its order of preference, as a
 * comma-separated list ("h2,http/1.1").  Call before the server starts
 * (in serv_init, or before S_start).
 */
void serv_set_alpn(const char *protocols);

/* ---------------- inversion of control: the library's main() ---------- */

/*
 * Hooks the application may define (libhsvr supplies main()).  Only
 * serv_on_read is required.  All run on hsvr threads:
 *  serv_init        once, after options and -r, before listening
 *  serv_exit        once, at orderly exit
 *  serv_worker_init in each worker thread (0..n-1) before it serves
 *  serv_on_accept   a connection is established (its worker, before reads)
 *  serv_on_read     data received (s->buff, s->blen)
 *  serv_on_timeout  idle period over; without this hook the session closes
 *  serv_on_sendable congestion over
 *  serv_on_term     connection closed
 *  serv_options     returns the application's command-line options
 */
void serv_init(void);
void serv_exit(void);
void serv_worker_init(int worker);
void serv_on_accept(SESSION *s);
void serv_on_read(SESSION *s);
void serv_on_timeout(SESSION *s);
void serv_on_sendable(SESSION *s);
void serv_on_term(SESSION *s);
/*
 * serv_on_drain runs on the session's worker when the server stops
 * gracefully (SIGTERM), once per session; the default is S_close(s), so
 * queued output is flushed and the session closes.  An application that
 * must finish a longer reply defines it and calls S_close when done; the
 * drain is bounded by --drain-timeout.
 */
void serv_on_drain(SESSION *s);
/*
 * serv_on_reload runs on SIGHUP in the supervising process (as the user
 * that started the server, before the fresh serving process is forked), so
 * it may re-read configuration that the new serving process inherits.
 */
void serv_on_reload(void);

/*
 * An application's own command-line option.  serv_options() returns an
 * array ended by an entry whose name is NULL; the options are parsed with
 * the library's and listed in --help.  set() receives the argument (NULL for
 * a flag) and returns 0, or -1 to reject it: the server then prints
 * "NAME: invalid argument for --name: 'VALUE'" with the usage, exits 64.
 */
struct serv_option {
	const char *name;  /* long name without "--" */
	int key;           /* short option letter, 0 for none */
	const char *arg;   /* argument name for --help, NULL for a flag */
	const char *help;  /* one line for --help */
	int (*set)(const char *arg);
};
const struct serv_option *serv_options(void);

/*
 * Log a line with a syslog(3) priority (LOG_ERR, LOG_INFO, ...): to syslog
 * under the server's name, and to stderr too while in the foreground (-x)
 * or before start-up has finished.  Safe from any thread.
 */
void serv_log(int priority, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Name of the server (default "server"): log tag and pidfile name. */
void serv_set_name(const char *name);
/* From serv_init: call fn every seconds seconds on the main thread. */
void serv_set_periodic(void (*fn)(void), int seconds);

/*
 * With --seccomp the serving process may make only the system calls of
 * the library's allowlist (hsvr(8)); any other fails with EPERM.  Add
 * syscall_name ("unlink", "bind", "socket"...), allowed whatever its
 * arguments, from serv_init or serv_worker_init: the filter is installed
 * once every worker ran serv_worker_init.  0, or -1 (errno EINVAL) for a
 * name this system does not know, EBUSY once the filter is installed,
 * ENOSPC past 64 names.  Without --seccomp, or without seccomp support,
 * it does nothing, 0.
 */
int serv_seccomp_allow(const char *syscall_name);

/* Read-only configuration, set from the command line before serv_init. */
extern const char *serv_config_file; /* -f, NULL if not given */
extern const char *serv_root_dir;    /* -r, NULL if not given */
extern const char *serv_interface;   /* -i, "" for all addresses */
extern const char *serv_port;        /* -p, "1966" */
extern const char *serv_user;        /* -u, "nobody" */
extern const char *serv_group;       /* -g; as root without -g: the
                                        user's primary group ("nogroup") */

#ifdef __cplusplus
}
#endif

#endif /* HSVR_H */
