#!/bin/sh
# link.sh - an application links against libhsvr shared and static, and runs.
#
# examples/echo.c (IoC: the library supplies main()) and examples/legacy.c
# (the original manual's sample, S_start on port 12345) are linked
#  - shared:  libtool --mode=link ... libhsvr.la   (needs libhsvr.so)
#  - static:  libtool --mode=link -static ... libhsvr.la
#  - archive: cc ... .libs/libhsvr.a $(pkg-config --libs --static M...)
#             with M... the Requires.private of the hsvr.pc that was built
# The static ones must not need libhsvr.so.  Each one is started and
# answers: echo turns "hello" into "!ello"; so does legacy on port 12345.
# Last, the examples/hsvr-legacy that `make` built does the same, and all
# stop on SIGTERM with exit status 0 (legacy printing its statistics).
#
# Environment (from tests/local.mk): top_builddir top_srcdir LIBTOOL CC
# PKG_CONFIG PTHREAD_CFLAGS SAN_CFLAGS SAN_LDFLAGS HSVR_TEST_BINDIR.
set -u

: "${top_builddir:?}" "${top_srcdir:?}" "${LIBTOOL:?}" "${CC:?}"
: "${HSVR_TEST_BINDIR:=$top_builddir/tests}"
: "${PKG_CONFIG:=pkg-config}"
: "${PTHREAD_CFLAGS:=-pthread}"
: "${SAN_CFLAGS:=}" "${SAN_LDFLAGS:=}"
: "${HSVR_TEST_SCALE:=1}"

# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
pid=
work=$(mktemp -d "${TMPDIR:-/tmp}/hsvr-link-XXXXXX") || exit 1
probe=$HSVR_TEST_BINDIR/t-probe
wait_s=$((20 * ${HSVR_TEST_SCALE%.*}))

cleanup() {
	if [ -n "$pid" ]; then
		kill -9 "$pid" 2>/dev/null
	fi
	if [ "$nfailed" -eq 0 ]; then
		rm -rf "$work"
	else
		echo "# files kept in $work"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# check WHAT COMMAND...: one verdict, the command's output in the log if it failed.
check() {
	what=$1
	shift
	if "$@" >"$work/cmd.log" 2>&1; then
		ok "$what"
	else
		not_ok "$what"
		sed 's/^/# /' "$work/cmd.log"
	fi
}

# needs_libhsvr PROGRAM: the program (or the one behind its libtool
# wrapper) has libhsvr.so among its NEEDED entries.
needs_libhsvr() {
	$LIBTOOL --mode=execute readelf -d "$1" >"$work/dyn.txt" 2>&1 ||
		return 2
	grep -q 'NEEDED.*libhsvr' "$work/dyn.txt"
}

# start NAME PROGRAM ARGS...: runs it in the background, output in $work.
start() {
	name=$1
	shift
	"$@" >"$work/$name.out" 2>"$work/$name.err" &
	pid=$!
}

# stop NAME: SIGTERM, then its exit status (124 if it would not stop).
stop() {
	kill -TERM "$pid" 2>/dev/null
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt $((wait_s * 10)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid"
		wait "$pid"
		pid=
		return 124
	fi
	wait "$pid"
	st=$?
	pid=
	return $st
}

show() {
	for f in "$work/$1.out" "$work/$1.err"; do
		echo "# ---- $f"
		sed 's/^/# /' "$f" | head -40
	done
}

# The library will not serve as root: as root, run servers as nobody.
if [ "$(id -u)" -eq 0 ]; then
	user=nobody
	group=$(id -gn nobody)
else
	user=$(id -un)
	group=$(id -gn)
fi

# run_echo NAME PROGRAM: the IoC echo example answers and stops cleanly.
run_echo() {
	port=$("$probe" --free-port)
	start "$1" "$2" -x -p "$port" -u "$user" -g "$group"
	if "$probe" -p "$port" -w "$wait_s" -s 'hello\n' -e '!ello' \
	    >"$work/probe.log" 2>&1; then
		ok "$1: the echo example answers '!ello'"
	else
		not_ok "$1: the echo example answers '!ello'"
		sed 's/^/# /' "$work/probe.log"
	fi
	if stop; then
		ok "$1: SIGTERM, exit status 0"
	else
		not_ok "$1: SIGTERM, exit status 0 (got $?)"
		show "$1"
	fi
}

# port12345_free: nothing listens on 12345 (the legacy sample's fixed port).
port12345_free() {
	i=0
	while "$probe" -p 12345 -w 0 >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 50 ]; then
			return 1
		fi
		sleep 0.1
	done
	return 0
}

# run_legacy NAME PROGRAM: the original sample echoes on port 12345.
run_legacy() {
	if ! port12345_free; then
		not_ok "$1: port 12345 is taken by another program here"
		return
	fi
	start "$1" "$2"
	if "$probe" -p 12345 -w "$wait_s" -s 'hello' -e '!ello' \
	    >"$work/probe.log" 2>&1; then
		ok "$1: the original sample answers '!ello' on port 12345"
	else
		not_ok "$1: the original sample answers '!ello' on port 12345"
		sed 's/^/# /' "$work/probe.log"
	fi
	if stop && grep -q '^accept_counter=1$' "$work/$1.out" &&
	    grep -q '^thread 3 session=' "$work/$1.out"; then
		ok "$1: SIGTERM, exit status 0, statistics on stdout"
	else
		not_ok "$1: SIGTERM, exit status 0, statistics on stdout"
		show "$1"
	fi
}

cflags="-std=gnu11 -I$top_srcdir/include $PTHREAD_CFLAGS $SAN_CFLAGS"
ldflags="$PTHREAD_CFLAGS $SAN_LDFLAGS"
la=$top_builddir/libhsvr.la
archive=$top_builddir/.libs/libhsvr.a

check "examples/echo.c compiles" \
	$CC $cflags -c -o "$work/echo.o" "$top_srcdir/examples/echo.c"
check "examples/legacy.c (the original sample) compiles" \
	$CC $cflags -w -c -o "$work/legacy.o" "$top_srcdir/examples/legacy.c"

# Shared.
for p in echo legacy; do
	check "$p: libtool links it against libhsvr.la" \
		$LIBTOOL --mode=link $CC $ldflags -o "$work/$p-shared" \
		"$work/$p.o" "$la"
	check "$p-shared needs libhsvr.so" needs_libhsvr "$work/$p-shared"
done
run_echo echo-shared "$work/echo-shared"
run_legacy legacy-shared "$work/legacy-shared"

# What a static link needs besides libhsvr.a, as hsvr.pc says.
mods=$(PKG_CONFIG_PATH="$top_builddir" $PKG_CONFIG --print-requires-private \
    hsvr | awk '{ print $1 }')
libs=$($PKG_CONFIG --libs --static $mods)
echo "# hsvr.pc Requires.private: $(echo $mods)"

# Static.
if $LIBTOOL --features | grep -q 'disable static'; then
	echo "ok $((n + 1)) # SKIP libhsvr was configured without a static library"
	n=$((n + 1))
else
	for p in echo legacy; do
		check "$p: libtool -static links libhsvr.la in" \
			$LIBTOOL --mode=link $CC $ldflags -static \
			-o "$work/$p-static" "$work/$p.o" "$la"
		if needs_libhsvr "$work/$p-static"; then
			not_ok "$p-static does not need libhsvr.so"
		else
			ok "$p-static does not need libhsvr.so"
		fi
		check "$p: cc links .libs/libhsvr.a with pkg-config --static" \
			$CC $ldflags -o "$work/$p-archive" "$work/$p.o" \
			"$archive" $libs
		if needs_libhsvr "$work/$p-archive"; then
			not_ok "$p-archive does not need libhsvr.so"
		else
			ok "$p-archive does not need libhsvr.so"
		fi
	done
	run_echo echo-static "$work/echo-static"
	run_echo echo-archive "$work/echo-archive"
	run_legacy legacy-static "$work/legacy-static"
	run_legacy legacy-archive "$work/legacy-archive"
fi

# The sample as `make` built it.
if [ -x "$top_builddir/examples/hsvr-legacy" ]; then
	run_legacy examples-hsvr-legacy "$top_builddir/examples/hsvr-legacy"
else
	not_ok "examples/hsvr-legacy was not built"
fi

echo "1..$n"
echo "# $((n - nfailed)) passed, $nfailed failed"
[ "$nfailed" -eq 0 ]
