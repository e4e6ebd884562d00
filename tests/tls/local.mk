# tests/tls/local.mk - the TLS tests (make check).
#
# Each test is a bash script (tests/tls/*.sh, sourcing tests/tls/lib.sh)
# that makes a throw-away PKI with the openssl command in a temporary
# directory, starts the test servers it needs on fresh ports of 127.0.0.1,
# drives them with t-tlsc and openssl s_client, prints "ok - ..." /
# "not ok - ..." lines into its .log and stops every server it started.
#
#   t-tsrv      TLS test server on the serv_* hooks and the library's main()
#   t-tsrv-low  the same on S_start(port, limit, multi, cb, 1, cert, key)
#   t-tsrv-hooks  t-tsrv on the tests' library (HSVR_TEST_HOOKS)
#   t-tlsc      OpenSSL client (sessions, bulk transfers with checksums,
#               raw bytes, close_notify checks), free ports, and a
#               pseudo-terminal harness that catches passphrase prompts

TLS_TESTS = \
	tests/tls/handshake.sh \
	tests/tls/material.sh \
	tests/tls/bulk.sh \
	tests/tls/close.sh \
	tests/tls/hostile.sh \
	tests/tls/clientcert.sh \
	tests/tls/reload.sh \
	tests/tls/flood.sh \
	tests/tls/defaults.sh \
	tests/tls/connect.sh \
	tests/tls/lazy.sh

TESTS += $(TLS_TESTS)
check_PROGRAMS += tests/tls/t-tsrv tests/tls/t-tsrv-low tests/tls/t-tlsc \
	tests/tls/t-tsrv-hooks
# scan.sh: testssl.sh against hsvr and nginx, for make stress only
# (tests/reliab/stress.sh).
EXTRA_DIST += tests/tls/lib.sh $(TLS_TESTS) tests/tls/scan.sh

tests_tls_t_tsrv_SOURCES = tests/tls/tsrv.c tests/tline.c tests/tline.h tests/topt.h tests/tbuf.h tests/tls/tpattern.h
tests_tls_t_tsrv_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tests_tls_t_tsrv_LDADD = libhsvr.la $(OPENSSL_LIBS)

tests_tls_t_tsrv_low_SOURCES = tests/tls/tsrv.c tests/tline.c tests/tline.h tests/topt.h tests/tbuf.h tests/tls/tpattern.h
tests_tls_t_tsrv_low_CPPFLAGS = $(AM_CPPFLAGS) -DTSRV_LOWLEVEL
tests_tls_t_tsrv_low_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tests_tls_t_tsrv_low_LDADD = libhsvr.la $(OPENSSL_LIBS)

tests_tls_t_tsrv_hooks_SOURCES = tests/tls/tsrv.c tests/tline.c tests/tline.h tests/topt.h tests/tbuf.h tests/tls/tpattern.h
tests_tls_t_tsrv_hooks_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tests_tls_t_tsrv_hooks_LDADD = $(TEST_HOOKS_LDADD)
tests_tls_t_tsrv_hooks_LDFLAGS = $(AM_LDFLAGS) $(PTHREAD_CFLAGS)

tests_tls_t_tlsc_SOURCES = tests/tls/tlsc.c tests/tls/tpattern.h tests/topt.h $(TEST_CLIENT) \
	tests/thello.c tests/thello.h
tests_tls_t_tlsc_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tests_tls_t_tlsc_LDADD = $(OPENSSL_LIBS)
