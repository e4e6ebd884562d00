/* proxy.c - hsvr-proxy: a TCP (and TLS-terminating) proxy to one or more backends, round-robin, with health checks. */
/*
 * Each client accepted gets an outbound session (S_connect) to the next
 * backend that is up, made on the client's worker: the two sessions of a
 * pair live on one thread and share a struct pair without a lock.  What
 * one side reads is S_sent to the other.  Back-pressure both ways: when
 * S_send refuses (-4) the chunk is kept in the pair and the side it came
 * from stops reading (S_pause_read) until the congested side's
 * TYP_SENDABLE sends it; so a pair holds at most the library's queue
 * (about 1 MiB) and one chunk per direction, however slow the reader.
 *
 * Half-close passes through: a peer's end of stream comes as a TYP_READ
 * of 0 bytes (S_halfclose) and ends that direction towards the other
 * peer (S_shutdown, once what is held is queued); each session ends when
 * both of its directions have, and when one side ends for good (reset,
 * timeout) the other is closed once its queued output is written.
 *
 * The client is read at once, as its backend is being connected: its
 * first bytes are held in the pair (and the client paused) until the
 * backend's TYP_ACCEPT sends them, so that they follow the connect
 * without a turn of the loop, and if the connect fails they go to the
 * next backend instead of being lost with the failed session.
 *
 * Health: each worker keeps its own view of the backends (no lock).  A
 * periodic timer probes every backend with S_connect; a failed probe or
 * a failed connect marks it down, a successful probe up.  Only the
 * first worker to see a change logs it (one atomic flag per backend).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "hsvr.h"

#define BACKENDS_MAX 16
#define HELD_MAX (4 * 1024 * 1024) /* never reached while the source pauses */

struct backend {
	char host[256];
	uint16_t port;
	atomic_int down_logged; /* 1 once a worker logged it down */
};

/* What a session's usr points to (its first member): a pair or a probe. */
enum { K_PAIR, K_PROBE };
#define KIND(s) (*(const int *)(s)->usr)

/*
 * Bytes S_send refused (-4), to send on the destination's TYP_SENDABLE;
 * or, towards the backend, read before it was connected.
 */
struct held {
	unsigned char *data;
	size_t len, cap;
};

struct pair {
	int kind;                 /* K_PAIR */
	SESSION *client, *server; /* NULL once that side's TYP_TERM ran */
	int b;                    /* backend index */
	int tries;                /* connects made for this client */
	int connected;            /* the backend's TYP_ACCEPT came */
	int close_flushed;        /* the other side ended: close once held is sent */
	int shut_client, shut_server; /* S_shutdown due once held is sent */
	struct held to_client, to_server;
};

struct probe {
	int kind;                 /* K_PROBE */
	int b;
	SESSION *s;               /* in flight, or NULL */
	int connected;
};

/* One worker's view: no other thread touches it. */
struct wstate {
	int up[BACKENDS_MAX];
	int next;                 /* round-robin position */
	int stopping;
	S_TIMER *timer;
	struct probe probe[BACKENDS_MAX];
};

static struct backend backends[BACKENDS_MAX];
static int nbackends;
static int connect_flags;
static int send_proxy;
static const char *backend_ca;
static int health_s = 2;
static _Thread_local struct wstate *ws;

static hsvr_metric *m_conns, *m_errors, *m_nobackend, *m_up;
static atomic_llong nobackend_logged_at, nobackend_unlogged;

/* --to HOST:PORT or [V6]:PORT */
static int
set_to(const char *arg)
{
	const char *colon, *host = arg;
	size_t hlen;
	char *end;
	long port;

	if (nbackends == BACKENDS_MAX || (colon = strrchr(arg, ':')) == NULL)
		return -1;
	hlen = (size_t)(colon - arg);
	if (arg[0] == '[') {
		if (hlen < 3 || arg[hlen - 1] != ']')
			return -1;
		host++;
		hlen -= 2;
	} else if (memchr(arg, ':', hlen) != NULL) {
		return -1;   /* an IPv6 address needs its brackets */
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (hlen == 0 || hlen >= sizeof(backends[0].host) || errno != 0 ||
	    end == colon + 1 || *end != '\0' || port < 1 || port > 65535)
		return -1;
	memcpy(backends[nbackends].host, host, hlen);
	backends[nbackends].host[hlen] = '\0';
	backends[nbackends].port = (uint16_t)port;
	nbackends++;
	return 0;
}

static int
set_tls(const char *arg)
{
	(void)arg;
	connect_flags |= S_CONNECT_TLS;
	return 0;
}

static int
set_noverify(const char *arg)
{
	(void)arg;
	connect_flags |= S_CONNECT_NOVERIFY;
	return 0;
}

static int
set_ca(const char *arg)
{
	backend_ca = arg;
	return 0;
}

static int
set_send_proxy(const char *arg)
{
	(void)arg;
	send_proxy = 1;
	return 0;
}

/* arg as a whole number of seconds from min to a day: 0, or -1. */
static int
seconds(const char *arg, long min, int *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || n < min || n > 86400)
		return -1;
	*out = (int)n;
	return 0;
}

static int
set_health(const char *arg)
{
	return seconds(arg, 0, &health_s);
}

static int
set_connect_timeout(const char *arg)
{
	int n;

	return seconds(arg, 1, &n) == 0 ? serv_set_connect_timeout(n) : -1;
}

const struct serv_option *
serv_options(void)
{
	static const struct serv_option options[] = {
		{ "to", 0, "HOST:PORT", "a backend ([V6]:PORT; repeatable: round-robin)",
		    set_to },
		{ "backend-tls", 0, NULL, "connect to the backends over TLS",
		    set_tls },
		{ "backend-noverify", 0, NULL,
		    "with --backend-tls: do not verify their certificates", set_noverify },
		{ "backend-ca", 0, "FILE",
		    "with --backend-tls: verify them with these CAs (PEM)", set_ca },
		{ "send-proxy", 0, NULL,
		    "send a PROXY protocol v2 header with the client's address", set_send_proxy },
		{ "health-interval", 0, "SEC",
		    "probe every backend every SEC s (default 2, 0: never)", set_health },
		{ "connect-timeout", 0, "SEC",
		    "give up a backend that has not answered in SEC s (default 10):"
		    " the next one is tried", set_connect_timeout },
		{ NULL, 0, NULL, NULL, NULL }
	};

	return options;
}

void
serv_init(void)
{
	serv_set_name("hsvr-proxy");
	if (nbackends == 0) {
		fprintf(stderr, "hsvr-proxy: no backend: give --to HOST:PORT\n");
		exit(64);
	}
	if ((connect_flags & S_CONNECT_NOVERIFY) && !(connect_flags & S_CONNECT_TLS)) {
		fprintf(stderr, "hsvr-proxy: --backend-noverify needs --backend-tls\n");
		exit(64);
	}
	if (backend_ca != NULL && serv_set_connect_ca(backend_ca) == -1)
		exit(78);   /* EX_CONFIG; the library said why */
	(void)serv_seccomp_allow("socket");
	(void)serv_seccomp_allow("connect");
	m_conns = hsvr_metric_counter("proxy_connections_total",
	    "clients accepted");
	m_errors = hsvr_metric_counter("proxy_backend_errors_total",
	    "connects to a backend for a client that failed");
	m_nobackend = hsvr_metric_counter("proxy_no_backend_total",
	    "clients closed because no backend was up");
	m_up = hsvr_metric_gauge("proxy_backends_up",
	    "backends up, summed over the workers' views (workers x backends when all are)");
}

/* ---------------------------------------------------------------- health */

static void
mark(int b, int up, const char *why)
{
	if (ws->up[b] == up)
		return;
	ws->up[b] = up;
	hsvr_metric_add(m_up, up ? 1 : -1);
	if (ws->stopping)
		return;
	/* One line per change for the whole process, not one per worker. */
	if (atomic_exchange(&backends[b].down_logged, !up) != !up)
		serv_log(up ? LOG_NOTICE : LOG_WARNING, "backend %s port %u %s%s%s",
		    backends[b].host, backends[b].port, up ? "up" : "down",
		    why != NULL ? ": " : "", why != NULL ? why : "");
}

/* The v2 header (haproxy's proxy-protocol.txt, 2.2) for client c, or a
 * LOCAL one (a health check's) if c is NULL; its length. */
static size_t
proxy_header(unsigned char *h, const SESSION *c)
{
	static const unsigned char sig[12] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
	};
	struct in6_addr a6, d6;
	struct in_addr a4, d4;
	uint16_t sport, dport;
	int v4 = 0, v6 = 0;

	memcpy(h, sig, sizeof(sig));
	h[12] = 0x20;       /* version 2, LOCAL: use the connection's addresses */
	h[13] = 0x00;       /* UNSPEC */
	h[14] = h[15] = 0;
	if (c == NULL)
		return 16;
	if (inet_pton(AF_INET6, c->host, &a6) == 1) {
		if (IN6_IS_ADDR_V4MAPPED(&a6)) {
			memcpy(&a4, &a6.s6_addr[12], 4);
			v4 = 1;
		} else {
			v6 = 1;
		}
	} else if (inet_pton(AF_INET, c->host, &a4) == 1) {
		v4 = 1;
	}
	if (!v4 && !v6)
		return 16;  /* a UNIX-socket client: LOCAL */
	/* The address the client reached: -i's if it is one, else the
	 * unspecified one (a SESSION does not tell its local address). */
	sport = htons(c->port);
	dport = htons((uint16_t)strtol(serv_port, NULL, 10));
	h[12] = 0x21;       /* version 2, PROXY: the client's addresses follow */
	if (v4) {
		if (inet_pton(AF_INET, serv_interface, &d4) != 1)
			d4.s_addr = htonl(INADDR_ANY);
		h[13] = 0x11;       /* TCP over IPv4 */
		h[15] = 12;
		memcpy(h + 16, &a4, 4);
		memcpy(h + 20, &d4, 4);
		memcpy(h + 24, &sport, 2);
		memcpy(h + 26, &dport, 2);
		return 28;
	}
	if (inet_pton(AF_INET6, serv_interface, &d6) != 1)
		d6 = in6addr_any;
	h[13] = 0x21;       /* TCP over IPv6 */
	h[15] = 36;
	memcpy(h + 16, &a6, 16);
	memcpy(h + 32, &d6, 16);
	memcpy(h + 48, &sport, 2);
	memcpy(h + 50, &dport, 2);
	return 52;
}

static void
health(S_TIMER *t, void *arg)
{
	struct probe *pr;
	int b;

	(void)t;
	(void)arg;
	for (b = 0; b < nbackends && !ws->stopping; b++) {
		pr = &ws->probe[b];
		if (pr->s != NULL)
			continue;   /* the last one is still connecting */
		pr->kind = K_PROBE;
		pr->b = b;
		pr->connected = 0;
		if ((pr->s = S_connect(backends[b].host, backends[b].port,
		    connect_flags, pr)) == NULL && errno != ESHUTDOWN)
			mark(b, 0, strerror(errno));
	}
}

static void
probe_accept(struct probe *pr)
{
	unsigned char h[52];

	pr->connected = 1;
	mark(pr->b, 1, NULL);
	if (send_proxy)     /* as haproxy's check-send-proxy */
		(void)S_send(pr->s, h, proxy_header(h, NULL));
	S_close(pr->s);
}

static void
probe_term(struct probe *pr)
{
	const char *why = S_connect_error(pr->s);

	if (!pr->connected)
		mark(pr->b, 0, why != NULL ? why : "closed");
	pr->s = NULL;
}

static void
worker_exit(void *arg)
{
	free(arg);
	ws = NULL;
}

void
serv_worker_init(int worker)
{
	int b;

	if ((ws = calloc(1, sizeof(*ws))) == NULL) {
		serv_log(LOG_ERR, "no memory for a worker's state");
		exit(71);
	}
	for (b = 0; b < nbackends; b++)
		ws->up[b] = 1;      /* until a connect or a probe fails */
	hsvr_metric_add(m_up, nbackends);
	if (health_s > 0 &&
	    (ws->timer = S_timer_start(health_s * 1000, 1, health, NULL)) == NULL)
		serv_log(LOG_ERR, "worker %d: no health checks: %s", worker,
		    strerror(errno));
	(void)S_worker_atexit(worker_exit, ws);
}

/* ---------------------------------------------------------------- pairs */

/* Connect p to the next backend up; -1 if none is or S_connect failed. */
static int
dial(struct pair *p)
{
	int i, b;

	for (i = 0; i < nbackends; i++) {
		b = (ws->next + i) % nbackends;
		if (!ws->up[b])
			continue;
		ws->next = (b + 1) % nbackends;
		p->b = b;
		p->tries++;
		p->connected = 0;
		if ((p->server = S_connect(backends[b].host, backends[b].port,
		    connect_flags, p)) != NULL) {
			(void)S_halfclose(p->server, 1);
			return 0;
		}
		if (errno == ESHUTDOWN)
			return -1;  /* the worker is stopping, not the backend */
		hsvr_metric_add(m_errors, 1);
		mark(b, 0, strerror(errno));
	}
	return -1;
}

static void
no_backend(SESSION *c)
{
	long long now = (long long)time(NULL), last;
	long long quiet;

	hsvr_metric_add(m_nobackend, 1);
	last = atomic_load(&nobackend_logged_at);
	if (now == last || !atomic_compare_exchange_strong(&nobackend_logged_at, &last, now)) {
		atomic_fetch_add(&nobackend_unlogged, 1);
	} else {
		quiet = atomic_exchange(&nobackend_unlogged, 0);
		if (quiet > 0)
			serv_log(LOG_WARNING, "no backend up: client %s port %u closed"
			    " (and %lld more since the last such line)", c->host,
			    c->port, quiet);
		else
			serv_log(LOG_WARNING, "no backend up: client %s port %u closed",
			    c->host, c->port);
	}
	S_close(c);
}

static int
held_add(struct held *h, const unsigned char *data, size_t len)
{
	unsigned char *bigger;
	size_t cap;

	if (h->len + len > HELD_MAX)
		return -1;
	if (h->len + len > h->cap) {
		for (cap = h->cap ? h->cap : 64 * 1024; cap < h->len + len;)
			cap *= 2;
		if ((bigger = realloc(h->data, cap)) == NULL)
			return -1;
		h->data = bigger;
		h->cap = cap;
	}
	memcpy(h->data + h->len, data, len);
	h->len += len;
	return 0;
}

/*
 * Send data read from src on to dst, or keep it and pause src: dst is
 * congested, or a backend not connected yet.
 */
static void
forward(struct pair *p, SESSION *src, SESSION *dst, struct held *h,
    unsigned char *data, size_t len)
{
	int rc = S_ERR_CONGESTED;

	if (dst == NULL)
		return;     /* that side ended: the pair is closing */
	if (h->len == 0 && (dst != p->server || p->connected))
		rc = S_send(dst, data, len);
	if (rc != S_ERR_CONGESTED)
		return;     /* queued, or dst is closing (its TYP_TERM follows) */
	if (held_add(h, data, len) == -1) {
		S_close(src);
		S_close(dst);
		return;
	}
	(void)S_pause_read(src, 1);
}

/*
 * src's peer ended its sending side: so does dst, after what is held (and
 * once connected: a failed connect's S_shutdown would be lost with it).
 */
static void
end_direction(struct pair *p, SESSION *dst, const struct held *h, int *shut)
{
	if (dst == NULL)
		return;
	if (h->len > 0 || (dst == p->server && !p->connected))
		*shut = 1;          /* resume() shuts it down */
	else
		(void)S_shutdown(dst);
}

/* dst can take more: send what was held for it, then read src again. */
static void
resume(struct pair *p, SESSION *dst, SESSION *src, struct held *h, int *shut)
{
	if (h->len > 0) {
		if (S_send(dst, h->data, h->len) == S_ERR_CONGESTED)
			return;     /* cannot be: below the low mark now */
		h->len = 0;
	}
	if (*shut) {
		*shut = 0;
		(void)S_shutdown(dst);
	}
	if (src != NULL)
		(void)S_pause_read(src, 0);
	else if (p->close_flushed)
		S_close(dst);
}

/* Side gone ended: close the other, once what is held for it is queued. */
static void
side_ended(struct pair *p, SESSION *other, struct held *for_other)
{
	if (other == NULL)
		return;
	if (for_other->len > 0)
		p->close_flushed = 1;   /* resume() closes it */
	else
		S_close(other);
}

static void
pair_free_if_done(struct pair *p)
{
	if (p->client != NULL || p->server != NULL)
		return;
	free(p->to_client.data);
	free(p->to_server.data);
	free(p);
}

void
serv_on_accept(SESSION *s)
{
	struct pair *p = s->usr;
	unsigned char h[52];

	if (s->outbound) {
		if (KIND(s) == K_PROBE) {
			probe_accept(s->usr);
			return;
		}
		p->connected = 1;
		if (send_proxy && p->client != NULL)
			(void)S_send(s, h, proxy_header(h, p->client));
		/* What the client sent meanwhile, then its reads again. */
		resume(p, s, p->client, &p->to_server, &p->shut_server);
		return;
	}
	hsvr_metric_add(m_conns, 1);
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		S_close(s);
		return;
	}
	p->kind = K_PAIR;
	p->client = s;
	s->usr = p;
	/* A peer's end of stream ends one direction, not the pair. */
	(void)S_halfclose(s, 1);
	if (dial(p) == -1)
		no_backend(s);
}

void
serv_on_read(SESSION *s)
{
	struct pair *p = s->usr;

	if (p == NULL || KIND(s) != K_PAIR)
		return;     /* a probe reads nothing it cares about */
	if (s->blen == 0) {
		/* The peer's end of stream (S_halfclose): pass it on. */
		if (s == p->client)
			end_direction(p, p->server, &p->to_server,
			    &p->shut_server);
		else
			end_direction(p, p->client, &p->to_client,
			    &p->shut_client);
		return;
	}
	if (s == p->client)
		forward(p, s, p->server, &p->to_server, s->buff, s->blen);
	else
		forward(p, s, p->client, &p->to_client, s->buff, s->blen);
}

void
serv_on_sendable(SESSION *s)
{
	struct pair *p = s->usr;

	if (p == NULL || KIND(s) != K_PAIR)
		return;
	if (s == p->client)
		resume(p, s, p->server, &p->to_client, &p->shut_client);
	else
		resume(p, s, p->client, &p->to_server, &p->shut_server);
}

void
serv_on_term(SESSION *s)
{
	struct pair *p = s->usr;
	const char *why;

	if (p == NULL)
		return;
	if (KIND(s) == K_PROBE) {
		probe_term(s->usr);
		return;
	}
	if (s == p->client) {
		p->client = NULL;
		side_ended(p, p->server, &p->to_server);
	} else if (!p->connected && p->client != NULL) {
		/* The connect failed: that backend is down; one more try. */
		why = S_connect_error(s);
		hsvr_metric_add(m_errors, 1);
		mark(p->b, 0, why != NULL ? why : "closed");
		p->server = NULL;
		if (p->tries >= 2 || dial(p) == -1)
			no_backend(p->client);
	} else {
		p->server = NULL;
		side_ended(p, p->client, &p->to_client);
	}
	pair_free_if_done(p);
}

/*
 * SIGTERM: no more probes, no "down" lines for the backends' closes.  A
 * probe closes; a pair goes on until its peers end it, as with haproxy's
 * soft stop: a proxy does not know where a request ends, and closing
 * would cut a transfer in the middle.  --drain-timeout bounds the wait.
 */
void
serv_on_drain(SESSION *s)
{
	if (ws != NULL && !ws->stopping) {
		ws->stopping = 1;
		if (ws->timer != NULL)
			(void)S_timer_stop(ws->timer);
		ws->timer = NULL;
	}
	if (s->usr == NULL || KIND(s) == K_PROBE)
		S_close(s);
}
