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
#include <dlfcn.h>
#include <pthread.h>

struct hsvr_ossl hsvr_ossl;

static pthread_once_t ossl_once = PTHREAD_ONCE_INIT;
static int ossl_loaded;
static char ossl_error[256];    /* why not, when not */

/*
 * The handle is never closed: libcrypto keeps state for the life of the
 * process (its atexit cleanup, thread-local error queues).  RTLD_LOCAL:
 * the library's names do not join the global scope; a program that links
 * OpenSSL itself gets the same copy, already loaded.
 */
static void
ossl_load_once(void)
{
	struct hsvr_ossl t;
	const char *missing;
	void *h, *f;

	if ((h = dlopen(HSVR_LIBSSL, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		(void)snprintf(ossl_error, sizeof ossl_error,
		    "TLS: cannot load OpenSSL (%s): %s", HSVR_LIBSSL,
		    dlerror());
		return;
	}
	/* A function pointer from dlsym's object pointer, as POSIX allows. */
#define HSVR_OSSL_FIND(name) \
	if ((f = dlsym(h, #name)) == NULL) { \
		missing = #name; \
		goto fail; \
	} \
	memcpy(&t.name, &f, sizeof f);
	HSVR_OSSL_FUNCTIONS(HSVR_OSSL_FIND)
#undef HSVR_OSSL_FIND
	hsvr_ossl = t;
	ossl_loaded = 1;
	return;
fail:
	(void)snprintf(ossl_error, sizeof ossl_error,
	    "TLS: %s has no %s: not the OpenSSL 3 hsvr was built with",
	    HSVR_LIBSSL, missing);
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
