/*
 * clock.c - the library's clocks: milliseconds of CLOCK_MONOTONIC_COARSE,
 * for idle timeouts, lingering closes, pauses and restart windows, and
 * microseconds of CLOCK_MONOTONIC, for the workers' loop lag.
 */
#include "hsvr-int.h"

#include <time.h>

uint64_t
hsvr_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
hsvr_clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}
