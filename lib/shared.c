/*
 * shared.c - the counters every thread of a serving process adds to: the
 * statistics of rare events (SHARED_ADD) and the descriptors open for -m.
 */
#include "hsvr-int.h"

#include <string.h>

struct hsvr_shared hsvr_shared;

/* A new server in this process: from 0 (no thread runs yet). */
void
hsvr_shared_reset(void)
{
	memset(&hsvr_shared, 0, sizeof hsvr_shared);
}
