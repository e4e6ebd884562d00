# bench/local.mk - the benchmark suite (make bench; not part of make check).
#
# The anchors hsvr is compared with, the echo and idle-TLS load generators
# and two small measuring helpers are built by every "make" (so they keep
# compiling);
# "make bench" runs bench/run.sh, which builds its own optimised copy of the
# tree in _build/bench, runs every workload and writes bench/RESULTS.md,
# bench/results.dat and bench/results.png (drawn from it by results.gp) in
# the source tree.  See bench/README.

noinst_PROGRAMS += \
	bench/echo-load \
	bench/echo-libevent \
	bench/http-libevent \
	bench/echo-epoll \
	bench/procstat \
	bench/startstop \
	bench/tls-idle

EXTRA_DIST += \
	bench/README \
	bench/run.sh \
	bench/profile.sh \
	bench/results.gp \
	bench/results.dat \
	bench/RESULTS.md \
	bench/PROFILE.md \
	bench/results.png

bench_echo_load_SOURCES = bench/echo-load.c bench/proctree.h
bench_echo_load_LDFLAGS = $(AM_LDFLAGS) $(PTHREAD_CFLAGS)

bench_echo_libevent_SOURCES = bench/echo-libevent.c
bench_echo_libevent_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
bench_echo_libevent_LDADD = $(LIBEVENT_LIBS)

# evhttp lives in libevent_extra, which configure does not look for: it
# comes with libevent_core in every libevent package (Debian: libevent-dev).
bench_http_libevent_SOURCES = bench/http-libevent.c
bench_http_libevent_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
bench_http_libevent_LDADD = -levent_extra $(LIBEVENT_LIBS)

bench_echo_epoll_SOURCES = bench/echo-epoll.c
bench_echo_epoll_LDFLAGS = $(AM_LDFLAGS) $(PTHREAD_CFLAGS)

bench_procstat_SOURCES = bench/procstat.c bench/proctree.h

bench_startstop_SOURCES = bench/startstop.c

bench_tls_idle_SOURCES = bench/tls-idle.c bench/proctree.h
bench_tls_idle_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
bench_tls_idle_LDADD = $(OPENSSL_LIBS)
bench_tls_idle_LDFLAGS = $(AM_LDFLAGS) $(PTHREAD_CFLAGS)

.PHONY: bench
bench: all
	$(SHELL) $(top_srcdir)/bench/run.sh
