/*
 * alloc.c - the library's allocator, shared with libevent: malloc that
 * counts failures, and the failure injection of the fault tests
 * (HSVR_FAULT_ALLOC=N fails every Nth allocation once the server serves;
 * compiled into the tests' build of the library only, HSVR_TEST_HOOKS).
 */
#include "hsvr-int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

static unsigned long fail_every;    /* HSVR_FAULT_ALLOC; 0 = never */
static int armed;                   /* atomic: injecting now */
static unsigned long attempts;      /* atomic: allocations while armed */

/* An allocation to fail on purpose?  Counted like a real failure. */
static int
injected(void)
{
	if (!__atomic_load_n(&armed, __ATOMIC_RELAXED) ||
	    __atomic_add_fetch(&attempts, 1, __ATOMIC_RELAXED) % fail_every != 0)
		return 0;
	errno = ENOMEM;
	return 1;
}

static void *
counted(void *p)
{
	if (p == NULL)
		SHARED_ADD(alloc_error, 1);
	return p;
}

void *
hsvr_malloc(size_t n)
{
	return counted(injected() ? NULL : malloc(n));
}

void *
hsvr_calloc(size_t n, size_t size)
{
	return counted(injected() ? NULL : calloc(n, size));
}

void *
hsvr_realloc(void *p, size_t n)
{
	return counted(injected() ? NULL : realloc(p, n));
}

void
hsvr_free(void *p)
{
	free(p);
}

/*
 * Read HSVR_FAULT_ALLOC; with it, libevent allocates through us too, so
 * its buffers and timer heap fail as well.  Before any other libevent call.
 * An installed library never reads it: a variable in a server's
 * environment must not be able to make it fail.
 */
void
hsvr_alloc_init(void)
{
#ifdef HSVR_TEST_HOOKS
	const char *s = getenv("HSVR_FAULT_ALLOC");
	char *end;
	unsigned long n;

	if (s == NULL || *s == '\0')
		return;
	errno = 0;
	n = strtoul(s, &end, 10);
	if (*end != '\0' || errno != 0 || n == 0 || n > LONG_MAX) {
		hsvr_warnx("ignoring HSVR_FAULT_ALLOC='%s': not a count >= 1", s);
		return;
	}
	fail_every = n;
	event_set_mem_functions(hsvr_malloc, hsvr_realloc, hsvr_free);
	hsvr_warnx("HSVR_FAULT_ALLOC: every %lu allocations one fails "
	    "while serving (testing only)", n);
#endif
}

/* Start (on) or stop injecting failures. */
void
hsvr_alloc_arm(int on)
{
	__atomic_store_n(&armed, on != 0 && fail_every > 0, __ATOMIC_RELAXED);
}
