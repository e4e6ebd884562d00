# tests/wb/local.mk - white-box tests of lib/'s pure parts (make check):
# programs that call the library's internal functions directly, linked
# from the tests' build of the library (tests/libhsvr-test.la), without
# servers: QSBR grace periods, the statistics' sequence lock, option
# parsing, and S_start's refusals, the pidfile, notification and daemon
# start-up relay, and the PROXY protocol header parser.

WB_TESTS = \
	tests/wb/t-qsbr \
	tests/wb/t-seqlock \
	tests/wb/t-optparse \
	tests/wb/t-start \
	tests/wb/t-notify \
	tests/wb/t-pidfile \
	tests/wb/t-daemon \
	tests/wb/t-proxy

TESTS += $(WB_TESTS)
check_PROGRAMS += $(WB_TESTS)
EXTRA_DIST += tests/wb/wb.h

WB_CPP = $(AM_CPPFLAGS) -DHSVR_TEST_HOOKS
WB_CC = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
WB_LIBS = tests/libhsvr-test.la $(LIBEVENT_LIBS) $(OPENSSL_LIBS) $(LIBBSD_LIBS)
WB_LINK = $(AM_LDFLAGS) $(PTHREAD_CFLAGS)

tests_wb_t_qsbr_SOURCES = tests/wb/qsbr.c
tests_wb_t_qsbr_CPPFLAGS = $(WB_CPP)
tests_wb_t_qsbr_CFLAGS = $(WB_CC)
tests_wb_t_qsbr_LDADD = $(WB_LIBS)
# hsvr_free seen by the test: which sessions are freed, and when.
tests_wb_t_qsbr_LDFLAGS = $(WB_LINK) -Wl,--wrap=hsvr_free

tests_wb_t_seqlock_SOURCES = tests/wb/seqlock.c
tests_wb_t_seqlock_CPPFLAGS = $(WB_CPP)
tests_wb_t_seqlock_CFLAGS = $(WB_CC)
tests_wb_t_seqlock_LDADD = $(WB_LIBS)
tests_wb_t_seqlock_LDFLAGS = $(WB_LINK)

tests_wb_t_optparse_SOURCES = tests/wb/optparse.c
tests_wb_t_optparse_CPPFLAGS = $(WB_CPP)
tests_wb_t_optparse_CFLAGS = $(WB_CC)
tests_wb_t_optparse_LDADD = $(WB_LIBS)
tests_wb_t_optparse_LDFLAGS = $(WB_LINK)

tests_wb_t_start_SOURCES = tests/wb/start.c
tests_wb_t_start_CPPFLAGS = $(WB_CPP)
tests_wb_t_start_CFLAGS = $(WB_CC)
tests_wb_t_start_LDADD = $(WB_LIBS)
tests_wb_t_start_LDFLAGS = $(WB_LINK)

tests_wb_t_notify_SOURCES = tests/wb/notify.c
tests_wb_t_notify_CPPFLAGS = $(WB_CPP)
tests_wb_t_notify_CFLAGS = $(WB_CC)
tests_wb_t_notify_LDADD = $(WB_LIBS)
tests_wb_t_notify_LDFLAGS = $(WB_LINK)

tests_wb_t_pidfile_SOURCES = tests/wb/pidfile.c
tests_wb_t_pidfile_CPPFLAGS = $(WB_CPP)
tests_wb_t_pidfile_CFLAGS = $(WB_CC)
tests_wb_t_pidfile_LDADD = $(WB_LIBS)
tests_wb_t_pidfile_LDFLAGS = $(WB_LINK)

tests_wb_t_daemon_SOURCES = tests/wb/daemon.c
tests_wb_t_daemon_CPPFLAGS = $(WB_CPP)
tests_wb_t_daemon_CFLAGS = $(WB_CC)
tests_wb_t_daemon_LDADD = $(WB_LIBS)
tests_wb_t_daemon_LDFLAGS = $(WB_LINK)

tests_wb_t_proxy_SOURCES = tests/wb/proxy.c
tests_wb_t_proxy_CPPFLAGS = $(WB_CPP)
tests_wb_t_proxy_CFLAGS = $(WB_CC)
tests_wb_t_proxy_LDADD = $(WB_LIBS)
tests_wb_t_proxy_LDFLAGS = $(WB_LINK)
