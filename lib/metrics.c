/*
 * metrics.c - --metrics: the serving process's GET /metrics in Prometheus
 * text format, on a thread of its own, on the listening socket start-up
 * hands it (listen.c opens it); the application's counters and gauges
 * (hsvr_metric_*).
 */
#include "hsvr-int.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/bufferevent.h>

/*
 * A scraper is served whole or not at all, and never for long: a request
 * (line and headers) of at most REQ_MAX bytes, a connection lives at most
 * CONN_LIFE_SEC, at most MAX_CONNS at once (others wait in the listen
 * queue), no keep-alive.  A slow or silent client holds one slot for that
 * long and nothing else: this thread is no worker's.
 */
#define REQ_MAX 4096
#define CONN_LIFE_SEC 10
#define MAX_CONNS 16
#define ACCEPT_PAUSE_MS 100
#define APP_METRICS_MAX 256
#define APP_NAME_MAX 128

/* ---------------------------------------------- the application's metrics */

struct hsvr_metric {
	int64_t value;          /* atomic */
	int gauge;
	char *help;
	char name[APP_NAME_MAX];
} __attribute__((aligned(HSVR_CACHELINE)));

/*
 * Registered once, never freed: an entry is complete before the count that
 * makes it visible is stored (release), so a scrape reads without a lock.
 */
static struct hsvr_metric *app[APP_METRICS_MAX];
static int napp;                /* atomic */
static pthread_mutex_t app_lock = PTHREAD_MUTEX_INITIALIZER;

/* [a-zA-Z_:][a-zA-Z0-9_:]* */
static int
valid_name(const char *s)
{
	const char *p;

	if (*s == '\0' || (*s >= '0' && *s <= '9'))
		return 0;
	for (p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == ':'))
			return 0;
	return 1;
}

static hsvr_metric *
app_register(const char *fn, const char *name, const char *help, int gauge)
{
	struct hsvr_metric *m;
	size_t len;
	int i, n;

	if (name == NULL || !valid_name(name)) {
		hsvr_warnx("%s: '%s' is not a metric name (letters, digits "
		    "and '_', not first a digit)", fn, name ? name : "");
		return NULL;
	}
	len = strlen(name);
	if (len >= APP_NAME_MAX) {
		hsvr_warnx("%s: '%s' is too long (at most %d characters)", fn,
		    name, APP_NAME_MAX - 1);
		return NULL;
	}
	if (strchr(name, ':') != NULL) {
		hsvr_warnx("%s: '%s': colons are for recording rules, not for "
		    "a program's metrics (Prometheus' naming rules)", fn, name);
		return NULL;
	}
	if (help == NULL || *help == '\0') {
		hsvr_warnx("%s: '%s' needs a help text", fn, name);
		return NULL;
	}
	if (strncmp(name, "hsvr_", 5) == 0 || strncmp(name, "process_", 8) == 0) {
		hsvr_warnx("%s: '%s': names starting with hsvr_ or process_ "
		    "are the library's", fn, name);
		return NULL;
	}
	if (!gauge && (len < 6 || strcmp(name + len - 6, "_total") != 0)) {
		hsvr_warnx("%s: '%s': a counter's name ends in _total", fn,
		    name);
		return NULL;
	}
	pthread_mutex_lock(&app_lock);
	n = napp;
	for (i = 0; i < n; i++)
		if (strcmp(app[i]->name, name) == 0) {
			pthread_mutex_unlock(&app_lock);
			hsvr_warnx("%s: '%s' is registered already", fn, name);
			return NULL;
		}
	if (n == APP_METRICS_MAX) {
		pthread_mutex_unlock(&app_lock);
		hsvr_warnx("%s: '%s': at most %d metrics", fn, name,
		    APP_METRICS_MAX);
		return NULL;
	}
	m = aligned_alloc(HSVR_CACHELINE, sizeof *m);
	if (m != NULL) {
		memset(m, 0, sizeof *m);
		m->help = strdup(help);
	}
	if (m == NULL || m->help == NULL) {
		pthread_mutex_unlock(&app_lock);
		if (m != NULL)
			free(m);
		hsvr_warnx("%s: '%s': out of memory", fn, name);
		return NULL;
	}
	memcpy(m->name, name, len + 1);
	m->gauge = gauge;
	app[n] = m;
	__atomic_store_n(&napp, n + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&app_lock);
	return m;
}

hsvr_metric *
hsvr_metric_counter(const char *name, const char *help)
{
	return app_register("hsvr_metric_counter", name, help, 0);
}

hsvr_metric *
hsvr_metric_gauge(const char *name, const char *help)
{
	return app_register("hsvr_metric_gauge", name, help, 1);
}

void
hsvr_metric_add(hsvr_metric *m, int64_t n)
{
	if (m == NULL || (!m->gauge && n < 0))
		return;
	__atomic_fetch_add(&m->value, n, __ATOMIC_RELAXED);
}

void
hsvr_metric_set(hsvr_metric *m, int64_t v)
{
	if (m == NULL || !m->gauge)
		return;
	__atomic_store_n(&m->value, v, __ATOMIC_RELAXED);
}

/* --------------------------------------------------------------- the page */

static double start_time;       /* the serving process's, epoch seconds */

/* "# HELP" and "# TYPE" of a family; help's \ and newlines escaped. */
static void
family(struct evbuffer *o, const char *name, const char *type,
    const char *help)
{
	const char *p;

	evbuffer_add_printf(o, "# HELP %s ", name);
	for (p = help; *p != '\0'; p++)
		if (*p == '\\')
			evbuffer_add(o, "\\\\", 2);
		else if (*p == '\n')
			evbuffer_add(o, "\\n", 2);
		else
			evbuffer_add(o, p, 1);
	evbuffer_add_printf(o, "\n# TYPE %s %s\n", name, type);
}

/* The process_* metrics of the Prometheus client libraries; /proc may be
 * out of reach (--chroot): those are left out. */
static void
page_process(struct evbuffer *o)
{
	struct rusage ru;
	struct rlimit rl;
	struct dirent *de;
	unsigned long long size, resident;
	long pagesz = sysconf(_SC_PAGESIZE);
	char line[128], *end;
	FILE *f;
	DIR *d;
	int nfd = 0, got = 0;

	family(o, "process_start_time_seconds", "gauge",
	    "Start time of the serving process since the Unix epoch.");
	evbuffer_add_printf(o, "process_start_time_seconds %.3f\n", start_time);
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		family(o, "process_cpu_seconds_total", "counter",
		    "User and system CPU time of the serving process.");
		evbuffer_add_printf(o, "process_cpu_seconds_total %.6f\n",
		    (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	}
	if ((f = fopen("/proc/self/statm", "re")) != NULL) {
		/* "size resident shared ...", in pages */
		if (fgets(line, sizeof line, f) != NULL) {
			errno = 0;
			size = strtoull(line, &end, 10);
			resident = strtoull(end, &end, 10);
			got = errno == 0 && *end == ' ';
		}
		(void)fclose(f);
		if (got && pagesz > 0) {
			family(o, "process_resident_memory_bytes", "gauge",
			    "Resident memory of the serving process.");
			evbuffer_add_printf(o, "process_resident_memory_bytes "
			    "%llu\n", resident * (unsigned long long)pagesz);
			family(o, "process_virtual_memory_bytes", "gauge",
			    "Virtual memory of the serving process.");
			evbuffer_add_printf(o, "process_virtual_memory_bytes "
			    "%llu\n", size * (unsigned long long)pagesz);
		}
	}
	if ((d = opendir("/proc/self/fd")) != NULL) {
		/* cppcheck-suppress readdirCalled ; its own stream, one thread */
		while ((de = readdir(d)) != NULL)
			nfd += de->d_name[0] != '.';
		closedir(d);
		family(o, "process_open_fds", "gauge",
		    "Open descriptors of the serving process.");
		evbuffer_add_printf(o, "process_open_fds %d\n", nfd - 1);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		family(o, "process_max_fds", "gauge",
		    "Most descriptors the serving process may open.");
		evbuffer_add_printf(o, "process_max_fds %llu\n",
		    (unsigned long long)rl.rlim_cur);
	}
}

/* Per-worker families: from the counters of one snapshot. */
static const struct {
	const char *name, *type, *help;
	size_t off;     /* in struct hsvr_counters; 0: open now */
} per_worker[] = {
	{ "hsvr_worker_connections_accepted_total", "counter",
	    "Connections the worker accepted and served.",
	    offsetof(struct hsvr_counters, accepted) },
	{ "hsvr_worker_connections_open", "gauge",
	    "Connections open on the worker now.", 0 },
	{ "hsvr_worker_received_bytes_total", "counter",
	    "Bytes the worker received.",
	    offsetof(struct hsvr_counters, rxoctet) },
	{ "hsvr_worker_reads_total", "counter",
	    "Reads the worker delivered (TYP_READ).",
	    offsetof(struct hsvr_counters, rxcount) },
	{ "hsvr_worker_sent_bytes_total", "counter",
	    "Bytes the worker wrote.",
	    offsetof(struct hsvr_counters, txoctet) },
	{ "hsvr_worker_sends_total", "counter",
	    "S_send calls that queued data on the worker's sessions.",
	    offsetof(struct hsvr_counters, txcount) },
	{ "hsvr_worker_idle_timeouts_total", "counter",
	    "Idle timeouts on the worker.",
	    offsetof(struct hsvr_counters, rxtimeout) },
};

/* The scrape's snapshot: only the metrics thread uses it. */
static struct hsvr_counters each[HSVR_MAX_THREADS];

static void
page_workers(struct evbuffer *o, const S_STATS *st)
{
	struct hsvr_lag lag;
	uint64_t v, cum;
	size_t f;
	int i, b;

	family(o, "hsvr_worker_threads", "gauge", "Worker threads.");
	evbuffer_add_printf(o, "hsvr_worker_threads %d\n", st->threads);
	for (f = 0; f < sizeof per_worker / sizeof per_worker[0]; f++) {
		family(o, per_worker[f].name, per_worker[f].type,
		    per_worker[f].help);
		for (i = 0; i < st->threads; i++) {
			if (per_worker[f].off == 0)
				v = each[i].accepted - each[i].terms;
			else
				memcpy(&v, (const char *)&each[i] +
				    per_worker[f].off, sizeof v);
			evbuffer_add_printf(o, "%s{worker=\"%d\"} %" PRIu64
			    "\n", per_worker[f].name, i, v);
		}
	}
	family(o, "hsvr_worker_loop_lag_seconds", "histogram",
	    "How late a timer due every 100 ms ran on the worker's loop: "
	    "callbacks that block the worker show here.");
	for (i = 0; i < st->threads; i++) {
		hsvr_worker_lag_read(i, &lag);
		for (cum = 0, b = 0; b < HSVR_LAG_BOUNDS; b++) {
			cum += lag.bucket[b];
			evbuffer_add_printf(o, "hsvr_worker_loop_lag_seconds_bucket"
			    "{worker=\"%d\",le=\"%g\"} %" PRIu64 "\n", i,
			    (double)hsvr_lag_bounds_us[b] / 1e6, cum);
		}
		cum += lag.bucket[HSVR_LAG_BOUNDS];
		evbuffer_add_printf(o, "hsvr_worker_loop_lag_seconds_bucket"
		    "{worker=\"%d\",le=\"+Inf\"} %" PRIu64 "\n"
		    "hsvr_worker_loop_lag_seconds_sum{worker=\"%d\"} %.6f\n"
		    "hsvr_worker_loop_lag_seconds_count{worker=\"%d\"} %"
		    PRIu64 "\n", i, cum, i, (double)lag.sum_us / 1e6, i, cum);
	}
}

static void
page(struct evbuffer *o)
{
	struct hsvr_stats_metric sm;
	S_STATS st;
	size_t i;
	int n, k;

	hsvr_stats_collect_each(&st, each, HSVR_MAX_THREADS);
	family(o, "hsvr_build_info", "gauge",
	    "The version of libhsvr the server runs (always 1).");
	evbuffer_add_printf(o, "hsvr_build_info{version=\"%s\"} 1\n",
	    HSVR_VERSION);
	page_process(o);
	for (i = 0; hsvr_stats_metric(&st, i, &sm) == 0; i++) {
		family(o, sm.name, sm.counter ? "counter" : "gauge", sm.help);
		evbuffer_add_printf(o, "%s %" PRIu64 "\n", sm.name, sm.value);
	}
	page_workers(o, &st);
	n = __atomic_load_n(&napp, __ATOMIC_ACQUIRE);
	for (k = 0; k < n; k++) {
		family(o, app[k]->name, app[k]->gauge ? "gauge" : "counter",
		    app[k]->help);
		evbuffer_add_printf(o, "%s %" PRId64 "\n", app[k]->name,
		    __atomic_load_n(&app[k]->value, __ATOMIC_RELAXED));
	}
}

/* --------------------------------------------------------- the endpoint */

struct mconn {
	struct bufferevent *bev;
	struct event life;
	struct mconn *prev, *next;
};

static struct event_base *mbase;
static pthread_t mthread;
static int mfd = -1;
static int running;
static struct event accept_ev, pause_ev;
static struct mconn *conns;
static int nconns;

static void accept_resume(void);

static void
conn_free(struct mconn *c)
{
	event_del(&c->life);
	bufferevent_free(c->bev);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c);
	if (nconns-- == MAX_CONNS && mfd >= 0)
		accept_resume();
}

static void
on_life_over(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	conn_free(arg);
}

static void
on_written(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_free(arg);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev, (void)what;
	conn_free(arg);         /* end of file or error before the reply */
}

/* Answer with status and body (NULL: the page), then close. */
static void
reply(struct mconn *c, int head, const char *status, const char *extra,
    const char *body)
{
	struct evbuffer *b = evbuffer_new(), *out = bufferevent_get_output(c->bev);

	if (b == NULL) {
		conn_free(c);
		return;
	}
	if (body != NULL)
		evbuffer_add(b, body, strlen(body));
	else
		page(b);
	evbuffer_add_printf(out, "HTTP/1.1 %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n%s\r\n", status,
	    body != NULL ? "text/plain; charset=utf-8" :
	    "text/plain; version=0.0.4; charset=utf-8",
	    evbuffer_get_length(b), extra);
	if (!head)
		evbuffer_add_buffer(out, b);
	evbuffer_free(b);
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_setcb(c->bev, NULL, on_written, on_event, c);
	bufferevent_enable(c->bev, EV_WRITE);
}

static void
on_request(struct bufferevent *bev, void *arg)
{
	struct mconn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end;
	char *line, *method, *target, *version, *save;
	size_t len;
	int head;

	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos < 0)
		end = evbuffer_search(in, "\n\n", 2, NULL);
	if (end.pos < 0) {
		if (evbuffer_get_length(in) < REQ_MAX)
			return;         /* more to come */
		end = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
		reply(c, 0, end.pos < 0 ? "414 URI Too Long" :
		    "431 Request Header Fields Too Large", "", "too long\n");
		return;
	}
	line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
	method = line ? strtok_r(line, " ", &save) : NULL;
	target = method ? strtok_r(NULL, " ", &save) : NULL;
	version = target ? strtok_r(NULL, " ", &save) : NULL;
	if (version == NULL || strtok_r(NULL, " ", &save) != NULL ||
	    strncmp(version, "HTTP/1.", 7) != 0)
		reply(c, 0, "400 Bad Request", "", "bad request\n");
	else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		reply(c, 0, "405 Method Not Allowed", "Allow: GET, HEAD\r\n",
		    "GET or HEAD only\n");
	else {
		head = strcmp(method, "HEAD") == 0;
		if (strcmp(target, "/metrics") == 0 ||
		    strncmp(target, "/metrics?", 9) == 0)
			reply(c, head, "200 OK", "", NULL);
		else
			reply(c, head, "404 Not Found", "",
			    "only /metrics here\n");
	}
	free(line);
}

static void
accept_pause(void)
{
	struct timeval tv = { 0, (suseconds_t)ACCEPT_PAUSE_MS * 1000 };

	event_del(&accept_ev);
	event_add(&pause_ev, &tv);
}

static void
accept_resume(void)
{
	event_add(&accept_ev, NULL);
}

static void
on_pause_over(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	if (nconns < MAX_CONNS)
		accept_resume();
}

static void
on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct timeval life = { CONN_LIFE_SEC, 0 };
	struct sockaddr_storage ss;
	socklen_t sl;
	struct mconn *c;
	int fd;

	(void)what, (void)arg;
	while (nconns < MAX_CONNS) {
		sl = sizeof ss;
		fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			/* Out of descriptors (or memory): try again later,
			 * rather than spin on a socket that stays readable. */
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				accept_pause();
			return;
		}
		if ((c = calloc(1, sizeof *c)) == NULL ||
		    (c->bev = bufferevent_socket_new(mbase, fd,
		    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
			free(c);
			close(fd);
			accept_pause();
			return;
		}
		evtimer_assign(&c->life, mbase, on_life_over, c);
		evtimer_add(&c->life, &life);
		bufferevent_setwatermark(c->bev, EV_READ, 0, REQ_MAX);
		bufferevent_setcb(c->bev, on_request, NULL, on_event, c);
		bufferevent_enable(c->bev, EV_READ);
		c->next = conns;
		if (conns != NULL)
			conns->prev = c;
		conns = c;
		if (++nconns == MAX_CONNS)
			event_del(&accept_ev);  /* the rest wait in the queue */
	}
}

static void *
metrics_main(void *arg)
{
	(void)arg;
	event_base_loop(mbase, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

int
hsvr_metrics_start(int fd)
{
	struct timespec ts;
	int rc;

	clock_gettime(CLOCK_REALTIME, &ts);
	start_time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	mfd = fd;
	if ((mbase = event_base_new()) == NULL) {
		hsvr_warnx("cannot serve --metrics: out of memory");
		return -1;
	}
	event_assign(&accept_ev, mbase, fd, EV_READ | EV_PERSIST, on_accept,
	    NULL);
	evtimer_assign(&pause_ev, mbase, on_pause_over, NULL);
	event_add(&accept_ev, NULL);
	rc = pthread_create(&mthread, NULL, metrics_main, NULL);
	if (rc != 0) {
		hsvr_warnx("cannot serve --metrics: %s", strerror(rc));
		event_del(&accept_ev);
		event_base_free(mbase);
		mbase = NULL;
		return -1;
	}
	running = 1;
	return 0;
}

void
hsvr_metrics_stop(void)
{
	struct mconn *c, *next;
	int fd = mfd;

	if (running) {
		event_base_loopbreak(mbase);
		pthread_join(mthread, NULL);
		running = 0;
	}
	if (mbase != NULL) {
		event_del(&accept_ev);
		event_del(&pause_ev);
		mfd = -1;       /* no resume from conn_free */
		for (c = conns; c != NULL; c = next) {
			next = c->next;
			conn_free(c);
		}
		event_base_free(mbase);
		mbase = NULL;
	}
	mfd = -1;
	if (fd >= 0)
		close(fd);
}
