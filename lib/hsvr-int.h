/*
 * hsvr-int.h - what the parts of libhsvr share: configuration, the engine,
 * workers, connections, messages, transports and the helpers between them.
 */
#ifndef HSVR_INT_H
#define HSVR_INT_H

#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "hsvr.h"

#define HSVR_CACHELINE 64

/* sysexits(3) codes used by the library's main() */
#define HSVR_EX_USAGE 64
#define HSVR_EX_UNAVAILABLE 69
#define HSVR_EX_SOFTWARE 70
#define HSVR_EX_OSERR 71
#define HSVR_EX_CANTCREAT 73
#define HSVR_EX_CONFIG 78
/* Inherited listening sockets (--listen-fd, LISTEN_FDS) at most. */
#define HSVR_MAX_LISTEN_FDS 8

/* ------------------------------------------------------ PROXY protocol */

#define HSVR_PROXY_V1_MAX 107       /* a v1 line, CRLF included */
#define HSVR_PROXY_V2_ADDR_MAX 216  /* a v2 address block (AF_UNIX) */
#define HSVR_PROXY_FROM_MAX 32      /* --proxy-from entries */

enum { HSVR_PROXY_BAD = -1, HSVR_PROXY_MORE = 0, HSVR_PROXY_DONE = 1 };

/* A header being parsed (proxy.c); hsvr_proxy_init before the first byte. */
struct hsvr_proxy {
	int state;                  /* HSVR_PROXY_MORE, _DONE or _BAD */
	int version;                /* 0 until the first byte, then 1 or 2 */
	int local;                  /* done: keep the connection's own peer */
	const char *why;            /* bad: what was wrong */
	struct sockaddr_storage addr; /* done, !local: the client */
	size_t have;                /* bytes taken */
	size_t total;               /* v2: the header's length, once known */
	unsigned char buf[16 + HSVR_PROXY_V2_ADDR_MAX]; /* v1 line, v2 head */
	unsigned char tlv_hdr[3];   /* v2: the TLV header being read */
	int tlv_got;                /* its bytes so far */
	size_t tlv_left;            /* bytes of the TLV's value to come */
	int in_crc, crc_seen;       /* in the CRC32C TLV; one was seen */
	uint32_t crc, crc_want;     /* running CRC32C; the TLV's value */
};

struct hsvr_proxy_cidr {
	uint8_t addr[16];           /* IPv4 mapped into IPv6, as keys */
	int bits;                   /* of the 128 */
};

struct hsvr_proxy_from {
	int n;
	struct hsvr_proxy_cidr c[HSVR_PROXY_FROM_MAX];
};

void hsvr_proxy_init(struct hsvr_proxy *p);
/* Bytes that may still belong to the header: peek at most these. */
size_t hsvr_proxy_want(const struct hsvr_proxy *p);
/* Feed bytes: returns how many belong to the header; p->state says more. */
size_t hsvr_proxy_feed(struct hsvr_proxy *p, const unsigned char *b,
    size_t n);
/* "CIDR,CIDR,...": 0, or -1 with the reason in err. */
int hsvr_proxy_from_parse(struct hsvr_proxy_from *from, const char *list,
    char *err, size_t errlen);
/* 1 if key (hsvr_search_key's form) is in the list. */
int hsvr_proxy_from_match(const struct hsvr_proxy_from *from,
    const uint8_t key[16]);

/* ---------------------------------------------------------------- config */

struct hsvr_config {
	const char *progname;     /* for messages: basename of argv[0] */
	char name[64];            /* serv_set_name() */
	const char *interface;    /* NULL or "" = every IPv4 and IPv6 address */
	uint16_t port;
	const char *unix_path;    /* -l: UNIX-domain socket instead of TCP */
	char where[300];          /* what it listens on, for the log (listen.c) */
	int max_conn;             /* -m */
	int threads;              /* -n */
	int backlog;              /* -q */
	int timeout;              /* -T: default idle timeout, seconds */
	int foreground;           /* -x */
	int terminate;            /* -t */
	const char *user, *group; /* -u, -g */
	int group_given;          /* -g was given: else the user's group */
	char group_name[64];
	int drop;                 /* started as root: serve as uid:gid */
	uid_t uid;
	gid_t gid;
	const char *pidfile;      /* --pidfile */
	int drain_timeout;        /* --drain-timeout, seconds */
	int max_per_ip;           /* --max-per-ip: sessions per address, 0 = any */
	int write_timeout;        /* --write-timeout: seconds, 0 = none */
	int reuseport;            /* --reuseport: a listening socket per worker */
	int accept_thread;        /* --accept-thread: the main thread accepts */
	int report_fd;            /* start-up messages to the waiting parent */
	int ready_fd;             /* serving process: READY to the supervisor */
	pid_t supervisor;         /* serving process: its supervisor's pid */
	const char *root_dir;     /* -r */
	const char *config_file;  /* -f */
	const char *chroot_dir;   /* --chroot: the serving process's "/" */
	int seccomp;              /* --seccomp: the syscall allowlist */
	const char *tls_cert, *tls_key;  /* -c, -k: both given = TLS */
	const char *tls_ca;       /* --tls-ca: verify client certificates */
	const char *tls_ciphers;  /* --tls-ciphers: TLS 1.2 names only */
	const char *tls_ciphersuites; /* --tls-ciphersuites: TLS 1.3 */
	const char *tls_groups;   /* --tls-groups */
	const char *tls_ocsp;     /* --tls-ocsp: DER OCSP response to staple */
	int tls_no_tickets;       /* --tls-no-tickets */
	int max_handshakes;       /* --tls-max-handshakes; 0 = half of -m */
	int tls_min13;            /* --tls-min 1.3 */
	int tls_keep_buffers;     /* --tls-keep-buffers */
	int handshake_timeout;    /* seconds (TLS) */
	CALLBACK_T cb;            /* S_start's callback; NULL: serv_* hooks */
	FILE *stats_out;          /* where the statistics go at exit */
	void (*periodic)(void);
	int periodic_sec;
	/* NULL, or run once every worker ran serv_worker_init, before the
	 * first connection (main(): the --seccomp allowlist); 0 or -1 */
	int (*lock_down)(const struct hsvr_config *);
	/* Inherited listening sockets (listen.c), served instead of -p/-i/-l:
	 * the first listen_activated from systemd (LISTEN_FDS), then the
	 * --listen-fd ones. */
	int listen_fds[HSVR_MAX_LISTEN_FDS];
	int n_listen_fds;
	int listen_activated;
	/* --proxy-protocol: every connection starts with a PROXY header */
	int proxy_protocol;
	int proxy_timeout;        /* --proxy-timeout: seconds for the header */
	struct hsvr_proxy_from proxy_from; /* --proxy-from: who may send one */
	/* --metrics: the listening socket of the metrics endpoint, opened
	 * at start-up with the others (listen.c) and kept across an
	 * upgrade; -1 = none */
	int metrics_fd;
};

void hsvr_options_defaults(struct hsvr_config *);
/* Parse argv into cfg; on error, --help or --version it exits. */
void hsvr_options_parse(struct hsvr_config *, int, char **);
/* The descriptors argv names with --listen-fd N (from 3 on, at most max),
 * read before the parse so that start-up does not close them: a count. */
int hsvr_options_listen_fds(int, char **, int *fds, int max);

/* ------------------------------------------------------ daemon duties */

int hsvr_privdrop_resolve(struct hsvr_config *);
int hsvr_privdrop_drop(const struct hsvr_config *);
/* --chroot usable (needs root: cfg->drop resolved); 0, or -1 after a line. */
int hsvr_sandbox_check(const struct hsvr_config *);
/* Serving process, before the ids change: chroot, bounding set emptied. */
int hsvr_sandbox_enter(const struct hsvr_config *);
/* After it: no_new_privs, no capabilities, all checked; -1 after a line. */
int hsvr_sandbox_lock(const struct hsvr_config *);
/* --seccomp: the allowlist on every thread; 0, or -1 after a line. */
int hsvr_sandbox_seccomp(const struct hsvr_config *);
int hsvr_pidfile_open(const struct hsvr_config *);
int hsvr_pidfile_write(void);
void hsvr_pidfile_forget(void);
void hsvr_pidfile_remove(void);
int hsvr_daemon_detach(void);
void hsvr_daemon_ready(int);
void hsvr_daemon_failed(int, int);
int hsvr_supervisor_run(struct hsvr_config *,
    void (*)(struct hsvr_config *, int), int);
void hsvr_notify(const char *);

/* ------------------------------------------------------------- logging */

void hsvr_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void hsvr_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void hsvr_log(int, const char *, ...) __attribute__((format(printf, 2, 3)));
void hsvr_vlog(int, int, const char *, va_list)
    __attribute__((format(printf, 3, 0)));
void hsvr_log_open(const char *);
void hsvr_log_name(const char *);
/* At most one line per period_ms for an event that may come in floods. */
struct hsvr_log_every {
	uint64_t period_ms;
	uint64_t last_ms;         /* atomic */
	uint64_t unlogged;        /* atomic */
};
uint64_t hsvr_log_due(struct hsvr_log_every *);
void hsvr_log_stderr(int);
void hsvr_log_report_to(int);

/* ------------------------------------------------------------ messages */

enum hsvr_msg_type {
	MSG_CONN,    /* a freshly accepted descriptor for this worker */
	MSG_SEND,    /* data for a session (S_send from another thread) */
	MSG_DRAIN,   /* graceful stop: serv_on_drain for every session */
	MSG_STOP     /* the server stops: close every session, leave the loop */
};

struct hsvr_conn;
struct hsvr_worker;

/*
 * What one S_send* hands over: bytes to copy, bytes by reference, or a
 * range of a file (output.c).
 */
enum hsvr_out_kind { OUT_COPY, OUT_REF, OUT_FILE };

/*
 * The application's release of an S_send_ref or S_send_file, allocated by
 * the call (so that making it due never fails), then queued on the
 * worker's list of due releases.
 */
struct hsvr_release {
	struct hsvr_release *next;
	S_RELEASE_T fn;
	void *arg;
};

struct hsvr_out {
	enum hsvr_out_kind kind;
	const unsigned char *data;    /* OUT_COPY, OUT_REF */
	int fd;                       /* OUT_FILE */
	off_t off;                    /* OUT_FILE */
	size_t len;
	struct hsvr_release *rel;     /* OUT_REF, OUT_FILE; NULL: none */
};

/*
 * Append o's bytes from skip on to q: copied, by reference, or as a file
 * range (by sendfile when q drains to a plain socket, else read into q).
 * 0: o's release now belongs to q (due once q is done with it, or at
 * once if nothing is kept); -1: nothing was appended, o->rel is still
 * the caller's.
 */
int hsvr_output_add(struct evbuffer *q, const struct hsvr_out *o, size_t skip,
    int sendfile);
/* fn(arg) as a release to be, or NULL when out of memory. */
struct hsvr_release *hsvr_output_release_new(S_RELEASE_T fn, void *arg);
/* r is due: queued for hsvr_output_release_run (off a worker, run now). */
void hsvr_output_due(struct hsvr_release *r);
/*
 * o is done with: its release, if any, is due.  Inline: a copy (no
 * release) costs the test alone, on the path of every answer written at
 * once (send_now).
 */
static inline void
hsvr_output_done(const struct hsvr_out *o)
{
	if (o->rel != NULL)
		hsvr_output_due(o->rel);
}
/* o was not taken: its release is freed, never called. */
void hsvr_output_drop(const struct hsvr_out *o);
/*
 * Run this thread's due releases in order, unless they are running already
 * (a release that sends: what it makes due runs after it, in the same
 * loop, so the stack stays flat).  Never from inside an evbuffer
 * operation.  Off a worker thread nothing is queued: nothing to do.
 */
void hsvr_output_release_run(void);
/* A worker thread starts (1): due releases wait for the above; ends (0). */
void hsvr_output_thread(int on);

struct hsvr_msg {
	struct hsvr_msg *next;
	enum hsvr_msg_type type;
	struct hsvr_conn *c;
	union {
		struct {
			int fd;
			int is_unix;
			int perip;       /* counted against --max-per-ip */
			socklen_t alen;
			struct sockaddr_storage addr;
		} conn;
		struct hsvr_out out;  /* MSG_SEND; a copy's bytes in data[] */
	} u;
	unsigned char data[];
};

/* ---------------------------------------------------------------- qsbr */

/*
 * Quiescent-state reclamation.  Every hsvr thread owns a counter: odd while
 * it runs callbacks (online), even between loop iterations (offline).  A
 * retired connection is freed once every other thread was offline or moved
 * on since the retirement, so no thread can still hold its SESSION *.
 */
struct hsvr_qsbr {
	uint64_t ctr;                 /* atomic; written by the owner only */
	struct hsvr_conn *retired;    /* retired during this iteration */
	struct hsvr_batch *batches;   /* waiting for a grace period, FIFO */
	struct hsvr_batch **tail;
	struct hsvr_conn *deferred;   /* grace passed, messages still queued */
	struct event retry;           /* retries reclamation when idle */
	int retry_armed;
} __attribute__((aligned(HSVR_CACHELINE)));

extern _Thread_local struct hsvr_qsbr *hsvr_qs_self;

static inline void
hsvr_online(void)
{
	struct hsvr_qsbr *q = hsvr_qs_self;

	if (q != NULL && (q->ctr & 1) == 0)
		__atomic_store_n(&q->ctr, q->ctr + 1, __ATOMIC_SEQ_CST);
}

void hsvr_qsbr_init(struct hsvr_qsbr *, struct event_base *);
void hsvr_qsbr_retire(struct hsvr_conn *);
void hsvr_qsbr_end_iteration(void);
void hsvr_qsbr_unref(struct hsvr_conn *);
void hsvr_qsbr_free_all(struct hsvr_qsbr *);
/* The table of every thread's record: n slots, each set once, then freed. */
int hsvr_qsbr_table_init(int n);
void hsvr_qsbr_table_set(int, struct hsvr_qsbr *);
void hsvr_qsbr_table_free(void);

/* ------------------------------------------------------------ counters */

/*
 * Per-worker counters under a sequence lock: one writer, any reader.  No
 * fences (ThreadSanitizer cannot check them): each counter is stored with
 * release order, so a reader that sees it also sees the odd sequence.
 */
struct hsvr_counters {
	uint64_t seq;
	uint64_t accepted;
	uint64_t terms;
	uint64_t rxoctet;
	uint64_t rxcount;
	uint64_t txoctet;
	uint64_t txcount;
	uint64_t rxtimeout;
	uint64_t out_established;      /* S_connect's sessions: TYP_ACCEPT */
	uint64_t out_terms;            /* and their TYP_TERM after it */
};

static inline void
ctr_begin(struct hsvr_counters *k)
{
	__atomic_store_n(&k->seq, k->seq + 1, __ATOMIC_RELAXED);
}

static inline void
ctr_end(struct hsvr_counters *k)
{
	__atomic_store_n(&k->seq, k->seq + 1, __ATOMIC_RELEASE);
}

#define CTR_ADD(k, field, n) \
	__atomic_store_n(&(k)->field, (k)->field + (uint64_t)(n), __ATOMIC_RELEASE)

/* Counters any thread may bump: rare events only. */
struct hsvr_shared_counters {
	uint64_t session_error;
	uint64_t session_high;
	uint64_t discarded_octet;
	uint64_t discarded_packet;
	uint64_t connect_error;
	uint64_t tls_handshake_error;
	uint64_t session_error_per_ip;
	uint64_t write_timeout;
	uint64_t fd_exhausted;
	uint64_t alloc_error;
	uint64_t proxy_error;
	uint64_t outbound_error;
};

/*
 * What every thread of a serving process adds to (shared.c): the shared
 * statistics, and the descriptors open for -m (accepted, not yet ended).
 */
struct hsvr_shared {
	struct hsvr_shared_counters stats __attribute__((aligned(HSVR_CACHELINE)));
	uint32_t live __attribute__((aligned(HSVR_CACHELINE))); /* atomic */
};

extern struct hsvr_shared hsvr_shared;

/* A new server: every shared counter back to 0. */
void hsvr_shared_reset(void);

#define SHARED_ADD(field, n) \
	__atomic_fetch_add(&hsvr_shared.stats.field, (uint64_t)(n), \
	    __ATOMIC_RELAXED)

/* ---------------------------------------------------------- dialing */

/*
 * An outbound TCP connection being made (dial.c).  done runs once, from
 * the loop, never inside hsvr_dial_start: with the connected socket and
 * its peer's address, or fd -1 and why ("name not found: ...").
 */
struct hsvr_dial;
typedef void (*hsvr_dial_done)(void *arg, int fd, const struct sockaddr *sa,
    const char *why);
/* NULL only when out of memory. */
struct hsvr_dial *hsvr_dial_start(struct event_base *base, const char *host,
    uint16_t port, hsvr_dial_done done, void *arg);
/* done will not run; what the dial holds is freed. */
void hsvr_dial_cancel(struct hsvr_dial *d);

/*
 * What an outbound session (S_connect) keeps besides a connection's
 * fields: the name it asked for (TLS: SNI, the name verified), its flags,
 * why it failed.  Freed with the session.
 */
struct hsvr_outbound {
	struct hsvr_dial *dial;        /* until connected */
	int flags;                     /* S_CONNECT_* */
	char why[160];                 /* S_connect_error, "" if none */
	char name[256];
};

/* Why it will not be established: the first reason given stays. */
static inline void
hsvr_outbound_why(struct hsvr_outbound *ob, const char *why)
{
	size_t n = strlen(why);

	if (ob->why[0] != '\0')
		return;
	if (n >= sizeof ob->why)
		n = sizeof ob->why - 1;
	memcpy(ob->why, why, n);
	ob->why[n] = '\0';
}

/* ---------------------------------------------------------- transports */

/* Why a handshake ended without a session. */
enum hsvr_hs_end {
	HS_FAILED,      /* the transport's handshake failed (and logged it) */
	HS_TIMEOUT,     /* the handshake timeout passed */
	HS_CROWDED      /* closed for a newer one: --tls-max-handshakes */
};

/*
 * How the engine reads, writes and closes a connection.  read and write
 * return bytes moved, 0 for end of file (read), or -1 with errno set
 * (EAGAIN when the socket is not ready).
 */
struct hsvr_transport {
	const char *name;
	int (*setup)(struct hsvr_conn *);
	ssize_t (*read)(struct hsvr_conn *, void *, size_t);
	ssize_t (*write)(struct hsvr_conn *, const void *, size_t);
	ssize_t (*flush)(struct hsvr_conn *, struct evbuffer *);
	void (*close)(struct hsvr_conn *);
	/* NULL, or 1 when done, 0 while going on, -1 if it failed */
	int (*handshake)(struct hsvr_conn *);
	/* NULL without handshake, or: a handshake ended without a session
	 * (counted, and logged with the reason) */
	void (*handshake_failed)(struct hsvr_conn *, enum hsvr_hs_end);
	/* NULL, or frees what close kept for TYP_TERM (S_tls_info) */
	void (*free_state)(struct hsvr_conn *);
	/*
	 * ends the sending side (S_shutdown), everything queued written;
	 * closing: the socket is closed right after, and its close sends
	 * the FIN (what the protocol itself says to end is still said)
	 */
	void (*shutdown)(struct hsvr_conn *, int closing);
	int sendfile;   /* the socket carries the bytes as they are */
	int lingers;    /* a close may linger (shutdown, discard input) */
	int holds_input; /* may hold input taken from the socket (records
	                    decrypted): no socket event announces it */
	/* cork: NULL, or write saying that more follows at once (MSG_MORE):
	   the bytes may wait for that next write to leave with it */
	ssize_t (*write_more)(struct hsvr_conn *, const void *, size_t);
	/* NULL, or on: hold partial segments until off (TCP_CORK or
	   TCP_NOPUSH), or until the close or shutdown sends them; 0, or -1 */
	int (*cork)(struct hsvr_conn *, int on);
};

extern const struct hsvr_transport hsvr_transport_tcp;
extern const struct hsvr_transport hsvr_transport_unix;
extern const struct hsvr_transport hsvr_transport_tls;
/* TLS as the client of an outbound session (c->ob: name, flags, why). */
extern const struct hsvr_transport hsvr_transport_tls_client;
/* Its setup and handshake (tls-client.c); tls.c reads and writes. */
int hsvr_tls_client_init(void);        /* start-up: 0, or -1 (said) */
int hsvr_tls_client_setup(struct hsvr_conn *);
int hsvr_tls_client_handshake(struct hsvr_conn *);
void hsvr_tls_client_handshake_failed(struct hsvr_conn *, enum hsvr_hs_end);
/* The transport of a new connection: TLS if enabled, else TCP or UNIX. */
const struct hsvr_transport *hsvr_transport_for(int is_unix);

int hsvr_tls_init(const struct hsvr_config *);
void hsvr_tls_reload(const struct hsvr_config *);
int hsvr_tls_enabled(void);
void hsvr_tls_free(void);

/* ------------------------------------------------------------- workers */

/* The padding is wanted: the counters have cache lines of their own. */
/* NOLINTNEXTLINE(clang-analyzer-optin.performance.Padding) */
struct hsvr_worker {
	int index;
	pthread_t thread;
	struct event_base *base;
	struct event wake;             /* on wake_rd: drains the inbox */
	int wake_rd, wake_wr;          /* an eventfd (one descriptor) or a
	                                  pipe: other threads wake the worker
	                                  without touching its base, which
	                                  has no lock */
	pthread_mutex_t inbox_lock;
	struct hsvr_msg *inbox_head;
	struct hsvr_msg **inbox_tail;
	struct hsvr_conn *ctl_head;    /* sessions with control requests */
	uint32_t incoming;             /* atomic: connections posted, not open */
	unsigned char *rbuf;           /* HSVR_READ_MAX + 1 bytes */
	struct hsvr_conn *conns;       /* live sessions of this worker */
	struct hsvr_conn *lingering;   /* closed, discarding input (linger) */
	struct hsvr_conn *hs_head[2], *hs_tail[2]; /* TLS handshakes, oldest
	                                  first: [0] nothing received yet,
	                                  [1] under way (session.c) */
	int handshakes;                /* in both lists */
	struct hsvr_msg *stop_msg;     /* allocated up front: stopping never fails */
	struct hsvr_msg *drain_msg;
	int draining;                  /* refuse new sessions, stop when empty */
	int stopping_now;              /* no lingering closes any more */
	int stop;
	unsigned early_score;          /* session.c: new plain sessions read
	                                  at once while above 0 */
	unsigned early_skip;           /* session.c: those that did not */
	/* session.c after a session finished: stop if drained (worker.c) */
	void (*check_drained)(struct hsvr_worker *);
	/*
	 * cork (session.c): one callback's output.  cb_conn: the session
	 * whose callback runs, cb_sends its sends so far; cork_score: the
	 * first copy of a callback is staged while above 0; stage
	 * (HSVR_STAGE_MAX bytes, worker.c), stage_len bytes of stage_c.
	 */
	struct hsvr_conn *cb_conn;
	unsigned cb_sends;
	unsigned cork_score;
	struct hsvr_conn *stage_c;
	size_t stage_len;
	unsigned char *stage;
	struct hsvr_counters ctr __attribute__((aligned(HSVR_CACHELINE)));
	struct hsvr_qsbr qs;
} __attribute__((aligned(HSVR_CACHELINE)));

extern _Thread_local struct hsvr_worker *hsvr_self;

/* cork: the most one callback's copies staged to leave together (session.c). */
#define HSVR_STAGE_MAX 4096
/*
 * cork: a file range after staged bytes is sent corked when it is at least
 * this long.  Linux's sendfile hands the socket 16 pages at a time; a
 * shorter range goes in one piece, which MSG_MORE joins to the head.
 */
#define HSVR_CORK_FILE_MIN 65536

/*
 * The pool: room for n workers, the start gate closed; -m and --max-per-ip
 * bound what hsvr_worker_deal accepts.  0, or -1 after a message.
 */
int hsvr_worker_pool_init(int n, int max_conn, int max_per_ip);
/* --proxy-protocol: allowed senders of the header (after pool_init). */
void hsvr_worker_pool_proxy(const struct hsvr_proxy_from *from);
int hsvr_worker_pool_count(void);      /* workers set up so far */
struct hsvr_worker *hsvr_worker_pool_at(int);
/* Set up the next worker (its qsbr record in slot index): 0, or -1. */
int hsvr_worker_init(int index);
int hsvr_worker_start(struct hsvr_worker *);
/* Ask every worker to drain (1) or to stop now (0); once each. */
void hsvr_worker_pool_post(int drain);
/* Join the threads, drop what their inboxes hold, free their sessions. */
void hsvr_worker_pool_join(void);
/* After hsvr_worker_pool_join (or if none ever ran): free the workers. */
void hsvr_worker_pool_free(void);
void hsvr_worker_post(struct hsvr_worker *, struct hsvr_msg *);
void hsvr_worker_request(struct hsvr_conn *, uint32_t, uint32_t);
/*
 * A connection accepted (hsvr_accept_cb): counted against -m and
 * --max-per-ip, then opened by the accepting worker or dealt to another
 * (round-robin from the main thread, else the lightest if much lighter).
 */
void hsvr_worker_deal(int fd, int is_unix, const struct sockaddr_storage *ss,
    socklen_t alen, int keep);
/* The start gate: every worker waits after serv_worker_init until open. */
void hsvr_worker_gate_wait(int n);   /* until n workers are initialised */
void hsvr_worker_gate_open(void);
/* all_done() on base's thread once every worker has left its loop. */
void hsvr_worker_pool_watch(struct event_base *base, void (*all_done)(void));
void hsvr_worker_pool_unwatch(void);

/* --------------------------------------------------------- connections */

/* A hash table entry's link (stripes.c); the entry embeds it. */
struct hsvr_tnode {
	struct hsvr_tnode *next;
	uint64_t h;
};

struct hsvr_conn {
	SESSION pub;                   /* first: SESSION * is a conn * */
	struct hsvr_worker *w;
	const struct hsvr_transport *tp;
	int fd;
	int timeout_ms;                /* idle period, 0 = none */
	uint64_t last_active;          /* ms, CLOCK_MONOTONIC_COARSE */
	uint64_t wstalled;             /* ms: output queued, none written since */
	size_t pending;                /* atomic: unsent bytes (inbox + out) */
	uint32_t refs;                 /* atomic: messages naming this conn */
	uint32_t ctl;                  /* atomic: CTL_* requests, other threads */
	int ctl_sec;                   /* atomic: CTL_TIMER's S_settimer value */
	int shut_asked;                /* atomic: S_shutdown was called */
	unsigned wev_added : 1;
	unsigned rev_added : 1;        /* rev is in the base (session.c) */
	unsigned failed : 1;           /* the transport failed: abort */
	unsigned eof : 1;              /* the peer closed its side */
	unsigned indexed : 1;          /* in the address index */
	unsigned reclaimable : 1;      /* grace period passed */
	unsigned accepted : 1;         /* TYP_ACCEPT delivered: TYP_TERM due */
	unsigned is_unix : 1;          /* UNIX-domain: not in the index */
	unsigned handshaking : 1;      /* TLS handshake under way */
	unsigned dialing : 1;          /* S_connect: not connected yet */
	unsigned hs_heard : 1;         /* the TLS peer's hello has come */
	unsigned tls_dirty : 1;        /* the peer left without close_notify */
	unsigned read_blocked : 1;     /* a read waits for writability */
	unsigned read_again : 1;       /* the transport holds more: read again */
	unsigned tls_deferred : 1;     /* an end or error seen after data */
	unsigned halfclose : 1;        /* S_halfclose: the peer's end is an
	                                  event, not the session's end */
	unsigned shut_wanted : 1;      /* S_shutdown: FIN once all is written */
	unsigned shut_done : 1;        /* the sending side has ended */
	unsigned perip : 1;            /* counted against --max-per-ip */
	unsigned read_paused : 1;      /* S_pause_read: rev is not added */
	unsigned stuck : 2;            /* writable, yet no progress (a file
	                                  range that ended early) */
	unsigned kicked : 1;           /* wev made active by hand, not by
	                                  the socket */
	unsigned drain_due : 1;        /* draining: serv_on_drain once what
	                                  arrived is delivered */
	unsigned early : 1;            /* rev made active at accept: a read
	                                  that no event announced */
	unsigned corked : 1;           /* the transport holds partial
	                                  segments (a head and its file
	                                  range): released as the callback
	                                  returns, or by the close */
	int tls_deferred_errno;        /* 0: end of stream, else the error */
	short want;                    /* EV_READ or EV_WRITE the transport
	                                  waits for (its last EAGAIN) */
	struct ssl_st *ssl;            /* TLS sessions only */
	struct hsvr_proxy *proxy;      /* the PROXY header being read, or NULL */
	struct hsvr_outbound *ob;      /* S_connect's sessions, else NULL */
	struct evbuffer *out;          /* queued output, NULL when never used */
	struct event rev, wev, tev;
	struct hsvr_conn *prev, *next; /* worker's live list */
	struct hsvr_tnode hnode;       /* address index (search.c) */
	struct hsvr_conn *cnext;       /* worker's control queue */
	struct hsvr_conn *rnext;       /* retirement lists */
	struct hsvr_conn *hs_prev, *hs_next; /* worker's handshake lists */
	int hs_list;                   /* -1, or the handshake list it is in */
	uint8_t key[16];               /* peer address, IPv4 mapped into IPv6 */
	/* S_linger (send.c, linger.c) */
	int linger_input_only;         /* atomic: S_linger(s, 0): the close
	                                  lingers only for unread input, not
	                                  for an unacknowledged reply */
};

#define CONN(s) ((struct hsvr_conn *)(s))

/*
 * Control requests from other threads (S_close, S_settimer, S_pause_read,
 * a congested sender's kick) are bits in the session itself, not allocated
 * messages, so they cannot be lost when memory runs out.  The thread that
 * sets CTL_QUEUED puts the session on its worker's control queue, holding
 * a reference; the worker takes all the bits at once.
 */
#define CTL_QUEUED 0x01u
#define CTL_KICK   0x02u        /* re-check drain and close conditions */
#define CTL_CLOSE  0x04u        /* S_close */
#define CTL_TIMER  0x08u        /* S_settimer(ctl_sec) */
#define CTL_PAUSE  0x10u        /* S_pause_read(CTL_PAUSED set or not) */
#define CTL_PAUSED 0x20u
#define CTL_SHUT   0x40u        /* S_shutdown */

static inline int
conn_state(const struct hsvr_conn *c)
{
	return __atomic_load_n(&c->pub.status, __ATOMIC_SEQ_CST);
}

/* The worker's lists: its live sessions, its lingering closes. */
static inline void
hsvr_conn_list_add(struct hsvr_conn **head, struct hsvr_conn *c)
{
	c->prev = NULL;
	c->next = *head;
	if (*head != NULL)
		(*head)->prev = c;
	*head = c;
}

static inline void
hsvr_conn_list_del(struct hsvr_conn **head, struct hsvr_conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		*head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

/* What sessions need of the configuration, given once per server. */
struct hsvr_session_cfg {
	int timeout;            /* -T: idle timeout, seconds */
	int write_timeout;      /* --write-timeout: seconds, 0 = none */
	int handshake_timeout;  /* seconds (TLS) */
	int handshakes;         /* at once, in all (--tls-max-handshakes) */
	int workers;            /* sharing them */
	int proxy_timeout;      /* --proxy-protocol: seconds; 0 = no header */
	int max_per_ip;         /* counted after the header (--proxy-protocol) */
};

void hsvr_session_init(const struct hsvr_session_cfg *);
void hsvr_session_open(struct hsvr_worker *, struct hsvr_msg *);
/* S_connect on w: the session, or NULL (errno ENOMEM). */
struct hsvr_conn *hsvr_session_connect(struct hsvr_worker *w,
    const char *host, uint16_t port, int flags, void *usr);
void hsvr_session_close(struct hsvr_conn *);     /* S_close by the owner */
void hsvr_session_abort(struct hsvr_conn *);     /* close now, drop output */
void hsvr_session_settimer(struct hsvr_conn *, int);
void hsvr_session_pause_read(struct hsvr_conn *, int);
void hsvr_session_shutdown(struct hsvr_conn *);  /* S_shutdown, owner */
void hsvr_session_kick(struct hsvr_conn *);
/* Drain: deliver what arrived (or a first request), then serv_on_drain. */
void hsvr_session_drain(struct hsvr_conn *);
int hsvr_session_send(struct hsvr_conn *, const struct hsvr_out *);

/* The descriptor closed now: uncounted (-m, --max-per-ip), retired. */
void hsvr_linger_close_now(struct hsvr_conn *);
/* A graceful close lingers if it may: 1 if it does (ends on its own). */
int hsvr_linger_start(struct hsvr_conn *);
/* Stopping: every lingering close of w ends now.  Owner only. */
void hsvr_linger_close_all(struct hsvr_worker *);

/* ------------------------------------------------------------ hashing */

struct hsvr_hash_key {
	uint64_t k0, k1;
};

/* A random key from getrandom(2): 0, or -1 with errno set. */
int hsvr_hash_key_new(struct hsvr_hash_key *);
/* SipHash-1-3 under k of the 16 bytes of addr and port. */
uint64_t hsvr_hash_addr(const struct hsvr_hash_key *k, const uint8_t addr[16],
    uint16_t port);
#ifdef HSVR_TEST_HOOKS
/* The same message under SipHash-2-4 (test vectors). */
uint64_t hsvr_hash_addr_sip24(const struct hsvr_hash_key *k,
    const uint8_t addr[16], uint16_t port);
#endif

/* ------------------------------------------------- striped hash table */

struct hsvr_stripe {
	pthread_mutex_t lock;
	struct hsvr_tnode **bucket;
	size_t nbucket;         /* a power of two, or 0 */
	size_t count;
} __attribute__((aligned(HSVR_CACHELINE)));

struct hsvr_stripes {
	struct hsvr_stripe *s;  /* NULL: no table */
	struct hsvr_hash_key key;
	size_t initial;         /* buckets of a stripe's first table */
};

int hsvr_stripes_init(struct hsvr_stripes *, size_t initial);
void hsvr_stripes_free(struct hsvr_stripes *, void (*)(struct hsvr_tnode *));
uint64_t hsvr_stripes_hash(const struct hsvr_stripes *, const uint8_t key[16],
    uint16_t port);
struct hsvr_stripe *hsvr_stripes_lock(struct hsvr_stripes *, uint64_t h);
void hsvr_stripes_unlock(struct hsvr_stripe *);
struct hsvr_tnode *hsvr_stripes_first(const struct hsvr_stripe *, uint64_t h);
int hsvr_stripes_insert(struct hsvr_stripes *, struct hsvr_stripe *,
    struct hsvr_tnode *, uint64_t h);
void hsvr_stripes_remove(struct hsvr_stripe *, struct hsvr_tnode *);
#ifdef HSVR_TEST_HOOKS
void hsvr_stripes_shape(struct hsvr_stripes *, size_t *entries,
    size_t *longest);
#endif

/* ------------------------------------------------------- address index */

/* A table with a fresh random key: 0, or -1 (out of memory, or no key). */
int hsvr_search_init(void);
void hsvr_search_free(void);
void hsvr_search_add(struct hsvr_conn *);
void hsvr_search_del(struct hsvr_conn *);
int hsvr_search_key(const struct sockaddr *, uint8_t key[16], char *host,
    size_t hostlen, unsigned short *port);

/* ------------------------------------------- sessions per peer address */

/*
 * Counted per IPv4 address and per IPv6 /64 (an IPv4-mapped key is IPv4).
 * init allocates the table when max_per_ip (--max-per-ip) is over 0, with
 * a fresh random key: 0, or -1.  take: 0 counted, 1 the address has its
 * max_per_ip already, -1 out of memory (not counted).  give: one counted
 * by take ends.
 */
int hsvr_perip_init(int max_per_ip);
void hsvr_perip_free(void);
int hsvr_perip_take(const uint8_t key[16]);
void hsvr_perip_give(const uint8_t key[16]);
#ifdef HSVR_TEST_HOOKS
/* The table's shape for tests: entries, and the longest chain, now. */
void hsvr_perip_shape(size_t *entries, size_t *longest);
void hsvr_search_shape(size_t *entries, size_t *longest);
#endif

/* --------------------------------------------------- clock, fd limit */

/* Milliseconds of CLOCK_MONOTONIC_COARSE (clock.c). */
uint64_t hsvr_clock_ms(void);
uint64_t hsvr_clock_us(void);       /* CLOCK_MONOTONIC, precise */
/* Raise RLIMIT_NOFILE toward what max_conn needs; warn if short (fdlimit.c). */
void hsvr_fdlimit_raise(const struct hsvr_config *);

/* ----------------------------------------------------------- allocator */

void *hsvr_malloc(size_t);
void *hsvr_calloc(size_t, size_t);
void *hsvr_realloc(void *, size_t);
void hsvr_free(void *);
void hsvr_alloc_init(void);
void hsvr_alloc_arm(int);

/* ------------------------------------------------ libraries on demand */

/*
 * A library the shared libhsvr loads when first needed (ondemand.c):
 * file, its name as linked (configure); what it is and who needs it, for
 * the message ("OpenSSL", "TLS: "); names, its n functions, in the order
 * of the table of function pointers at slots.  The rest is the load's
 * state: tried once, by the first caller, under lock; state 1 loaded,
 * -1 not (why in error).  Define one with HSVR_ONDEMAND, which also
 * checks at compile time that the table is one function pointer a name.
 */
struct hsvr_ondemand {
	const char *file;
	const char *what;
	const char *who;
	const char *const *names;
	size_t n;
	void *slots;
	pthread_mutex_t lock;
	int state;                      /* 0 not tried, 1 loaded, -1 not */
	char error[256];
};

#define HSVR_ONDEMAND(var, file, what, who, names, table)                 \
	_Static_assert(sizeof(table) == sizeof(names) / sizeof((names)[0]) *  \
	    sizeof(void *), #table ": one function pointer a name");          \
	static struct hsvr_ondemand var = {                                   \
		(file), (what), (who), (names),                               \
		sizeof(names) / sizeof((names)[0]), &(table),                 \
		PTHREAD_MUTEX_INITIALIZER, 0, { 0 },                          \
	}

int hsvr_ondemand_load(struct hsvr_ondemand *lib, char *buf, size_t size);

/* ------------------------------------------------------------ accept */

/*
 * What the accept loop does with a connection it accepted: fd, whether it
 * is UNIX-domain, the peer's address; keep: the accepting worker must
 * open it itself (--reuseport).  Given at start: hsvr_worker_deal.
 */
typedef void (*hsvr_accept_cb)(int fd, int is_unix,
    const struct sockaddr_storage *ss, socklen_t alen, int keep);
void hsvr_accept_init(int per_worker, int reuseport, void (*closed)(void));
int hsvr_accept_add(int fd, int is_unix, int worker);
int hsvr_accept_add_shared(int fd, int is_unix);
int hsvr_accept_start(struct event_base *, hsvr_accept_cb);
int hsvr_accept_start_worker(struct hsvr_worker *, hsvr_accept_cb);
void hsvr_accept_close_worker(struct hsvr_worker *);
/* A worker holds too much: the others are woken first from now on. */
void hsvr_accept_yield(struct hsvr_worker *);
void hsvr_accept_close(void);
void hsvr_accept_free(void);

/* ------------------------------------------------------------ listen */

int hsvr_listen_open(struct hsvr_config *);
/*
 * Socket activation (sd_listen_fds(3)): when LISTEN_PID is this process,
 * the LISTEN_FDS descriptors from 3 on go to fds (at most max); the
 * LISTEN_* variables leave the environment in every case.  Their count,
 * or -1 after a line.
 */
int hsvr_listen_activated(int *fds, int max);
/* The inherited sockets are open, listening stream sockets; 0, or -1
 * after a line.  Before start-up opens anything that could take their
 * numbers. */
int hsvr_listen_check(const struct hsvr_config *);
/*
 * --metrics.  parse: the option's argument (ADDR:PORT, [V6]:PORT or
 * unix:PATH), kept: 0, or -1 with the reason in err.  metrics: after
 * hsvr_listen_open, its listening socket into cfg->metrics_fd, closed
 * with the others, carried by an upgrade, a UNIX socket's name made and
 * removed as -l's; 0 (also without --metrics), or -1 after a line.
 */
int hsvr_listen_metrics_parse(const char *arg, char *err, size_t errlen);
int hsvr_listen_metrics(struct hsvr_config *);
void hsvr_listen_close(void);
void hsvr_listen_free(void);

/* --------------------------------------------------------------- hooks */

void hsvr_hooks_bind(CALLBACK_T);
void hsvr_hooks_deliver(struct hsvr_conn *, CTYPE);
int hsvr_hooks_has_timeout(void);
int hsvr_hooks_init(void);
void hsvr_hooks_exit(void);
void hsvr_hooks_worker_init(int);
/* serv_on_drain: 1 if the application has one (it ran), else 0. */
int hsvr_hooks_drain(struct hsvr_conn *);
void hsvr_hooks_reload(void);
int hsvr_hooks_has_read(void);
const struct serv_option *hsvr_hooks_options(void);

/* -------------------------------------------------------------- engine */

/* Run a server with cfg until SIGINT/SIGTERM: 0, or -1 after a message. */
int hsvr_engine_run(struct hsvr_config *);
int hsvr_signals_start(struct event_base *, void (*stop)(void),
    void (*orphan)(void), void (*stats)(void));
void hsvr_signals_remove(void);
/* Block (1) or unblock (0) the supervisor's signals but SIGCHLD. */
void hsvr_signals_hold(int);
/* Every signal the starting command ignored back to its default. */
void hsvr_signals_reset(void);
/* Fill set with the signals the engine handles. */
void hsvr_signals_set(sigset_t *);
/* A serving process: SIGTERM when its supervisor dies (or already died). */
void hsvr_signals_watch_supervisor(const struct hsvr_config *);
void hsvr_listen_forget_path(void);
void hsvr_stats_collect(S_STATS *);
void hsvr_stats_print(const S_STATS *, FILE *);
/* "statistics: name=value ..." with every statistic, for the log. */
void hsvr_stats_line(const S_STATS *, char *, size_t);
/* 1: keep the counters now as S_stats's answer from now on; 0: forget. */
void hsvr_stats_final(int);
void hsvr_stats_serving(int);

/* ------------------------------------------------------------- metrics */

/*
 * Each worker's event-loop lag (worker.c), measured only with --metrics
 * (hsvr_worker_pool_lag): a timer every HSVR_LAG_PERIOD_MS on every
 * worker's base records how late it ran, in buckets whose upper bounds
 * are hsvr_lag_bounds_us (the last bucket, +Inf, has none).  Written by
 * its worker alone, read by any thread (hsvr_worker_lag_read).
 */
#define HSVR_LAG_PERIOD_MS 100
#define HSVR_LAG_BOUNDS 13
extern const uint64_t hsvr_lag_bounds_us[HSVR_LAG_BOUNDS];
struct hsvr_lag {
	uint64_t bucket[HSVR_LAG_BOUNDS + 1];   /* not cumulative */
	uint64_t sum_us;
};
/* After hsvr_worker_pool_init, before any hsvr_worker_init: 0, or -1. */
int hsvr_worker_pool_lag(int on);
/* Worker i's figures so far (zeros when not measured). */
void hsvr_worker_lag_read(int i, struct hsvr_lag *out);

/* A snapshot (hsvr_stats_collect) and each worker's counters in each[i],
 * for i < st->threads and < max (each may be NULL). */
void hsvr_stats_collect_each(S_STATS *st, struct hsvr_counters *each,
    int max);
/* Statistic i of st as a Prometheus metric: 0, or -1 past the last. */
struct hsvr_stats_metric {
	const char *name;       /* hsvr_..., by Prometheus' conventions */
	const char *help;
	int counter;            /* 1 counter, 0 gauge */
	uint64_t value;
};
int hsvr_stats_metric(const S_STATS *st, size_t i,
    struct hsvr_stats_metric *out);

/*
 * --metrics (metrics.c), on the socket start-up opened (listen.c).
 * start: a serving process answers GET /metrics on fd from a thread of
 * its own; 0, or -1 after a line.  stop: that thread ends, fd is closed;
 * any time, again.
 */
int hsvr_metrics_start(int fd);
void hsvr_metrics_stop(void);

/* -------------------------------------------- upgrade (SIGUSR2, upgrade.c) */

enum { HSVR_UPGRADE_NONE, HSVR_UPGRADE_CHECK, HSVR_UPGRADE_ADOPT };

/*
 * At the very start of main(): record the binary and argv; read and
 * remove HSVR_UPGRADE.  HSVR_UPGRADE_CHECK: start up as far as serv_init
 * and TLS, touch no pidfile nor socket, exit 0.  HSVR_UPGRADE_ADOPT: an
 * upgrade's new image, which adopts what the old one described.
 */
int hsvr_upgrade_start(int argc, char **argv);
/* The new image: the value of key (until the next call), or NULL. */
const char *hsvr_upgrade_get(const char *key);
/* n numbers "a:b:..." from *p into out, *p moved past: 0, or -1. */
int hsvr_upgrade_numbers(const char **p, unsigned long long *out, int n);
/* The new image: the descriptors carried (at most max in out); a count. */
int hsvr_upgrade_fds(int *out, int max);
/* The old image: a new description, words added to it, fds carried. */
void hsvr_upgrade_begin(void);
void hsvr_upgrade_add(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
void hsvr_upgrade_add_fd(int fd);
/* Execute the binary in place: returns only on failure, after a line. */
int hsvr_upgrade_exec(void);
/* The check (the binary run in check mode): 0 started, -1 after a line. */
int hsvr_upgrade_check_start(void);
pid_t hsvr_upgrade_check_pid(void);     /* 0: none under way */
int hsvr_upgrade_check_fd(void);        /* its output, to poll; or -1 */
void hsvr_upgrade_check_read(void);
/* ms until the check is killed (killing it when due), -1 if none runs. */
int hsvr_upgrade_check_due(void);
/* pid was reaped: 1 if it was the check (*passed; a line if not), else 0. */
int hsvr_upgrade_check_reaped(pid_t pid, int ws, int *passed);
const char *hsvr_upgrade_exe(void);
/* What listen.c and pidfile.c hand over, and the new image's adoption. */
void hsvr_listen_carry(void);
int hsvr_listen_adopt(struct hsvr_config *);
void hsvr_pidfile_carry(void);
int hsvr_pidfile_adopt(void);
/*
 * libseccomp made callable (loaded once, on demand, in the shared
 * library): 0, or -1 with why in buf (one line).  Before any confinement.
 */
int hsvr_sandbox_load(char *buf, size_t size);
/*
 * libevent's resolver made callable for hsvr_dial_start (loaded once, on
 * demand, in the shared library): 0, or -1 with why in buf (one line).
 * A confined serving process must have it before --chroot and --seccomp.
 */
int hsvr_dial_load(char *buf, size_t size);

#endif /* HSVR_INT_H */
