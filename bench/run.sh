#!/usr/bin/env bash
# bench/run.sh - hsvr's benchmark suite (make bench; see bench/README).
#
# Installs what is missing (nginx, wrk, ab, gnuplot), builds an optimised
# copy of the tree in _build/bench (CFLAGS='-O2 -g', shared libhsvr installed
# to _build/bench/inst), then
# runs every workload against hsvr's example servers and the anchors:
# raw libevent (bench/echo-libevent, bench/http-libevent), the epoll limit
# (bench/echo-epoll) and nginx, in plain TCP and over TLS (one ECDSA P-256
# certificate made at run time, the same files for hsvr and nginx).  Every comparison is measured side by side:
# ROUNDS rounds, each running every server of the workload once in turn (the
# order rotates each round), each server started fresh on a fresh port of
# 127.0.0.1.  Medians and ratios go to bench/RESULTS.md, the ratios to
# bench/results.png.  Loads go to 127.0.0.1 only and are bounded in count
# and time; every server started is stopped on exit.
#
#   bench/run.sh            full run (12 to 15 minutes on 2 cores)
#   QUICK=1 bench/run.sh    2 rounds, short loads: checks the suite works
#
# Environment: ROUNDS, DUR (seconds per timed load), THREADS (worker threads
# of the multi-threaded servers; default nproc), IDLE_CONNS (default
# 10000), IDLE_TLS_CONNS (default 4000), BENCH_BUILD (default _build/bench),
# BENCH_OUT (where RESULTS.md, results.dat and results.png go; default bench/ of the
# source tree), BENCH_PORT (first port tried, default 20100), ONLY
# (space-separated workload names to run: echo64 echo64mt echo16k hello big
# close idle start tlshello tlsconn tlsidle proxy; "build" only builds),
# BENCH_NOTE (a sentence for the report, e.g. what else ran on the
# machine), KEEP_TMP=1.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=${QUICK:-0}
if ((QUICK)); then
	ROUNDS=${ROUNDS:-2}
	DUR=${DUR:-1}
	WARM=0.3
	IDLE_CONNS=${IDLE_CONNS:-2000}
	IDLE_TLS_CONNS=${IDLE_TLS_CONNS:-1000}
	AB_BIG_N=1000
	AB_CLOSE_N=5000
	PROXY_STREAM=200000000
	PROXY_CONNS=2000
	AB_TLS_N=1000
else
	ROUNDS=${ROUNDS:-5}
	DUR=${DUR:-5}
	WARM=1
	IDLE_CONNS=${IDLE_CONNS:-10000}
	IDLE_TLS_CONNS=${IDLE_TLS_CONNS:-4000}
	AB_BIG_N=5000
	AB_CLOSE_N=20000
	PROXY_STREAM=1000000000
	PROXY_CONNS=20000
	AB_TLS_N=5000
fi
NPROC=$(nproc)
THREADS=${THREADS:-$NPROC}
BUILD=${BENCH_BUILD:-$top/_build/bench}
OUT=${BENCH_OUT:-$top/bench}
PORT_NEXT=${BENCH_PORT:-20100}
ONLY=${ONLY:-}
ALL_WORKLOADS="echo64 echo64mt echo16k hello big close idle start tlshello tlsconn tlsidle proxy"
SCHEME=http # https in the TLS workloads
START_BUDGET_MS=50

say() { printf 'bench: %s\n' "$*" >&2; }
die() {
	printf 'bench: %s\n' "$*" >&2
	exit 1
}

# Not /tmp/hsvr-*: test suites clean that pattern up, even while we run.
TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-hsvr.XXXXXX")
chmod 755 "$TMP" # nginx's workers read the body file in it
RAW=$TMP/raw.tsv # workload server round metric value
CMDS=$TMP/commands.tsv
TLSINFO=$TMP/tls.tsv # workload server what the client negotiated
LOADS=$TMP/loads.tsv # workload, the load average when it started
: >"$RAW"
: >"$CMDS"
: >"$TLSINFO"
: >"$LOADS"
PIDS=()
POLICY_RCD=/usr/sbin/policy-rc.d
POLICY_RCD_OURS=0

cleanup() {
	local p tree=""
	for p in "${PIDS[@]}"; do
		[[ -z ${B:-} ]] || tree="$tree $("$B/procstat" tree "$p" 2>/dev/null | tr '\n' ' ')"
		kill -TERM "$p" 2>/dev/null || true
	done
	((${#PIDS[@]} == 0)) || sleep 0.5
	# shellcheck disable=SC2086 # a list of pids
	for p in "${PIDS[@]}" $tree; do
		kill -KILL "$p" 2>/dev/null || true
	done
	if ((POLICY_RCD_OURS)); then
		rm -f "$POLICY_RCD"
	fi
	if [[ ${KEEP_TMP:-0} == 1 ]]; then
		say "kept $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ packages

PACKAGES=(build-essential autoconf automake libtool pkg-config libevent-dev
	libssl-dev wrk apache2-utils gnuplot-nox curl iproute2 procps)

missing_packages() {
	local p st
	for p in "${PACKAGES[@]}"; do
		# shellcheck disable=SC2016 # a dpkg-query format
		st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
		[[ $st == ?i* ]] || printf '%s\n' "$p"
	done
	if [[ ! -x /usr/sbin/nginx ]] && ! command -v nginx >/dev/null 2>&1; then
		printf '%s\n' nginx-light
	fi
}

install_packages() {
	local missing
	command -v dpkg-query >/dev/null 2>&1 || {
		say "not Debian: install nginx, wrk, ab, gnuplot yourself"
		return 0
	}
	mapfile -t missing < <(missing_packages)
	((${#missing[@]})) || return 0
	if ((EUID != 0)); then
		say "missing packages (not root, not installing): ${missing[*]}; their workloads are skipped"
		return 0
	fi
	say "installing ${missing[*]}"
	# Installing must start no service (nginx's postinst would start one).
	if [[ ! -e $POLICY_RCD ]]; then
		printf '#!/bin/sh\n# written by hsvr bench/run.sh while installing\nexit 101\n' >"$POLICY_RCD"
		chmod 755 "$POLICY_RCD"
		POLICY_RCD_OURS=1
	fi
	apt-get -q update >"$TMP/apt.log" 2>&1 || say "apt-get update failed (see below)"
	if ! DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends \
		"${missing[@]}" >>"$TMP/apt.log" 2>&1; then
		# nginx-light is gone from newer Debian releases: try nginx.
		missing=("${missing[@]/nginx-light/nginx}")
		DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends \
			"${missing[@]}" >>"$TMP/apt.log" 2>&1 || {
			tail -n 20 "$TMP/apt.log" >&2
			say "some packages could not be installed; their workloads are skipped"
		}
	fi
	if ((POLICY_RCD_OURS)); then
		rm -f "$POLICY_RCD"
		POLICY_RCD_OURS=0
	fi
}

# ------------------------------------------------------------ building

build() {
	# The shared library, installed to a prefix of the build directory,
	# as a user runs it: OpenSSL is loaded only by servers that need TLS
	# (lib/ossl.c), and the installed programs are themselves, not
	# libtool's wrapper scripts (their RUNPATH names the prefix).
	local src=$top args
	# The tree as built (before this run writes RESULTS.md and the rest).
	BUILT_REV=$(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown)
	# A fresh clone has no configure; once there, make's rebuild rules
	# keep it and the Makefile.in files up to date.
	if [[ ! -x $top/configure || ! -f $top/Makefile.in ]]; then
		say "autoreconf -fi in $top"
		(cd "$top" && autoreconf -fi) >"$TMP/autoreconf.log" 2>&1 || {
			cat "$TMP/autoreconf.log" >&2
			die "autoreconf failed"
		}
		rm -f "$top/configure~"
	fi
	mkdir -p "$BUILD"
	if [[ -f $top/config.status ]]; then
		# Configured in place: configure refuses a second, out-of-tree
		# build, so build a clean copy of the sources instead.
		say "the source tree is configured in place; building a copy in $BUILD/src"
		rm -rf "$BUILD/src"
		mkdir -p "$BUILD/src"
		tar -C "$top" --exclude=./_build --exclude=./.git -cf - . | tar -C "$BUILD/src" -xf -
		make -C "$BUILD/src" distclean >/dev/null 2>&1 || true
		src=$BUILD/src
		BUILD=$BUILD/obj
		mkdir -p "$BUILD"
	fi
	args="CFLAGS=-O2 -g --enable-shared --disable-static --prefix=$BUILD/inst"
	if [[ ! -f $BUILD/config.status || "$(cat "$BUILD/.bench-configure" 2>/dev/null)" != "$src $args" ]]; then
		say "configuring in $BUILD: $src/configure CFLAGS='-O2 -g' --enable-shared --disable-static --prefix=$BUILD/inst"
		(cd "$BUILD" && "$src/configure" CFLAGS='-O2 -g' --enable-shared --disable-static --prefix="$BUILD/inst") \
			>"$TMP/configure.log" 2>&1 || {
			tail -n 30 "$TMP/configure.log" >&2
			die "configure failed in $BUILD"
		}
		printf '%s\n' "$src $args" >"$BUILD/.bench-configure"
	fi
	say "make -j$NPROC in $BUILD"
	make -C "$BUILD" -j"$NPROC" >"$TMP/make.log" 2>&1 || {
		tail -n 40 "$TMP/make.log" >&2
		die "make failed in $BUILD"
	}
	make -C "$BUILD" install >>"$TMP/make.log" 2>&1 || {
		tail -n 40 "$TMP/make.log" >&2
		die "make install failed in $BUILD"
	}
	HSVR_ECHO=$BUILD/inst/bin/hsvr-echo
	HSVR_HTTP=$BUILD/inst/bin/hsvr-http
	HSVR_PROXY=$BUILD/inst/bin/hsvr-proxy
	B=$BUILD/bench
	local f
	for f in "$HSVR_ECHO" "$HSVR_HTTP" "$HSVR_PROXY" "$B/echo-load" "$B/echo-libevent" \
		"$B/http-libevent" "$B/echo-epoll" "$B/procstat" "$B/startstop" \
		"$B/tls-idle"; do
		[[ -x $f ]] || die "$f was not built"
		# A libtool wrapper script would distort start-up times and PIDs.
		[[ $(head -c 2 "$f") != '#!' ]] || die "$f is a libtool wrapper script, not the program"
	done
}

# sys_like: the start rows measure hsvr as a system install runs it.  The
# prefix install's programs find libhsvr through their RUNPATH, where the
# dynamic linker first tries every hardware-capability subdirectory (about
# 20 failed openat and stat per start on glibc 2.36) that a library in the
# linker's cache never costs.  So, as root with unshare(1): hsvr-echo is
# linked again from the same object without a RUNPATH, the same
# hardening flags, and libhsvr is found through a cache made by ldconfig
# with the prefix's lib directory and the system's, mounted over
# /etc/ld.so.cache in a private mount namespace (unshare -m) that the
# start rows' startstop and every server, hsvr and the anchors alike, run
# in.  Otherwise the start rows run the prefix install, and the report
# says so.
SYSRUN=()
HSVR_ECHO_START=
sys_like() {
	local flags
	HSVR_ECHO_START=$HSVR_ECHO
	if ((EUID != 0)) || ! command -v unshare >/dev/null 2>&1 ||
		! command -v ldconfig >/dev/null 2>&1; then
		say "start rows: prefix install (not root, or no unshare/ldconfig): RUNPATH lookups included"
		return 0
	fi
	flags=$(sed -n 's/^HARDEN_LDFLAGS = //p' "$BUILD/Makefile")
	# shellcheck disable=SC2086 # $flags: linker flags, no blanks inside
	if ! ${CC:-cc} -O2 -g $flags -o "$TMP/hsvr-echo" "$BUILD/examples/echo.o" \
		-L"$BUILD/inst/lib" -lhsvr -pthread >>"$TMP/make.log" 2>&1; then
		say "start rows: cannot link hsvr-echo without RUNPATH: prefix install"
		return 0
	fi
	printf '%s\ninclude /etc/ld.so.conf\n' "$BUILD/inst/lib" >"$TMP/ld.so.conf"
	printf '#!/bin/sh\n# the private linker cache, then the command\nmount --bind %s /etc/ld.so.cache && exec "$@"\n' \
		"$TMP/ld.so.cache" >"$TMP/sys-like"
	chmod 755 "$TMP/sys-like"
	if ! ldconfig -C "$TMP/ld.so.cache" -f "$TMP/ld.so.conf" >>"$TMP/make.log" 2>&1 ||
		! unshare -m "$TMP/sys-like" "$TMP/hsvr-echo" --version >/dev/null 2>&1; then
		say "start rows: no private linker cache (ldconfig -C, unshare -m): prefix install"
		return 0
	fi
	SYSRUN=(unshare -m "$TMP/sys-like")
	HSVR_ECHO_START=$TMP/hsvr-echo
	say "start rows: hsvr-echo without RUNPATH, libhsvr through a private ldconfig cache (unshare -m)"
}

# ------------------------------------------------------------ servers

NGINX=$(command -v nginx 2>/dev/null || true)
[[ -n $NGINX || ! -x /usr/sbin/nginx ]] || NGINX=/usr/sbin/nginx

# next_port: a port of 127.0.0.1 with no socket on it (not even TIME_WAIT).
next_port() {
	local p=$PORT_NEXT
	while [[ -n $(ss -Htan "( sport = :$p )" 2>/dev/null) ]]; do
		p=$((p + 1))
	done
	PORT_NEXT=$((p + 1))
	PORT=$p
}

# TLS_CERT, TLS_KEY: one self-signed ECDSA P-256 certificate for every TLS
# server of the run (hsvr and nginx alike), made on first use.
TLS_DIR=$TMP/tls
TLS_CERT=$TLS_DIR/cert.pem
TLS_KEY=$TLS_DIR/key.pem
tls_material() {
	[[ ! -s $TLS_CERT ]] || return 0
	mkdir -p "$TLS_DIR"
	chmod 755 "$TLS_DIR"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-days 2 -subj /CN=localhost -keyout "$TLS_KEY" -out "$TLS_CERT" \
		>"$TMP/openssl.log" 2>&1 || {
		cat "$TMP/openssl.log" >&2
		die "openssl req could not make the test certificate"
	}
}

# tls_note SERVER TEXT: what a client negotiated with SERVER (once each).
tls_note() {
	[[ -n $2 ]] || return 0
	grep -q "^$CUR_WL	$1	" "$TLSINFO" || printf '%s\t%s\t%s\n' "$CUR_WL" "$1" "$2" >>"$TLSINFO"
}

# nginx_conf DIR PORT MODE [ssl|deferred]: a configuration for hello or
# body (1 MB file), plain, plain with "listen ... deferred"
# (TCP_DEFER_ACCEPT, as hsvr-http's serv_set_defer_accept), or over TLS
# with the run's certificate.
nginx_conf() {
	local dir=$1 port=$2 mode=$3 tls=${4:-} user=""
	mkdir -p "$dir/logs" "$dir/tmp"
	chmod 755 "$dir" "$dir/logs" "$dir/tmp"
	((EUID != 0)) || user="user www-data;"
	head -c 1000000 /dev/zero | tr '\0' 'a' >"$dir/body.bin"
	chmod 644 "$dir/body.bin"
	cat >"$dir/nginx.conf" <<EOF
# generated by hsvr bench/run.sh: the same HTTP work as hsvr-http
$user
worker_processes $THREADS;
worker_rlimit_nofile 20000;
error_log $dir/logs/error.log warn;
pid $dir/nginx.pid;
events {
    worker_connections 20000;
}
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 600s;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    default_type application/octet-stream;
    server {
EOF
	if [[ $tls == ssl ]]; then
		# As hsvr: TLS 1.2 and 1.3, Mozilla's intermediate profile
		# (its TLS 1.2 ciphers and groups), the client's order of
		# preference, OpenSSL's defaults otherwise (session tickets on,
		# no session cache).
		cat >>"$dir/nginx.conf" <<EOF
        listen 127.0.0.1:$port ssl;
        ssl_certificate $TLS_CERT;
        ssl_certificate_key $TLS_KEY;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
        ssl_ecdh_curve X25519:prime256v1:secp384r1;
        ssl_prefer_server_ciphers off;
EOF
	elif [[ $tls == deferred ]]; then
		echo "        listen 127.0.0.1:$port deferred;" >>"$dir/nginx.conf"
	else
		echo "        listen 127.0.0.1:$port;" >>"$dir/nginx.conf"
	fi
	cat >>"$dir/nginx.conf" <<EOF
        root $dir;
        location = / {
EOF
	if [[ $mode == hello ]]; then
		printf '            return 200 "Hello, world\\n";\n' >>"$dir/nginx.conf"
	else
		echo '            try_files /body.bin =404;' >>"$dir/nginx.conf"
	fi
	cat >>"$dir/nginx.conf" <<EOF
        }
    }
}
EOF
}

HAPROXY=$(command -v haproxy 2>/dev/null || true)
[[ -n $HAPROXY || ! -x /usr/sbin/haproxy ]] || HAPROXY=/usr/sbin/haproxy

# haproxy_conf FILE PORT: haproxy in TCP mode on PORT in front of
# BACKEND_PORT, as many threads as hsvr-proxy has workers, a health check
# every 2 s as hsvr-proxy's default, no log.
haproxy_conf() {
	cat >"$1" <<EOF
# generated by hsvr bench/run.sh: the same work as hsvr-proxy
global
    nbthread $THREADS
    maxconn 4000
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
listen proxy
    bind 127.0.0.1:$2
    server echo 127.0.0.1:$BACKEND_PORT check inter 2s
EOF
}

# server_cmd NAME PORT: set CMD to the command line of server NAME.
server_cmd() {
	local name=$1 port=$2 dir
	case $name in
	hsvr-echo-1) CMD=("$HSVR_ECHO" -x -i 127.0.0.1 -p "$port" -n 1 -m 12000 -T 3600 --pidfile "$TMP/hsvr-$port.pid") ;;
	hsvr-echo-N) CMD=("$HSVR_ECHO" -x -i 127.0.0.1 -p "$port" -n "$THREADS" -m 12000 -T 3600 --pidfile "$TMP/hsvr-$port.pid") ;;
	libevent-echo) CMD=("$B/echo-libevent" -p "$port") ;;
	epoll-1) CMD=("$B/echo-epoll" -p "$port" -t 1) ;;
	epoll-N) CMD=("$B/echo-epoll" -p "$port" -t "$THREADS") ;;
	hsvr-http-hello) CMD=("$HSVR_HTTP" -x -i 127.0.0.1 -p "$port" -n "$THREADS" -m 2000 -T 600 --pidfile "$TMP/hsvr-$port.pid" --hello) ;;
	hsvr-http-hello-rp) CMD=("$HSVR_HTTP" -x -i 127.0.0.1 -p "$port" -n "$THREADS" -m 2000 -T 600 --pidfile "$TMP/hsvr-$port.pid" --hello --reuseport) ;;
	hsvr-http-hello-at) CMD=("$HSVR_HTTP" -x -i 127.0.0.1 -p "$port" -n "$THREADS" -m 2000 -T 600 --pidfile "$TMP/hsvr-$port.pid" --hello --accept-thread) ;;
	hsvr-http-1mb) CMD=("$HSVR_HTTP" -x -i 127.0.0.1 -p "$port" -n "$THREADS" -m 2000 -T 600 --pidfile "$TMP/hsvr-$port.pid" --body-size 1000000) ;;
	hsvr-http-file)
		# The file nginx serves: 1,000,000 bytes of 'a'.
		[[ -f $TMP/body.bin ]] || head -c 1000000 /dev/zero | tr '\0' 'a' >"$TMP/body.bin"
		CMD=("$HSVR_HTTP" -x -i 127.0.0.1 -p "$port" -n "$THREADS" -m 2000 -T 600 --pidfile "$TMP/hsvr-$port.pid" --file "$TMP/body.bin")
		;;
	libevent-http-hello) CMD=("$B/http-libevent" -p "$port" --hello) ;;
	libevent-http-1mb) CMD=("$B/http-libevent" -p "$port" -b 1000000) ;;
	nginx-hello | nginx-1mb)
		dir=$TMP/nginx-$port
		nginx_conf "$dir" "$port" "${name#nginx-}"
		CMD=("$NGINX" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off; master_process on;')
		;;
	nginx-hello-deferred)
		dir=$TMP/nginx-$port
		nginx_conf "$dir" "$port" hello deferred
		CMD=("$NGINX" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off; master_process on;')
		;;
	# TLS: the run's certificate and key for all; -m above IDLE_TLS_CONNS.
	hsvr-http-hello-tls) CMD=("$HSVR_HTTP" -x -i 127.0.0.1 -p "$port" -n "$THREADS" -m 12000 -T 600 --pidfile "$TMP/hsvr-$port.pid" --hello -c "$TLS_CERT" -k "$TLS_KEY") ;;
	hsvr-echo-tls-1) CMD=("$HSVR_ECHO" -x -i 127.0.0.1 -p "$port" -n 1 -m 12000 -T 3600 --pidfile "$TMP/hsvr-$port.pid" -c "$TLS_CERT" -k "$TLS_KEY") ;;
	hsvr-echo-tls-keep-1) CMD=("$HSVR_ECHO" -x -i 127.0.0.1 -p "$port" -n 1 -m 12000 -T 3600 --pidfile "$TMP/hsvr-$port.pid" -c "$TLS_CERT" -k "$TLS_KEY" --tls-keep-buffers) ;;
	nginx-hello-tls)
		dir=$TMP/nginx-$port
		nginx_conf "$dir" "$port" hello ssl
		CMD=("$NGINX" -p "$dir" -c "$dir/nginx.conf" -g 'daemon off; master_process on;')
		;;
	# The proxy rows: both in front of BACKEND_PORT (bench/echo-epoll),
	# both probing it every 2 s.
	hsvr-proxy) CMD=("$HSVR_PROXY" -x -i 127.0.0.1 -p "$port" -n "$THREADS" -m 12000 -T 3600 --pidfile "$TMP/hsvr-$port.pid" --to "127.0.0.1:$BACKEND_PORT") ;;
	haproxy-tcp)
		haproxy_conf "$TMP/haproxy-$port.cfg" "$port"
		CMD=("$HAPROXY" -db -f "$TMP/haproxy-$port.cfg")
		;;
	*) die "unknown server $name" ;;
	esac
}

have_server() {
	case $1 in
	nginx-*) [[ -n $NGINX ]] ;;
	haproxy-*) [[ -n $HAPROXY ]] ;;
	*) return 0 ;;
	esac
}

# show_cmd ARG...: the command as one would type it (arguments with blanks
# or quotes in single quotes).
show_cmd() {
	local a out=""
	for a in "$@"; do
		if [[ $a == *[[:space:]\'\"\;]* ]]; then
			a="'${a//\'/\'\\\'\'}'"
		fi
		out+="${out:+ }$a"
	done
	printf '%s' "$out"
}

# start_server NAME: start it on a fresh port; sets SRV_PID and PORT.
start_server() {
	local name=$1 log
	next_port
	server_cmd "$name" "$PORT"
	log=$TMP/$name.log
	[[ $name != *-tls* ]] || tls_material
	printf '\n==== %s\n' "${CMD[*]}" >>"$log"
	"${CMD[@]}" >>"$log" 2>&1 &
	SRV_PID=$!
	PIDS+=("$SRV_PID")
	if ! "$B/procstat" wait "$PORT" 10000 >/dev/null; then
		tail -n 20 "$log" >&2
		die "$name did not start listening on 127.0.0.1:$PORT"
	fi
	# The command as the report shows it.
	if ! grep -q "^$CUR_WL	$name	" "$CMDS"; then
		printf '%s\t%s\t%s\n' "$CUR_WL" "$name" "$(show_cmd "${CMD[@]}")" |
			sed "s#$TMP#TMPDIR#g; s/\b$PORT\b/PORT/g; s#$BUILD/##g" >>"$CMDS"
	fi
}

# stop_server: SIGTERM to the server; after 5 s, SIGKILL to it and to every
# process it had started (hsvr's serving process, nginx's workers).
stop_server() {
	local pid=$SRV_PID i tree
	tree=$("$B/procstat" tree "$pid" 2>/dev/null | tr '\n' ' ')
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "WARNING: $pid did not exit 5 s after SIGTERM; killing it"
	fi
	# shellcheck disable=SC2086 # a list of pids
	kill -KILL $tree 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	local keep=() p
	for p in "${PIDS[@]}"; do
		[[ $p == "$pid" ]] || keep+=("$p")
	done
	PIDS=("${keep[@]+"${keep[@]}"}")
}

# ------------------------------------------------------------ recording

record() { printf '%s\t%s\t%s\t%s\t%s\n' "$CUR_WL" "$1" "$ROUND" "$2" "$3" >>"$RAW"; }

# kv KEY LINE: the value of KEY=value in LINE.
kv() { awk -v k="$1" '{ for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == k) print a[2] } }' <<<"$2"; }

cpu_ticks() { "$B/procstat" cpu "$1"; }
HZ=100

# Record the load command once per workload and server, as run.
record_load_cmd() {
	if ! grep -q "^$CUR_WL	load:$1	" "$CMDS"; then
		printf '%s\tload:%s\t%s\n' "$CUR_WL" "$1" "$2" |
			sed "s/-P $SRV_PID\b/-P PID/g; s/\b$PORT\b/PORT/g; s#$BUILD/##g" >>"$CMDS"
	fi
}

# rounds SERVER...: every round runs each server once, in rotated order.
rounds() {
	local servers=("$@") n=$# i j s
	for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
		for ((j = 0; j < n; j++)); do
			i=$(((j + ROUND - 1) % n))
			s=${servers[$i]}
			have_server "$s" || continue
			one_run "$s"
		done
	done
}

# ------------------------------------------------------------ workloads

ECHO_CONNS=100 ECHO_SIZE=64 ECHO_LOADT=1

echo_run() {
	local s=$1 out cmd
	start_server "$s"
	cmd="$B/echo-load -p $PORT -c $ECHO_CONNS -s $ECHO_SIZE -d $DUR -w $WARM -t $ECHO_LOADT -P $SRV_PID"
	record_load_cmd "$s" "$cmd"
	# shellcheck disable=SC2086 # $cmd: a command line without quoted arguments
	if ! out=$(timeout $((${DUR%.*} + 90)) $cmd); then
		stop_server
		die "echo load against $s failed: $out"
	fi
	stop_server
	say "$CUR_WL round $ROUND $s: $out"
	record "$s" tps "$(kv trips_per_s "$out")"
	record "$s" cpu_us "$(kv cpu_us_per_trip "$out")"
	record "$s" util "$(kv cpu_util "$out")"
}

# A first short run with content checks (-V) of every echo server.
echo_verify() {
	local s out
	for s in "$@"; do
		start_server "$s"
		if ! out=$(timeout 30 "$B/echo-load" -p "$PORT" -c 4 -s 20000 -d 0.3 -w 0 -V 2>&1) ||
			! out=$(timeout 30 "$B/echo-load" -p "$PORT" -c 4 -s 64 -d 0.3 -w 0 -V 2>&1); then
			stop_server
			die "echo check of $s failed: $out"
		fi
		stop_server
	done
}

wl_echo64() {
	CUR_WL=echo64
	ECHO_CONNS=100 ECHO_SIZE=64 ECHO_LOADT=1
	echo_verify hsvr-echo-1 libevent-echo epoll-1
	one_run() { echo_run "$1"; }
	rounds hsvr-echo-1 libevent-echo epoll-1
}

wl_echo64mt() {
	CUR_WL=echo64mt
	ECHO_CONNS=100 ECHO_SIZE=64 ECHO_LOADT=$THREADS
	one_run() { echo_run "$1"; }
	rounds hsvr-echo-N epoll-N
}

wl_echo16k() {
	CUR_WL=echo16k
	ECHO_CONNS=10 ECHO_SIZE=16384 ECHO_LOADT=$THREADS
	one_run() { echo_run "$1"; }
	rounds hsvr-echo-N epoll-N libevent-echo
}

# http_check SERVER BYTES: one GET / must bring BYTES bytes of body.
http_check() {
	local got
	command -v curl >/dev/null 2>&1 || return 0
	got=$(curl -s -k --max-time 10 -o /dev/null -w '%{http_code} %{size_download}' "$SCHEME://127.0.0.1:$PORT/") || true
	[[ $got == "200 $2" ]] || {
		stop_server
		die "$1: GET / gave '$got', not '200 $2'"
	}
}

wrk_run() {
	local s=$1 out c0 c1 reqs rps errs cmd
	start_server "$s"
	[[ $ROUND != 1 ]] || http_check "$s" 13
	cmd="wrk -t $THREADS -c 100 -d ${DUR}s $SCHEME://127.0.0.1:$PORT/"
	record_load_cmd "$s" "$cmd"
	c0=$(cpu_ticks "$SRV_PID")
	# shellcheck disable=SC2086 # $cmd: a command line without quoted arguments
	out=$(timeout $((${DUR%.*} + 60)) $cmd 2>&1) || {
		stop_server
		die "wrk against $s failed: $out"
	}
	c1=$(cpu_ticks "$SRV_PID")
	stop_server
	reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
	rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
	errs=$(awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(",", ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' <<<"$out")
	[[ -n $reqs && -n $rps ]] || die "cannot read wrk's output: $out"
	((errs == 0)) || say "WARNING: $s: $errs errors in wrk's run"
	say "$CUR_WL round $ROUND $s: $rps req/s, $reqs requests, cpu $((c1 - c0)) ticks, errors $errs"
	record "$s" rps "$rps"
	record "$s" cpu_us "$(awk -v t=$((c1 - c0)) -v r="$reqs" -v hz="$HZ" 'BEGIN { printf "%.3f", t * 1e6 / hz / r }')"
	record "$s" errors "$errs"
}

# ab_run SERVER N C BYTES
ab_run() {
	local s=$1 n=$2 c=$3 bytes=$4 out c0 c1 rps ndone failed non2xx doclen cmd
	start_server "$s"
	[[ $ROUND != 1 ]] || http_check "$s" "$bytes"
	cmd="ab -q -t 120 -n $n -c $c $SCHEME://127.0.0.1:$PORT/"
	record_load_cmd "$s" "$cmd"
	c0=$(cpu_ticks "$SRV_PID")
	# shellcheck disable=SC2086 # $cmd: a command line without quoted arguments
	out=$(timeout 150 $cmd 2>&1) || {
		stop_server
		die "ab against $s failed: $out"
	}
	c1=$(cpu_ticks "$SRV_PID")
	stop_server
	rps=$(awk '/^Requests per second:/ { print $4 }' <<<"$out")
	ndone=$(awk '/^Complete requests:/ { print $3 }' <<<"$out")
	failed=$(awk '/^Failed requests:/ { print $3 }' <<<"$out")
	non2xx=$(awk '/^Non-2xx responses:/ { print $3 }' <<<"$out")
	doclen=$(awk '/^Document Length:/ { print $3 }' <<<"$out")
	# "TLSv1.3,TLS_AES_256_GCM_SHA384,256,256" and "X25519 253 bits"
	tls_note "$s" "$(awk '/^SSL\/TLS Protocol:/ { split($3, p, ","); v = p[1] " " p[2] }
		/^Server Temp Key:/ { g = $4 } END { if (v != "") print v " " g }' <<<"$out")"
	[[ -n $rps && -n $ndone ]] || die "cannot read ab's output: $out"
	[[ $doclen == "$bytes" ]] || die "$s: ab saw $doclen-byte documents, not $bytes"
	((ndone == n)) || say "WARNING: $s: ab completed $ndone of $n requests"
	((${failed:-0} + ${non2xx:-0} == 0)) || say "WARNING: $s: ab: $failed failed, ${non2xx:-0} non-2xx"
	say "$CUR_WL round $ROUND $s: $rps req/s, $ndone requests, cpu $((c1 - c0)) ticks, failed ${failed:-0}"
	record "$s" rps "$rps"
	record "$s" cpu_us "$(awk -v t=$((c1 - c0)) -v r="$ndone" -v hz="$HZ" 'BEGIN { printf "%.3f", t * 1e6 / hz / r }')"
	record "$s" errors "$((${failed:-0} + ${non2xx:-0}))"
}

wl_hello() {
	CUR_WL=hello
	command -v wrk >/dev/null || {
		say "no wrk: hello skipped"
		return 0
	}
	one_run() { wrk_run "$1"; }
	rounds hsvr-http-hello nginx-hello libevent-http-hello
}

wl_big() {
	CUR_WL=big
	command -v ab >/dev/null || {
		say "no ab: big skipped"
		return 0
	}
	one_run() { ab_run "$1" "$AB_BIG_N" 100 1000000; }
	rounds hsvr-http-file hsvr-http-1mb nginx-1mb libevent-http-1mb
}

wl_close() {
	CUR_WL=close
	command -v ab >/dev/null || {
		say "no ab: close skipped"
		return 0
	}
	one_run() { ab_run "$1" "$AB_CLOSE_N" 50 13; }
	rounds hsvr-http-hello hsvr-http-hello-rp hsvr-http-hello-at nginx-hello nginx-hello-deferred libevent-http-hello
}

idle_run() {
	local s=$1 out cmd
	start_server "$s"
	cmd="$B/echo-load -i -c $IDLE_CONNS -P $SRV_PID -L 120"
	cmd="$cmd -p $PORT"
	record_load_cmd "$s" "$cmd"
	# shellcheck disable=SC2086 # $cmd: a command line without quoted arguments
	out=$(timeout 150 $cmd) || {
		stop_server
		die "idle load against $s failed: $out"
	}
	stop_server
	say "$CUR_WL round $ROUND $s: $out"
	record "$s" rss_kb "$(kv rss_after_kb "$out")"
	record "$s" uniq_kb "$(kv uniq_after_kb "$out")"
	record "$s" base_kb "$(kv rss_before_kb "$out")"
	record "$s" bpc "$(kv bytes_per_conn "$out")"
	record "$s" pss_kb "$(kv pss_after_kb "$out")"
	record "$s" anon_kb "$(kv anon_after_kb "$out")"
	record "$s" abpc "$(kv anon_bytes_per_conn "$out")"
}

wl_idle() {
	CUR_WL=idle
	one_run() { idle_run "$1"; }
	rounds hsvr-echo-1 libevent-echo epoll-1 hsvr-echo-N
}

# The TLS workloads: the run's ECDSA P-256 certificate for hsvr and nginx.
wl_tlshello() {
	local SCHEME=https
	CUR_WL=tlshello
	command -v wrk >/dev/null || {
		say "no wrk: tlshello skipped"
		return 0
	}
	one_run() { wrk_run "$1"; }
	rounds hsvr-http-hello-tls nginx-hello-tls
}

# A new connection, a full handshake (ab resumes no session), one request
# and its answer, and a close, per request: handshakes per second.
wl_tlsconn() {
	local SCHEME=https
	CUR_WL=tlsconn
	command -v ab >/dev/null || {
		say "no ab: tlsconn skipped"
		return 0
	}
	one_run() { ab_run "$1" "$AB_TLS_N" 50 13; }
	rounds hsvr-http-hello-tls nginx-hello-tls
}

tls_idle_run() {
	local s=$1 out cmd get=""
	start_server "$s"
	# HTTP servers get one GET (and keep the connection alive), echo a line.
	[[ $s == hsvr-echo-* ]] || get=" -g"
	cmd="$B/tls-idle -c $IDLE_TLS_CONNS -t 4$get -P $SRV_PID -L 150 -p $PORT"
	record_load_cmd "$s" "$cmd"
	# shellcheck disable=SC2086 # $cmd: a command line without quoted arguments
	out=$(timeout 180 $cmd) || {
		stop_server
		die "idle TLS load against $s failed: $out"
	}
	stop_server
	say "$CUR_WL round $ROUND $s: $out"
	tls_note "$s" "$(kv protocol "$out") $(kv cipher "$out") $(kv group "$out")"
	record "$s" rss_kb "$(kv rss_after_kb "$out")"
	record "$s" base_kb "$(kv rss_before_kb "$out")"
	record "$s" bpc "$(kv bytes_per_conn "$out")"
	record "$s" pss_kb "$(kv pss_after_kb "$out")"
	record "$s" anon_kb "$(kv anon_after_kb "$out")"
	record "$s" abpc "$(kv anon_bytes_per_conn "$out")"
}

wl_tlsidle() {
	CUR_WL=tlsidle
	one_run() { tls_idle_run "$1"; }
	rounds hsvr-echo-tls-1 hsvr-echo-tls-keep-1 hsvr-http-hello-tls nginx-hello-tls
}

start_run() {
	local s=$1 out cmd earg=--version clients=100 run
	next_port
	# nginx reads its port from a file written for this one: PORT itself.
	if [[ $s == nginx-* ]]; then
		server_cmd "$s" "$PORT"
		clients=0 # it echoes nothing: listening and exec only
	else
		server_cmd "$s" "{PORT}"
	fi
	[[ $s == hsvr-* ]] || earg=-h # the anchors: usage message
	[[ ${CMD[0]} != "$HSVR_ECHO" ]] || CMD[0]=$HSVR_ECHO_START
	run=("${SYSRUN[@]}" "$B/startstop" -p "$PORT" -r 1 -c "$clients" -e "$earg" -o "$TMP/$s.log" -- "${CMD[@]}")
	if ! grep -q "^$CUR_WL	$s	" "$CMDS"; then
		cmd=$(show_cmd "${run[@]}")
		printf '%s\t%s\t%s\n' "$CUR_WL" "$s" "$cmd" | sed "s#$TMP#TMPDIR#g; s/\b$PORT\b/PORT/g; s#$BUILD/##g" >>"$CMDS"
	fi
	out=$(timeout 60 "${run[@]}") || die "start/stop of $s failed: $out"
	say "$CUR_WL round $ROUND $s: $out"
	record "$s" listen_ms "$(kv listen_ms "$out")"
	record "$s" exec_ms "$(kv exec_ms "$out")"
	((clients > 0)) || return 0
	record "$s" serve_ms "$(kv serve_ms "$out")"
	record "$s" exit_ms "$(kv exit_ms "$out")"
	record "$s" exit_status "$(kv status "$out")"
}

# Start and stop times are short and noisy, and a round takes a fraction
# of a second: three times as many rounds.
wl_start() {
	local saved=$ROUNDS
	CUR_WL=start
	[[ -n $HSVR_ECHO_START ]] || sys_like
	ROUNDS=$((ROUNDS * 3))
	one_run() { start_run "$1"; }
	rounds hsvr-echo-N libevent-echo nginx-hello
	ROUNDS=$saved
}

# The proxy rows: hsvr-proxy and haproxy in TCP mode in front of a fresh
# bench/echo-epoll each round; CPU is the proxy's process tree's only.
# t-hproxy-peer (tests/hproxy-peer.c) drives the stream and the short
# connections.

# proxy_backend: start echo-epoll -t THREADS on a fresh port
# (BACKEND_PORT, BACKEND_PID).
proxy_backend() {
	next_port
	BACKEND_PORT=$PORT
	"$B/echo-epoll" -p "$BACKEND_PORT" -t "$THREADS" >>"$TMP/echo-epoll-backend.log" 2>&1 &
	BACKEND_PID=$!
	PIDS+=("$BACKEND_PID")
	"$B/procstat" wait "$BACKEND_PORT" 10000 >/dev/null || die "echo-epoll did not start on port $BACKEND_PORT"
}

proxy_backend_stop() {
	local keep=() p
	kill -TERM "$BACKEND_PID" 2>/dev/null || true
	wait "$BACKEND_PID" 2>/dev/null || true
	for p in "${PIDS[@]}"; do
		[[ $p == "$BACKEND_PID" ]] || keep+=("$p")
	done
	PIDS=("${keep[@]+"${keep[@]}"}")
}

proxy_stream_run() {
	local s=$1 out c0 c1 bytes secs cmd
	start_server "$s"
	cmd="$PEER stream $PORT $PROXY_STREAM"
	record_load_cmd "$s" "$cmd"
	c0=$(cpu_ticks "$SRV_PID")
	# shellcheck disable=SC2086 # $cmd: a command line without quoted arguments
	out=$(HPROXY_LIMIT=300 $cmd 2>&1) || {
		stop_server
		die "the stream through $s failed: $out"
	}
	c1=$(cpu_ticks "$SRV_PID")
	stop_server
	bytes=$(kv bytes "$out")
	secs=$(kv seconds "$out")
	say "$CUR_WL round $ROUND $s: $out, cpu $((c1 - c0)) ticks"
	record "$s" mbps "$(kv mb_per_s "$out")"
	# Seconds of proxy CPU per GB carried each way.
	record "$s" cpu_s_gb "$(awk -v t=$((c1 - c0)) -v b="$bytes" -v hz="$HZ" 'BEGIN { printf "%.3f", t / hz / (b / 1e9) }')"
	record "$s" util "$(awk -v t=$((c1 - c0)) -v d="$secs" -v hz="$HZ" 'BEGIN { printf "%.3f", t / hz / d }')"
}

proxy_conns_run() {
	local s=$1 out c0 c1 n cmd
	start_server "$s"
	cmd="$PEER conns $PORT $PROXY_CONNS 50"
	record_load_cmd "$s" "$cmd"
	c0=$(cpu_ticks "$SRV_PID")
	# shellcheck disable=SC2086 # $cmd: a command line without quoted arguments
	out=$(HPROXY_LIMIT=300 $cmd 2>&1) || {
		stop_server
		die "the short connections through $s failed: $out"
	}
	c1=$(cpu_ticks "$SRV_PID")
	stop_server
	n=$(kv ok "$out")
	say "$CUR_WL round $ROUND $s: $out, cpu $((c1 - c0)) ticks"
	record "$s" rps "$(kv conns_per_s "$out")"
	record "$s" cpu_us "$(awk -v t=$((c1 - c0)) -v r="$n" -v hz="$HZ" 'BEGIN { printf "%.3f", t * 1e6 / hz / r }')"
	record "$s" errors "$(kv failed "$out")"
}

wl_proxy() {
	[[ -n $HAPROXY ]] || say "no haproxy: the proxy rows have no anchor"
	say "make tests/t-hproxy-peer in $BUILD"
	make -C "$BUILD" tests/t-hproxy-peer >>"$TMP/make.log" 2>&1 || die "cannot build tests/t-hproxy-peer"
	PEER=$BUILD/tests/t-hproxy-peer

	CUR_WL=proxy64
	ECHO_CONNS=100 ECHO_SIZE=64 ECHO_LOADT=$THREADS
	proxy_backend
	echo_verify hsvr-proxy
	proxy_backend_stop
	one_run() {
		proxy_backend
		echo_run "$1"
		proxy_backend_stop
	}
	rounds hsvr-proxy haproxy-tcp

	CUR_WL=proxystream
	one_run() {
		proxy_backend
		proxy_stream_run "$1"
		proxy_backend_stop
	}
	rounds hsvr-proxy haproxy-tcp

	CUR_WL=proxyconn
	one_run() {
		proxy_backend
		proxy_conns_run "$1"
		proxy_backend_stop
	}
	rounds hsvr-proxy haproxy-tcp
}

# ------------------------------------------------------------ report

# med WL SERVER METRIC: median over the rounds (empty if none).
med() {
	awk -F'\t' -v w="$1" -v s="$2" -v m="$3" '$1 == w && $2 == s && $4 == m { print $5 }' "$RAW" |
		sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# rstats WL HSVR ANCHOR METRIC: "median lo hi" of the per-round ratios
# (hsvr's figure over the anchor's of the same round; rounds where either
# is missing are left out), empty if no round has both.  The rounds are
# measured side by side, so a round's ratio cancels what the machine's
# load did to both; a ratio of the two medians would pair rounds that the
# load treated differently.
rstats() {
	awk -F'\t' -v w="$1" -v a="$2" -v b="$3" -v m="$4" '
		$1 == w && $4 == m && $2 == a { x[$3] = $5 }
		$1 == w && $4 == m && $2 == b { y[$3] = $5 }
		END {
			for (r in x) if ((r in y) && y[r] > 0) print x[r] / y[r]
		}' "$RAW" |
		sort -g | awk '{ v[NR] = $1 } END {
			if (NR == 0) exit
			m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%.4f %.2f %.2f\n", m, v[1], v[NR] }'
}

fmt() { # fmt VALUE: a readable number
	awk -v v="$1" 'BEGIN {
		if (v == "") { print "—"; exit }
		a = v < 0 ? -v : v
		if (a >= 100000) printf "%.0f", v
		else if (a >= 1000) printf "%.0f", v
		else if (a >= 100) printf "%.1f", v
		else if (a >= 10) printf "%.2f", v
		else printf "%.3f", v }'
}

# The comparisons: workload|label|metric|unit|hsvr server|anchor server|
# anchor label|op (le, ge, or - for information)|target ratio|chart label
COMPARISONS=(
	"echo64|echo 64 B × 100 conns, 1 thread|cpu_us|µs server CPU/round trip|hsvr-echo-1|libevent-echo|raw libevent echo|le|0.9|echo64 CPU vs libevent"
	"echo64|echo 64 B × 100 conns, 1 thread|cpu_us|µs server CPU/round trip|hsvr-echo-1|epoll-1|epoll limit -t 1|le|1.15|echo64 CPU vs epoll"
	"echo64|echo 64 B × 100 conns, 1 thread|tps|round trips/s|hsvr-echo-1|libevent-echo|raw libevent echo|-||echo64 trips/s vs libevent"
	"echo64|echo 64 B × 100 conns, 1 thread|tps|round trips/s|hsvr-echo-1|epoll-1|epoll limit -t 1|-||echo64 trips/s vs epoll"
	"echo64mt|echo 64 B × 100 conns, $THREADS threads|tps|round trips/s|hsvr-echo-N|epoll-N|epoll limit -t $THREADS|-||echo64 ${THREADS}t trips/s vs epoll"
	"echo64mt|echo 64 B × 100 conns, $THREADS threads|cpu_us|µs server CPU/round trip|hsvr-echo-N|epoll-N|epoll limit -t $THREADS|-||echo64 ${THREADS}t CPU vs epoll"
	"echo16k|echo 16 KB × 10 conns, $THREADS threads|tps|round trips/s|hsvr-echo-N|epoll-N|epoll limit -t $THREADS|ge|0.8|echo16k trips/s vs epoll"
	"echo16k|echo 16 KB × 10 conns, $THREADS threads|cpu_us|µs server CPU/round trip|hsvr-echo-N|epoll-N|epoll limit -t $THREADS|-||echo16k CPU vs epoll"
	"echo16k|echo 16 KB × 10 conns, $THREADS threads|tps|round trips/s|hsvr-echo-N|libevent-echo|raw libevent echo (1 thread)|-||echo16k trips/s vs libevent"
	"hello|HTTP keep-alive hello, wrk 100 conns|rps|requests/s|hsvr-http-hello|nginx-hello|nginx, $THREADS workers|ge|1.0|hello req/s vs nginx"
	"hello|HTTP keep-alive hello, wrk 100 conns|cpu_us|µs server CPU/request|hsvr-http-hello|nginx-hello|nginx, $THREADS workers|le|1.0|hello CPU vs nginx"
	"hello|HTTP keep-alive hello, wrk 100 conns|rps|requests/s|hsvr-http-hello|libevent-http-hello|libevent evhttp (1 thread)|-||hello req/s vs evhttp"
	"hello|HTTP keep-alive hello, wrk 100 conns|cpu_us|µs server CPU/request|hsvr-http-hello|libevent-http-hello|libevent evhttp (1 thread)|-||hello CPU vs evhttp"
	"big|HTTP 1 MB file, ab -n $AB_BIG_N -c 100 (hsvr-http --file: S_send_file)|rps|requests/s|hsvr-http-file|nginx-1mb|nginx sendfile, $THREADS workers|ge|1.0|1MB file req/s vs nginx"
	"big|HTTP 1 MB file, ab -n $AB_BIG_N -c 100 (hsvr-http --file: S_send_file)|cpu_us|µs server CPU/request|hsvr-http-file|nginx-1mb|nginx sendfile, $THREADS workers|-||1MB file CPU vs nginx"
	"big|HTTP 1 MB default body, ab -n $AB_BIG_N -c 100 (written once at start to an unnamed file, S_send_file)|rps|requests/s|hsvr-http-1mb|nginx-1mb|nginx sendfile, $THREADS workers|-||1MB memory req/s vs nginx"
	"big|HTTP 1 MB default body, ab -n $AB_BIG_N -c 100 (written once at start to an unnamed file, S_send_file)|cpu_us|µs server CPU/request|hsvr-http-1mb|nginx-1mb|nginx sendfile, $THREADS workers|-||1MB memory CPU vs nginx"
	"big|HTTP 1 MB body, ab -n $AB_BIG_N -c 100|rps|requests/s|hsvr-http-1mb|libevent-http-1mb|libevent evhttp (1 thread)|-||1MB req/s vs evhttp"
	"close|connect, request, close: ab -n $AB_CLOSE_N -c 50|rps|connections/s|hsvr-http-hello|nginx-hello|nginx, $THREADS workers|ge|1.0|conn/s vs nginx"
	"close|connect, request, close: ab -n $AB_CLOSE_N -c 50|cpu_us|µs server CPU/connection|hsvr-http-hello|nginx-hello|nginx, $THREADS workers|-||conn CPU vs nginx"
	"close|connect, request, close: ab -n $AB_CLOSE_N -c 50|rps|connections/s|hsvr-http-hello|nginx-hello-deferred|nginx listen ... deferred, $THREADS workers|-||conn/s vs nginx deferred"
	"close|connect, request, close: ab -n $AB_CLOSE_N -c 50|cpu_us|µs server CPU/connection|hsvr-http-hello|nginx-hello-deferred|nginx listen ... deferred, $THREADS workers|-||conn CPU vs nginx deferred"
	"close|connect, request, close: ab -n $AB_CLOSE_N -c 50|rps|connections/s|hsvr-http-hello|libevent-http-hello|libevent evhttp (1 thread)|-||conn/s vs evhttp"
	"close|connect, request, close, hsvr --reuseport|rps|connections/s|hsvr-http-hello-rp|nginx-hello|nginx, $THREADS workers|-||conn/s --reuseport vs nginx"
	"close|connect, request, close, hsvr --reuseport|cpu_us|µs server CPU/connection|hsvr-http-hello-rp|nginx-hello|nginx, $THREADS workers|-||conn CPU --reuseport vs nginx"
	"close|connect, request, close: --reuseport against the shared socket|rps|connections/s|hsvr-http-hello-rp|hsvr-http-hello|hsvr-http, workers accept on one socket|-||conn/s reuseport vs shared"
	"close|connect, request, close: --accept-thread (round-robin hand-off)|rps|connections/s|hsvr-http-hello-at|nginx-hello|nginx, $THREADS workers|-||conn/s accept thread vs nginx"
	"close|connect, request, close: --accept-thread (round-robin hand-off)|cpu_us|µs server CPU/connection|hsvr-http-hello-at|nginx-hello|nginx, $THREADS workers|-||conn CPU accept thread vs nginx"
	"idle|$IDLE_CONNS idle connections, 1 thread|uniq_kb|kB resident (each page once)|hsvr-echo-1|libevent-echo|raw libevent echo|le|1.0|idle resident vs libevent"
	"idle|$IDLE_CONNS idle connections, 1 thread|rss_kb|kB VmRSS summed over processes|hsvr-echo-1|libevent-echo|raw libevent echo|-||idle RSS sum vs libevent"
	"idle|$IDLE_CONNS idle connections, 1 thread|bpc|bytes/connection (RSS delta)|hsvr-echo-1|libevent-echo|raw libevent echo|-||idle B/conn vs libevent"
	"idle|$IDLE_CONNS idle connections, 1 thread|bpc|bytes/connection (RSS delta)|hsvr-echo-1|epoll-1|epoll limit -t 1|-||idle B/conn vs epoll"
	"idle|$IDLE_CONNS idle connections, 1 thread|pss_kb|kB PSS (total)|hsvr-echo-1|libevent-echo|raw libevent echo|-||idle PSS vs libevent"
	"idle|$IDLE_CONNS idle connections, 1 thread|abpc|anonymous bytes/connection|hsvr-echo-1|libevent-echo|raw libevent echo|-||idle anon B/conn vs libevent"
	"idle|$IDLE_CONNS idle connections, $THREADS threads|rss_kb|kB resident (total)|hsvr-echo-N|libevent-echo|raw libevent echo (1 thread)|-||idle RSS ${THREADS}t vs libevent"
	"tlshello|HTTPS keep-alive hello, wrk 100 conns|rps|requests/s|hsvr-http-hello-tls|nginx-hello-tls|nginx ssl, $THREADS workers|ge|1.0|TLS hello req/s vs nginx"
	"tlshello|HTTPS keep-alive hello, wrk 100 conns|cpu_us|µs server CPU/request|hsvr-http-hello-tls|nginx-hello-tls|nginx ssl, $THREADS workers|-||TLS hello CPU vs nginx"
	"tlsconn|TLS handshake, request, close: ab -n $AB_TLS_N -c 50|rps|handshakes/s|hsvr-http-hello-tls|nginx-hello-tls|nginx ssl, $THREADS workers|ge|1.0|handshakes/s vs nginx"
	"tlsconn|TLS handshake, request, close: ab -n $AB_TLS_N -c 50|cpu_us|µs server CPU/handshake|hsvr-http-hello-tls|nginx-hello-tls|nginx ssl, $THREADS workers|-||handshake CPU vs nginx"
	"tlsidle|$IDLE_TLS_CONNS idle TLS connections (echo, 1 thread)|bpc|bytes/connection (RSS delta)|hsvr-echo-tls-1|hsvr-echo-tls-keep-1|hsvr-echo --tls-keep-buffers|-||idle TLS B/conn: released vs kept"
	"tlsidle|$IDLE_TLS_CONNS idle TLS connections (echo, 1 thread)|abpc|anonymous bytes/connection|hsvr-echo-tls-1|hsvr-echo-tls-keep-1|hsvr-echo --tls-keep-buffers|-||idle TLS anon B/conn: released vs kept"
	"tlsidle|$IDLE_TLS_CONNS idle TLS keep-alive connections after one GET|bpc|bytes/connection (RSS delta)|hsvr-http-hello-tls|nginx-hello-tls|nginx ssl, $THREADS workers|-||idle TLS B/conn vs nginx"
	"tlsidle|$IDLE_TLS_CONNS idle TLS connections: the engine (echo) against nginx (HTTP)|abpc|anonymous bytes/connection|hsvr-echo-tls-1|nginx-hello-tls|nginx ssl, $THREADS workers|-||idle TLS anon B/conn, echo vs nginx"
	"start|start to listening (hsvr-echo -n $THREADS)|listen_ms|ms|hsvr-echo-N|@$START_BUDGET_MS|budget $START_BUDGET_MS ms|le|1.0|start vs 50 ms"
	"start|start to listening|listen_ms|ms|hsvr-echo-N|libevent-echo|raw libevent echo|-||listen vs libevent"
	"start|start to listening|listen_ms|ms|hsvr-echo-N|nginx-hello|nginx, $THREADS workers (a daemon too)|-||listen vs nginx"
	"proxy64|TCP proxy to echo-epoll: 64 B × 100 conns, $THREADS threads|tps|round trips/s|hsvr-proxy|haproxy-tcp|haproxy 2.6 mode tcp, nbthread $THREADS|ge|1.0|proxy trips/s vs haproxy"
	"proxy64|TCP proxy to echo-epoll: 64 B × 100 conns, $THREADS threads|cpu_us|µs proxy CPU/round trip|hsvr-proxy|haproxy-tcp|haproxy 2.6 mode tcp, nbthread $THREADS|le|1.0|proxy CPU/trip vs haproxy"
	"proxystream|TCP proxy: $((PROXY_STREAM / 1000000)) MB out and back through echo-epoll|mbps|MB/s each way|hsvr-proxy|haproxy-tcp|haproxy 2.6 mode tcp, nbthread $THREADS|ge|1.0|proxy MB/s vs haproxy"
	"proxystream|TCP proxy: $((PROXY_STREAM / 1000000)) MB out and back through echo-epoll|cpu_s_gb|s proxy CPU per GB each way|hsvr-proxy|haproxy-tcp|haproxy 2.6 mode tcp, nbthread $THREADS|le|1.0|proxy CPU/GB vs haproxy"
	"proxyconn|TCP proxy: connect, 64 B echo, close × $PROXY_CONNS, 50 at a time|rps|connections/s|hsvr-proxy|haproxy-tcp|haproxy 2.6 mode tcp, nbthread $THREADS|ge|1.0|proxy conn/s vs haproxy"
	"proxyconn|TCP proxy: connect, 64 B echo, close × $PROXY_CONNS, 50 at a time|cpu_us|µs proxy CPU/connection|hsvr-proxy|haproxy-tcp|haproxy 2.6 mode tcp, nbthread $THREADS|le|1.0|proxy CPU/conn vs haproxy"
	"start|start to first echo|serve_ms|ms|hsvr-echo-N|libevent-echo|raw libevent echo|-||first echo vs libevent"
	"start|exec + dynamic linking alone (--version)|exec_ms|ms|hsvr-echo-N|libevent-echo|raw libevent echo (-h)|-||exec vs libevent"
	"start|exec + dynamic linking alone (--version)|exec_ms|ms|hsvr-echo-N|nginx-hello|nginx (-h)|-||exec vs nginx"
	"start|SIGTERM to exit, 100 idle clients|exit_ms|ms|hsvr-echo-N|@$START_BUDGET_MS|budget $START_BUDGET_MS ms|le|1.0|exit vs 50 ms"
)

HIGHER_BETTER=" tps rps mbps "

report() {
	local md=$OUT/RESULTS.md png=$OUT/results.png dat=$OUT/results.dat
	local line wl label metric unit hs an alabel op tgt clabel hv av ratio met range adv tadv cls rmed paired lo hi
	local when
	when=$(date -u '+%Y-%m-%d %H:%M UTC')
	mkdir -p "$OUT"
	: >"$dat"
	{
		echo "# hsvr benchmark results"
		echo
		echo "Written by \`bench/run.sh\` ($( ((QUICK)) && echo 'QUICK mode: NOT a real run' || echo 'full run')) on $when, in $((SECONDS / 60)) min $((SECONDS % 60)) s."
		echo
		echo "| | |"
		echo "|---|---|"
		echo "| machine | $NPROC CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)), $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) |"
		echo "| kernel | $(uname -srm) |"
		echo "| hsvr | ${BUILT_REV:-unknown}, built \`CFLAGS='-O2 -g' --enable-shared --disable-static\`, installed to a prefix, with $(${CC:-cc} --version | head -n 1) |"
		echo "| libevent | $(pkg-config --modversion libevent_core 2>/dev/null || echo unknown) |"
		echo "| nginx | $([[ -n $NGINX ]] && "$NGINX" -v 2>&1 | sed 's/^nginx version: //' || echo 'not installed: nginx rows empty') |"
		echo "| load generators | $(wrk -v 2>&1 | head -n 1 | awk '{ print $1, $2 }'), ab $(ab -V 2>/dev/null | awk '/Version/ { print $5 }' | tr -d ,), bench/echo-load, bench/tls-idle |"
		if [[ -s $TLSINFO ]]; then
			echo "| TLS | $(openssl version | awk '{ print $1, $2 }'), shared by hsvr and nginx; one self-signed ECDSA P-256 certificate and key (\`openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1\`), the same files for both; negotiated: $(cut -f3 "$TLSINFO" | sort | uniq -c | sort -rn | awk '{ $1 = ""; sub(/^ /, ""); print }' | paste -sd ';' | sed 's/;/; /g') |"
		fi
		echo "| load average | $LOADAVG at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end (1, 5, 15 min); at the start of each workload: $(awk -F'\t' '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }' "$LOADS") |"
		[[ -z ${BENCH_NOTE:-} ]] || echo "| note | $BENCH_NOTE |"
		echo "| rounds | $ROUNDS per comparison ($((ROUNDS * 3)) for start/stop), servers alternating (order rotated each round), each server started fresh on a fresh port per round; median of the rounds |"
		echo "| timed loads | echo: ${WARM} s warm-up then $DUR s measured; wrk: $DUR s; ab: fixed request counts; idle: fixed connection counts |"
		echo "| threads | multi-threaded servers: $THREADS (= nproc) worker threads / nginx workers; load generators share the same $NPROC CPUs |"
		echo
		if awk -v l="${LOADAVG%% *}" -v e="$(cut -d' ' -f1 /proc/loadavg)" -v n="$NPROC" 'BEGIN { exit !(l > n || e > n) }'; then
			echo "**The machine was busy with other work during this run** (load average above its $NPROC CPUs): absolute throughputs are low and start/stop times inflated (the exec-only row shows how much), and single rounds vary widely (see the per-round ranges). The ratios, measured side by side, are the figures to read; the counted profile (\`bench/profile.sh\`: instructions and system calls per unit of work) does not depend on load."
			echo
		fi
		echo "The machine is shared and noisy: read the ratios (hsvr ÷ anchor, both measured in the same rounds), not the absolute figures. Server CPU is utime+stime of the server's process tree from \`/proc/PID/stat\` (100 Hz ticks) across the measured interval, divided by the round trips or requests completed in it."
		echo
		echo "## Results"
		echo
		echo "Ratio = the median of the per-round ratios (hsvr's figure ÷ the anchor's in the same round, the two measured one after the other), with the lowest and highest of them; against a fixed budget, hsvr's median ÷ the budget. \"Of medians\" is hsvr's median ÷ the anchor's median, which can pair a round the machine's load slowed with one it did not. The hsvr and anchor columns are the medians. Rows without a target are for information."
		echo
		echo "| workload | metric | hsvr | anchor | anchor figure | ratio (per-round range) | of medians | target | target met? |"
		echo "|---|---|---:|---|---:|---|---:|---|---|"
		for line in "${COMPARISONS[@]}"; do
			IFS='|' read -r wl label metric unit hs an alabel op tgt clabel <<<"$line"
			hv=$(med "$wl" "$hs" "$metric")
			range="" rmed="—" paired=""
			if [[ $an == @* ]]; then
				av=${an#@}
			else
				av=$(med "$wl" "$an" "$metric")
				paired=$(rstats "$wl" "$hs" "$an" "$metric")
			fi
			# A workload that did not run is left out.
			[[ -n $hv ]] || continue
			if [[ -z $av ]]; then
				ratio="—" met="not measured"
			else
				# Against a fixed budget: hsvr's median over it.
				# Against an anchor: the median of the rounds' ratios.
				if [[ -n $paired ]]; then
					read -r ratio lo hi <<<"$paired"
					ratio=$(awk -v r="$ratio" 'BEGIN { printf "%.2f", r }')
					range="$lo–$hi"
					rmed=$(awk -v a="$hv" -v b="$av" 'BEGIN { printf "%.2f", a / b }')
				else
					ratio=$(awk -v a="$hv" -v b="$av" 'BEGIN { printf "%.2f", a / b }')
				fi
				case $op in
				le) met=$(awk -v r="$ratio" -v t="$tgt" 'BEGIN { print (r <= t) ? "**yes**" : "**NO**" }') ;;
				ge) met=$(awk -v r="$ratio" -v t="$tgt" 'BEGIN { print (r >= t) ? "**yes**" : "**NO**" }') ;;
				*) met="(info)" ;;
				esac
			fi
			case $op in
			le) tdesc="≤ $tgt ×" ;;
			ge) tdesc="≥ $tgt ×" ;;
			*) tdesc="" ;;
			esac
			printf '| %s | %s | %s | %s | %s | %s%s | %s | %s | %s |\n' "$label" "$unit" "$(fmt "$hv")" \
				"$alabel" "$(fmt "$av")" "$ratio" "${range:+ ($range)}" "$rmed" "$tdesc" "$met"
			# Chart (results.dat, read by results.gp): a panel per
			# workload; hsvr's advantage (>1: hsvr better), the target's.
			if [[ $ratio != "—" ]]; then
				if [[ $HIGHER_BETTER == *" $metric "* ]]; then
					adv=$ratio
					tadv=${tgt:-NaN}
				else
					adv=$(awk -v r="$ratio" 'BEGIN { printf "%.3f", (r > 0 ? 1 / r : 0) }')
					tadv=$(awk -v t="$tgt" 'BEGIN { if (t == "") print "NaN"; else printf "%.3f", 1 / t }')
				fi
				cls=$([[ $op == - ]] && echo 2 || echo 1)
				printf '%s\t"%s"\t%s\t%s\t%s\n' "$wl" "$clabel" "$adv" "$tadv" "$cls" >>"$dat"
			fi
		done
		echo
		echo "![hsvr relative to each anchor](results.png)"
		echo
		echo "The chart has a panel per workload, a bar per comparison: hsvr's advantage over the anchor, the ratio for throughput, its inverse for CPU, memory and time, so that right of 1 (green) always means hsvr did better, left of 1 (red) worse; a black line marks what the target asks for."
		echo
		echo "Where a target is missed, [PROFILE.md](PROFILE.md) says where the cost goes, counted (instructions and system calls per unit of work, \`bench/profile.sh\`) and measured at full speed: connect-request-close, TLS handshakes and keep-alive TLS requests, idle TLS memory."
		echo
		echo "## Medians per server"
		echo
		echo "| workload | server | round trips or requests/s | µs server CPU per trip/request | server CPU use (cores) | RSS kB | PSS kB | bytes/conn (RSS) | bytes/conn (anon) | exec ms | listen ms | first echo ms | exit ms | errors |"
		echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		awk -F'\t' '!seen[$1 FS $2]++ { print $1 "\t" $2 }' "$RAW" | while IFS=$'\t' read -r wl hs; do
			local tp
			tp=$(med "$wl" "$hs" tps)
			[[ -n $tp ]] || tp=$(med "$wl" "$hs" rps)
			printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$wl" "$hs" \
				"$(fmt "$tp")" "$(fmt "$(med "$wl" "$hs" cpu_us)")" "$(fmt "$(med "$wl" "$hs" util)")" \
				"$(fmt "$(med "$wl" "$hs" rss_kb)")" "$(fmt "$(med "$wl" "$hs" pss_kb)")" \
				"$(fmt "$(med "$wl" "$hs" bpc)")" "$(fmt "$(med "$wl" "$hs" abpc)")" "$(fmt "$(med "$wl" "$hs" exec_ms)")" \
				"$(fmt "$(med "$wl" "$hs" listen_ms)")" "$(fmt "$(med "$wl" "$hs" serve_ms)")" \
				"$(fmt "$(med "$wl" "$hs" exit_ms)")" "$(awk -F'\t' -v w="$wl" -v s="$hs" '$1 == w && $2 == s && $4 == "errors" { n += $5 } END { print n + 0 }' "$RAW")"
		done
		echo
		echo "## The servers and how they were run"
		echo
		echo "- **hsvr**: \`examples/hsvr-echo\` and \`examples/hsvr-http\` as installed (\`make install\` to a prefix of the build directory), on the shared libhsvr built \`-O2 -g\`, which loads OpenSSL only when TLS is configured; \`-x\` (foreground), \`-i 127.0.0.1\`, \`-m\` above the connection count, \`-T\` long enough that no idle client times out. \`--pidfile\` in the run's temporary directory. \`-n 1\` in the one-thread rows, \`-n $THREADS\` elsewhere. Started as $( ((EUID == 0)) && echo 'root, hsvr runs as a supervisor and an unprivileged serving process' || echo "$(id -un)"); CPU time and RSS are always summed over a server's whole process tree (hsvr's supervisor and serving process, nginx's master and workers)."
		echo "- **raw libevent echo** (\`bench/echo-libevent.c\`): single-threaded, the libevent book's evconnlistener + bufferevent echo (\`evbuffer_add_buffer(output, input)\` in the read callback), libevent's default 4 KB reads and writes. **TCP_NODELAY is set on every accepted socket** (without it a multi-segment echo waits ~40 ms for a delayed ACK), and the listen backlog is 1024 (hsvr's default) instead of libevent's 128."
		echo "- **libevent evhttp** (\`bench/http-libevent.c\`): single-threaded evhttp responder, the body added by reference (no copy per request)."
		echo "- **epoll limit** (\`bench/echo-epoll.c\`): the main thread accepts on one shared listener and hands connections round robin to \`-t\` epoll threads; each readiness: one \`read\` of up to 64 KB, \`write\` it back; only a short write is kept (and reading paused until it drains). TCP_NODELAY set."
		echo "- **nginx**: Debian's package, our own configuration (generated per run, shown below for one of them): \`worker_processes $THREADS\`, \`access_log off\`, \`keepalive_requests 1000000\`, hello as \`return 200 \"Hello, world\\n\"\`, the 1 MB body (1,000,000 bytes, as hsvr-http's default) as a static file with \`sendfile on; tcp_nopush on\`; run as \`nginx -p DIR -c DIR/nginx.conf -g 'daemon off; master_process on;'\`, error log in the run's temporary directory. hsvr-http asks for deferred accept (\`serv_set_defer_accept(60)\`: \`TCP_DEFER_ACCEPT\`, a connection comes to a worker with its request); nginx's default does not, so the connect-close workload also runs nginx with \`listen ... deferred\` (the same socket option), an anchor of its own."
		echo "- **loads**: only 127.0.0.1. \`bench/echo-load\` keeps one message in flight per connection and checks the byte count of every echo (a mismatch stops the run); each echo server is first checked with content verification (\`-V\`, a '!' accepted in place of any byte). HTTP servers are checked with one \`curl\` GET (status 200 and body length) before their first round; ab's document length is checked each round."
		echo "- **idle**: $IDLE_CONNS connections each send one 17-byte line and read its echo; the server's memory (its whole process tree) before the first connection and 0.5 s after the last echo: resident pages each counted once (the target's figure: the distinct physical pages of the tree, from /proc/PID/pagemap, so a page hsvr's supervisor and the serving process it forked share counts once, as it occupies memory once; for a one-process server it equals VmRSS), VmRSS summed over the processes (such a shared page counts twice), PSS (shared pages divided among all processes that map them) and RssAnon (memory the server wrote); bytes/connection = the difference ÷ $IDLE_CONNS."
		echo "- **TLS** (tlshello, tlsconn, tlsidle): hsvr-http \`--hello\` and hsvr-echo with \`-c cert.pem -k key.pem\`, nginx with \`listen ... ssl\`, \`ssl_protocols TLSv1.2 TLSv1.3\` (hsvr's default minimum) with Mozilla's intermediate profile as hsvr's defaults (\`ssl_ciphers\` its six ECDHE AEAD ciphers, \`ssl_ecdh_curve X25519:prime256v1:secp384r1\`, \`ssl_prefer_server_ciphers off\`: the client's order, as hsvr), both otherwise OpenSSL's defaults (session tickets on; nginx keeps no session cache). The certificate and key are the same files for both, made at the start of the run: ECDSA P-256, self-signed. Keep-alive hello: \`wrk\` over https, the handshakes done before the measured interval counts. Handshakes: \`ab\` over https, which opens a new connection per request and makes a full handshake each time (it resumes no session), then one GET and the server's close. Idle TLS: \`bench/tls-idle\` opens $IDLE_TLS_CONNS connections (4 client threads, each connection in turn: full handshake, one message, the first record of the answer read) and reads the server's memory as the plain idle workload does; the echo servers get a 17-byte line, the HTTP servers one keep-alive GET. hsvr releases the OpenSSL read and write buffers of idle connections (SSL_MODE_RELEASE_BUFFERS) unless \`--tls-keep-buffers\`; nginx releases them too (it sets the same mode)."
		echo "- **start/stop** (\`bench/startstop.c\`): fork+exec to the first completed connect() (polled every 0.1 ms), to the first echo, then 100 clients connected and echoed once stay idle while SIGTERM is sent: time to the process's exit. \"exec\" is fork to exit of the same binary run with \`--version\` (the anchors: \`-h\`), i.e. exec and dynamic linking alone. The anchor rows are for comparison only: raw libevent does none of a daemon's work; nginx (the hello configuration, $THREADS workers, \`user www-data\` when run as root) reads its configuration, looks up its user and opens its error log before it listens (its pidfile comes after), and echoes nothing, so only its listening and \`-h\` are timed. $( ((${#SYSRUN[@]})) && echo "Measured as a system install runs them: hsvr-echo linked again from the same object without the prefix install's RUNPATH (whose hardware-capability subdirectories cost about 20 failed lookups per start), libhsvr found through a linker cache made by ldconfig (the prefix's lib directory and the system's), mounted over /etc/ld.so.cache in a private mount namespace (\`unshare -m\`) in which startstop and every server run." || echo "Measured on the prefix install: hsvr-echo finds libhsvr through its RUNPATH, which costs about 20 failed lookups per start that a system install (the linker's cache) does not.")"
		echo "- **proxy** (proxy64, proxystream, proxyconn): \`examples/hsvr-proxy -n $THREADS --to\` and Debian's haproxy 2.6 in \`mode tcp\` (\`nbthread $THREADS\`, \`check inter 2s\` as hsvr-proxy's default health check, no log; configuration below), each in front of a fresh \`bench/echo-epoll -t $THREADS\` per round. CPU is the proxy's process tree's only. proxy64: \`bench/echo-load\` through the proxy (checked first with \`-V\`); proxystream: \`tests/t-hproxy-peer stream\`, one connection, $PROXY_STREAM pattern bytes written by one thread while another reads the echo and checks every byte, MB/s each way and proxy CPU seconds per GB each way; proxyconn: \`tests/t-hproxy-peer conns\`, 50 threads each in turn connecting, sending 64 bytes, reading their echo, closing."
		echo
		echo "### Commands (PORT and PID differ every run)"
		echo
		echo '```'
		awk -F'\t' '{ printf "%-9s %-25s %s\n", $1, $2, $3 }' "$CMDS"
		echo '```'
		if [[ -n $(ls "$TMP"/nginx-*/nginx.conf 2>/dev/null) ]]; then
			echo
			echo "<details><summary>nginx.conf (the 1 MB variant; the hello variant has <code>return 200 \"Hello, world\\n\";</code> in place of try_files)</summary>"
			echo
			echo '```nginx'
			sed "s#$TMP#TMPDIR#g" "$(grep -l try_files "$TMP"/nginx-*/nginx.conf 2>/dev/null | head -n 1 || ls "$TMP"/nginx-*/nginx.conf | head -n 1)"
			echo '```'
			echo
			echo "</details>"
		fi
		if [[ -n $(ls "$TMP"/haproxy-*.cfg 2>/dev/null) ]]; then
			echo
			echo "<details><summary>haproxy.cfg (the proxy rows)</summary>"
			echo
			echo '```'
			sed -E 's/(bind 127\.0\.0\.1:)[0-9]+/\1PORT/; s/(server echo 127\.0\.0\.1:)[0-9]+/\1BACKEND_PORT/' "$(ls "$TMP"/haproxy-*.cfg | head -n 1)"
			echo '```'
			echo
			echo "</details>"
		fi
		echo
		echo "## Appendix: every round"
		echo
		echo "<details><summary>raw figures (workload, server, round, metric, value)</summary>"
		echo
		echo "| workload | server | round | metric | value |"
		echo "|---|---|---:|---|---:|"
		sort -t$'\t' -k1,1 -k4,4 -k2,2 -k3,3n "$RAW" | awk -F'\t' '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }'
		echo
		echo "</details>"
	} >"$md.tmp"
	mv "$md.tmp" "$md"
	say "wrote $md"
	if command -v gnuplot >/dev/null 2>&1 && [[ -s $dat ]]; then
		if gnuplot -e "datafile='$dat'; outfile='$png.tmp'; subtitle='$when, $NPROC CPUs$( ((QUICK)) && echo ', QUICK mode')'" "$top/bench/results.gp" 2>"$TMP/gnuplot.log"; then
			mv "$png.tmp" "$png"
			say "wrote $png"
		else
			cat "$TMP/gnuplot.log" >&2
			say "gnuplot failed: no chart"
		fi
	else
		say "no gnuplot or no data: no chart"
	fi
}

# ------------------------------------------------------------ main

want() { [[ -z $ONLY || " $ONLY " == *" $1 "* ]]; }

[[ $(uname -s) == Linux ]] || die "Linux only (epoll, /proc)"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < IDLE_CONNS + 100)); then
	IDLE_CONNS=$(($(ulimit -n) - 200))
	say "descriptor limit $(ulimit -n): idle test with $IDLE_CONNS connections"
fi
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
install_packages
NGINX=$(command -v nginx 2>/dev/null || true)
[[ -n $NGINX || ! -x /usr/sbin/nginx ]] || NGINX=/usr/sbin/nginx
[[ -n $NGINX ]] || say "no nginx: its rows stay empty"
build
if [[ $ONLY == build ]]; then
	say "built in $BUILD"
	exit 0
fi
HZ=$("$B/procstat" hz)
say "rounds $ROUNDS, $DUR s loads, $THREADS threads, results to $OUT"
for w in $ALL_WORKLOADS; do
	if want "$w"; then
		say "---- $w"
		printf '%s\t%s\n' "$w" "$(cut -d' ' -f1 /proc/loadavg)" >>"$LOADS"
		"wl_$w"
	fi
done
report
