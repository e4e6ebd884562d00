# tests/systemd/local.mk - inherited listening sockets (make check):
#
#   listenfd.sh  --listen-fd and LISTEN_FDS/LISTEN_PID from a C helper, as
#                root in the daemon tests' namespaces (tests/daemon/lib.sh)
#   nspawn.sh    hsvr-service's socket-activated, sandboxed units under a
#                real systemd booted in a throwaway container
#
#   t-sdexec     puts a socket (or not) at a descriptor, sets LISTEN_*, execs
#   t-envsrv     a server telling what serv_init saw of LISTEN_*

SYSTEMD_TESTS = tests/systemd/listenfd.sh tests/systemd/nspawn.sh
TESTS += $(SYSTEMD_TESTS)
check_PROGRAMS += tests/systemd/t-sdexec tests/systemd/t-envsrv
EXTRA_DIST += $(SYSTEMD_TESTS)

tests_systemd_t_sdexec_SOURCES = tests/systemd/sdexec.c
tests_systemd_t_envsrv_SOURCES = tests/systemd/envsrv.c
tests_systemd_t_envsrv_LDADD = libhsvr.la
