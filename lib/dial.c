/*
 * dial.c - open a TCP connection without blocking the worker: a numeric
 * address at once, a name through the worker's own resolver (libevent's
 * evdns, loaded at the first name: configure's "libevent's resolver on
 * demand"), each address in turn until one connects; the result goes to
 * the callback given at the start, always from the loop.
 */
#include "hsvr-int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/dns.h>

/*
 * On demand only in the shared library (its objects are compiled with
 * -DPIC), as OpenSSL in ossl.h: each evdns function is then a slot of
 * dns, filled by dial_load_once.  The static library calls them directly.
 */
#if defined(HSVR_LAZY_EVDNS) && defined(PIC)
#define DNS_DLOPEN 1

#define DNS_FUNCTIONS(X) \
	X(evdns_base_free) \
	X(evdns_base_new) \
	X(evdns_getaddrinfo) \
	X(evdns_getaddrinfo_cancel)
#define DNS_SLOT(name) __typeof__(name) *(name);
static struct {
	DNS_FUNCTIONS(DNS_SLOT)
} dns;
#undef DNS_SLOT
#define evdns_base_free (dns.evdns_base_free)
#define evdns_base_new (dns.evdns_base_new)
#define evdns_getaddrinfo (dns.evdns_getaddrinfo)
#define evdns_getaddrinfo_cancel (dns.evdns_getaddrinfo_cancel)
#endif

struct hsvr_dial {
	struct event_base *base;
	struct event conn;              /* the socket connecting */
	struct event fin;               /* the result, from the loop */
	struct evdns_getaddrinfo_request *req;
	struct evutil_addrinfo *ai;     /* the resolver's answer */
	struct evutil_addrinfo *next;   /* the next address to try */
	struct sockaddr_storage num;    /* a numeric host */
	struct sockaddr_storage peer;   /* the address being connected to */
	struct evutil_addrinfo num_ai;
	struct hsvr_dial *prev, *link;  /* the thread's dials */
	hsvr_dial_done done;
	void *arg;
	int fd;                         /* connected, or connecting */
	int err;                        /* the last address's error */
	int cancelled;                  /* the caller is gone: free it */
	int resolving;
	uint16_t port;
	char why[160];
	char name[256];
};

/*
 * What a worker thread holds: its resolver, made by its first name, and
 * its dials still waiting for the resolver.  A thread-specific key's
 * destructor frees them on that thread when it ends, before its base is
 * freed (as apptimer.c's).
 */
struct dial_held {
	struct evdns_base *dns;
	struct hsvr_dial *dials;
};

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t key;
static int key_made;
static _Thread_local struct dial_held *held;

#ifdef DNS_DLOPEN
#define DNS_NAME(name) #name,
static const char *const dns_names[] = { DNS_FUNCTIONS(DNS_NAME) };
#undef DNS_NAME

/* The libevent_core it needs is the one already loaded. */
HSVR_ONDEMAND(dns_lib, HSVR_LIBEVDNS, "evdns", "", dns_names, dns);

int
hsvr_dial_load(char *buf, size_t size)
{
	return hsvr_ondemand_load(&dns_lib, buf, size);
}

#else /* evdns linked in */

int
hsvr_dial_load(char *buf, size_t size)
{
	(void)buf, (void)size;
	return 0;
}

#endif /* DNS_DLOPEN */

static void
dial_unlink(struct hsvr_dial *d)
{
	if (d->prev != NULL)
		d->prev->link = d->link;
	else if (held != NULL && held->dials == d)
		held->dials = d->link;
	if (d->link != NULL)
		d->link->prev = d->prev;
	d->prev = d->link = NULL;
}

static void
dial_free(struct hsvr_dial *d)
{
	dial_unlink(d);
	event_del(&d->conn);
	event_del(&d->fin);
	if (d->fd >= 0)
		close(d->fd);
	if (d->ai != NULL)
		evutil_freeaddrinfo(d->ai);
	hsvr_free(d);
}

/*
 * The thread ends.  A dial cancelled while its name was being resolved
 * waits for the resolver's answer to be freed (dial_resolved), which a
 * stopped loop never delivers: it is freed here.  libevent keeps the
 * cancelled request's own record until then too, and cannot free it
 * without running the loop: it is lost, once per name being resolved when
 * the worker stopped.
 */
static void
dial_thread_end(void *p)
{
	struct dial_held *h = p;

	held = h;
	while (h->dials != NULL)
		dial_free(h->dials);
	if (h->dns != NULL)
		evdns_base_free(h->dns, 0);
	held = NULL;
	hsvr_free(h);
}

static void
dial_key_make(void)
{
	key_made = pthread_key_create(&key, dial_thread_end) == 0;
}

static struct dial_held *
dial_held_get(void)
{
	if (held != NULL)
		return held;
	(void)pthread_once(&key_once, dial_key_make);
	if (!key_made || (held = hsvr_calloc(1, sizeof *held)) == NULL)
		return NULL;
	if (pthread_setspecific(key, held) != 0) {
		hsvr_free(held);
		held = NULL;
	}
	return held;
}

static void
dial_report(struct hsvr_dial *d)
{
	event_active(&d->fin, EV_TIMEOUT, 1);
}

static void
dial_fin(evutil_socket_t fd, short what, void *arg)
{
	struct hsvr_dial *d = arg;
	hsvr_dial_done done = d->done;
	void *darg = d->arg;
	int sock = d->fd;
	char why[sizeof d->why];
	struct sockaddr_storage ss;

	(void)fd, (void)what;
	memcpy(why, d->why, sizeof why);
	ss = d->peer;   /* known: no getpeername */
	d->fd = -1;
	dial_free(d);
	done(darg, sock, sock >= 0 ? (struct sockaddr *)&ss : NULL, why);
}

/* No address connected: say why, with the last address's error. */
static void
dial_failed(struct hsvr_dial *d)
{
	if (d->err == ETIMEDOUT)
		(void)snprintf(d->why, sizeof d->why, "%.100s port %u: timed out",
		    d->name, d->port);
	else
		(void)snprintf(d->why, sizeof d->why, "%.100s port %u: %s",
		    d->name, d->port, strerror(d->err));
	dial_report(d);
}

static void dial_next(struct hsvr_dial *);

static void
dial_connected(evutil_socket_t fd, short what, void *arg)
{
	struct hsvr_dial *d = arg;
	int err = 0;
	socklen_t len = sizeof err;

	(void)fd, (void)what;
	if (getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err == 0) {
		dial_report(d);
		return;
	}
	d->err = err;
	close(d->fd);
	d->fd = -1;
	dial_next(d);
}

/*
 * A connect that said EINPROGRESS may be made already: on loopback the
 * kernel completes the handshake inside connect(2).  Asking saves the
 * wait (an event added, a turn of the loop, the event deleted).  The
 * peer's address is had only once the handshake is done (ENOTCONN while
 * it goes on, or after it failed: then the wait's SO_ERROR says why);
 * getpeername takes no lock on the socket and computes nothing, where
 * TCP_INFO's state took 1.05-1.14 us a call against 0.72-0.78 us
 * (bench/PROFILE.md, "Connections through the proxy").
 */
static int
dial_made(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int err = errno, made;

	made = getpeername(fd, (struct sockaddr *)&ss, &len) == 0;
	errno = err;    /* the connect's EINPROGRESS, for the caller */
	return made;
}

/* Try the addresses left, one at a time, until one connects or starts. */
static void
dial_next(struct hsvr_dial *d)
{
	struct evutil_addrinfo *a;
	struct sockaddr_in6 *s6;
	int one = 1;

	while ((a = d->next) != NULL) {
		d->next = a->ai_next;
		if (a->ai_family == AF_INET)
			((struct sockaddr_in *)a->ai_addr)->sin_port =
			    htons(d->port);
		else if (a->ai_family == AF_INET6) {
			s6 = (struct sockaddr_in6 *)a->ai_addr;
			s6->sin6_port = htons(d->port);
		} else
			continue;
		d->fd = socket(a->ai_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (d->fd < 0) {
			d->err = errno;
			continue;
		}
		/* As on accepted sockets: replies must not wait for an ACK. */
		(void)setsockopt(d->fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof one);
		memset(&d->peer, 0, sizeof d->peer);
		memcpy(&d->peer, a->ai_addr, a->ai_addrlen < sizeof d->peer ?
		    a->ai_addrlen : sizeof d->peer);
		if (connect(d->fd, a->ai_addr, a->ai_addrlen) == 0 ||
		    (errno == EINPROGRESS && dial_made(d->fd))) {
			dial_report(d);
			return;
		}
		if (errno == EINPROGRESS || errno == EINTR) {
			event_assign(&d->conn, d->base, d->fd, EV_WRITE,
			    dial_connected, d);
			if (event_add(&d->conn, NULL) == 0)
				return;
			errno = ENOMEM;
		}
		d->err = errno;
		close(d->fd);
		d->fd = -1;
	}
	dial_failed(d);
}

static void
dial_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
	struct hsvr_dial *d = arg;

	d->req = NULL;
	d->resolving = 0;
	if (d->cancelled) {
		if (res != NULL)
			evutil_freeaddrinfo(res);
		dial_free(d);
		return;
	}
	dial_unlink(d);
	if (result != 0 || res == NULL) {
		if (result == EVUTIL_EAI_NONAME || result == EVUTIL_EAI_NODATA)
			(void)snprintf(d->why, sizeof d->why,
			    "name not found: %.100s", d->name);
		else
			(void)snprintf(d->why, sizeof d->why,
			    "cannot resolve %.100s: %s", d->name,
			    evutil_gai_strerror(result));
		if (res != NULL)
			evutil_freeaddrinfo(res);
		dial_report(d);
		return;
	}
	d->ai = d->next = res;
	dial_next(d);
}

/* host as a numeric IPv4 or IPv6 address ("[::1]" too): 1, else 0. */
static int
dial_numeric(struct hsvr_dial *d, const char *host)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&d->num;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&d->num;
	char v6[INET6_ADDRSTRLEN];
	size_t n = strlen(host);

	memset(&d->num_ai, 0, sizeof d->num_ai);
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		d->num_ai.ai_family = AF_INET;
		d->num_ai.ai_addrlen = sizeof *s4;
	} else {
		if (n > 2 && host[0] == '[' && host[n - 1] == ']' &&
		    n - 2 < sizeof v6) {
			memcpy(v6, host + 1, n - 2);
			v6[n - 2] = '\0';
			host = v6;
		}
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return 0;
		s6->sin6_family = AF_INET6;
		d->num_ai.ai_family = AF_INET6;
		d->num_ai.ai_addrlen = sizeof *s6;
	}
	d->num_ai.ai_socktype = SOCK_STREAM;
	d->num_ai.ai_addr = (struct sockaddr *)&d->num;
	d->next = &d->num_ai;
	return 1;
}

struct hsvr_dial *
hsvr_dial_start(struct event_base *base, const char *host, uint16_t port,
    hsvr_dial_done done, void *arg)
{
	struct evutil_addrinfo hints;
	struct dial_held *h;
	struct hsvr_dial *d;
	char why[128];

	if ((d = hsvr_calloc(1, sizeof *d)) == NULL)
		return NULL;
	d->base = base;
	d->done = done;
	d->arg = arg;
	d->fd = -1;
	d->port = port;
	(void)snprintf(d->name, sizeof d->name, "%s", host);
	event_assign(&d->conn, base, -1, 0, dial_connected, d);
	evtimer_assign(&d->fin, base, dial_fin, d);
	if (dial_numeric(d, host)) {
		dial_next(d);
		return d;
	}
	if (hsvr_dial_load(why, sizeof why) != 0) {
		(void)snprintf(d->why, sizeof d->why, "cannot resolve %.50s: "
		    "%.90s", d->name, why);
		dial_report(d);
		return d;
	}
	if ((h = dial_held_get()) == NULL || (h->dns == NULL &&
	    (h->dns = evdns_base_new(base,
	    EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE)) == NULL)) {
		(void)snprintf(d->why, sizeof d->why, "cannot resolve %.100s: "
		    "no resolver (/etc/resolv.conf)", d->name);
		dial_report(d);
		return d;
	}
	/* On the list while the resolver holds it (dial_thread_end). */
	d->link = h->dials;
	if (h->dials != NULL)
		h->dials->prev = d;
	h->dials = d;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	/*
	 * No AI_ADDRCONFIG: a host (or network namespace) with only loopback
	 * addresses would get no address for "localhost"; an address family
	 * the host cannot reach just fails, and the next address is tried.
	 */
	d->resolving = 1;
	/* The answer may come at once (/etc/hosts), inside this call. */
	d->req = evdns_getaddrinfo(h->dns, host, NULL, &hints, dial_resolved,
	    d);
	return d;
}

/*
 * The caller no longer wants it: no callback will come.  A name being
 * resolved is cancelled, and the dial freed when the resolver says so.
 */
void
hsvr_dial_cancel(struct hsvr_dial *d)
{
	if (d == NULL)
		return;
	if (d->resolving) {
		d->cancelled = 1;
		if (d->req != NULL)
			evdns_getaddrinfo_cancel(d->req);
		return;
	}
	dial_free(d);
}
