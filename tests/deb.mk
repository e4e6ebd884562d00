# tests/deb.mk - the Debian packages (make check):
#
#   deb.sh  builds libhsvr5, libhsvr-dev and hsvr-utils from debian/,
#           lintian, installs them into a fresh Debian 12 root, builds and
#           runs the README's echo server there, purges them
#
# debian/ goes into the tarball, so that the packages can be built from a
# release and deb.sh runs under make distcheck too.

TESTS += tests/deb.sh
EXTRA_DIST += tests/deb.sh \
	debian/changelog \
	debian/control \
	debian/copyright \
	debian/rules \
	debian/source/format \
	debian/libhsvr5.install \
	debian/libhsvr5.symbols \
	debian/libhsvr5.lintian-overrides \
	debian/libhsvr-dev.install \
	debian/libhsvr-dev.lintian-overrides \
	debian/hsvr-utils.install \
	debian/hsvr-utils.links \
	debian/hsvr-utils.lintian-overrides
