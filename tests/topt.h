/*
 * topt.h - the two option handlers every test server has (see struct
 * serv_option): one that sets a flag, one that keeps the argument.
 */
#ifndef HSVR_TEST_TOPT_H
#define HSVR_TEST_TOPT_H

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

#endif /* HSVR_TEST_TOPT_H */
