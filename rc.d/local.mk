# rc.d/local.mk - service control for servers built on libhsvr: templates
# of an LSB/SysV init script, systemd units (a service as root, one
# socket-activated without root, a socket) and a FreeBSD rc.d script,
# installed in $(pkgdatadir), and hsvr-service, the installed script that
# makes an application's service files from them; plus the manual hsvr(8).

dist_pkgdata_DATA = rc.d/hsvr.init rc.d/hsvr.service rc.d/hsvr.rc \
	rc.d/hsvr-dynamic.service rc.d/hsvr.socket
bin_SCRIPTS = rc.d/hsvr-service
dist_man_MANS += man/hsvr.8
EXTRA_DIST += rc.d/hsvr-service.in
CLEANFILES += rc.d/hsvr-service

# Where the templates are installed is known at make time, not configure
# time (the prefix may be overridden on make's command line).
rc.d/hsvr-service: $(srcdir)/rc.d/hsvr-service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) rc.d && rm -f $@ $@.tmp && \
	sed -e 's|@pkgdatadir[@]|$(pkgdatadir)|g' \
	    -e 's|@VERSION[@]|$(VERSION)|g' \
	    $(srcdir)/rc.d/hsvr-service.in >$@.tmp && \
	chmod +x $@.tmp && mv $@.tmp $@
