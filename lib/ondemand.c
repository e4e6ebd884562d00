/*
 * ondemand.c - a library loaded when first needed: opened with dlopen(3)
 * by the file name configure found it linked as, and the functions of a
 * table looked up into their slots.  OpenSSL (ossl.c), libseccomp
 * (sandbox.c) and evdns (dial.c) are loaded this way by the shared
 * library.
 */
#include "hsvr-int.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/*
 * Open lib->file and fill slots, a table of lib->n function pointers in
 * the order of lib->names.  The handle is never closed (what the library
 * holds may live as long as the process: OpenSSL's atexit cleanup, the
 * workers' resolvers), and RTLD_LOCAL keeps its names out of the global
 * scope.  0; or -1 and one line in err: "WHO: cannot load WHAT (FILE):
 * why", or "WHO: FILE has no NAME: not the WHAT hsvr was built with" (a
 * foreign library of the same name first in the search path).
 */
int
hsvr_ondemand_open(const struct hsvr_ondemand *lib, void *slots, char *err,
    size_t size)
{
	void *h, *f;
	size_t i;

	if ((h = dlopen(lib->file, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		(void)snprintf(err, size, "%scannot load %s (%s): %s",
		    lib->who, lib->what, lib->file, dlerror());
		return -1;
	}
	for (i = 0; i < lib->n; i++) {
		if ((f = dlsym(h, lib->names[i])) == NULL) {
			(void)snprintf(err, size, "%s%s has no %s: not the %s "
			    "hsvr was built with", lib->who, lib->file,
			    lib->names[i], lib->what);
			return -1;
		}
		/* A function pointer from dlsym's object pointer, as POSIX
		   allows: the slots are pointers of that size. */
		memcpy((char *)slots + i * sizeof f, &f, sizeof f);
	}
	return 0;
}
