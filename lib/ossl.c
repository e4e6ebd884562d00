/*
 * ossl.c - OpenSSL on demand: libssl opened with dlopen(3), by the file
 * name configure found it linked as (HSVR_LIBSSL), and every function of
 * ossl.h looked up, once, the first time TLS is needed.  Configured with
 * --disable-lazy-openssl the library is linked with OpenSSL and there is
 * nothing to load.
 */
#include "hsvr-int.h"

#include <stdio.h>
#include <string.h>

#define HSVR_OSSL_TABLE 1       /* the slots by their own names */
#include "ossl.h"

#ifdef HSVR_OSSL_DLOPEN
#include <pthread.h>

struct hsvr_ossl hsvr_ossl;

static pthread_once_t ossl_once = PTHREAD_ONCE_INIT;
static int ossl_loaded;
static char ossl_error[256];    /* why not, when not */

#define HSVR_OSSL_NAME(name) #name,
static const char *const ossl_names[] = {
	HSVR_OSSL_FUNCTIONS(HSVR_OSSL_NAME)
};
#undef HSVR_OSSL_NAME
_Static_assert(sizeof hsvr_ossl == sizeof ossl_names / sizeof ossl_names[0] *
    sizeof(void *), "struct hsvr_ossl: one function pointer a name");

/* A program that links OpenSSL itself gets the same copy, already loaded. */
static const struct hsvr_ondemand ossl_lib = {
	HSVR_LIBSSL, "OpenSSL", "TLS: ", ossl_names,
	sizeof ossl_names / sizeof ossl_names[0],
};

static void
ossl_load_once(void)
{
	ossl_loaded = hsvr_ondemand_open(&ossl_lib, &hsvr_ossl, ossl_error,
	    sizeof ossl_error) == 0;
}

int
hsvr_ossl_load(char *buf, size_t size)
{
	(void)pthread_once(&ossl_once, ossl_load_once);
	if (ossl_loaded)
		return 0;
	(void)snprintf(buf, size, "%s", ossl_error);
	return -1;
}

#else /* OpenSSL linked in: the static library, or not lazy */

int
hsvr_ossl_load(char *buf, size_t size)
{
	(void)buf, (void)size;
	return 0;
}

#endif
