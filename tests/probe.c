/*
 * probe.c - a one-shot client for shell tests (tests/link.sh).
 * usage: t-probe -p PORT [-h HOST] [-w SECONDS] [-s TEXT] [-e EXPECT]
 *        t-probe --free-port
 * Connects to HOST (default 127.0.0.1) port PORT, retrying while refused
 * for up to SECONDS (default 20), sends TEXT ("\n" is a newline), and reads
 * until EXPECT has arrived: exit 0, or 1 with what arrived on stderr.
 */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *text = NULL, *expect = NULL;
	char got[65536], send[4096];
	size_t have = 0, n = 0, i;
	ssize_t r;
	double wait = 20, end;
	int port = 0, a;
	struct conn *c;

	if (argc == 2 && strcmp(argv[1], "--free-port") == 0) {
		printf("%d\n", t_free_port());
		return 0;
	}
	for (a = 1; a + 1 < argc; a += 2) {
		if (strcmp(argv[a], "-p") == 0)
			port = atoi(argv[a + 1]);
		else if (strcmp(argv[a], "-h") == 0)
			host = argv[a + 1];
		else if (strcmp(argv[a], "-w") == 0)
			wait = atof(argv[a + 1]);
		else if (strcmp(argv[a], "-s") == 0)
			text = argv[a + 1];
		else if (strcmp(argv[a], "-e") == 0)
			expect = argv[a + 1];
		else
			break;
	}
	if (port <= 0 || a != argc) {
		fprintf(stderr, "usage: %s -p PORT [-h HOST] [-w SECONDS] "
		    "[-s TEXT] [-e EXPECT]\n", argv[0]);
		return 2;
	}
	if ((c = conn_tcp(host, port, wait)) == NULL) {
		fprintf(stderr, "t-probe: cannot connect to %s port %d\n", host,
		    port);
		return 1;
	}
	for (i = 0; text != NULL && text[i] != '\0' && n < sizeof send; i++) {
		if (text[i] == '\\' && text[i + 1] == 'n') {
			send[n++] = '\n';
			i++;
		} else {
			send[n++] = text[i];
		}
	}
	if (n > 0 && conn_send(c, send, n) != 0) {
		fprintf(stderr, "t-probe: cannot send\n");
		return 1;
	}
	got[0] = '\0';
	end = t_now() + wait;
	while (expect != NULL && strstr(got, expect) == NULL &&
	    have < sizeof got - 1 && t_now() < end) {
		r = conn_read(c, got + have, sizeof got - 1 - have, end - t_now());
		if (r <= 0)
			break;
		have += (size_t)r;
		got[have] = '\0';
	}
	conn_close(c);
	if (expect != NULL && strstr(got, expect) == NULL) {
		fprintf(stderr, "t-probe: expected '%s', got '%s'\n", expect, got);
		return 1;
	}
	return 0;
}
