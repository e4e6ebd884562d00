#!/usr/bin/env bash
# bench/profile.sh - where the cost of one unit of work goes, hsvr against
# its anchors, counted rather than timed (so a shared, noisy machine does
# not matter):
#
#   echo   one 64-byte round trip, CONNS connections (default 100) and
#          CONNS=1: hsvr-echo -n 1, the raw libevent echo, the epoll limit
#   close  one connect, "GET /", 13-byte answer, close (ab -c 50):
#          hsvr-http --hello -n 1, the libevent evhttp responder, and nginx
#          with one worker (master_process off)
#   tls    the same over TLS (ab over https: a full handshake each time),
#          hsvr-http --hello -n 1 against nginx with one worker, one
#          self-signed ECDSA P-256 certificate for both
#   tlska  keep-alive GET / over TLS (ab -k -c 50 over https), the same
#          two servers: the cost of a request on an established session
#
# For each server: user-space instructions per unit, counted by valgrind
# --tool=callgrind, as the difference between a run of N1 and one of N2
# units, so that start-up cancels out; the functions where they go (self
# cost per unit); and the system calls per unit (strace -f -c, the same
# difference).  The kernel's own work is not in callgrind's count; the
# system call table stands for it.
#
#   bench/profile.sh [echo] [close] [tls] [tlska]   (default: echo close)
#   N1=2000 N2=12000 TOP=25 bench/profile.sh echo
#
# Uses the binaries of _build/bench ("ONLY=build bench/run.sh" builds
# them).  Loads go to 127.0.0.1 only and are bounded; every server started
# is stopped on exit.  Output: Markdown on stdout.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BENCH_BUILD:-$top/_build/bench}
TOP=${TOP:-25}
PORT_NEXT=${BENCH_PORT:-24100}
B=$BUILD/bench
BIN=$BUILD/inst/bin # hsvr's servers as bench/run.sh installs them
WORKLOADS=${*:-echo close}

say() { printf 'profile: %s\n' "$*" >&2; }
die() {
	say "$*"
	exit 1
}

for f in "$BIN/hsvr-echo" "$BIN/hsvr-http" "$B/echo-libevent" \
	"$B/http-libevent" "$B/echo-epoll" "$B/echo-load" "$B/procstat"; do
	[[ -x $f ]] || die "$f missing: run 'ONLY=build bench/run.sh' first"
done
command -v valgrind >/dev/null || die "valgrind is not installed"
command -v strace >/dev/null || die "strace is not installed"
NGINX=$(command -v nginx 2>/dev/null || true)
[[ -n $NGINX || ! -x /usr/sbin/nginx ]] || NGINX=/usr/sbin/nginx

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-hsvr-profile.XXXXXX")
# hsvr's serving process runs as nobody and writes its own callgrind file.
chmod 1777 "$TMP"
PID=
cleanup() {
	local tree
	if [[ -n $PID ]]; then
		tree=$("$B/procstat" tree "$PID" 2>/dev/null | tr '\n' ' ')
		# shellcheck disable=SC2086 # a list of pids
		kill -KILL $tree 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

next_port() {
	local p=$PORT_NEXT
	while [[ -n $(ss -Htan "( sport = :$p )" 2>/dev/null) ]]; do
		p=$((p + 1))
	done
	PORT_NEXT=$((p + 1))
	PORT=$p
}

# One ECDSA P-256 certificate for the TLS servers, made on first use.
tls_material() {
	[[ ! -s $TMP/cert.pem ]] || return 0
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-days 2 -subj /CN=localhost -keyout "$TMP/key.pem" -out "$TMP/cert.pem" \
		>"$TMP/openssl.log" 2>&1 || die "openssl req failed: $(cat "$TMP/openssl.log")"
	chmod 644 "$TMP/cert.pem"
}

nginx_conf() { # DIR PORT [ssl]
	local listen="listen 127.0.0.1:$2;"
	[[ ${3:-} != ssl ]] || listen="listen 127.0.0.1:$2 ssl; ssl_certificate $TMP/cert.pem; ssl_certificate_key $TMP/key.pem; ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305; ssl_ecdh_curve X25519:prime256v1:secp384r1; ssl_prefer_server_ciphers off;"
	mkdir -p "$1/logs"
	chmod 755 "$1" "$1/logs"
	cat >"$1/nginx.conf" <<EOF
$( ((EUID != 0)) || echo "user www-data;")
master_process off;
daemon off;
worker_processes 1;
error_log $1/logs/error.log warn;
pid $1/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $1/body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    default_type application/octet-stream;
    server {
        $listen
        location = / { return 200 "Hello, world\\n"; }
    }
}
EOF
}

server_cmd() { # NAME PORT
	case $1 in
	hsvr-echo) CMD=("$BIN/hsvr-echo" -x -i 127.0.0.1 -p "$2" -n 1 -m 2000 -T 3600 --pidfile "$TMP/hsvr-$2.pid") ;;
	libevent-echo) CMD=("$B/echo-libevent" -p "$2") ;;
	epoll) CMD=("$B/echo-epoll" -p "$2" -t 1) ;;
	hsvr-http) CMD=("$BIN/hsvr-http" -x -i 127.0.0.1 -p "$2" -n 1 -m 2000 -T 3600 --pidfile "$TMP/hsvr-$2.pid" --hello) ;;
	libevent-http) CMD=("$B/http-libevent" -p "$2" --hello) ;;
	nginx)
		nginx_conf "$TMP/nginx-$2" "$2"
		CMD=("$NGINX" -p "$TMP/nginx-$2" -c "$TMP/nginx-$2/nginx.conf")
		;;
	hsvr-http-tls)
		tls_material
		CMD=("$BIN/hsvr-http" -x -i 127.0.0.1 -p "$2" -n 1 -m 2000 -T 3600 --pidfile "$TMP/hsvr-$2.pid" --hello -c "$TMP/cert.pem" -k "$TMP/key.pem")
		;;
	nginx-tls)
		tls_material
		nginx_conf "$TMP/nginx-$2" "$2" ssl
		CMD=("$NGINX" -p "$TMP/nginx-$2" -c "$TMP/nginx-$2/nginx.conf")
		;;
	esac
}

# run TOOL NAME UNITS: the server under TOOL, UNITS units of load, SIGTERM.
run() {
	local tool=$1 name=$2 units=$3 out f best max n
	next_port
	server_cmd "$name" "$PORT"
	case $tool in
	callgrind)
		# %p: hsvr's supervisor and serving process each write one.
		valgrind --tool=callgrind --callgrind-out-file="$TMP/$name.$units.%p.cg" \
			"${CMD[@]}" >"$TMP/$name.$units.log" 2>&1 &
		;;
	strace)
		strace -f -c -o "$TMP/$name.$units.st" "${CMD[@]}" >"$TMP/$name.$units.log" 2>&1 &
		;;
	esac
	PID=$!
	"$B/procstat" wait "$PORT" 60000 >/dev/null || die "$name under $tool does not listen"
	case $WL in
	echo)
		out=$(timeout 600 "$B/echo-load" -p "$PORT" -c "$CONNS" -s 64 -n "$units" -d 500 -w 0 -t 1) ||
			die "load against $name failed"
		DONE=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^trips=/) { sub("trips=", "", $i); print $i } }' <<<"$out")
		;;
	close | tls | tlska)
		local scheme=http ka=""
		[[ $WL == close ]] || scheme=https
		[[ $WL != tlska ]] || ka=-k
		# shellcheck disable=SC2086 # $ka: empty or one option
		out=$(timeout 600 ab -q $ka -t 500 -n "$units" -c 50 "$scheme://127.0.0.1:$PORT/" 2>&1) ||
			die "ab against $name failed: $out"
		DONE=$(awk '/^Complete requests:/ { print $3 }' <<<"$out")
		;;
	esac
	# The server itself: valgrind runs in its process, strace forks it.
	# The epoll anchor dies of SIGTERM; valgrind still writes its counts.
	if [[ $tool == strace ]]; then
		kill -TERM "$("$B/procstat" tree "$PID" | sed -n 2p)"
	else
		kill -TERM "$PID"
	fi
	wait "$PID" 2>/dev/null || true
	PID=
	if [[ $tool == callgrind ]]; then
		# The process that did the work: the file with the most instructions.
		best="" max=-1
		for f in "$TMP/$name.$units".*.cg; do
			n=$(cg_total "$f")
			if ((n > max)); then
				max=$n best=$f
			fi
		done
		mv "$best" "$TMP/$name.$units.cg"
	fi
}

# cg_functions FILE: "Ir<TAB>function" per function (self cost).
cg_functions() {
	callgrind_annotate --threshold=100 --inclusive=no "$1" 2>/dev/null |
		awk '/^ *[0-9,]+ / && !/=>/ && /[^ ]:[^ ]/ {
			n = $1; gsub(",", "", n)
			f = $0; sub(/^ *[0-9,]+ +(\([^)]*\) +)?/, "", f); sub(/ \[.*\]$/, "", f)
			print n "\t" f
		}'
}

cg_total() {
	awk '/^(summary|totals):/ { print $2; exit }' "$1"
}

declare -A PER
report_server() {
	local name=$1 t1 t2 i1 i2
	say "$WL: $name: callgrind, $N1 and $N2 $UNIT"
	run callgrind "$name" "$N1"
	t1=$DONE
	run callgrind "$name" "$N2"
	t2=$DONE
	i1=$(cg_total "$TMP/$name.$N1.cg")
	i2=$(cg_total "$TMP/$name.$N2.cg")
	PER[$name]=$(awk -v a="$i1" -v b="$i2" -v x="$t1" -v y="$t2" 'BEGIN { printf "%.0f", (b - a) / (y - x) }')
	echo "### $name: ${PER[$name]} instructions per $UNIT1 (user space)"
	echo
	echo "Functions, self instructions per $UNIT1:"
	echo
	echo '```'
	join -t $'\t' -1 2 -2 2 -a 2 -e 0 -o '0,1.1,2.1' \
		<(cg_functions "$TMP/$name.$N1.cg" | sort -t $'\t' -k2,2) \
		<(cg_functions "$TMP/$name.$N2.cg" | sort -t $'\t' -k2,2) |
		awk -F'\t' -v x="$t1" -v y="$t2" '{ d = ($3 - $2) / (y - x); if (d >= 1) printf "%8.1f  %s\n", d, $1 }' |
		sort -rn | awk -v n="$TOP" 'NR <= n'
	echo '```'
	echo
	say "$WL: $name: strace -c, $N1 and $N2 $UNIT"
	run strace "$name" "$N1"
	t1=$DONE
	run strace "$name" "$N2"
	t2=$DONE
	echo "System calls per $UNIT1 (all threads and processes):"
	echo
	echo '```'
	join -a 2 -e 0 -o '0,1.2,2.2' \
		<(awk 'NR > 2 && $NF != "total" && $1 !~ /^-/ { print $NF, $4 }' "$TMP/$name.$N1.st" | sort) \
		<(awk 'NR > 2 && $NF != "total" && $1 !~ /^-/ { print $NF, $4 }' "$TMP/$name.$N2.st" | sort) |
		awk -v x="$t1" -v y="$t2" '{ d = ($3 - $2) / (y - x); if (d >= 0.01) { printf "%8.3f  %s\n", d, $1; s += d } } END { printf "%8.3f  total\n", s }' |
		sort -rn
	echo '```'
	echo
}

echo "# Instructions and system calls per unit of work"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(valgrind --version), hsvr $(git -C "$top" describe --always --dirty 2>/dev/null || echo '?'), binaries of $BUILD. Differences of two runs (N1 and N2 units), so start-up cancels out. Under valgrind or strace a server runs many times slower, so each loop iteration gathers more ready events than at full speed: per-iteration costs are under-counted with many connections, hence the one-connection echo rows."
echo
for WL in $WORKLOADS; do
	case $WL in
	echo)
		for CONNS in ${ECHO_CONNS:-100 1}; do
			N1=${N1:-2000} N2=${N2:-12000} UNIT="round trips" UNIT1="round trip"
			echo "## echo, 64-byte messages, $CONNS connection(s), one thread"
			echo
			for s in hsvr-echo libevent-echo epoll; do
				report_server "$s"
			done
			echo "**Summary, echo $CONNS conn.: user-space instructions per round trip: hsvr-echo ${PER[hsvr-echo]}, libevent-echo ${PER[libevent-echo]}, epoll ${PER[epoll]}**"
			echo
		done
		;;
	close)
		N1=${CN1:-500} N2=${CN2:-2500} UNIT="connections" UNIT1="connection"
		echo "## connect, GET /, 13-byte answer, close (ab -c 50), one thread or worker"
		echo
		list="hsvr-http libevent-http"
		[[ -z $NGINX ]] || list="$list nginx"
		for s in $list; do
			report_server "$s"
		done
		echo "**Summary, connect-request-close: user-space instructions per connection: hsvr-http ${PER[hsvr-http]}, libevent-http ${PER[libevent-http]}, nginx ${PER[nginx]:-n/a}**"
		echo
		;;
	tls)
		N1=${TN1:-200} N2=${TN2:-1200} UNIT="connections" UNIT1="connection"
		echo "## TLS: connect, full handshake (TLS 1.3, X25519, ECDSA P-256), GET /, 13-byte answer, close (ab -c 50 over https), one thread or worker"
		echo
		list="hsvr-http-tls"
		[[ -z $NGINX ]] || list="$list nginx-tls"
		for s in $list; do
			report_server "$s"
		done
		echo "**Summary, TLS connect-handshake-request-close: user-space instructions per connection: hsvr-http ${PER[hsvr-http-tls]}, nginx ${PER[nginx-tls]:-n/a}**"
		echo
		;;
	tlska)
		N1=${KN1:-2000} N2=${KN2:-12000} UNIT="requests" UNIT1="request"
		echo "## TLS keep-alive: GET /, 13-byte answer, on established TLS connections (ab -k -c 50 over https), one thread or worker"
		echo
		list="hsvr-http-tls"
		[[ -z $NGINX ]] || list="$list nginx-tls"
		for s in $list; do
			report_server "$s"
		done
		echo "**Summary, TLS keep-alive request: user-space instructions per request: hsvr-http ${PER[hsvr-http-tls]}, nginx ${PER[nginx-tls]:-n/a}**"
		echo
		;;
	*) die "unknown workload $WL (echo, close, tls, tlska)" ;;
	esac
done
