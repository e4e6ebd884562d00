/*
 * dpattern.h - the byte stream of t-dsrv's "big" command, a function of
 * the offset alone, so that t-dclient checks every byte it receives.
 */
#ifndef HSVR_DTEST_PATTERN_H
#define HSVR_DTEST_PATTERN_H

static inline unsigned char
dsrv_pattern(unsigned long long off)
{
	return (unsigned char)(off * 7 + (off >> 9) * 13 + (off >> 17) * 29 +
	    (off >> 25) * 31);
}

#endif /* HSVR_DTEST_PATTERN_H */
