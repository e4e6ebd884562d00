#!/bin/bash
# tests/deb.sh - the Debian packages (debian/): built from a clean copy of
# the source with dpkg-buildpackage -us -uc -b (DEB_BUILD_OPTIONS=nocheck,
# two jobs), which fails on any symbol of libhsvr.so.5 that
# debian/libhsvr5.symbols does not list (dpkg-gensymbols -c4) and on any
# installed file no package takes (dh_missing); then
#  - lintian on the .changes reports no E: and no W: beyond the overrides
#    in debian/*.lintian-overrides (each with its reason);
#  - libhsvr5, libhsvr-dev and hsvr-utils install with apt-get install
#    ./x.deb into a fresh Debian 12 root (a copy of a cached debootstrap,
#    one that never saw hsvr), which pulls in what they depend on;
#  - the README's echo server (its code and its cc lines, taken from the
#    README itself) compiles there with pkg-config, with -lhsvr and
#    statically; each binary answers an echo round trip on a loopback
#    port and stops on SIGTERM with exit status 0, the static one without
#    needing libhsvr.so; the packaged hsvr-echo and hsvr-service run;
#  - apt-get purge of the three and autoremove leave the root with the
#    packages it had before, no file of the three packages, no file named
#    after hsvr anywhere (outside /tmp, where the echo servers are) and no
#    libhsvr in the linker's cache.
# The root is debootstrap --variant=minbase bookworm (with gcc, libc6-dev,
# pkg-config) from the mirror apt uses, built once and cached in
# $HSVR_DEB_ROOT (/var/cache/hsvr-tests/deb-root); each run copies it.
# Needs root (debootstrap, chroot) and debhelper, lintian, debootstrap;
# exits 77 (skipped) when not root, in a sanitizer or coverage build (the
# packages do not depend on the build's flags: the plain build tests them
# once), inside the Debian build itself (debian/rules' make check), and
# when /proc cannot be mounted (debootstrap must, to build the root).
# Proof that it can fail (each edit made in the work tree, which the test
# copies, then undone): usr/lib/*/pkgconfig/hsvr.pc taken out of
# debian/libhsvr-dev.install: the build fails (dh_missing: "hsvr.pc exists
# in debian/tmp but is not installed to anywhere"); a -dev package that
# hsvr.pc requires taken out of libhsvr-dev's Depends (libbsd-dev, when it
# still did): the Depends check, "pkg-config knows hsvr" and the README's
# pkg-config lines fail ("Package 'libbsd', required by 'hsvr', not
# found"); S_send misspelt in the README's echo server: its
# cc lines fail (undefined reference to S_sendd); S_send_ref@Base taken
# out of debian/libhsvr5.symbols: dpkg-gensymbols fails the build ("some
# new symbols appeared"); a postinst making /var/lib/hsvr/state: "no file
# named after hsvr is left" fails after the purge.

# shellcheck disable=SC2016,SC2317 source-path=SCRIPTDIR
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

skip() {
	echo "# $t_name: $*: skipped"
	exit 77
}
if [[ -n ${HSVR_IN_DEB_BUILD:-} ]]; then
	skip "inside the Debian package build (debian/rules): it would build the packages within themselves"
fi
if [[ -n ${SAN_CFLAGS:-} ]]; then
	skip "a sanitizer or coverage build ($SAN_CFLAGS): the packages are built with Debian's flags, not this build's; the plain build tests them"
fi
if [[ $(id -u) -ne 0 ]]; then
	skip "needs root (debootstrap, chroot, apt-get in the root)"
fi

top_srcdir=$(cd "${top_srcdir:-$(dirname "$0")/..}" && pwd)
t_builddir=${top_builddir:-$PWD}
lib_scale "$t_builddir"
t_timed=1
elapsed
CACHE=${HSVR_DEB_ROOT:-/var/cache/hsvr-tests/deb-root}
ROOT_PACKAGES=gcc,libc6-dev,pkg-config
PKGS=(libhsvr5 libhsvr-dev hsvr-utils)
W='' ROOT='' SERVER_PID=''

fail_end() {
	not_ok "$*"
	exit 1
}

# The end, whatever happened: a server still running killed, /proc of the
# root unmounted, the scratch directory (with the root's copy) removed,
# never across a mount point.
finish() {
	local rc=$?
	trap - EXIT
	if [[ -n $SERVER_PID ]]; then
		kill -KILL "$SERVER_PID" 2>/dev/null
		wait "$SERVER_PID" 2>/dev/null
	fi
	if [[ -n $W ]]; then
		kill_in_root
		[[ -z $ROOT ]] || umount_proc "$ROOT/proc"
		umount_proc "$W/probe"
		if grep -q " $W/" /proc/mounts; then
			say "a mount under $W could not be undone: $W kept"
		else
			rm -rf --one-file-system "$W"
		fi
	fi
	((t_failed == 0)) || exit 1
	exit "$rc"
}

# Whatever still runs in the root (a server a failed check left) is killed.
kill_in_root() {
	local p
	[[ -n $ROOT ]] || return 0
	for p in /proc/[0-9]*; do
		[[ $(readlink "$p/root" 2>/dev/null) == "$ROOT" ]] &&
			kill -KILL "${p#/proc/}" 2>/dev/null
	done
	return 0
}

# umount_proc DIR: DIR unmounted if it is a mount point.
umount_proc() {
	[[ $1 == /?* ]] && mountpoint -q "$1" 2>/dev/null || return 0
	umount "$1" 2>/dev/null || umount -l "$1" 2>/dev/null
}

for tool in dpkg-buildpackage dh lintian debootstrap chroot readelf; do
	command -v "$tool" >/dev/null ||
		fail_end "$tool is not installed (apt-get install dpkg-dev debhelper lintian debootstrap binutils)"
done
[[ -f $top_srcdir/debian/control ]] ||
	fail_end "$top_srcdir/debian/control is missing (make dist must carry debian/: tests/deb.mk)"

mkdir -p "${CACHE%/*}" || fail_end "cannot make ${CACHE%/*}"
W=$(mktemp -d "${CACHE%/*}/deb-run.XXXXXX") || fail_end "cannot make a scratch directory in ${CACHE%/*}"
trap finish EXIT
trap 'exit 1' INT TERM HUP

# debootstrap mounts /proc in the root it builds, and so does this test
# for the servers: where mount is not allowed (some chroots and
# containers) neither can work.  Tried first, on an empty directory.
mkdir "$W/probe"
if ! err=$(mount -t proc proc "$W/probe" 2>&1); then
	skip "cannot mount /proc here ($err), which debootstrap and the servers in the root need"
fi
umount "$W/probe"

# ------------------------------------------------------ the packages
# A clean copy of the source: the files git knows (with their changes
# in the work tree), or the whole tree but _build when it is not a git
# checkout (the tarball of make distcheck, read-only there).
src=$W/src/hsvr
mkdir -p "$src"
if [[ -e $top_srcdir/.git ]] && command -v git >/dev/null &&
	files=$(git -C "$top_srcdir" ls-files --cached --others --exclude-standard) &&
	[[ -n $files ]]; then
	how="the files git lists"
	printf '%s\n' "$files" | grep -v '^_build/' |
		(cd "$top_srcdir" && tar --no-recursion -cf - -T -) | tar -C "$src" -xf - ||
		fail_end "cannot copy the source"
else
	how="the whole tree but _build"
	tar -C "$top_srcdir" --exclude=./_build --exclude=./.git -cf - . | tar -C "$src" -xf - ||
		fail_end "cannot copy the source"
fi
chmod -R u+w "$src"
say "source copied from $top_srcdir ($how)"

t0=$SECONDS
# In an environment of its own: not the make check variables and flags
# (MAKEFLAGS, CC, top_srcdir...) of the build this test runs in.  The
# nocheck profile too: the test suite's tools are not build dependencies
# then.
if (cd "$src" && env -i PATH="$PATH" HOME="$W" LANG=C.UTF-8 TMPDIR="${TMPDIR:-/tmp}" \
	DEB_BUILD_OPTIONS='nocheck parallel=2' \
	nice -n 19 dpkg-buildpackage -us -uc -b -Pnocheck) >"$W/build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b (nocheck) built the packages in $((SECONDS - t0)) s"
else
	# What went wrong (not the compiler's lines, which name -Werror=...).
	grep -E 'dpkg-gensymbols|dh_missing|error:|Error [0-9]|^[+-] ' "$W/build.log" |
		grep -vE '^(gcc|libtool|/bin/bash) ' | head -n 30 | sed 's/^/# /'
	say "---- the end of the build's log"
	tail -n 15 "$W/build.log" | sed 's/^/# /'
	fail_end "dpkg-buildpackage -us -uc -b (nocheck) built the packages"
fi
ck "dpkg-gensymbols found libhsvr.so.5 as debian/libhsvr5.symbols says" \
	'! grep -q "dpkg-gensymbols: warning" "$W/build.log"'

debs=()
for p in "${PKGS[@]}"; do
	f=$(compgen -G "$W/src/${p}_*.deb" | head -n 1)
	[[ -n $f ]] || fail_end "$p was built"
	debs+=("$f")
done
ok "the packages: ${debs[*]##*/}"
ck "libhsvr5 holds libhsvr.so.5" \
	'dpkg-deb -c "${debs[0]}" | grep -q "/libhsvr\.so\.5 -> "'
ck "libhsvr5 depends on libssl3 (loaded with dlopen: no shlibs dependency)" \
	'[[ $(dpkg-deb -f "${debs[0]}" Depends) == *"libssl3 (>= 3.0.0)"* ]]'
ck "libhsvr5 depends on libseccomp2 (loaded with dlopen for --seccomp: no shlibs dependency)" \
	'[[ $(dpkg-deb -f "${debs[0]}" Depends) == *"libseccomp2 (>= 2.4)"* ]]'
ck "libhsvr5 depends on libevent-extra-2.1-7 (evdns, loaded with dlopen: no shlibs dependency)" \
	'[[ $(dpkg-deb -f "${debs[0]}" Depends) == *"libevent-extra-2.1-7 (>= 2.1)"* ]]'
ck "libhsvr-dev depends on libhsvr5, libevent-dev, libssl-dev, libseccomp-dev" \
	'[[ $(dpkg-deb -f "${debs[1]}" Depends) =~ libhsvr5.*libevent-dev.*libssl-dev.*libseccomp-dev ]]'
ck "hsvr-utils depends on libhsvr5 (shlibs)" \
	'[[ $(dpkg-deb -f "${debs[2]}" Depends) == *"libhsvr5 (>= "* ]]'

# lintian: every E: and W: fails, but those the packages override (with
# the reason beside them in debian/*.lintian-overrides).
changes=$(compgen -G "$W/src/hsvr_*.changes" | head -n 1)
if [[ -z $changes ]]; then
	not_ok "the build made a .changes for lintian"
else
	lintian --display-info "$changes" >"$W/lintian.out" 2>"$W/lintian.err"
	if grep -E '^[EW]: ' "$W/lintian.out" >"$W/lintian.bad"; then
		not_ok "lintian: no error, no warning but the overridden ones"
		sed 's/^/# /' "$W/lintian.bad"
	elif [[ ! -s $W/lintian.out ]] && grep -v 'root privileges' "$W/lintian.err" | grep -q .; then
		not_ok "lintian ran"
		sed 's/^/# /' "$W/lintian.err"
	else
		ok "lintian: no error, no warning but the overridden ones"
	fi
	grep -E '^[IP]: ' "$W/lintian.out" | sed 's/^/# lintian: /'
fi

# ------------------------------------------------------ the root

build_root() {
	local tmp=$CACHE.tmp.$$ m t1=$SECONDS
	m=$(lib_mirror)
	say "building $CACHE: debootstrap --variant=minbase --include=$ROOT_PACKAGES bookworm from $m"
	rm -rf --one-file-system "$tmp"
	if ! debootstrap --variant=minbase --include="$ROOT_PACKAGES" bookworm "$tmp" "$m" >"$W/debootstrap.log" 2>&1; then
		tail -n 20 "$W/debootstrap.log" | sed 's/^/# /'
		umount_proc "$tmp/proc"
		rm -rf --one-file-system "$tmp"
		return 1
	fi
	umount_proc "$tmp/proc"
	echo "$ROOT_PACKAGES" >"$tmp/.hsvr-packages"
	rm -rf --one-file-system "$CACHE"
	mv "$tmp" "$CACHE"
	say "built in $((SECONDS - t1)) s"
}

# One builder at a time; a root from another package list is rebuilt.
exec 8>"${CACHE%/*}/.deb-root.lock"
flock 8
if [[ ! -x $CACHE/usr/bin/gcc || $(cat "$CACHE/.hsvr-packages" 2>/dev/null) != "$ROOT_PACKAGES" ]]; then
	build_root || fail_end "the root could not be built (debootstrap)"
fi
ROOT=$W/root
cp -a "$CACHE" "$ROOT" || fail_end "cannot copy $CACHE"
rm -f "$ROOT/.hsvr-packages"
flock -u 8
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null
mount -t proc proc "$ROOT/proc" || fail_end "cannot mount /proc in the root"
ROOT_ENV=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
	DEBIAN_FRONTEND=noninteractive)
# The way this machine reaches the archive: its proxy, if it has one.
for v in http_proxy https_proxy; do
	[[ -z ${!v:-} ]] || ROOT_ENV+=("$v=${!v}")
done
while read -r f; do
	cp "$f" "$ROOT/etc/apt/apt.conf.d/${f##*/}-host"
done < <(grep -lis 'Acquire::.*Proxy' /etc/apt/apt.conf /etc/apt/apt.conf.d/* 2>/dev/null)
in_root() { chroot "$ROOT" "${ROOT_ENV[@]}" "$@"; }
ck "the root has never seen hsvr" '! in_root dpkg-query -W "*hsvr*" >/dev/null 2>&1'
in_root dpkg-query -W -f '${Package} ${Version}\n' | sort >"$W/before.txt"

# ------------------------------------------------------ install
mkdir -p "$ROOT/tmp/debs"
cp "${debs[@]}" "$ROOT/tmp/debs/"
t0=$SECONDS
if in_root apt-get -q update >"$W/apt.log" 2>&1 &&
	in_root sh -c "cd /tmp/debs && apt-get -q install -y --no-install-recommends $(printf './%s ' "${debs[@]##*/}")" \
		>>"$W/apt.log" 2>&1; then
	ok "apt-get install ./libhsvr5_*.deb ./libhsvr-dev_*.deb ./hsvr-utils_*.deb in $((SECONDS - t0)) s"
else
	tail -n 30 "$W/apt.log" | sed 's/^/# /'
	fail_end "apt-get install of the packages in the root"
fi
ck "dpkg says the three are installed" \
	'[[ $(in_root dpkg-query -W -f "\${db:Status-Abbrev}\n" "${PKGS[@]}" | grep -c "^ii") == 3 ]]'
ck "pkg-config knows hsvr" 'in_root pkg-config --exists hsvr'
ck "hsvr-echo --version runs (libhsvr.so.5 found)" 'in_root hsvr-echo --version >/dev/null'
ck "hsvr-service makes a systemd unit from its installed templates" \
	'in_root hsvr-service systemd myecho /usr/bin/hsvr-echo -p 7000 | grep -q "^ExecStart=/usr/bin/hsvr-echo"'
ck "man finds hsvr(3) and hsvr(8)" \
	'[[ -e $ROOT/usr/share/man/man3/hsvr.3.gz && -e $ROOT/usr/share/man/man8/hsvr.8.gz ]]'

# ------------------------------------------------------ the README
# The echo server: the indented block that starts "/* echo.c"; its cc
# lines: the indented ones after it that start with "cc ", comments cut.
readme=$top_srcdir/README
awk '/^    \/\* echo\.c/ { on = 1 }
	on && /^[^ ]/ { exit }
	on { sub(/^    /, ""); print }' "$readme" >"$W/echo.c"
mapfile -t cc_lines < <(awk '/^    \/\* echo\.c/ { on = 1 }
	on && /^    cc / { sub(/^    /, ""); sub(/[[:space:]]+#.*/, ""); print }' "$readme")
ck "the README has the echo server (echo.c, serv_on_read) and its cc lines" \
	'grep -q serv_on_read "$W/echo.c" && ((${#cc_lines[@]} >= 2))'
mkdir -p "$ROOT/tmp/readme"
cp "$W/echo.c" "$ROOT/tmp/readme/echo.c"

port() {
	local p
	if [[ -x ${HSVR_TEST_BINDIR:-}/t-probe ]]; then
		"$HSVR_TEST_BINDIR/t-probe" --free-port
		return
	fi
	while :; do
		p=$((20000 + RANDOM % 30000))
		listening "$p" || { echo "$p"; return; }
	done
}

# roundtrip PORT: one line out, the same line back.
roundtrip() {
	local line reply
	line="hello from deb.sh $$"
	exec 9<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf '%s\n' "$line" >&9
	read -r -t $((10 * SCALE)) reply <&9
	exec 9<&-
	[[ $reply == "$line" ]]
}

# run_echo NAME: ./NAME in the root answers an echo and stops on SIGTERM.
run_echo() {
	local name=$1 p rc=0
	p=$(port)
	# (chroot and env exec the server: $! is its pid)
	chroot "$ROOT" "${ROOT_ENV[@]}" /tmp/readme/"$name" -x -p "$p" \
		>"$W/$name.out" 2>"$W/$name.err" &
	SERVER_PID=$!
	if wait_for 20 listening "$p" && roundtrip "$p"; then
		ok "$name: an echo round trip on port $p"
	else
		not_ok "$name: an echo round trip on port $p"
		tail -n 10 "$W/$name.err" | sed 's/^/# /'
	fi
	kill -TERM "$SERVER_PID"
	if wait_for 20 gone "$SERVER_PID"; then
		wait "$SERVER_PID" || rc=$?
		ck "$name: SIGTERM, exit status 0 (got $rc)" '((rc == 0))'
	else
		not_ok "$name: stopped within $((20 * SCALE)) s of SIGTERM"
		kill -KILL "$SERVER_PID"
		wait "$SERVER_PID"
	fi
	SERVER_PID=''
}

n=0
for line in "${cc_lines[@]}"; do
	n=$((n + 1))
	if in_root sh -c "cd /tmp/readme && rm -f echo && $line && mv echo echo-$n" \
		>"$W/cc-$n.log" 2>&1; then
		ok "README: $line"
	else
		not_ok "README: $line"
		sed 's/^/# /' "$W/cc-$n.log" | head -n 20
		continue
	fi
	if [[ $line == *-static* ]]; then
		ck "echo-$n does not need libhsvr.so" \
			'! readelf -d "$ROOT/tmp/readme/echo-$n" 2>/dev/null | grep -q "NEEDED.*libhsvr"'
	else
		ck "echo-$n needs libhsvr.so.5" \
			'readelf -d "$ROOT/tmp/readme/echo-$n" | grep -q "NEEDED.*\[libhsvr\.so\.5\]"'
	fi
	run_echo "echo-$n"
done

# ------------------------------------------------------ purge
# Every file (not directory) of the three packages, as the root sees it.
for f in "${debs[@]}"; do
	dpkg-deb -c "$f" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }'
done | sort -u >"$W/files.txt"
t0=$SECONDS
if in_root apt-get -q purge -y "${PKGS[@]}" >"$W/purge.log" 2>&1 &&
	in_root apt-get -q autoremove --purge -y >>"$W/purge.log" 2>&1; then
	ok "apt-get purge and autoremove in $((SECONDS - t0)) s"
else
	tail -n 20 "$W/purge.log" | sed 's/^/# /'
	not_ok "apt-get purge and autoremove"
fi
ck "dpkg knows no hsvr package any more" \
	'! in_root dpkg-query -W -f "\${Package} \${db:Status-Abbrev}\n" "*hsvr*" 2>/dev/null | grep -q .'
in_root dpkg-query -W -f '${Package} ${Version}\n' | sort >"$W/after.txt"
if cmp -s "$W/before.txt" "$W/after.txt"; then
	ok "the root has the packages it had before (what came with hsvr went with it)"
else
	not_ok "the root has the packages it had before (what came with hsvr went with it)"
	diff "$W/before.txt" "$W/after.txt" | sed 's/^/# /'
fi
left=()
while read -r f; do
	[[ -e $ROOT$f || -L $ROOT$f ]] && left+=("$f")
done <"$W/files.txt"
for g in usr/include/hsvr.h usr/lib/*/libhsvr* usr/lib/*/pkgconfig/hsvr.pc \
	usr/share/hsvr usr/share/doc/libhsvr* usr/share/doc/hsvr-utils; do
	for f in "$ROOT"/$g; do
		[[ -e $f || -L $f ]] && left+=("${f#"$ROOT"}")
	done
done
ck "no file of the packages is left (of $(wc -l <"$W/files.txt"))${left[*]:+: ${left[*]}}" \
	'((${#left[@]} == 0))'
# Nor anything else named after hsvr (what a maintainer script might
# have made), but the README's echo servers in /tmp.
find "$ROOT" -xdev \( -path "$ROOT/tmp" -o -path "$ROOT/proc" \) -prune -o \
	-iname '*hsvr*' -print >"$W/named.txt"
ck "no file named after hsvr is left in the root$(sed "s|^$ROOT| |" "$W/named.txt" | head -n 5 | tr -d '\n')" \
	'[[ ! -s $W/named.txt ]]'
ck "the dynamic linker's cache has no libhsvr" '! in_root ldconfig -p | grep -q libhsvr'
exit 0
