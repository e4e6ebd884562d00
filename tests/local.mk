# tests/local.mk - the test suite (make check).
#
# Test programs (tests/t-*) are clients: each starts the test servers it
# needs as child processes, talks to them over 127.0.0.1, ::1 or a UNIX
# socket, and prints "ok N - ..." / "not ok N - ..." lines into its .log.
# The test servers run the library: t-srv-lowlevel through S_start and a
# CALLBACK_T, t-srv-ioc through the serv_* hooks and the library's main().
# tests/link.sh links a server against the shared and the static library.

# The test programs that are tests themselves (t-perip runs in
# tests/perip.sh).
MAIN_TEST_PROGS = \
	tests/t-events \
	tests/t-congest \
	tests/t-close \
	tests/t-timeout \
	tests/t-limit \
	tests/t-search \
	tests/t-tables \
	tests/t-cross \
	tests/t-stats \
	tests/t-options \
	tests/t-reuseport \
	tests/t-pause \
	tests/t-zerocopy \
	tests/t-stream \
	tests/t-closerace \
	tests/t-nodelay \
	tests/t-discard \
	tests/t-lateref \
	tests/t-burst \
	tests/t-balance \
	tests/t-firstread \
	tests/t-defer \
	tests/t-linger

TESTS += tests/optmem.sh $(MAIN_TEST_PROGS) tests/perip.sh \
	tests/http-body.sh tests/http-linger.sh tests/link.sh tests/layers.sh

check_PROGRAMS += $(MAIN_TEST_PROGS) \
	tests/t-perip \
	tests/t-probe \
	tests/t-srv-lowlevel \
	tests/t-srv-ioc \
	tests/t-srv-ioc-hooks \
	tests/t-srv-ioc-notimeout \
	tests/t-srv-ioc-min \
	tests/t-srv-linger

EXTRA_DIST += tests/lib.sh tests/tap.sh
EXTRA_DIST += tests/optmem.sh tests/link.sh tests/README tests/http-body.sh tests/http-lib.sh \
	tests/http-linger.sh \
	tests/perip.sh
# tests/layers.sh: no circle and no upward call between the files of lib/
EXTRA_DIST += tests/layers.sh

TEST_EXTENSIONS = .sh
SH_LOG_COMPILER = $(SHELL)

# Sanitized and coverage (-O0, counted) builds run some times slower.
if SANITIZED
HSVR_TEST_SCALE = 4
else
if COVERAGE
HSVR_TEST_SCALE = 4
else
HSVR_TEST_SCALE = 1
endif
endif

# What the tests need to find the programs and to link (tests/link.sh).
AM_TESTS_ENVIRONMENT = \
	HSVR_TEST_BINDIR='$(abs_top_builddir)/tests'; \
	HSVR_TEST_SCALE='$(HSVR_TEST_SCALE)'; \
	top_builddir='$(abs_top_builddir)'; \
	top_srcdir='$(abs_top_srcdir)'; \
	LIBTOOL='$(SHELL) $(abs_top_builddir)/libtool'; \
	CC='$(CC)'; \
	PKG_CONFIG='$(PKG_CONFIG)'; \
	PTHREAD_CFLAGS='$(PTHREAD_CFLAGS)'; \
	SAN_CFLAGS='$(SAN_CFLAGS)'; \
	SAN_LDFLAGS='$(SAN_LDFLAGS)'; \
	EXEEXT='$(EXEEXT)'; \
	export HSVR_TEST_BINDIR HSVR_TEST_SCALE top_builddir top_srcdir \
	    LIBTOOL CC PKG_CONFIG PTHREAD_CFLAGS SAN_CFLAGS SAN_LDFLAGS EXEEXT;

# What a program on the tests' build of the library (test hooks, static) links.
TEST_HOOKS_LDADD = tests/libhsvr-test.la $(LIBEVENT_LIBS) $(OPENSSL_LIBS) $(LIBBSD_LIBS)
TEST_CLIENT = tests/client.c tests/client.h tests/pattern.h tests/freeport.h
TEST_SERVER = tests/tserver.c tests/tserver.h tests/pattern.h tests/tzc.c tests/tzc.h \
	tests/tline.c tests/tline.h tests/topt.h tests/tbuf.h

tests_t_events_SOURCES = tests/events.c $(TEST_CLIENT)
tests_t_zerocopy_SOURCES = tests/zerocopy.c $(TEST_CLIENT)
tests_t_stream_SOURCES = tests/stream.c $(TEST_CLIENT)
tests_t_stream_LDFLAGS = $(AM_LDFLAGS) $(PTHREAD_CFLAGS)
tests_t_closerace_SOURCES = tests/closerace.c $(TEST_CLIENT)
tests_t_nodelay_SOURCES = tests/nodelay.c $(TEST_CLIENT)
tests_t_discard_SOURCES = tests/discard.c $(TEST_CLIENT)
tests_t_lateref_SOURCES = tests/lateref.c $(TEST_CLIENT)
tests_t_burst_SOURCES = tests/burst.c $(TEST_CLIENT)
tests_t_congest_SOURCES = tests/congest.c $(TEST_CLIENT)
tests_t_close_SOURCES = tests/close.c $(TEST_CLIENT)
tests_t_linger_SOURCES = tests/linger.c $(TEST_CLIENT)
# The tests' library: HSVR_TEST_LINGER_MS holds a lingering close.
tests_t_srv_linger_SOURCES = tests/srv-linger.c tests/pattern.h
tests_t_srv_linger_LDADD = $(TEST_HOOKS_LDADD)
tests_t_timeout_SOURCES = tests/timeout.c $(TEST_CLIENT)
tests_t_limit_SOURCES = tests/limit.c $(TEST_CLIENT)
tests_t_search_SOURCES = tests/search.c $(TEST_CLIENT)
# White-box: the tables' own functions, from the tests' build of the library.
tests_t_tables_SOURCES = tests/tables.c $(TEST_CLIENT)
tests_t_tables_CPPFLAGS = $(AM_CPPFLAGS) -DHSVR_TEST_HOOKS
tests_t_tables_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
tests_t_tables_LDADD = $(TEST_HOOKS_LDADD)
tests_t_tables_LDFLAGS = $(AM_LDFLAGS) $(PTHREAD_CFLAGS)
tests_t_perip_SOURCES = tests/perip.c $(TEST_CLIENT)
tests_t_cross_SOURCES = tests/cross.c $(TEST_CLIENT)
tests_t_cross_LDFLAGS = $(AM_LDFLAGS) $(PTHREAD_CFLAGS)
tests_t_stats_SOURCES = tests/stats.c $(TEST_CLIENT)
tests_t_options_SOURCES = tests/options.c $(TEST_CLIENT)
tests_t_reuseport_SOURCES = tests/reuseport.c $(TEST_CLIENT)
tests_t_balance_SOURCES = tests/balance.c $(TEST_CLIENT)
tests_t_firstread_SOURCES = tests/firstread.c $(TEST_CLIENT)
tests_t_defer_SOURCES = tests/defer.c $(TEST_CLIENT)
tests_t_pause_SOURCES = tests/pause.c $(TEST_CLIENT)
tests_t_probe_SOURCES = tests/probe.c $(TEST_CLIENT)

tests_t_srv_lowlevel_SOURCES = tests/srv-lowlevel.c $(TEST_SERVER)
tests_t_srv_lowlevel_LDADD = libhsvr.la
tests_t_srv_ioc_SOURCES = tests/srv-ioc.c $(TEST_SERVER)
tests_t_srv_ioc_LDADD = libhsvr.la
# The same on the tests' build of the library (test hooks, static).
tests_t_srv_ioc_hooks_SOURCES = tests/srv-ioc.c $(TEST_SERVER)
tests_t_srv_ioc_hooks_LDADD = $(TEST_HOOKS_LDADD)
tests_t_srv_ioc_hooks_LDFLAGS = $(AM_LDFLAGS) $(PTHREAD_CFLAGS)
tests_t_srv_ioc_notimeout_SOURCES = tests/srv-ioc.c $(TEST_SERVER)
tests_t_srv_ioc_notimeout_CPPFLAGS = $(AM_CPPFLAGS) -DTS_NO_TIMEOUT_HOOK
tests_t_srv_ioc_notimeout_LDADD = libhsvr.la
tests_t_srv_ioc_min_SOURCES = tests/srv-ioc-min.c
tests_t_srv_ioc_min_LDADD = libhsvr.la

# --proxy-protocol: a hand-made client (t-proxy), and haproxy in front of
# the test server (proxy.sh: skipped without haproxy).
MAIN_TEST_PROGS += tests/t-proxy
tests_t_proxy_SOURCES = tests/proxy.c $(TEST_CLIENT)
TESTS += tests/proxy.sh
EXTRA_DIST += tests/proxy.sh

# --metrics: the Prometheus endpoint (metrics.sh: curl and promtool
# against t-srv-metrics, whose serv_init also checks hsvr_metric_*'s
# registration rules).
check_PROGRAMS += tests/t-srv-metrics
tests_t_srv_metrics_SOURCES = tests/srv-metrics.c
tests_t_srv_metrics_LDADD = libhsvr.la
TESTS += tests/metrics.sh
EXTRA_DIST += tests/metrics.sh

# The worker's loop for the application: S_timer_*, S_worker_base and
# S_worker_atexit (t-timer against t-srv-timer, which includes libevent's
# header itself, as an application watching its own descriptor does).
MAIN_TEST_PROGS += tests/t-timer
tests_t_timer_SOURCES = tests/timer.c $(TEST_CLIENT)
check_PROGRAMS += tests/t-srv-timer
tests_t_srv_timer_SOURCES = tests/srv-timer.c
tests_t_srv_timer_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
tests_t_srv_timer_LDADD = libhsvr.la $(LIBEVENT_LIBS)
tests_t_srv_timer_LDFLAGS = $(AM_LDFLAGS) $(PTHREAD_CFLAGS)

# Outbound sessions: S_connect, S_connect_error, serv_set_connect_* (t-connect
# against t-srv-connect; tests/tls/connect.sh for TLS).
MAIN_TEST_PROGS += tests/t-connect
tests_t_connect_SOURCES = tests/connect.c $(TEST_CLIENT)
tests_t_connect_LDFLAGS = $(AM_LDFLAGS) $(PTHREAD_CFLAGS)
check_PROGRAMS += tests/t-srv-connect
tests_t_srv_connect_SOURCES = tests/srv-connect.c tests/tline.c tests/tline.h
tests_t_srv_connect_LDADD = libhsvr.la
tests_t_srv_connect_LDFLAGS = $(AM_LDFLAGS) $(PTHREAD_CFLAGS)

# hsvr-proxy (examples/proxy.c): tests/hproxy.sh, with t-hproxy-peer as
# its backends and clients (also used by bench/run.sh's proxy rows).
check_PROGRAMS += tests/t-hproxy-peer
tests_t_hproxy_peer_SOURCES = tests/hproxy-peer.c tests/pattern.h
tests_t_hproxy_peer_LDFLAGS = $(AM_LDFLAGS) $(PTHREAD_CFLAGS)
TESTS += tests/hproxy.sh
EXTRA_DIST += tests/hproxy.sh

# One callback's sends leave together, a lone reply at once (session.c's
# staging): counted segments and unsent bytes, t-srv-cork serving.
MAIN_TEST_PROGS += tests/t-cork
check_PROGRAMS += tests/t-srv-cork
tests_t_cork_SOURCES = tests/cork.c $(TEST_CLIENT)
tests_t_srv_cork_SOURCES = tests/srv-cork.c
tests_t_srv_cork_LDADD = libhsvr.la
