/*
 * srv-linger.c - test server of S_linger: S_start, a session limit, two
 * workers, commands in lines (tests/linger.c).
 * usage: t-srv-linger PORT LIMIT
 *   PING                 -> "PONG"
 *   PAUSE                -> "PAUSED", then S_pause_read(this session, 1)
 *   CLOSE port n quick   the session of 127.0.0.1:port gets n pattern
 *                        bytes, then S_linger(it, 0) if quick is 1, then
 *                        S_close -> "CLOSE rc=.." (the first failing
 *                        call's code, or 0)
 * Prints "TERM port=P" when a session ends.  Linked with the tests'
 * library: HSVR_TEST_LINGER_MS holds a lingering close at will.
 */
#include "hsvr.h"
#include "pattern.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct line {
	size_t len;
	char text[256];
};

static unsigned char *pattern;
static size_t pattern_len;

static void
say(SESSION *s, const char *text)
{
	(void)S_send(s, (unsigned char *)text, strlen(text));
}

static int
close_other(unsigned port, size_t n, int quick)
{
	SESSION *o;
	int rc;

	if (n > pattern_len)
		return S_ERR_PARAM;
	if ((o = S_search("127.0.0.1", (uint16_t)port)) == NULL)
		return -9;
	if ((rc = S_send(o, pattern, n)) != S_OK)
		return rc;
	if (quick && (rc = S_linger(o, 0)) != S_OK)
		return rc;
	S_close(o);
	return S_OK;
}

static void
command(SESSION *s, const char *text)
{
	char reply[64];
	unsigned port;
	size_t n;
	int quick;

	if (strcmp(text, "PING") == 0) {
		say(s, "PONG\n");
	} else if (strcmp(text, "PAUSE") == 0) {
		say(s, "PAUSED\n");
		(void)S_pause_read(s, 1);
	} else if (sscanf(text, "CLOSE %u %zu %d", &port, &n, &quick) == 3) {
		(void)snprintf(reply, sizeof reply, "CLOSE rc=%d\n",
		    close_other(port, n, quick));
		say(s, reply);
	} else {
		say(s, "WHAT\n");
	}
}

static void
on_read(SESSION *s)
{
	struct line *l = s->usr;
	size_t i;

	for (i = 0; l != NULL && i < s->blen; i++) {
		if (s->buff[i] == '\n') {
			l->text[l->len] = '\0';
			command(s, l->text);
			l->len = 0;
		} else if (l->len < sizeof l->text - 1) {
			l->text[l->len++] = (char)s->buff[i];
		}
	}
}

static void
callback(CTYPE type, SESSION *s)
{
	switch (type) {
	case TYP_ACCEPT:
		if ((s->usr = calloc(1, sizeof(struct line))) == NULL)
			S_close(s);
		break;
	case TYP_READ:
		on_read(s);
		break;
	case TYP_TERM:
		printf("TERM port=%u\n", (unsigned)s->port);
		free(s->usr);
		s->usr = NULL;
		break;
	default:
		break;
	}
}

int
main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s PORT LIMIT\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	pattern_len = 4u * 1024 * 1024;
	if ((pattern = malloc(pattern_len)) == NULL)
		return 1;
	pat_fill(pattern, 0, pattern_len);
	if (S_start((uint16_t)atoi(argv[1]), atoi(argv[2]), 2, callback, 0,
	    NULL, NULL) != 0)
		return 1;
	free(pattern);
	return 0;
}
