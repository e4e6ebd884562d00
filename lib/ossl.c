/*
 * ossl.c - OpenSSL on demand: libssl opened with dlopen(3), by the file
 * name configure found it linked as (HSVR_LIBSSL), and every function of
 * ossl.h looked up, once, the first time TLS is needed.  Configured with
 * --disable-lazy-openssl the library is linked with OpenSSL and there is
 * nothing to load.
 */
#include "hsvr-int.h"

#define HSVR_OSSL_TABLE 1       /* the slots by their own names */
#include "ossl.h"

#ifdef HSVR_OSSL_DLOPEN
struct hsvr_ossl hsvr_ossl;

#define HSVR_OSSL_NAME(name) #name,
static const char *const ossl_names[] = {
	HSVR_OSSL_FUNCTIONS(HSVR_OSSL_NAME)
};
#undef HSVR_OSSL_NAME

/* A program that links OpenSSL itself gets the same copy, already loaded. */
HSVR_ONDEMAND(ossl_lib, HSVR_LIBSSL, "OpenSSL", "TLS: ", ossl_names,
    hsvr_ossl);

int
hsvr_ossl_load(char *buf, size_t size)
{
	return hsvr_ondemand_load(&ossl_lib, buf, size);
}

#else /* OpenSSL linked in: the static library, or not lazy */

int
hsvr_ossl_load(char *buf, size_t size)
{
	(void)buf, (void)size;
	return 0;
}

#endif
