/*
 * fdlimit.c - the descriptor limit: RLIMIT_NOFILE raised toward what -m
 * connections need, with a warning when the hard limit stops short.
 */
#include "hsvr-int.h"

#include <sys/resource.h>

/* Descriptors a server needs beyond its connections: a listening one per
 * worker per address (up to 8), wake-ups. */
#define FD_OVERHEAD(cfg) (32 + 12 * (cfg)->threads)

void
hsvr_fdlimit_raise(const struct hsvr_config *cfg)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)cfg->max_conn + (rlim_t)FD_OVERHEAD(cfg);

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ?
	    need : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < need)
		hsvr_warnx("warning: the descriptor limit %llu is below what "
		    "%d connections need (%llu); connections past it will be "
		    "refused", (unsigned long long)rl.rlim_cur, cfg->max_conn,
		    (unsigned long long)need);
}
