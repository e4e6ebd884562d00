/*
 * ondemand.c - a library loaded when first needed: opened with dlopen(3)
 * by the file name configure found it linked as, and the functions of a
 * table looked up into their slots, once, whichever thread asks first.
 * OpenSSL (ossl.c), libseccomp (sandbox.c) and evdns (dial.c) are loaded
 * this way by the shared library.
 */
#include "hsvr-int.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/*
 * Open lib->file and fill its slots.  The handle is never closed (what
 * the library holds may live as long as the process: OpenSSL's atexit
 * cleanup, the workers' resolvers), and RTLD_LOCAL keeps its names out
 * of the global scope.  1; or -1 and one line in lib->error: "WHO: cannot
 * load WHAT (FILE): why", or "WHO: FILE has no NAME: not the WHAT hsvr
 * was built with" (a foreign library of the same name first in the
 * search path).
 */
static int
ondemand_open(struct hsvr_ondemand *lib)
{
	void *h, *f;
	size_t i;

	if ((h = dlopen(lib->file, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		(void)snprintf(lib->error, sizeof lib->error,
		    "%scannot load %s (%s): %s", lib->who, lib->what,
		    lib->file, dlerror());
		return -1;
	}
	for (i = 0; i < lib->n; i++) {
		if ((f = dlsym(h, lib->names[i])) == NULL) {
			(void)snprintf(lib->error, sizeof lib->error,
			    "%s%s has no %s: not the %s hsvr was built with",
			    lib->who, lib->file, lib->names[i], lib->what);
			return -1;
		}
		/* A function pointer from dlsym's object pointer, as POSIX
		   allows: the slots are pointers of that size. */
		memcpy((char *)lib->slots + i * sizeof f, &f, sizeof f);
	}
	return 1;
}

/*
 * The library's functions are in their slots: 0, loaded now or before;
 * or -1 and why in buf (when size > 0), the same line to every caller, as
 * the load is tried once.  The state is published with release order
 * after the slots are filled, so a caller that reads 1 sees them.
 */
int
hsvr_ondemand_load(struct hsvr_ondemand *lib, char *buf, size_t size)
{
	int state;

	if ((state = __atomic_load_n(&lib->state, __ATOMIC_ACQUIRE)) == 0) {
		(void)pthread_mutex_lock(&lib->lock);
		if ((state = lib->state) == 0) {
			state = ondemand_open(lib);
			__atomic_store_n(&lib->state, state, __ATOMIC_RELEASE);
		}
		(void)pthread_mutex_unlock(&lib->lock);
	}
	if (state > 0)
		return 0;
	if (size > 0)
		(void)snprintf(buf, size, "%s", lib->error);
	return -1;
}
