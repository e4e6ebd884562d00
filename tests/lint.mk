# tests/lint.mk - checks of what the build made (make check):
#
#   hardening.sh  libhsvr.so and the examples carry the hardening that
#                 configure turned on (--disable-hardening: skipped)

TESTS += tests/hardening.sh
EXTRA_DIST += tests/hardening.sh

# The hardening configure found (or "no").
AM_TESTS_ENVIRONMENT += \
	HSVR_HARDENING='$(HARDENING)'; \
	export HSVR_HARDENING;
