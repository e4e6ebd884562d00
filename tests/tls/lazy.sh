#!/bin/bash
# tests/tls/lazy.sh - the shared library loads OpenSSL only when TLS is
# needed (lib/ossl.c; configure's "OpenSSL on demand"):
#  - libhsvr.so needs neither libssl nor libcrypto, and has no undefined
#    OpenSSL name (a function tls.c calls but ossl.h does not list would
#    be one);
#  - hsvr-echo (linked with libhsvr alone) serving plain TCP: no process
#    of its tree maps libssl or libcrypto, and it echoes;
#  - with -c/-k: its serving process maps both and echoes over TLS (a
#    TLS 1.3 session with t-tlsc); t-srv-connect's S_CONNECT_TLS, loaded
#    in a worker at the first dial, is tests/tls/connect.sh's;
#  - with --seccomp, which would forbid loading later, both are mapped at
#    start even without TLS;
#  - a libssl of the right name that is not OpenSSL (another library, or
#    not a library at all), found first through LD_LIBRARY_PATH: -c/-k
#    stop the start with exit 78 and one line that says why.
# And libseccomp, loaded only for --seccomp (lib/sandbox.c; configure's
# "libseccomp on demand"), where so configured:
#  - libhsvr.so does not need it and has no undefined seccomp_ name;
#  - the plain hsvr-echo above maps it in no process; --seccomp's serving
#    process maps it (and serves);
#  - a libseccomp of its name that is not libseccomp: --seccomp stops the
#    start with exit 78 and one line that says why.
# And libevent's resolver (libevent_extra: evdns), loaded only at the first
# name S_connect resolves (lib/dial.c; "libevent's resolver on demand"):
#  - libhsvr.so does not need it and has no undefined evdns_ name;
#  - the plain hsvr-echo maps it in no process; confined (--seccomp),
#    its serving process has it loaded at start.  Resolving with it is
#    tests/t-connect's (a name from /etc/hosts).
# Skipped where the shared library is not built, or was configured
# --disable-lazy-openssl (then it is linked with OpenSSL).
# Shown to fail: with hsvr_tls_init loading OpenSSL whatever the options,
# the plain-TCP mapping check; with main.c's start_up loading libseccomp
# whatever the options, the plain-TCP libseccomp check; with libseccomp
# linked again (HSVR_SECCOMP_LIBS=-lseccomp on a linker without
# --as-needed, or SCMP_DLOPEN undefined), the NEEDED and mapping checks;
# with DNS_DLOPEN undefined in dial.c, the evdns NEEDED and mapping checks.  SSL_free left out of ossl.h's macros is an
# undefined name of libhsvr.so, which already fails the link of every
# program (and this test's nm check).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

so=$t_builddir/.libs/libhsvr.so
if [[ ! -e $so ]] || ! grep -q '^#define HSVR_LAZY_OPENSSL 1' "$t_builddir/config.h"; then
	echo "1..0 # SKIP no shared libhsvr, or OpenSSL linked in (--disable-lazy-openssl)"
	exit 77
fi
libssl=$(sed -n 's/^#define HSVR_LIBSSL "\(.*\)"$/\1/p' "$t_builddir/config.h")
libevdns=$(sed -n 's/^#define HSVR_LIBEVDNS "\(.*\)"$/\1/p' "$t_builddir/config.h")
libseccomp=$(sed -n 's/^#define HSVR_LIBSECCOMP "\(.*\)"$/\1/p' "$t_builddir/config.h")
unset HSVR_TEST_SECCOMP         # this test says when to confine
t_setup
trap t_cleanup EXIT

ECHO=$t_builddir/examples/hsvr-echo
lib_direct ECHO

ck "libhsvr.so needs neither libssl nor libcrypto" \
	'! readelf -d "$so" | grep -E "NEEDED.*\[lib(ssl|crypto)\."'
undef=$(nm -D --undefined-only "$so" |
	awk '$2 ~ /^(SSL|SSL_CTX|TLS|DTLS|X509|EVP|ERR|OPENSSL|OSSL|CRYPTO|OCSP|OBJ|RAND|ASN1|BIO|PEM|d2i|i2d|BN|EC)_/ { print $2 }')
ck "libhsvr.so has no undefined OpenSSL name${undef:+ (has: ${undef//$'\n'/ })}" '[[ -z $undef ]]'
if grep -q '^#define HAVE_CLOSEFROM 1' "$t_builddir/config.h"; then
	# libbsd (and its libmd) cost 0.2 ms of every start; libc has closefrom.
	ck "libhsvr.so does not need libbsd (libc has closefrom)" \
		'! readelf -d "$so" | grep -E "NEEDED.*\[libbsd\."'
fi

# maps_ssl PID...: how many of these processes map libssl and libcrypto
# (0, or 2 per process).
maps_ssl() {
	local p n=0
	for p; do
		grep -qE '/libssl\.so' "/proc/$p/maps" 2>/dev/null && n=$((n + 1))
		grep -qE '/libcrypto\.so' "/proc/$p/maps" 2>/dev/null && n=$((n + 1))
	done
	echo "$n"
}

# echo_line PORT LINE: LINE through a plain connection, the reply
# hsvr-echo's ("hello" comes back as "!ello").
echo_line() {
	local reply=
	exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf '%s\n' "$2" >&3
	IFS= read -r -t "$WAIT" reply <&3
	exec 3>&-
	[[ $reply == "!${2:1}" ]]
}

if [[ -n $libseccomp ]]; then
	ck "libhsvr.so does not need libseccomp" \
		'! readelf -d "$so" | grep -E "NEEDED.*\[libseccomp\."'
	undef=$(nm -D --undefined-only "$so" | awk '$2 ~ /^seccomp_/ { print $2 }')
	ck "libhsvr.so has no undefined seccomp_ name${undef:+ (has: ${undef//$'\n'/ })}" '[[ -z $undef ]]'
fi

if [[ -n $libevdns ]]; then
	ck "libhsvr.so does not need libevent_extra" \
		'! readelf -d "$so" | grep -E "NEEDED.*\[libevent_extra[-.]"'
	undef=$(nm -D --undefined-only "$so" | awk '$2 ~ /^evdns_/ { print $2 }')
	ck "libhsvr.so has no undefined evdns_ name${undef:+ (has: ${undef//$'\n'/ })}" '[[ -z $undef ]]'
fi

# maps_lib REGEX PID...: how many of these processes map a file matching
# REGEX; maps_seccomp and maps_evdns: libseccomp's, libevent_extra's.
maps_lib() {
	local re=$1 p n=0
	shift
	for p; do
		grep -qE "$re" "/proc/$p/maps" 2>/dev/null && n=$((n + 1))
	done
	echo "$n"
}
maps_seccomp() { maps_lib '/libseccomp\.so' "$@"; }
maps_evdns() { maps_lib '/libevent_extra[-.]' "$@"; }

# -------------------------------------------------------- plain TCP
must "hsvr-echo serves plain TCP (supervisor and serving process)" \
	'srv_start P "$ECHO" -x -i 127.0.0.1 -p @PORT@ -n 2'
ck "hsvr-echo echoes over plain TCP" 'echo_line "$P_PORT" "plain hello"'
# shellcheck disable=SC2046 # a list of pids
tree=("$P_PID" $(descendants "$P_PID"))
ck "${#tree[@]} processes, none maps libssl or libcrypto" '((${#tree[@]} >= 2)) && [[ $(maps_ssl "${tree[@]}") == 0 ]]'
if [[ -n $libseccomp ]]; then
	ck "${#tree[@]} processes, none maps libseccomp" '((${#tree[@]} >= 2)) && [[ $(maps_seccomp "${tree[@]}") == 0 ]]'
fi
if [[ -n $libevdns ]]; then
	ck "${#tree[@]} processes, none maps libevent_extra" '((${#tree[@]} >= 2)) && [[ $(maps_evdns "${tree[@]}") == 0 ]]'
fi
srv_finish P
if [[ -n $libseccomp ]]; then
	# hsvr-proxy's serv_init calls serv_seccomp_allow: without --seccomp
	# that must not load libseccomp either.
	must "hsvr-proxy starts without --seccomp" \
		'srv_start X "$t_builddir/examples/hsvr-proxy" -x -i 127.0.0.1 -p @PORT@ -n 2 --to 127.0.0.1:9'
	# shellcheck disable=SC2046 # a list of pids
	tree=("$X_PID" $(descendants "$X_PID"))
	ck "hsvr-proxy: ${#tree[@]} processes, none maps libseccomp" '((${#tree[@]} >= 2)) && [[ $(maps_seccomp "${tree[@]}") == 0 ]]'
	srv_finish X
fi

# -------------------------------------------------------- TLS
must "hsvr-echo serves TLS with -c/-k" \
	'srv_start S "$ECHO" -x -i 127.0.0.1 -p @PORT@ -n 2 -c "$PKI/server.crt" -k "$PKI/server.key"'
# shellcheck disable=SC2046
kids=($(descendants "$S_PID"))
ck "its serving process maps libssl and libcrypto" '((${#kids[@]} >= 1)) && [[ $(maps_ssl "${kids[@]}") == $((2 * ${#kids[@]})) ]]'
if hold_open "$S_PORT" --ca "$PKI/ca.crt"; then
	ok "a TLS session with hsvr-echo ($HOLD_CONNECTED)"
	reply=$(hold "tls hello")
	ck "hsvr-echo echoes over TLS (got '$reply')" '[[ $reply == "!ls hello" ]]'
	hold_close
else
	not_ok "a TLS session with hsvr-echo"
fi
srv_finish S

# -------------------------------------------------------- --seccomp
# LeakSanitizer's check at exit cannot run in the sandbox (as in
# tests/daemon/sandbox.sh): not for this server.
if "$ECHO" --help 2>&1 | grep -q -- '--seccomp'; then
	saved_asan=${ASAN_OPTIONS-}
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
	must "hsvr-echo --seccomp serves plain TCP" \
		'srv_start C "$ECHO" -x -i 127.0.0.1 -p @PORT@ -n 1 --seccomp'
	ASAN_OPTIONS=$saved_asan
	# shellcheck disable=SC2046
	kids=($(descendants "$C_PID"))
	ck "confined, its serving process has OpenSSL loaded at start" '((${#kids[@]} >= 1)) && [[ $(maps_ssl "${kids[0]}") == 2 ]]'
	if [[ -n $libseccomp ]]; then
		ck "confined, its serving process maps libseccomp" '((${#kids[@]} >= 1)) && [[ $(maps_seccomp "${kids[0]}") == 1 ]]'
	fi
	if [[ -n $libevdns ]]; then
		ck "confined, its serving process has libevent_extra loaded at start" '((${#kids[@]} >= 1)) && [[ $(maps_evdns "${kids[0]}") == 1 ]]'
	fi
	ck "hsvr-echo --seccomp echoes" 'echo_line "$C_PORT" "confined hello"'
	srv_finish C
else
	ok "# SKIP no --seccomp on this system"
fi

# -------------------------------------------------------- not the library
# A real library that is not the one wanted, then a file that is no
# library, by its name, found first: the start stops with 78 and one line.
other=$(ldd "$(command -v "$ECHO" || echo "$ECHO")" 2>/dev/null | awk '$1 ~ /^libevent_core-/ { print $3 }')
[[ -n $other && -f $other ]] || other=$so

# impostors FILE PREFIX WHAT ARG...: hsvr-echo ARG... with FILE replaced;
# the message starts "PREFIX" and says FILE has none of the names, or
# "PREFIX cannot load WHAT (FILE): ".
impostors() {
	local file=$1 prefix=$2 what=$3 kind rc err want
	shift 3
	rm -rf "$T/notlib" "$T/junk"
	mkdir -p "$T/notlib" "$T/junk"
	cp "$other" "$T/notlib/$file"
	echo "not a library" >"$T/junk/$file"
	for kind in notlib junk; do
		rc=0
		LD_LIBRARY_PATH=$T/$kind${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} timeout "$WAIT" \
			"$ECHO" -x -i 127.0.0.1 -p "$(free_port)" -n 1 "$@" \
			>"$T/$kind.out" 2>"$T/$kind.err" </dev/null || rc=$?
		err=$(cat "$T/$kind.err")
		ck "$kind $file: the start stops with exit 78 (got $rc)" '[[ $rc == 78 ]]'
		case $kind in
		notlib) want="$prefix $file has no " ;;
		junk) want="$prefix cannot load $what ($file): " ;;
		esac
		ck "$kind $file: one line says why ('$err')" '[[ $err == *"$want"* && $(wc -l <"$T/$kind.err") == 1 ]]'
	done
}

impostors "$libssl" "TLS:" OpenSSL -c "$PKI/server.crt" -k "$PKI/server.key"
if [[ -n $libseccomp ]] && "$ECHO" --help 2>&1 | grep -q -- '--seccomp'; then
	impostors "$libseccomp" "--seccomp:" libseccomp --seccomp
fi

t_finish
