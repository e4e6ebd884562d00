/*
 * srv-metrics.c - the test server of tests/metrics.sh: serv_* hooks with
 * an application counter and gauge (hsvr_metric_*), and line commands:
 *   PING x     -> "PONG x"
 *   INC n      adds n to app_requests_total -> "INC n"
 *   SET v      sets app_queue_depth -> "SET v"
 *   BLOCK ms   blocks this worker for ms milliseconds (a callback that
 *              must not be written so) -> "BLOCKED worker=N"
 * serv_init checks the registration rules (names, duplicates, reserved
 * prefixes, counters' _total) and prints "NAMES checked=N", or a
 * "VIOLATION ..." line for each rule not kept.
 */
#include <hsvr.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static hsvr_metric *requests, *depth;
static _Thread_local int my_worker = -1;

static int checked;

static void
expect(int ok, const char *what)
{
	checked++;
	if (!ok) {
		printf("VIOLATION registration: %s\n", what);
		fflush(stdout);
	}
}

void
serv_init(void)
{
	hsvr_metric *m;

	serv_set_name("hsvr-test-metrics");
	requests = hsvr_metric_counter("app_requests_total",
	    "Requests the test server counted.\nSecond line \\ escaped.");
	depth = hsvr_metric_gauge("app_queue_depth", "A gauge the test sets.");
	expect(requests != NULL, "a valid counter is registered");
	expect(depth != NULL, "a valid gauge is registered");
	expect(hsvr_metric_counter("app_requests_total", "x") == NULL,
	    "a duplicate counter is refused");
	expect(hsvr_metric_gauge("app_requests_total", "x") == NULL,
	    "a gauge with a counter's name is refused");
	expect(hsvr_metric_gauge("9lives", "x") == NULL,
	    "a name starting with a digit is refused");
	expect(hsvr_metric_gauge("has space", "x") == NULL,
	    "a name with a space is refused");
	expect(hsvr_metric_gauge("dash-ed", "x") == NULL,
	    "a name with a dash is refused");
	expect(hsvr_metric_gauge("", "x") == NULL, "an empty name is refused");
	expect(hsvr_metric_gauge(NULL, "x") == NULL, "NULL is refused");
	expect(hsvr_metric_counter("no_suffix", "x") == NULL,
	    "a counter without _total is refused");
	expect(hsvr_metric_gauge("hsvr_mine", "x") == NULL,
	    "the hsvr_ prefix is refused");
	expect(hsvr_metric_gauge("process_mine", "x") == NULL,
	    "the process_ prefix is refused");
	expect(hsvr_metric_gauge("app:level", "x") == NULL,
	    "a name with a colon is refused");
	expect(hsvr_metric_gauge("app_nohelp", NULL) == NULL,
	    "a metric without help is refused");
	expect(hsvr_metric_gauge("app_nohelp", "") == NULL,
	    "a metric with an empty help is refused");
	m = hsvr_metric_gauge("app_level", "A gauge set once, negative.");
	expect(m != NULL, "a second gauge is registered");
	hsvr_metric_set(m, -7);
	/* Counters only grow; a counter is not set; NULL is harmless. */
	hsvr_metric_add(requests, -5);
	hsvr_metric_set(requests, 1000);
	hsvr_metric_add(NULL, 1);
	hsvr_metric_set(NULL, 1);
	printf("NAMES checked=%d\n", checked);
	fflush(stdout);
}

void
serv_worker_init(int worker)
{
	my_worker = worker;
}

/* "WORD v\n" to s. */
static void
answer(SESSION *s, const char *word, long long v)
{
	char out[64];
	int n = snprintf(out, sizeof out, "%s%lld\n", word, v);

	if (n > 0)
		(void)S_send(s, (unsigned char *)out, (size_t)n);
}

void
serv_on_read(SESSION *s)
{
	char *line = (char *)s->buff, *nl, *end;
	struct timespec ts;
	long long v;

	for (; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		*nl = '\0';
		if (strncmp(line, "PING ", 5) == 0) {
			(void)S_send(s, (unsigned char *)"PONG ", 5);
			(void)S_send(s, (unsigned char *)line + 5,
			    strlen(line + 5));
			(void)S_send(s, (unsigned char *)"\n", 1);
			continue;
		}
		errno = 0;
		v = strtoll(line + (strlen(line) > 4 ? 4 : strlen(line)), &end,
		    10);
		if (strncmp(line, "INC ", 4) == 0 && *end == '\0') {
			hsvr_metric_add(requests, v);
			answer(s, "INC ", v);
		} else if (strncmp(line, "SET ", 4) == 0 && *end == '\0') {
			hsvr_metric_set(depth, v);
			answer(s, "SET ", v);
		} else if (strncmp(line, "BLOCK ", 6) == 0 &&
		    (v = strtoll(line + 6, &end, 10)) > 0 && *end == '\0') {
			ts.tv_sec = (time_t)(v / 1000);
			ts.tv_nsec = (long)(v % 1000) * 1000000L;
			while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
				;
			answer(s, "BLOCKED worker=", my_worker);
		} else {
			(void)S_send(s, (unsigned char *)"ERR\n", 4);
		}
	}
}
