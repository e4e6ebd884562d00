#!/bin/sh
# optmem.sh - option parsing reads only memory it wrote: t-srv-ioc (an
# application with options of its own, letters included) run under valgrind
# memcheck for --version, --help, a malformed number, an unknown option and
# an extra argument; any invalid or uninitialised read fails the test.
# (build_tables() once searched its letter string before terminating it:
# an application letter found in stale stack bytes was refused as "taken",
# at random, seen under ASan only.)  Skipped (77) without valgrind or in a
# sanitized build, which valgrind cannot run.
set -u

: "${top_builddir:?}" "${HSVR_TEST_BINDIR:?}"
: "${LIBTOOL:=$top_builddir/libtool}" "${SAN_CFLAGS:=}"

if ! command -v valgrind >/dev/null 2>&1; then
	echo "# valgrind is not installed"
	exit 77
fi
if [ -n "$SAN_CFLAGS" ]; then
	echo "# a sanitized build: valgrind cannot run it"
	exit 77
fi

srv=$HSVR_TEST_BINDIR/t-srv-ioc
out=$(mktemp -d "${TMPDIR:-/tmp}/hsvr-optmem-XXXXXX") || exit 1
trap 'rm -rf "$out"' EXIT
n=0 failed=0
for args in "--version" "--help" "-x -T abc" "-x --no-such-option" \
	"-x extra-argument" "-x -G"; do
	n=$((n + 1))
	# shellcheck disable=SC2086 # the words of args are the arguments
	$LIBTOOL --mode=execute valgrind -q --error-exitcode=99 \
		--log-file="$out/vg.$n" "$srv" $args >/dev/null 2>"$out/err.$n"
	rc=$?
	if [ "$rc" -ne 99 ] && ! grep -q 'uninitialised\|Invalid read' "$out/vg.$n"; then
		echo "ok $n - $args: no invalid or uninitialised read (exit $rc)"
	else
		echo "not ok $n - $args: valgrind found an error (exit $rc)"
		sed -n '1,20s/^/#   /p' "$out/vg.$n"
		failed=$((failed + 1))
	fi
done
echo "1..$n"
exit $((failed > 0))
