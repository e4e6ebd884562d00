/*
 * tls-client.c - TLS as the client of outbound sessions (S_connect with
 * S_CONNECT_TLS): the client context (the system's CAs or
 * serv_set_connect_ca's, the ALPN of serv_set_connect_alpn), made at
 * start-up or on first use; SNI and the check of the peer's name or
 * address; the handshake and why it failed.  tls.c's transport reads and
 * writes the connection.
 */
#include "hsvr-int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "ossl.h"

static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;
static SSL_CTX *client_ctx;
static char ctx_error[256];            /* why client_ctx is NULL */
static char *ca_file;                  /* serv_set_connect_ca, or NULL */
static unsigned char alpn_wire[256];   /* length-prefixed */
static size_t alpn_len;

int
serv_set_connect_ca(const char *path)
{
	char *copy;

	if (path == NULL || access(path, R_OK) != 0) {
		hsvr_warnx("serv_set_connect_ca: %s: %s",
		    path != NULL ? path : "(null)",
		    path != NULL ? strerror(errno) : "no file");
		return -1;
	}
	if ((copy = strdup(path)) == NULL) {
		hsvr_warnx("serv_set_connect_ca: out of memory");
		return -1;
	}
	free(ca_file);
	ca_file = copy;
	return 0;
}

int
serv_set_connect_alpn(const char *protocols)
{
	const char *p = protocols, *comma;
	unsigned char wire[sizeof alpn_wire] = { 0 };
	size_t n, len = 0;

	/* Built apart: a bad list leaves the one set before as it was. */
	while (p != NULL && *p != '\0') {
		comma = strchr(p, ',');
		n = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (n == 0 || n > 255 || len + 1 + n > sizeof wire) {
			hsvr_warnx("serv_set_connect_alpn: bad protocol list "
			    "'%s'", protocols);
			return -1;
		}
		wire[len++] = (unsigned char)n;
		memcpy(wire + len, p, n);
		len += n;
		p = comma != NULL ? comma + 1 : NULL;
	}
	memcpy(alpn_wire, wire, len);
	alpn_len = len;
	return 0;
}

static void
tls_client_ctx_make(void)
{
	SSL_CTX *c;
	unsigned long e;
	int ok;

	if (hsvr_ossl_load(ctx_error, sizeof ctx_error) != 0)
		return;
	if ((c = SSL_CTX_new(TLS_client_method())) == NULL) {
		(void)snprintf(ctx_error, sizeof ctx_error,
		    "TLS: cannot make the client context");
		return;
	}
	(void)SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
	SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_read_ahead(c, 1);
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	ok = ca_file != NULL ? SSL_CTX_load_verify_locations(c, ca_file, NULL) :
	    SSL_CTX_set_default_verify_paths(c);
	if (ok != 1) {
		e = ERR_peek_last_error();
		(void)snprintf(ctx_error, sizeof ctx_error,
		    "TLS: cannot load the CAs of %s: %s",
		    ca_file != NULL ? ca_file : "the system",
		    e != 0 ? ERR_reason_error_string(e) : "unknown error");
		ERR_clear_error();
		SSL_CTX_free(c);
		return;
	}
	/* SSL_CTX_set_alpn_protos returns 0 on success. */
	if (alpn_len > 0 &&
	    SSL_CTX_set_alpn_protos(c, alpn_wire, (unsigned int)alpn_len) != 0) {
		(void)snprintf(ctx_error, sizeof ctx_error,
		    "TLS: cannot set the ALPN protocols");
		ERR_clear_error();
		SSL_CTX_free(c);
		return;
	}
	client_ctx = c;
}

/*
 * Start-up, as the starting user (tls.c's hsvr_tls_init): with
 * serv_set_connect_ca or serv_set_connect_alpn the client context is made
 * now, so that a CA file only root may read loads, and a bad one stops the
 * start with a line on stderr: 0 or -1.  Without them it is made on the
 * first S_CONNECT_TLS, from the system's CAs, which anyone may read.
 */
int
hsvr_tls_client_init(void)
{
	if (ca_file == NULL && alpn_len == 0)
		return 0;
	(void)pthread_once(&ctx_once, tls_client_ctx_make);
	if (client_ctx == NULL) {
		hsvr_warnx("%s", ctx_error);
		return -1;
	}
	return 0;
}


/* 1 if name is an IPv4 or IPv6 address, not a host name. */
static int
tls_client_numeric(const char *name)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, name, buf) == 1 ||
	    inet_pton(AF_INET6, name, buf) == 1;
}

int
hsvr_tls_client_setup(struct hsvr_conn *c)
{
	const char *name = c->ob->name;
	int numeric = tls_client_numeric(name), ok;

	(void)pthread_once(&ctx_once, tls_client_ctx_make);
	if (client_ctx == NULL) {
		hsvr_outbound_why(c->ob, ctx_error);
		return -1;
	}
	if ((c->ssl = SSL_new(client_ctx)) == NULL)
		goto fail;
	if (SSL_set_fd(c->ssl, c->fd) != 1)
		goto fail;
	SSL_set_connect_state(c->ssl);
	/* SNI names a host, never an address (RFC 6066, 3). */
	if (!numeric && SSL_set_tlsext_host_name(c->ssl, name) != 1)
		goto fail;
	if (c->ob->flags & S_CONNECT_NOVERIFY)
		SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
	else {
		ok = numeric ? X509_VERIFY_PARAM_set1_ip_asc(
		    SSL_get0_param(c->ssl), name) : SSL_set1_host(c->ssl, name);
		if (ok != 1)
			goto fail;
	}
	return 0;
fail:
	ERR_clear_error();
	SSL_free(c->ssl);
	c->ssl = NULL;
	hsvr_outbound_why(c->ob, "TLS: cannot set up the connection");
	return -1;
}

/* 1 when the handshake is done, 0 while it goes on, -1 if it failed. */
int
hsvr_tls_client_handshake(struct hsvr_conn *c)
{
	char why[sizeof c->ob->why];
	unsigned long e;
	long vr;
	int r, err;

	errno = 0;
	ERR_clear_error();
	r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		if (SSL_has_pending(c->ssl))
			c->read_again = 1;
		return 1;
	}
	err = SSL_get_error(c->ssl, r);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		c->want = err == SSL_ERROR_WANT_READ ? EV_READ : EV_WRITE;
		return 0;
	}
	vr = SSL_get_verify_result(c->ssl);
	e = ERR_peek_last_error();
	if (vr != X509_V_OK)
		(void)snprintf(why, sizeof why, "TLS: certificate verify "
		    "failed: %s", X509_verify_cert_error_string(vr));
	else if (e != 0 && ERR_reason_error_string(e) != NULL)
		(void)snprintf(why, sizeof why, "TLS: %s",
		    ERR_reason_error_string(e));
	else if (err == SSL_ERROR_SYSCALL && errno != 0)
		(void)snprintf(why, sizeof why, "TLS: %s", strerror(errno));
	else
		(void)snprintf(why, sizeof why, "TLS: the peer closed the "
		    "connection during the handshake");
	ERR_clear_error();
	c->tls_dirty = 1;       /* no close_notify to a failed handshake */
	hsvr_outbound_why(c->ob, why);
	return -1;
}

/* The handshake ended without a session: why is said once, in TYP_TERM. */
void
hsvr_tls_client_handshake_failed(struct hsvr_conn *c, enum hsvr_hs_end end)
{
	hsvr_outbound_why(c->ob, end == HS_TIMEOUT ?
	    "TLS: the handshake timed out" : "TLS: the handshake failed");
}
