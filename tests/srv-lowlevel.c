/*
 * srv-lowlevel.c - test server on the low-level API: main() calls S_start
 * with one CALLBACK_T, as the original hsvr programs do.
 * usage: t-srv-lowlevel PORT LIMIT THREADS
 * Prints "PRESTART stats_rc=N" (S_stats before any server runs) and, when
 * S_start returns, "S_START_RETURNED N"; exits 0 only if S_start returned 0.
 */
#include "tserver.h"

#include <stdio.h>
#include <stdlib.h>

static void
callback(CTYPE type, SESSION *s)
{
	switch (type) {
	case TYP_ACCEPT:
		ts_accept(s);
		break;
	case TYP_READ:
		ts_read(s);
		break;
	case TYP_TERM:
		ts_term(s);
		break;
	case TYP_TIMEOUT:
		ts_timeout(s);
		break;
	case TYP_SENDABLE:
		ts_sendable(s);
		break;
	default:
		TLINE_VIOLATION("event type %d", (int)type);
		break;
	}
}

int
main(int argc, char **argv)
{
	S_STATS st;
	int port, limit, threads, rc;

	if (argc != 4) {
		fprintf(stderr, "usage: %s PORT LIMIT THREADS\n", argv[0]);
		return 2;
	}
	port = atoi(argv[1]);
	limit = atoi(argv[2]);
	threads = atoi(argv[3]);
	ts_mark_main();
	tline_say("PRESTART stats_rc=%d", S_stats(&st));
	rc = S_start((uint16_t)port, limit, threads, callback, 0, NULL, NULL);
	tline_say("S_START_RETURNED %d", rc);
	return rc == 0 ? 0 : 1;
}
