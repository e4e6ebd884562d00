/*
 * srv-connect.c - the test server of outbound sessions (t-connect,
 * tests/tls/connect.sh): serv_* hooks that open connections with
 * S_connect and relay bytes between a client and its outbound session.
 * A client speaks lines until its outbound session is up:
 *   DIAL HOST PORT FLAGS [TEXT]  S_connect(HOST, PORT, FLAGS & 3); TEXT
 *                  and '\n' are sent at once, before TYP_ACCEPT; FLAGS
 *                  & 4: S_close right after (a request sent, then closed).
 *                  Then, once it is up: "UP id=N same=S host=H port=P
 *                  alpn=A" (same: 1 if on the client's thread; alpn: the
 *                  protocol S_tls_info says, "-" if none), and from then on
 *                  every byte is relayed both ways, with back-pressure;
 *                  the end of one side's stream is passed to the other
 *                  (S_halfclose, S_shutdown once what was held is sent),
 *                  and when one side ends the other is closed once its
 *                  output is written.  If it could not be established:
 *                  "DOWN why=S_connect_error" and lines again.
 *   STATS          "STATS outbound_gauge=N outbound_counter=N
 *                  outbound_error=N accept_counter=N session_gauge=N"
 * Options: --connect-timeout SEC, --connect-ca FILE, --connect-alpn LIST
 * (serv_set_connect_*).  On stdout, one line each: "OUTTERM id=N up=U
 * why=W" for every outbound TYP_TERM, and "VIOLATION ..." for anything
 * wrong: an event before UP or after TERM, a TERM without the error of a
 * session never up, S_connect not refusing what it must (checked from
 * serv_init on the main thread and from serv_worker_init).
 */
#include <hsvr.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tline.h"

#define HOLD_MAX (2 * HSVR_READ_MAX)

struct side {
	SESSION *s;
	int up;                 /* TYP_ACCEPT came (always, for the client) */
	int gone;               /* TYP_TERM came */
	int ended;              /* its peer's stream ended: S_shutdown due
	                           once held is sent */
	unsigned char *held;    /* refused by S_send (-4): sent on SENDABLE */
	size_t heldlen;
};

struct pair {
	struct side cl, out;
	pthread_t thread;       /* the client's worker */
	int closing;            /* DIAL's flag 4 */
	char line[512];
	size_t len;
};

static int
set_timeout(const char *arg)
{
	return serv_set_connect_timeout(atoi(arg));
}

static int
set_ca(const char *arg)
{
	return serv_set_connect_ca(arg);
}

static int
set_alpn(const char *arg)
{
	return serv_set_connect_alpn(arg);
}

static const struct serv_option options[] = {
	{ "connect-timeout", 0, "SEC", "S_connect's time", set_timeout },
	{ "connect-ca", 0, "FILE", "CAs verifying TLS peers", set_ca },
	{ "connect-alpn", 0, "LIST", "ALPN offered", set_alpn },
	{ NULL, 0, NULL, NULL, NULL },
};

const struct serv_option *
serv_options(void)
{
	return options;
}

static void
refused(const char *what, int want)
{
	SESSION *s;

	errno = 0;
	s = S_connect(what[0] == '-' ? NULL : "127.0.0.1",
	    strcmp(what, "port") == 0 ? 0 : 9,
	    strcmp(what, "flags") == 0 ? 0x80 : 0, NULL);
	if (s != NULL || errno != want)
		TLINE_VIOLATION("S_connect with a bad %s: %p errno %d, not %d",
		    what, (void *)s, errno, want);
}

void
serv_init(void)
{
	refused("port", EINVAL);
	refused("flags", EINVAL);
	refused("-host", EINVAL);
	refused("main-thread", EPERM);          /* not on a worker */
	if (serv_set_connect_timeout(0) != -1)
		TLINE_VIOLATION("serv_set_connect_timeout(0) accepted");
	if (serv_set_connect_alpn("h2,,x") != -1)
		TLINE_VIOLATION("serv_set_connect_alpn(\"h2,,x\") accepted");
	tline_say("INIT");
}

void
serv_worker_init(int worker)
{
	(void)worker;
	refused("port", EINVAL);
}

static struct pair *
pair_of(SESSION *s)
{
	return s->usr;
}

static struct side *
me(struct pair *p, SESSION *s)
{
	return s == p->cl.s ? &p->cl : &p->out;
}

static struct side *
peer(struct pair *p, SESSION *s)
{
	return s == p->cl.s ? &p->out : &p->cl;
}

static void
pair_free_if_done(struct pair *p)
{
	if (p->cl.gone && (p->out.s == NULL || p->out.gone)) {
		free(p->cl.held);
		free(p->out.held);
		free(p);
	}
}

/* Relay n bytes from `from` to its peer; keep what is refused. */
static void
relay(struct pair *p, struct side *from, const unsigned char *b, size_t n)
{
	struct side *to = from == &p->cl ? &p->out : &p->cl;
	int rc;

	if (to->gone || n == 0)
		return;
	rc = S_send(to->s, (unsigned char *)b, n);
	if (rc == S_ERR_CONGESTED) {
		if (to->heldlen + n > HOLD_MAX) {
			TLINE_VIOLATION("relay: more refused than one read");
			return;
		}
		if ((to->held = realloc(to->held, to->heldlen + n)) == NULL)
			abort();
		memcpy(to->held + to->heldlen, b, n);
		to->heldlen += n;
		S_pause_read(from->s, 1);
	}
}

static void
command(struct pair *p, char *l)
{
	char host[256], text[256];
	unsigned port;
	int flags, n;
	S_STATS st;

	text[0] = '\0';
	if (strcmp(l, "STATS") == 0) {
		if (S_stats(&st) != 0)
			TLINE_VIOLATION("S_stats failed");
		tline_send(tline_s_send, p->cl.s, NULL, "STATS outbound_gauge="
		    "%llu outbound_counter=%llu outbound_error=%llu "
		    "accept_counter=%llu session_gauge=%llu",
		    (unsigned long long)st.outbound_gauge,
		    (unsigned long long)st.outbound_counter,
		    (unsigned long long)st.outbound_error,
		    (unsigned long long)st.accept_counter,
		    (unsigned long long)st.session_gauge);
		return;
	}
	n = sscanf(l, "DIAL %255s %u %d %255[^\n]", host, &port, &flags, text);
	if (n < 3 || p->out.s != NULL) {
		tline_send(tline_s_send, p->cl.s, NULL, "ERROR %s", l);
		return;
	}
	memset(&p->out, 0, sizeof p->out);
	p->closing = (flags & 4) != 0;
	p->out.s = S_connect(host, (uint16_t)port, flags & 3, p);
	if (p->out.s == NULL) {
		tline_send(tline_s_send, p->cl.s, NULL, "DOWN why=S_connect: %s",
		    strerror(errno));
		return;
	}
	if (!p->out.s->outbound || p->out.s->usr != p)
		TLINE_VIOLATION("S_connect's session: outbound %d, usr wrong",
		    p->out.s->outbound);
	if (text[0] != '\0') {
		n = (int)strlen(text);
		text[n++] = '\n';
		if (S_send(p->out.s, (unsigned char *)text, (size_t)n) != 0)
			TLINE_VIOLATION("S_send before TYP_ACCEPT refused");
	}
	if (p->closing)
		S_close(p->out.s);
}

static void
client_read(struct pair *p, SESSION *s)
{
	const unsigned char *b = s->buff;
	size_t n = s->blen, k;
	char *nl;

	if (p->out.up) {
		relay(p, &p->cl, b, n);
		return;
	}
	for (k = 0; k < n; k++) {
		if (p->len + 1 >= sizeof p->line) {
			p->len = 0;     /* too long: dropped */
			continue;
		}
		p->line[p->len++] = (char)b[k];
		if (b[k] != '\n')
			continue;
		p->line[p->len - 1] = '\0';
		if ((nl = strchr(p->line, '\r')) != NULL)
			*nl = '\0';
		p->len = 0;
		command(p, p->line);
		if (p->out.up && k + 1 < n) {
			relay(p, &p->cl, b + k + 1, n - k - 1);
			return;
		}
	}
}

static void
out_up(struct pair *p, SESSION *s)
{
	S_TLS_INFO info;
	const char *alpn = "-";

	if (S_tls_info(s, &info) == 0 && info.alpn[0] != '\0')
		alpn = info.alpn;
	p->out.up = 1;
	if (S_connect_error(s) != NULL)
		TLINE_VIOLATION("S_connect_error is not NULL in TYP_ACCEPT");
	tline_send(tline_s_send, p->cl.s, NULL, "UP id=%u same=%d host=%s "
	    "port=%u alpn=%s", s->id,
	    pthread_equal(pthread_self(), p->thread) != 0, s->host, s->port,
	    alpn);
}

void
serv_on_accept(SESSION *s)
{
	struct pair *p;

	/* (One closed by DIAL's flag 4 before it was up is not open.) */
	if (s->status == HSVR_ST_OPEN && S_halfclose(s, 1) != 0)
		TLINE_VIOLATION("S_halfclose refused on the session's worker");
	if (s->outbound) {
		p = pair_of(s);
		if (p == NULL || s != p->out.s || p->out.up || p->out.gone)
			TLINE_VIOLATION("outbound TYP_ACCEPT out of order");
		else if (!p->cl.gone)
			out_up(p, s);
		else
			p->out.up = 1;
		return;
	}
	if ((p = calloc(1, sizeof *p)) == NULL)
		abort();
	p->cl.s = s;
	p->cl.up = 1;
	p->thread = pthread_self();
	s->usr = p;
}

/* from's peer ended its stream: end to's sending side, after what is held. */
static void
end_of(struct pair *p, struct side *from)
{
	struct side *to = from == &p->cl ? &p->out : &p->cl;

	if (to->s == NULL || to->gone || !to->up) {
		S_close(from->s);       /* nothing to pass it to */
		return;
	}
	to->ended = 1;
	if (to->heldlen == 0 && S_shutdown(to->s) != 0)
		TLINE_VIOLATION("S_shutdown refused");
}

void
serv_on_read(SESSION *s)
{
	struct pair *p = pair_of(s);

	if (s->outbound && (!p->out.up || p->out.gone))
		TLINE_VIOLATION("outbound TYP_READ before TYP_ACCEPT");
	if (s->blen == 0) {
		end_of(p, me(p, s));
		return;
	}
	if (s->outbound) {
		relay(p, &p->out, s->buff, s->blen);
		return;
	}
	client_read(p, s);
}

void
serv_on_sendable(SESSION *s)
{
	struct pair *p = pair_of(s);
	struct side *to = me(p, s), *from = peer(p, s);
	unsigned char *b = to->held;
	size_t n = to->heldlen;

	to->held = NULL;
	to->heldlen = 0;
	if (b != NULL) {
		relay(p, from, b, n);
		free(b);
	}
	if (to->heldlen == 0 && to->ended)
		(void)S_shutdown(s);
	if (to->heldlen == 0 && !from->gone)
		S_pause_read(from->s, 0);
}

void
serv_on_term(SESSION *s)
{
	struct pair *p = pair_of(s);
	const char *why = S_connect_error(s);

	if (!s->outbound) {
		p->cl.gone = 1;
		if (p->out.s != NULL && !p->out.gone)
			S_close(p->out.s);
		pair_free_if_done(p);
		return;
	}
	if (p->out.gone)
		TLINE_VIOLATION("outbound TYP_TERM twice");
	p->out.gone = 1;
	tline_say("OUTTERM id=%u up=%d why=%s", s->id, p->out.up,
	    why != NULL ? why : "-");
	if (!p->out.up && why == NULL)
		TLINE_VIOLATION("an outbound session never up ended without "
		    "S_connect_error");
	if (p->out.up && why != NULL)
		TLINE_VIOLATION("S_connect_error set after TYP_ACCEPT");
	if (!p->cl.gone) {
		if (!p->out.up) {
			tline_send(tline_s_send, p->cl.s, NULL, "DOWN why=%s",
			    why);
			p->out.s = NULL;
			free(p->out.held);
			memset(&p->out, 0, sizeof p->out);
			return;
		}
		S_close(p->cl.s);
	}
	pair_free_if_done(p);
}
