/*
 * cross.c - S_send and S_close on a session that lives on another worker.
 *
 * S_start server, 3 workers.
 *  - Client Y asks the server to S_close client X (on another worker) and to
 *    wait, inside Y's callback, for X's TYP_TERM: then S_send(X) returns -1,
 *    S_search no longer finds X, and X got EOF and nothing after it.
 *  - For ~3 s, three client threads connect (IPv4 and IPv6), ping and
 *    disconnect in a loop while two others make the server S_search those
 *    clients and S_send to them (and sometimes S_close them) from
 *    other workers.  Every answer is NOTFOUND, 0 or -1; the server never
 *    crashes, has every session closed at the end, exits 0 (and under a
 *    sanitizer reports no error).
 */
#include "client.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RING 64

static int port;
static double stop_at;
static pthread_mutex_t ring_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	int port;
	int v6;
} ring[RING];
static unsigned ring_n;
static atomic_int churned, churn_fail, sent_ok, sent_closed, notfound, odd;
static atomic_int closed_by_server;

static void *
churn(void *arg)
{
	int v6 = (int)(long)arg, i;
	char line[256];
	struct conn *c;

	for (i = 0; i < 400 && t_now() < stop_at; i++) {
		if ((c = conn_tcp(v6 ? "::1" : "127.0.0.1", port, 5)) == NULL) {
			churn_fail++;
			continue;
		}
		pthread_mutex_lock(&ring_mu);
		ring[ring_n % RING].port = conn_port(c);
		ring[ring_n % RING].v6 = v6;
		ring_n++;
		pthread_mutex_unlock(&ring_mu);
		conn_sendf(c, "PING %d\n", i);
		/* Lines sent by other workers ("hi") may come first. */
		for (;;) {
			if (conn_line(c, line, sizeof line, 10) != 0) {
				closed_by_server++;
				break;
			}
			if (strncmp(line, "PONG", 4) == 0) {
				churned++;
				break;
			}
			if (strcmp(line, "hi") != 0) {
				t_note("churn client got '%s'", line);
				odd++;
				break;
			}
		}
		if (i % 3 == 0)
			t_pause(0.005);
		conn_close(c);
	}
	return NULL;
}

static void *
sender(void *arg)
{
	char line[256];
	struct conn *c = conn_tcp("127.0.0.1", port, 10);
	unsigned seed = (unsigned)(long)arg, k, n = 0;
	int p, v6;

	if (c == NULL) {
		odd++;
		return NULL;
	}
	while (t_now() < stop_at) {
		pthread_mutex_lock(&ring_mu);
		k = ring_n;
		seed = seed * 1103515245u + 12345u;
		if (k > 0)
			k = ring_n - 1 - (seed >> 8) % (k < RING ? k : RING);
		p = ring[k % RING].port;
		v6 = ring[k % RING].v6;
		pthread_mutex_unlock(&ring_mu);
		if (p == 0) {
			t_pause(0.001);
			continue;
		}
		if (++n % 8 == 0)
			conn_cmd(c, line, sizeof line, "SENDCLOSE %s %d 0",
			    v6 ? "::1" : "127.0.0.1", p);
		else
			conn_cmd(c, line, sizeof line, "SENDTO %s %d hi",
			    v6 ? "::1" : "127.0.0.1", p);
		if (strcmp(line, "NOTFOUND") == 0)
			notfound++;
		else if (strcmp(line, "SENT rc=0") == 0 ||
		    strcmp(line, "SENDCLOSE rc=0") == 0)
			sent_ok++;
		else if (strcmp(line, "SENT rc=-1") == 0 ||
		    strcmp(line, "SENDCLOSE rc=-1") == 0)
			sent_closed++;
		else {
			t_note("sender got '%s'", line);
			odd++;
			break;
		}
	}
	conn_close(c);
	return NULL;
}

/* X closed from Y's callback on another worker, then S_send(X). */
static void
closewait(struct srv *sv)
{
	char line[256];
	struct conn *x, *y = NULL;
	int tries;

	for (tries = 0; tries < 3; tries++) {
		x = conn_tcp("127.0.0.1", port, 20);
		y = conn_tcp("127.0.0.1", port, 20);
		if (x == NULL || y == NULL) {
			srv_dump(sv);
			t_bail("cannot connect");
		}
		conn_cmd(x, line, sizeof line, "PING x");
		conn_cmd(y, line, sizeof line, "CLOSEWAIT 127.0.0.1 %d",
		    conn_port(x));
		if (strcmp(line, "CLOSEWAIT same-thread") != 0)
			break;
		t_note("X and Y on the same worker; again");
		conn_close(x);
		conn_close(y);
	}
	t_note("%s", line);
	t_ok(t_num(line, "waited", 0) == 1, "S_close from another worker "
	    "closes X: its TYP_TERM ran while Y's callback waited");
	t_ok(t_num(line, "rc", 0) == -1, "S_send to X after its TYP_TERM "
	    "(pointer from S_search in the same callback) returns -1");
	t_ok(strstr(line, "search=null") != NULL, "S_search no longer finds X");
	t_ok(conn_wait_eof(x, 10) >= 1, "X got EOF and not the late S_send");
	conn_close(x);
	conn_close(y);
}

int
main(int argc, char **argv)
{
	struct srv sv;
	char line[512];
	pthread_t th[5];
	struct conn *c;
	double end;
	int i;

	t_init(argc, argv);
	port = srv_start_lowlevel(&sv, 0, "1000", "3");
	c = srv_connect(&sv, "127.0.0.1", port);
	conn_close(c);
	closewait(&sv);

	stop_at = t_now() + 3;
	for (i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, churn, (void *)(long)(i == 2));
	for (i = 3; i < 5; i++)
		pthread_create(&th[i], NULL, sender, (void *)(long)(i * 7919));
	for (i = 0; i < 5; i++)
		pthread_join(th[i], NULL);
	t_note("%d clients served, %d closed by a cross-thread S_close, %d "
	    "connect failures; sends: %d queued, %d -1, %d not found",
	    (int)churned, (int)closed_by_server, (int)churn_fail, (int)sent_ok,
	    (int)sent_closed, (int)notfound);
	t_ok(odd == 0 && churn_fail == 0, "every answer was NOTFOUND, 0 or -1 "
	    "and every client could connect");
	t_ok(churned >= 30 && sent_ok + sent_closed >= 20, "the churn really "
	    "ran: %d clients, %d sends to live or closing sessions",
	    (int)churned, (int)(sent_ok + sent_closed));
	t_ok(srv_alive(&sv), "the server survived");

	/* Every session closed: only the asking client is left. */
	if ((c = conn_tcp("127.0.0.1", port, 10)) == NULL)
		t_bail("cannot connect after the churn");
	end = t_now() + t_secs(10);
	do {
		conn_cmd(c, line, sizeof line, "STATS");
	} while (t_num(line, "session_gauge", -1) != 1 && t_now() < end);
	t_ok(t_num(line, "session_gauge", -1) == 1 &&
	    t_num(line, "thread0", 0) + t_num(line, "thread1", 0) +
	    t_num(line, "thread2", 0) == t_num(line, "accept_counter", -1),
	    "session_gauge comes back to 1 and thread_session sums to "
	    "accept_counter (%s)", line);
	conn_close(c);
	srv_wait_out(&sv, "TERM id=", (int)t_num(line, "accept_counter", 1), 10);

	srv_end(&sv, 30, T_ALL_CLOSED, "server");
	return t_done();
}
