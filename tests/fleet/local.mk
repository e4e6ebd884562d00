# tests/fleet/local.mk - a fleet (make check, as root): three hsvr-http
# hosts in network namespaces behind haproxy, scraped by Prometheus, with
# a crash, a drain and an upgrade during a wrk run (tests/fleet/fleet.sh).
# It uses tests/daemon/lib.sh (private namespaces, syslog) and
# examples/hsvr-http.  `make fleet` runs it alone.

FLEET_TESTS = tests/fleet/fleet.sh
TESTS += $(FLEET_TESTS)
EXTRA_DIST += $(FLEET_TESTS)

fleet: $(check_PROGRAMS) examples/hsvr-http
	$(MAKE) $(AM_MAKEFLAGS) check TESTS='$(FLEET_TESTS)'
.PHONY: fleet
