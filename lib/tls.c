/*
 * tls.c - TLS with OpenSSL 3: the server context (safe defaults, loaded
 * before privileges drop, re-read on SIGHUP, with its OCSP staple and
 * rotated session ticket keys) and the TLS transports that the engine
 * drives like the plain one, on the same raw socket events: the server's,
 * and the client's of outbound sessions (set up by tls-client.c).
 */
#include "hsvr-int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <sys/socket.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ossl.h"

/*
 * Mozilla's "intermediate" profile (server side TLS guidelines 6.0): for
 * TLS 1.2 only ECDHE key exchange with AEAD ciphers, no static RSA and no
 * CBC; the three TLS 1.3 suites; the groups of its "Supported groups",
 * X25519MLKEM768 first where this OpenSSL has it.
 */
#define TLS12_DEFAULT "ECDHE-ECDSA-AES128-GCM-SHA256:" \
	"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" \
	"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:" \
	"ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_DEFAULT "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
	"TLS_CHACHA20_POLY1305_SHA256"
#define GROUPS_DEFAULT "X25519:P-256:P-384"
#define GROUPS_PQ "X25519MLKEM768"

/*
 * Session tickets and cached sessions live TICKET_LIFETIME seconds (nginx
 * keeps a session 5 minutes, OpenSSL 2 hours).  The ticket key changes
 * every TICKET_LIFETIME too, and the previous one is still accepted: a
 * ticket is always readable for its whole lifetime, never after two
 * rotations.
 */
#define TICKET_LIFETIME 3600

/* The stapled OCSP response, with the context it was checked against. */
struct staple {
	unsigned char *der;
	size_t len;
	time_t next_update;     /* 0: the response gives none */
	int expired_said;       /* atomic: its expiry was logged */
};

static SSL_CTX *ctx;
static struct staple *staple;
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

/*
 * Every name of list (separated by any of seps) means something to
 * OpenSSL in that option, where OpenSSL itself would ignore the names it
 * does not know.  tls13: list is --tls-ciphersuites.  0, or -1 after a
 * one-line message.
 */
static int
check_names(const char *list, const char *seps, int tls13)
{
	const char *opt = tls13 ? "--tls-ciphersuites" : "--tls-ciphers";
	char name[128];
	const char *p = list, *q;
	SSL_CTX *probe;
	size_t n;
	int bad = 0, excluded;

	if ((probe = SSL_CTX_new(TLS_server_method())) == NULL) {
		hsvr_warnx("cannot create a TLS context: %s", ssl_error());
		return -1;
	}
	for (; !bad && *p != '\0'; p = *q != '\0' ? q + 1 : q) {
		q = p + strcspn(p, seps);
		if ((n = (size_t)(q - p)) == 0)
			continue;
		if (n >= sizeof name) {
			hsvr_warnx("%s: name too long in '%s'", opt, list);
			bad = 1;
			break;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		if (tls13) {
			if (SSL_CTX_set_ciphersuites(probe, name) != 1) {
				hsvr_warnx("%s: '%s' is not a TLS 1.3 cipher "
				    "suite%s", opt, name, SSL_CTX_set_cipher_list(
				    probe, name) == 1 ? " (TLS 1.2 ciphers go "
				    "in --tls-ciphers)" : "");
				bad = 1;
			}
			continue;
		}
		excluded = strchr("!-", name[0]) != NULL;
		if (strchr("!-+", name[0]) != NULL)
			memmove(name, name + 1, n);
		if (name[0] == '@')
			continue;       /* @STRENGTH, @SECLEVEL=n */
		if (name[0] != '\0' &&
		    SSL_CTX_set_ciphersuites(probe, name) == 1) {
			hsvr_warnx("%s: '%s' is a TLS 1.3 suite: give it with "
			    "--tls-ciphersuites", opt, name);
			bad = 1;
		} else if (!excluded && SSL_CTX_set_cipher_list(probe,
		    name) != 1) {
			/* An exclusion of nothing (!RC4) changes nothing. */
			hsvr_warnx("%s: no TLS 1.2 cipher is called '%s'", opt,
			    name);
			bad = 1;
		}
	}
	ERR_clear_error();
	SSL_CTX_free(probe);
	return bad ? -1 : 0;
}

/*
 * Every suite in c's lists encrypts with an AEAD after an ephemeral key
 * exchange: they are equally good, and the client's order can be followed
 * (its hardware may do ChaCha20 faster than AES).
 */
static int
all_equally_strong(SSL_CTX *c)
{
	STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(c);
	const SSL_CIPHER *ci;
	int i, kx;

	for (i = 0; i < sk_SSL_CIPHER_num(sk); i++) {
		ci = sk_SSL_CIPHER_value(sk, i);
		kx = SSL_CIPHER_get_kx_nid(ci);
		if (!SSL_CIPHER_is_aead(ci) || (kx != NID_kx_ecdhe &&
		    kx != NID_kx_dhe && kx != NID_kx_any))
			return 0;
	}
	return 1;
}

/*
 * The cipher lists: cfg's, checked name by name, or the defaults.  With
 * a list of equals the client chooses; otherwise the server's order,
 * ChaCha20 still first for a client that puts it first.
 */
static int
set_ciphers(SSL_CTX *c, const struct hsvr_config *cfg)
{
	const char *l12 = cfg->tls_ciphers ? cfg->tls_ciphers : TLS12_DEFAULT;
	const char *l13 = cfg->tls_ciphersuites ? cfg->tls_ciphersuites :
	    TLS13_DEFAULT;

	if ((cfg->tls_ciphers != NULL &&
	    check_names(cfg->tls_ciphers, ":, ;", 0) != 0) ||
	    (cfg->tls_ciphersuites != NULL &&
	    check_names(cfg->tls_ciphersuites, ":", 1) != 0))
		return -1;
	if (SSL_CTX_set_cipher_list(c, l12) != 1) {
		hsvr_warnx("--tls-ciphers: no usable cipher in '%s'", l12);
		return -1;
	}
	if (SSL_CTX_set_ciphersuites(c, l13) != 1) {
		hsvr_warnx("--tls-ciphersuites: no usable suite in '%s'", l13);
		return -1;
	}
	if (!all_equally_strong(c))
		SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE |
		    SSL_OP_PRIORITIZE_CHACHA);
	ERR_clear_error();
	return 0;
}

/* cfg's groups, or the defaults with X25519MLKEM768 if OpenSSL has it. */
static int
set_groups(SSL_CTX *c, const char *list)
{
	if (list != NULL) {
		if (SSL_CTX_set1_groups_list(c, list) == 1)
			return 0;
		hsvr_warnx("--tls-groups: unknown or unusable group in '%s'",
		    list);
		return -1;
	}
	if (SSL_CTX_set1_groups_list(c, GROUPS_PQ ":" GROUPS_DEFAULT) != 1 &&
	    SSL_CTX_set1_groups_list(c, GROUPS_DEFAULT) != 1) {
		hsvr_warnx("cannot set the TLS groups %s: %s", GROUPS_DEFAULT,
		    ssl_error());
		return -1;
	}
	ERR_clear_error();
	return 0;
}

/* ------------------------------------------------------ session tickets */

struct ticket_key {
	unsigned char name[16], aes[32], hmac[32];
	uint64_t epoch;         /* hsvr_clock_ms() / ticket_period_ms */
	int set;
};

/*
 * The serving process's ticket keys, made from RAND_bytes when first
 * needed (never in the supervisor, so every serving process has its own):
 * the current one, and the one before it.
 */
static struct {
	pthread_mutex_t lock;
	struct ticket_key cur, prev;
} keys = { PTHREAD_MUTEX_INITIALIZER, { { 0 }, { 0 }, { 0 }, 0, 0 },
	{ { 0 }, { 0 }, { 0 }, 0, 0 } };
static uint64_t ticket_period_ms = (uint64_t)TICKET_LIFETIME * 1000;

/* Rotate the keys if a period has begun since.  Under keys.lock. */
static void
keys_rotate(void)
{
	uint64_t e = hsvr_clock_ms() / ticket_period_ms;

	if (keys.cur.set && keys.cur.epoch == e)
		return;
	if (keys.cur.set && keys.cur.epoch + 1 == e)
		keys.prev = keys.cur;
	else
		keys.prev.set = 0;
	keys.cur.set = RAND_bytes(keys.cur.name, sizeof keys.cur.name) == 1 &&
	    RAND_bytes(keys.cur.aes, sizeof keys.cur.aes) == 1 &&
	    RAND_bytes(keys.cur.hmac, sizeof keys.cur.hmac) == 1;
	keys.cur.epoch = e;
#ifdef HSVR_TEST_HOOKS
	if (keys.cur.set && getenv("HSVR_TEST_TICKET_PERIOD_MS") != NULL)
		hsvr_log(LOG_INFO, "session ticket key rotated (%02x%02x...)",
		    keys.cur.name[0], keys.cur.name[1]);
#endif
}

/*
 * OpenSSL's ticket callback: a new ticket under the current key (1), or
 * the key of a ticket presented: the current one (1), the previous one (2:
 * the session gets a new ticket), or none (0: a full handshake).
 */
static int
ticket_key(SSL *s, unsigned char name[16], unsigned char *iv,
    EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx, int enc)
{
	struct ticket_key k;
	OSSL_PARAM params[3];
	int r = 1;

	(void)s;
	pthread_mutex_lock(&keys.lock);
	keys_rotate();
	if (enc || (keys.cur.set && memcmp(name, keys.cur.name, 16) == 0))
		k = keys.cur;
	else if (keys.prev.set && memcmp(name, keys.prev.name, 16) == 0) {
		k = keys.prev;
		r = 2;
	} else
		k.set = 0;
	pthread_mutex_unlock(&keys.lock);
	if (!k.set)
		return enc ? -1 : 0;
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
	    k.hmac, sizeof k.hmac);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    (char *)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	if (enc) {
		memcpy(name, k.name, 16);
		if (RAND_bytes(iv, 16) != 1 || EVP_EncryptInit_ex(ectx,
		    EVP_aes_256_cbc(), NULL, k.aes, iv) != 1)
			r = -1;
	} else if (EVP_DecryptInit_ex(ectx, EVP_aes_256_cbc(), NULL, k.aes,
	    iv) != 1)
		r = -1;
	if (r > 0 && EVP_MAC_CTX_set_params(hctx, params) != 1)
		r = -1;
	OPENSSL_cleanse(&k, sizeof k);
	return r;
}

/* ------------------------------------------------------- OCSP stapling */

static void
staple_free(struct staple *st)
{
	if (st != NULL)
		free(st->der);
	free(st);
}

/* The bytes of path, at most OCSP_MAX; NULL after a one-line message. */
#define OCSP_MAX (1 << 20)

static unsigned char *
read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t n = 0;

	if (fp == NULL || (buf = malloc(OCSP_MAX + 1)) == NULL ||
	    (n = fread(buf, 1, OCSP_MAX + 1, fp)) == 0 || n > OCSP_MAX ||
	    ferror(fp)) {
		hsvr_warnx("cannot read the OCSP response %s: %s", path,
		    fp == NULL || buf == NULL ? strerror(errno) : n == 0 ?
		    "empty file" : n > OCSP_MAX ? "too large" : "read error");
		free(buf);
		buf = NULL;
	}
	if (fp != NULL)
		(void)fclose(fp);       /* read only: nothing is lost */
	*len = n;
	return buf;
}

static time_t
asn1_time(const ASN1_GENERALIZEDTIME *t)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

/* The digest the response names certificates with (SHA-1 mostly). */
static const EVP_MD *
id_digest(OCSP_BASICRESP *basic)
{
	ASN1_OBJECT *md = NULL;
	OCSP_SINGLERESP *one = OCSP_resp_get0(basic, 0);

	if (one == NULL || OCSP_id_get0_info(NULL, &md, NULL, NULL,
	    (OCSP_CERTID *)OCSP_SINGLERESP_get0_id(one)) != 1 || md == NULL)
		return NULL;    /* OCSP_cert_to_id's default, SHA-1 */
	return EVP_get_digestbyobj(md);
}

/*
 * der (taken), an OCSP response named what, as the staple of c's
 * certificate: NULL after a one-line message unless it is a successful
 * response about that certificate, issued by the next certificate of its
 * chain.  A response that says "revoked", or that has expired, is said.
 */
static struct staple *
staple_make(SSL_CTX *c, const char *what, unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *basic = NULL;
	OCSP_CERTID *id = NULL;
	ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL;
	STACK_OF(X509) *chain = NULL;
	X509 *leaf = SSL_CTX_get0_certificate(c), *issuer = NULL;
	struct staple *st = NULL;
	const char *bad = NULL;
	int i, status = -1, reason;

	if ((resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len)) == NULL ||
	    p != der + len)
		bad = "not a DER OCSP response";
	else if (OCSP_response_status(resp) !=
	    OCSP_RESPONSE_STATUS_SUCCESSFUL ||
	    (basic = OCSP_response_get1_basic(resp)) == NULL)
		bad = "not a successful response";
	if (bad == NULL) {
		(void)SSL_CTX_get0_chain_certs(c, &chain);
		for (i = 0; issuer == NULL && i < sk_X509_num(chain); i++)
			if (X509_check_issued(sk_X509_value(chain, i), leaf) ==
			    X509_V_OK)
				issuer = sk_X509_value(chain, i);
		if (issuer == NULL)
			bad = "the certificate's issuer is not in its chain "
			    "file: the response cannot be checked";
	}
	if (bad == NULL && ((id = OCSP_cert_to_id(id_digest(basic), leaf,
	    issuer)) == NULL || OCSP_resp_find_status(basic, id, &status,
	    &reason, NULL, &thisupd, &nextupd) != 1))
		bad = "it is not about the certificate in use";
	if (bad == NULL && (st = calloc(1, sizeof *st)) == NULL)
		bad = strerror(errno);
	if (bad != NULL) {
		hsvr_warnx("OCSP response %s refused: %s", what, bad);
		free(der);
	} else {
		st->der = der;
		st->len = len;
		st->next_update = asn1_time(nextupd);
		if (status == V_OCSP_CERTSTATUS_REVOKED)
			hsvr_log(LOG_WARNING, "OCSP response %s: the "
			    "certificate is revoked", what);
		if (OCSP_check_validity(thisupd, nextupd, 300, -1) != 1)
			hsvr_log(LOG_WARNING, "OCSP response %s is out of "
			    "date: not stapled", what);
	}
	OCSP_CERTID_free(id);
	OCSP_BASICRESP_free(basic);
	OCSP_RESPONSE_free(resp);
	ERR_clear_error();
	return st;
}

/*
 * A client asked for the certificate's status: the staple while it is
 * valid (an expired one would make some browsers refuse the server).
 */
static int
staple_cb(SSL *s, void *arg)
{
	struct staple *st = arg;
	unsigned char *copy;

	if (st == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	if (st->next_update != 0 && time(NULL) > st->next_update) {
		if (!__atomic_exchange_n(&st->expired_said, 1,
		    __ATOMIC_RELAXED))
			hsvr_log(LOG_WARNING, "the stapled OCSP response has "
			    "expired: no longer stapled (renew it, then "
			    "SIGHUP)");
		return SSL_TLSEXT_ERR_NOACK;
	}
	if ((copy = OPENSSL_memdup(st->der, st->len)) == NULL ||
	    SSL_set_tlsext_status_ocsp_resp(s, copy, (long)st->len) != 1) {
		OPENSSL_free(copy);
		return SSL_TLSEXT_ERR_NOACK;
	}
	return SSL_TLSEXT_ERR_OK;
}

/*
 * c's staple from cfg's --tls-ocsp: 0, or -1 if it is refused.  On a
 * reload (old is the staple in use, if any) a refused file keeps the
 * staple in use if that one is about c's certificate, else nothing is
 * stapled.
 */
static int
staple_set(SSL_CTX *c, const struct hsvr_config *cfg, int reload,
    const struct staple *old, struct staple **out)
{
	unsigned char *der;
	size_t len;

	*out = NULL;
	if (cfg->tls_ocsp == NULL)
		return 0;
	if ((der = read_file(cfg->tls_ocsp, &len)) != NULL)
		*out = staple_make(c, cfg->tls_ocsp, der, len);
	if (*out == NULL && !reload)
		return -1;
	if (*out == NULL && old != NULL && (der = malloc(old->len)) != NULL) {
		memcpy(der, old->der, old->len);
		if ((*out = staple_make(c, "in use", der, old->len)) != NULL)
			hsvr_log(LOG_ERR, "keeping the OCSP response in use");
	}
	if (*out == NULL)
		hsvr_log(LOG_ERR, "no OCSP response is stapled");
	SSL_CTX_set_tlsext_status_cb(c, staple_cb);
	SSL_CTX_set_tlsext_status_arg(c, *out);
	return 0;
}

/*
 * A new context from cfg's files, or NULL after a one-line message; its
 * OCSP staple in *st (see staple_set for reload and old).
 */
static SSL_CTX *
make_ctx(const struct hsvr_config *cfg, int reload, const struct staple *old,
    struct staple **st)
{
	SSL_CTX *c;
	int min = cfg->tls_min13 ? TLS1_3_VERSION : TLS1_2_VERSION;

	*st = NULL;
	ERR_clear_error();
	if ((c = SSL_CTX_new(TLS_server_method())) == NULL) {
		hsvr_warnx("cannot create a TLS context: %s", ssl_error());
		return NULL;
	}
	SSL_CTX_set_min_proto_version(c, min);
	SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
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
	if (staple_set(c, cfg, reload, old, st) != 0)
		goto fail;
	if (set_ciphers(c, cfg) != 0 || set_groups(c, cfg->tls_groups) != 0)
		goto fail;
	SSL_CTX_set_timeout(c, TICKET_LIFETIME);
	if (cfg->tls_no_tickets)
		SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
	else {
		SSL_CTX_set_tlsext_ticket_key_evp_cb(c, ticket_key);
		/*
		 * One TLS 1.3 ticket after a full handshake, not OpenSSL's
		 * two: each costs the server about 190,000 instructions, a
		 * write and a packet, and the client 100,000 instructions
		 * (bench/PROFILE.md).  A resumption brings a new one (OpenSSL
		 * sends one after a resumption in any case).
		 */
		(void)SSL_CTX_set_num_tickets(c, 1);
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
	staple_free(*st);
	*st = NULL;
	SSL_CTX_free(c);
	return NULL;
}

/* Load the TLS material (as root, before the drop): 0 or -1. */
int
hsvr_tls_init(const struct hsvr_config *cfg)
{
	char why[256];
#ifdef HSVR_TEST_HOOKS
	const char *period = getenv("HSVR_TEST_TICKET_PERIOD_MS");

	if (period != NULL && atoi(period) > 0)
		ticket_period_ms = (uint64_t)atoi(period);
#endif

	if (cfg->tls_cert != NULL) {
		if (hsvr_ossl_load(why, sizeof why) != 0) {
			hsvr_warnx("%s", why);
			return -1;
		}
		if ((ctx = make_ctx(cfg, 0, NULL, &staple)) == NULL)
			return -1;
	} else if (cfg->chroot_dir != NULL || cfg->seccomp) {
		/*
		 * Confined, the serving process could not load OpenSSL for a
		 * first S_CONNECT_TLS: load it now.  Failing, that connect
		 * says why.
		 */
		(void)hsvr_ossl_load(why, sizeof why);
	}
	return hsvr_tls_client_init();  /* S_connect's, if configured */
}

/* SIGHUP: new material for new connections; a broken file keeps the old. */
void
hsvr_tls_reload(const struct hsvr_config *cfg)
{
	SSL_CTX *c;
	struct staple *st;

	if (ctx == NULL)
		return;
	if ((c = make_ctx(cfg, 1, staple, &st)) == NULL) {
		hsvr_log(LOG_ERR, "TLS reload failed: keeping the certificate "
		    "in use");
		return;
	}
	SSL_CTX_free(ctx);
	staple_free(staple);
	ctx = c;
	staple = st;
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
	if (ctx != NULL)        /* without TLS, OpenSSL may not be loaded */
		SSL_CTX_free(ctx);
	ctx = NULL;
	staple_free(staple);
	staple = NULL;
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
 * EAGAIN when the socket must become readable or writable (c->want).
 */
static ssize_t
result(struct hsvr_conn *c, int r)
{
	int err = SSL_get_error(c->ssl, r);

	if (r > 0)
		return r;
	switch (err) {
	case SSL_ERROR_WANT_READ:
		c->want = EV_READ;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		c->want = EV_WRITE;
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
 * A failed handshake, for the log: at most one line per 10 s from all
 * workers together, saying how many were not logged, so that a scan or
 * flood of garbage is visible without flooding the log.
 */
static void
log_failure(const struct hsvr_conn *c, const char *why)
{
	static struct hsvr_log_every every = { 10000, 0, 0 }; /* 10 s */
	uint64_t n;

	if ((n = hsvr_log_due(&every)) == 0)
		return;
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
	if (SSL_get_state(c->ssl) != TLS_ST_BEFORE)
		c->hs_heard = 1;
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
	log_failure(c, why != NULL ? why : r == 0 ?
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
 * The TLS state stays for TYP_TERM's S_tls_info; tls_free_state frees it.
 */
static void
tls_close(struct hsvr_conn *c)
{
	if (c->ssl != NULL && !c->tls_dirty && !c->failed && c->accepted &&
	    !c->shut_done)
		(void)SSL_shutdown(c->ssl);
	ERR_clear_error();
	hsvr_transport_tcp.close(c);
}

/*
 * S_shutdown: close_notify, then the socket's sending side (unless the
 * socket is about to be closed, which ends it).  A peer may go
 * on sending (TLS 1.3 allows it); a close_notify the socket had no room
 * for is not sent.
 */
static void
tls_shutdown(struct hsvr_conn *c, int closing)
{
	if (c->ssl != NULL && !c->tls_dirty && !c->failed)
		(void)SSL_shutdown(c->ssl);
	ERR_clear_error();
	if (!closing)
		(void)shutdown(c->fd, SHUT_WR);
}

/* A handshake ended without a session: counted, and logged unless it was. */
static void
tls_handshake_failed(struct hsvr_conn *c, enum hsvr_hs_end why)
{
	SHARED_ADD(tls_handshake_error, 1);
	if (why == HS_CROWDED)
		log_failure(c, "closed: too many handshakes at once "
		    "(--tls-max-handshakes)");
	else if (why == HS_TIMEOUT)
		log_failure(c, "timed out");
}

static void
tls_free_state(struct hsvr_conn *c)
{
	SSL_free(c->ssl);
	c->ssl = NULL;
}

const struct hsvr_transport hsvr_transport_tls = {
	.name = "tls",
	.setup = tls_setup,
	.read = tls_read,
	.write = tls_write,
	.flush = tls_flush,
	.close = tls_close,
	.handshake = tls_handshake,
	.handshake_failed = tls_handshake_failed,
	.free_state = tls_free_state,
	.shutdown = tls_shutdown,
	.holds_input = 1,
	.sendfile = 0,
	.lingers = 0,
};

/* An outbound session's client: set up and shaken hands by tls-client.c. */
const struct hsvr_transport hsvr_transport_tls_client = {
	.name = "tls-client",
	.setup = hsvr_tls_client_setup,
	.read = tls_read,
	.write = tls_write,
	.flush = tls_flush,
	.close = tls_close,
	.handshake = hsvr_tls_client_handshake,
	.handshake_failed = hsvr_tls_client_handshake_failed,
	.free_state = tls_free_state,
	.shutdown = tls_shutdown,
	.holds_input = 1,
	.sendfile = 0,
	.lingers = 0,
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
