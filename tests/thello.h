/*
 * thello.h - a real TLS ClientHello, for the test clients that start a
 * handshake and abandon it or send it where it does not belong.
 */
#ifndef HSVR_TEST_THELLO_H
#define HSVR_TEST_THELLO_H

#include <stddef.h>

#include <openssl/ssl.h>

/* The first flight of a client SSL of ctx, made on memory BIOs, into buf
 * (at most cap bytes): its length, 0 if none could be made. */
size_t thello(SSL_CTX *ctx, unsigned char *buf, size_t cap);

#endif /* HSVR_TEST_THELLO_H */
