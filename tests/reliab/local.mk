# tests/reliab/local.mk - the fault and abuse suite (issue #7).
#
# make check runs the fast version of every scenario (tests/reliab/*.sh,
# sourcing tests/reliab/lib.sh): seconds each, counts scaled down in the
# sanitizer builds.  make stress runs the long versions and writes
# tests/RELIABILITY.md (tests/reliab/stress.sh).
#
#   t-rsrv   the test server: serv_* hooks, a line protocol for good and
#            hostile clients, its own count of every session's TYP_TERM
#   t-rload  the clients: floods of slow, silent and non-reading
#            connections, resets, half-closes, aborted TLS handshakes, the
#            descriptor flood, cross-session churn, a checking mix, and a
#            watcher of the server's /proc

RELIAB_TESTS = \
	tests/reliab/vanish.sh \
	tests/reliab/fdexhaust.sh \
	tests/reliab/slow.sh \
	tests/reliab/slowread.sh \
	tests/reliab/leaks.sh \
	tests/reliab/churn.sh \
	tests/reliab/oom.sh

TESTS += $(RELIAB_TESTS)
check_PROGRAMS += tests/reliab/t-rsrv tests/reliab/t-rload
# fuzz.sh: the long libFuzzer run, for make stress only (make check runs
# tests/fuzz/fuzz.sh).
EXTRA_DIST += tests/reliab/lib.sh tests/reliab/stress.sh tests/reliab/README \
	$(RELIAB_TESTS) tests/reliab/fuzz.sh \
	tests/reliab/hashflood.sh

tests_reliab_t_rsrv_SOURCES = tests/reliab/rsrv.c tests/tline.c tests/tline.h tests/topt.h tests/tbuf.h tests/reliab/rpattern.h tests/pattern.h
tests_reliab_t_rsrv_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_reliab_t_rsrv_LDADD = $(TEST_HOOKS_LDADD)
tests_reliab_t_rsrv_LDFLAGS = $(AM_LDFLAGS) $(PTHREAD_CFLAGS)

tests_reliab_t_rload_SOURCES = tests/reliab/rload.c tests/reliab/rpattern.h $(TEST_CLIENT) \
	tests/thello.c tests/thello.h
tests_reliab_t_rload_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests
tests_reliab_t_rload_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tests_reliab_t_rload_LDADD = $(OPENSSL_LIBS)
tests_reliab_t_rload_LDFLAGS = $(AM_LDFLAGS) $(PTHREAD_CFLAGS)

# The long versions, one after the other; tests/RELIABILITY.md goes to the
# source tree when it is writable (not in distcheck), else to the build
# directory.
stress: $(check_PROGRAMS) $(check_SCRIPTS) libhsvr.la
	HSVR_TEST_SCALE='$(HSVR_TEST_SCALE)' \
	RELIAB_BUILDDIR='$(abs_top_builddir)' \
	RELIAB_SRCDIR='$(abs_top_srcdir)' \
	$(SHELL) $(abs_top_srcdir)/tests/reliab/stress.sh

CLEANFILES += tests/reliab/stress-*.log tests/reliab/stress-figures.txt \
	tests/reliab/stress-tls-scan.md

.PHONY: stress
