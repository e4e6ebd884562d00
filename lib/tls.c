/*
 * tls.c - TLS with OpenSSL 3: the server context (safe defaults, loaded
 * before privileges drop, re-read on SIGHUP) and the TLS transport that
 * the engine drives like the plain one, on the same raw socket events.
 */
#include "hsvr-int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

static SSL_CTX *ctx;
static unsigned char alpn_wire[256];   /* length-prefixed, server order */
static size_t alpn_len;

/* The first OpenSSL error as text, for one-line messages. */
static const char *
ssl_error(void)
{
	static _Thread_local char buf[256];
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		return "unknown error";
	ERR_error_string_n(e, buf, sizeof buf);
	ERR_clear_error();
	return buf;
}

static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf, (void)size, (void)rwflag, (void)u;
	return 0;       /* never prompt: an encrypted key fails to load */
}

static int
file_says_encrypted(const char *path)
{
	char line[256];
	FILE *fp = fopen(path, "r");
	int enc = 0;

	while (fp != NULL && !enc && fgets(line, sizeof line, fp) != NULL)
		enc = strstr(line, "ENCRYPTED") != NULL;
	if (fp != NULL)
		(void)fclose(fp);       /* read only: nothing is lost */
	return enc;
}

void
serv_set_alpn(const char *protocols)
{
	const char *p = protocols, *comma;
	size_t n, len = 0;

	alpn_len = 0;
	while (p != NULL && *p != '\0') {
		comma = strchr(p, ',');
		n = comma ? (size_t)(comma - p) : strlen(p);
		if (n == 0 || n > 255 || len + 1 + n > sizeof alpn_wire) {
			hsvr_warnx("serv_set_alpn: bad protocol list '%s'",
			    protocols);
			alpn_len = 0;
			return;
		}
		alpn_wire[len++] = (unsigned char)n;
		memcpy(alpn_wire + len, p, n);
		len += n;
		p = comma ? comma + 1 : NULL;
	}
	alpn_len = len;
}

static int
select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned char *sel;

	(void)ssl, (void)arg;
	if (SSL_select_next_proto(&sel, outlen, alpn_wire,
	    (unsigned int)alpn_len, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;     /* RFC 7301, 3.2 */
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* A new context from cfg's files, or NULL after a one-line message. */
static SSL_CTX *
make_ctx(const struct hsvr_config *cfg)
{
	SSL_CTX *c;
	int min = cfg->tls_min13 ? TLS1_3_VERSION : TLS1_2_VERSION;

	ERR_clear_error();
	if ((c = SSL_CTX_new(TLS_server_method())) == NULL) {
		hsvr_warnx("cannot create a TLS context: %s", ssl_error());
		return NULL;
	}
	SSL_CTX_set_min_proto_version(c, min);
	SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	    (cfg->tls_keep_buffers ? 0 : SSL_MODE_RELEASE_BUFFERS));
	/*
	 * Read ahead: one read(2) takes what the socket has, instead of a
	 * record header and its body in two (bench/PROFILE.md: 10 reads per
	 * handshake instead of 4.6).  Data it leaves buffered is found with
	 * SSL_has_pending (read_again).
	 */
	SSL_CTX_set_read_ahead(c, 1);
	SSL_CTX_set_default_passwd_cb(c, no_passphrase);
	SSL_CTX_set_session_id_context(c, (const unsigned char *)"hsvr", 4);
	if (SSL_CTX_use_certificate_chain_file(c, cfg->tls_cert) != 1) {
		hsvr_warnx("cannot load the certificate %s: %s", cfg->tls_cert,
		    ssl_error());
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(c, cfg->tls_key, SSL_FILETYPE_PEM) != 1) {
		if (file_says_encrypted(cfg->tls_key))
			hsvr_warnx("cannot load the private key %s: it is "
			    "encrypted, and a server never prompts for a "
			    "passphrase (decrypt it with 'openssl pkey')",
			    cfg->tls_key);
		else
			hsvr_warnx("cannot load the private key %s: %s",
			    cfg->tls_key, ssl_error());
		goto fail;
	}
	if (SSL_CTX_check_private_key(c) != 1) {
		hsvr_warnx("the private key %s does not match the certificate "
		    "%s", cfg->tls_key, cfg->tls_cert);
		goto fail;
	}
	if (cfg->tls_ciphers != NULL &&
	    SSL_CTX_set_cipher_list(c, cfg->tls_ciphers) != 1 &&
	    SSL_CTX_set_ciphersuites(c, cfg->tls_ciphers) != 1) {
		hsvr_warnx("no usable cipher in '%s'", cfg->tls_ciphers);
		goto fail;
	}
	if (cfg->tls_ca != NULL) {
		if (SSL_CTX_load_verify_locations(c, cfg->tls_ca, NULL) != 1) {
			hsvr_warnx("cannot load the CA certificates %s: %s",
			    cfg->tls_ca, ssl_error());
			goto fail;
		}
		SSL_CTX_set_client_CA_list(c, SSL_load_client_CA_file(cfg->tls_ca));
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	if (alpn_len > 0)
		SSL_CTX_set_alpn_select_cb(c, select_alpn, NULL);
	return c;
fail:
	SSL_CTX_free(c);
	return NULL;
}

/* Load the TLS material (as root, before the drop): 0 or -1. */
int
hsvr_tls_init(const struct hsvr_config *cfg)
{
	if (cfg->tls_cert == NULL)
		return 0;
	if ((ctx = make_ctx(cfg)) == NULL)
		return -1;
	return 0;
}

/* SIGHUP: new material for new connections; a broken file keeps the old. */
void
hsvr_tls_reload(const struct hsvr_config *cfg)
{
	SSL_CTX *c;

	if (ctx == NULL)
		return;
	if ((c = make_ctx(cfg)) == NULL) {
		hsvr_log(LOG_ERR, "TLS reload failed: keeping the certificate "
		    "in use");
		return;
	}
	SSL_CTX_free(ctx);
	ctx = c;
	hsvr_log(LOG_INFO, "TLS certificate and key reloaded");
}

int
hsvr_tls_enabled(void)
{
	return ctx != NULL;
}

void
hsvr_tls_free(void)
{
	SSL_CTX_free(ctx);
	ctx = NULL;
}

/* ------------------------------------------------------------ transport */

static int
tls_setup(struct hsvr_conn *c)
{
	if (hsvr_transport_tcp.setup(c) != 0 || (c->ssl = SSL_new(ctx)) == NULL)
		return -1;
	if (SSL_set_fd(c->ssl, c->fd) != 1) {
		SSL_free(c->ssl);
		c->ssl = NULL;
		return -1;
	}
	SSL_set_accept_state(c->ssl);
	return 0;
}

/*
 * Map an OpenSSL result to the transport convention: bytes, 0 for the end
 * of the stream (close_notify, or the peer just closing), -1 with errno
 * EAGAIN when the socket must become readable or writable (c->tls_want).
 */
static ssize_t
result(struct hsvr_conn *c, int r)
{
	int err = SSL_get_error(c->ssl, r);

	if (r > 0)
		return r;
	switch (err) {
	case SSL_ERROR_WANT_READ:
		c->tls_want = EV_READ;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		c->tls_want = EV_WRITE;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (errno == 0 || errno == ECONNRESET || errno == EPIPE) {
			c->tls_dirty = 1;       /* no close_notify: still an end */
			return 0;
		}
		return -1;
	default:
		ERR_clear_error();
		errno = EPROTO;
		return -1;
	}
}

/*
 * A failed handshake, for the log: at most one line per HANDSHAKE_LOG_SEC
 * from all workers together, saying how many were not logged, so that a
 * scan or flood of garbage is visible without flooding the log.
 */
#define HANDSHAKE_LOG_SEC 10

void
hsvr_tls_log_failure(const struct hsvr_conn *c, const char *why)
{
	static uint64_t last_ms, unlogged;
	uint64_t now = hsvr_now_ms(), last, n;

	(void)__atomic_add_fetch(&unlogged, 1, __ATOMIC_RELAXED);
	last = __atomic_load_n(&last_ms, __ATOMIC_RELAXED);
	if ((last != 0 && now - last < (uint64_t)HANDSHAKE_LOG_SEC * 1000) ||
	    !__atomic_compare_exchange_n(&last_ms, &last, now, 0,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	n = __atomic_exchange_n(&unlogged, 0, __ATOMIC_RELAXED);
	hsvr_log(LOG_NOTICE, "TLS handshake with %s failed: %s (%llu failed "
	    "handshake%s since the last such message)", c->pub.host, why,
	    (unsigned long long)n, n == 1 ? "" : "s");
}

/* 1 when the handshake is done, 0 while it goes on, -1 if it failed. */
static int
tls_handshake(struct hsvr_conn *c)
{
	ssize_t r;
	unsigned long e;
	const char *why;

	errno = 0;
	r = SSL_do_handshake(c->ssl);
	e = ERR_peek_last_error();
	r = result(c, (int)r);
	if (r > 0) {
		/* The first request may have come with the client's Finished. */
		if (SSL_has_pending(c->ssl))
			c->read_again = 1;
		return 1;
	}
	if (r < 0 && errno == EAGAIN)
		return 0;
	why = e != 0 ? ERR_reason_error_string(e) : NULL;
	hsvr_tls_log_failure(c, why != NULL ? why : r == 0 ?
	    "the peer closed the connection" : strerror(errno));
	return -1;
}

/*
 * Read records until buf is full or the socket has no more.  What the
 * socket no longer shows must not be forgotten: an end of stream or error
 * met after some data is kept for the next call, and data left in
 * OpenSSL's buffers asks for another read (read_again).
 */
static ssize_t
tls_read(struct hsvr_conn *c, void *buf, size_t len)
{
	size_t got = 0, n;
	ssize_t r;

	if (c->tls_deferred) {
		c->tls_deferred = 0;
		errno = c->tls_deferred_errno;
		return errno == 0 ? 0 : -1;
	}
	while (got < len) {
		errno = 0;
		if (SSL_read_ex(c->ssl, (char *)buf + got, len - got, &n) == 1) {
			got += n;
			continue;
		}
		r = result(c, 0);
		if (got == 0)
			return r;
		if (r == 0 || errno != EAGAIN) {
			c->tls_deferred = 1;
			c->tls_deferred_errno = r == 0 ? 0 : errno;
			c->read_again = 1;
		}
		return (ssize_t)got;
	}
	if (SSL_has_pending(c->ssl))
		c->read_again = 1;
	return (ssize_t)got;
}

static ssize_t
tls_write(struct hsvr_conn *c, const void *buf, size_t len)
{
	size_t n;
	ssize_t r;

	errno = 0;
	if (SSL_write_ex(c->ssl, buf, len, &n) == 1)
		return (ssize_t)n;
	if ((r = result(c, 0)) == 0) {
		errno = EPIPE;  /* the peer is gone: a write cannot end well */
		return -1;
	}
	return r;
}

static ssize_t
tls_flush(struct hsvr_conn *c, struct evbuffer *out)
{
	struct evbuffer_iovec v;
	ssize_t n, total = 0;

	while (evbuffer_peek(out, -1, NULL, &v, 1) > 0) {
		n = tls_write(c, v.iov_base, v.iov_len);
		if (n < 0 && total > 0 && errno != EAGAIN &&
		    errno != EWOULDBLOCK && errno != EINTR)
			c->failed = 1;  /* report the progress; the error ends it */
		if (n <= 0)
			return total > 0 ? total : n;
		evbuffer_drain(out, (size_t)n);
		total += n;
	}
	return total;
}

/*
 * Send close_notify (once, without waiting for the peer's), then close.
 * The TLS state stays for TYP_TERM's S_tls_info; tls_release frees it.
 */
static void
tls_close(struct hsvr_conn *c)
{
	if (c->ssl != NULL && !c->tls_dirty && !c->failed && c->accepted)
		(void)SSL_shutdown(c->ssl);
	ERR_clear_error();
	hsvr_transport_tcp.close(c);
}

static void
tls_release(struct hsvr_conn *c)
{
	SSL_free(c->ssl);
	c->ssl = NULL;
}

const struct hsvr_transport hsvr_transport_tls = {
	"tls", tls_setup, tls_read, tls_write, tls_flush, tls_close,
	tls_handshake, tls_release, 0
};

int
S_tls_info(SESSION *s, S_TLS_INFO *info)
{
	struct hsvr_conn *c = (struct hsvr_conn *)s;
	const unsigned char *alpn;
	unsigned int alen;
	X509 *peer;

	if (s == NULL || info == NULL || s->hsvr_self_ != s || c->ssl == NULL)
		return -1;
	memset(info, 0, sizeof *info);
	(void)snprintf(info->version, sizeof info->version, "%s",
	    SSL_get_version(c->ssl));
	(void)snprintf(info->cipher, sizeof info->cipher, "%s",
	    SSL_get_cipher_name(c->ssl));
	SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
	if (alen > 0 && alen < sizeof info->alpn)
		memcpy(info->alpn, alpn, alen);
	if ((peer = SSL_get1_peer_certificate(c->ssl)) != NULL) {
		X509_NAME_oneline(X509_get_subject_name(peer), info->peer,
		    (int)sizeof info->peer);
		info->verified = SSL_get_verify_result(c->ssl) == X509_V_OK;
		X509_free(peer);
	}
	return 0;
}
