# examples/local.mk - builds the example servers, so that every make proves they still compile.
bin_PROGRAMS += examples/hsvr-echo examples/hsvr-http examples/hsvr-chat \
	examples/hsvr-legacy examples/hsvr-proxy
noinst_PROGRAMS += examples/hsvr-legacy-http
EXTRA_DIST += examples/README

examples_hsvr_echo_SOURCES = examples/echo.c
examples_hsvr_echo_LDADD = libhsvr.la

examples_hsvr_http_SOURCES = examples/http.c examples/http-parser.c \
	examples/http-parser.h
examples_hsvr_http_LDADD = libhsvr.la

examples_hsvr_chat_SOURCES = examples/chat.c
examples_hsvr_chat_LDADD = libhsvr.la

examples_hsvr_proxy_SOURCES = examples/proxy.c
examples_hsvr_proxy_LDADD = libhsvr.la

# legacy.c is the manual's sample character for character.  It predates our
# warning set, so it gets -Wall only, and -Wno-unused-function because its
# echo build (without -DHTTP) leaves response() unused.
LEGACY_CFLAGS = $(PTHREAD_CFLAGS) $(SAN_CFLAGS) $(HARDEN_CFLAGS) -Wall -Wno-unused-function
examples_hsvr_legacy_SOURCES = examples/legacy.c
examples_hsvr_legacy_CFLAGS = $(LEGACY_CFLAGS)
examples_hsvr_legacy_LDADD = libhsvr.la

examples_hsvr_legacy_http_SOURCES = examples/legacy.c
examples_hsvr_legacy_http_CPPFLAGS = $(AM_CPPFLAGS) -DHTTP
examples_hsvr_legacy_http_CFLAGS = $(LEGACY_CFLAGS)
examples_hsvr_legacy_http_LDADD = libhsvr.la
