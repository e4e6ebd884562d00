/*
 * start.c - S_start, the low-level entry point of the original hsvr
 * wrapper: one call that runs a server with a single CALLBACK_T.
 */
#include "hsvr-int.h"

#include <stdio.h>

int
S_start(uint16_t port, int limit, int multi, CALLBACK_T cb, int tls,
    char *cert, char *priv)
{
	static struct hsvr_config config;
	int rc;

	hsvr_options_defaults(&config);
	if (cb == NULL || port == 0 || limit < 1 || multi < 1 ||
	    multi > HSVR_MAX_THREADS) {
		hsvr_warnx("S_start: bad parameter (port %u, limit %d, "
		    "threads %d, callback %s)", port, limit, multi,
		    cb ? "set" : "NULL");
		return -1;
	}
	if (tls && (cert == NULL || priv == NULL)) {
		hsvr_warnx("S_start: TLS needs a certificate and a key");
		return -1;
	}
	config.tls_cert = tls ? cert : NULL;
	config.tls_key = tls ? priv : NULL;
	config.port = port;
	config.max_conn = limit;
	config.threads = multi;
	/* The original hands connections to the workers round-robin. */
	config.accept_thread = 1;
	config.cb = cb;
	config.stats_out = stdout;
	hsvr_hooks_bind(cb);
	if (hsvr_tls_init(&config) != 0)
		return -1;
	if (hsvr_listen_open(&config) != 0) {
		hsvr_tls_free();
		return -1;
	}
	rc = hsvr_engine_run(&config);
	hsvr_tls_free();
	return rc;
}
