/*
 * topt.h - the option handlers the test servers have (see struct
 * serv_option): one that sets a flag, one that keeps the argument, one
 * that takes a whole number; and that number's parsing, for the test
 * clients too.
 */
#ifndef HSVR_TEST_TOPT_H
#define HSVR_TEST_TOPT_H

#include <stdlib.h>

/* s, a whole number from min to max, into *v: 0, or -1 if it is not one. */
static inline int
topt_long(const char *s, long min, long max, long *v)
{
	char *end;

	*v = strtol(s, &end, 10);
	return *s == '\0' || *end != '\0' || *v < min || *v > max ? -1 : 0;
}

/* static int fn(const char *arg): var = 1 (an option without argument). */
#define TOPT_FLAG(fn, var) \
	static int fn(const char *arg) \
	{ \
		(void)arg; \
		(var) = 1; \
		return 0; \
	}

/* static int fn(const char *arg): var = arg (kept, not copied). */
#define TOPT_TEXT(fn, var) \
	static int fn(const char *arg) \
	{ \
		(var) = arg; \
		return 0; \
	}

/* static int fn(const char *arg): var = arg, a whole number from min to
 * max; -1 (refused) if it is not one. */
#define TOPT_INT(fn, var, min, max) \
	static int fn(const char *arg) \
	{ \
		long v_; \
\
		if (topt_long(arg, min, max, &v_) != 0) \
			return -1; \
		(var) = (int)v_; \
		return 0; \
	}

#endif /* HSVR_TEST_TOPT_H */
