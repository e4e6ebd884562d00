/*
 * thello.c - a real TLS ClientHello from a client SSL on memory BIOs
 * (see thello.h).
 */
#include "thello.h"

#include <openssl/err.h>

size_t
thello(SSL_CTX *ctx, unsigned char *buf, size_t cap)
{
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	SSL *ssl = ctx != NULL ? SSL_new(ctx) : NULL;
	int n = 0;

	if (ssl == NULL || rb == NULL || wb == NULL) {
		BIO_free(rb);
		BIO_free(wb);
		SSL_free(ssl);
		ERR_clear_error();
		return 0;
	}
	SSL_set_bio(ssl, rb, wb);
	SSL_set_connect_state(ssl);
	(void)SSL_do_handshake(ssl);
	n = BIO_read(wb, buf, cap > 0x7fffffff ? 0x7fffffff : (int)cap);
	SSL_free(ssl);
	ERR_clear_error();
	return n > 0 ? (size_t)n : 0;
}
