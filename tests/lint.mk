# tests/lint.mk - checks of the code and of what the build made (make check):
#
#   lint.sh       cppcheck and clang-tidy (.clang-tidy) find nothing in lib/
#   hardening.sh  libhsvr.so and the examples carry the hardening that
#                 configure turned on (--disable-hardening: skipped)

TESTS += tests/lint.sh tests/hardening.sh
EXTRA_DIST += tests/lint.sh tests/hardening.sh .clang-tidy

# The preprocessor flags libhsvr is compiled with, for the linters; and the
# hardening configure found (or "no").  -DPIC: as libtool compiles the
# shared library's objects, so that OpenSSL on demand (ossl.c) is checked.
LINT_CPPFLAGS = -DPIC $(DEFS) $(DEFAULT_INCLUDES) $(AM_CPPFLAGS) $(CPPFLAGS) \
	$(PTHREAD_CFLAGS) $(LIBEVENT_CFLAGS) $(OPENSSL_CFLAGS) \
	$(LIBBSD_CFLAGS) $(LIBSYSTEMD_CFLAGS)
AM_TESTS_ENVIRONMENT += \
	HSVR_LINT_CPPFLAGS='$(LINT_CPPFLAGS)'; \
	HSVR_HARDENING='$(HARDENING)'; \
	export HSVR_LINT_CPPFLAGS HSVR_HARDENING;
