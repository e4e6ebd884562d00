# tests/daemon/local.mk - the daemon tests (make check): a server that is a
# well-behaved daemon, tested for real as root in private mount and pid
# namespaces with a syslog daemon of their own (see tests/daemon/lib.sh).
# Each test exits 77 (skipped) when not run as root, and only then.
#
#   t-dsrv     the test server (serv_* hooks tracing when and as whom they
#              run; a line protocol to query, load, hold or crash it)
#   t-dclient  the client side: free ports, connect and wait, commands,
#              checked bulk transfers, HTTP, an sd_notify socket
#   t-dinit    init of a test's pid namespace: reaps and records daemons
#   t-dsrv2    t-dsrv built again answering "version=2" (upgrade.sh)
#   t-dsrv3    t-dsrv built again whose serving process fails to start

DAEMON_TESTS = \
	tests/daemon/startup.sh \
	tests/daemon/privdrop.sh \
	tests/daemon/sandbox.sh \
	tests/daemon/pidfile.sh \
	tests/daemon/unixsock.sh \
	tests/daemon/startfds.sh \
	tests/daemon/syslog.sh \
	tests/daemon/drain.sh \
	tests/daemon/reload.sh \
	tests/daemon/reloadloss.sh \
	tests/daemon/upgrade.sh \
	tests/daemon/signals.sh \
	tests/daemon/crash.sh \
	tests/daemon/orphan.sh \
	tests/daemon/notify.sh \
	tests/daemon/initscript.sh \
	tests/daemon/service.sh

TESTS += $(DAEMON_TESTS)
# Both run examples/hsvr-http as root with its default pidfile,
# /run/hsvr-http.pid; in a chroot /run cannot be made private to a test,
# so they must not run at the same time (service.sh checks that its
# systemd unit leaves no pidfile).
tests/daemon/service.log: tests/daemon/initscript.log
check_PROGRAMS += tests/daemon/t-dsrv tests/daemon/t-dclient tests/daemon/t-dinit \
	tests/daemon/t-dsrv2 tests/daemon/t-dsrv3
EXTRA_DIST += tests/daemon/lib.sh $(DAEMON_TESTS)

tests_daemon_t_dsrv_SOURCES = tests/daemon/dsrv.c tests/tline.c tests/tline.h tests/topt.h tests/pattern.h
tests_daemon_t_dsrv_LDADD = libhsvr.la
tests_daemon_t_dsrv2_SOURCES = $(tests_daemon_t_dsrv_SOURCES)
tests_daemon_t_dsrv2_CPPFLAGS = $(AM_CPPFLAGS) -DDSRV_VARIANT=2
tests_daemon_t_dsrv2_LDADD = libhsvr.la
tests_daemon_t_dsrv3_SOURCES = $(tests_daemon_t_dsrv_SOURCES)
tests_daemon_t_dsrv3_CPPFLAGS = $(AM_CPPFLAGS) -DDSRV_VARIANT=3
tests_daemon_t_dsrv3_LDADD = libhsvr.la
tests_daemon_t_dclient_SOURCES = tests/daemon/dclient.c tests/pattern.h
tests_daemon_t_dinit_SOURCES = tests/daemon/dinit.c
