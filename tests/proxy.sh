#!/bin/bash
# tests/proxy.sh - haproxy (Debian's) in front of the test server with send-proxy and send-proxy-v2: the sessions are the clients', also under TLS.
#
# t-srv-ioc --proxy-protocol --proxy-from 127.0.0.3/32, plain and with TLS
# (-c/-k, the throw-away PKI of tests/tls/lib.sh).  haproxy in TCP mode
# connects to them from 127.0.0.3 (its "source"), the clients connect to
# haproxy from 127.0.0.1, so the two addresses tell the header's client
# from the real peer:
#  - through "send-proxy" (v1) and "send-proxy-v2" with
#    "proxy-v2-options crc32c" (haproxy's own CRC32C): PING answered, the
#    ACCEPT lines say host=127.0.0.1, none 127.0.0.3;
#  - TLS through send-proxy-v2 (the header, then the client's ClientHello,
#    passed on by haproxy): t-tlsc's handshake and PING succeed, the
#    session is 127.0.0.1;
#  - nginx's stream module (Debian's libnginx-mod-stream) with
#    "proxy_protocol on" (v1) and "proxy_bind 127.0.0.3": PING answered,
#    the session is 127.0.0.1 (doc/deploy.md shows the same server block);
#  - a client straight to the server from 127.0.0.1 (outside
#    --proxy-from) is closed unanswered; proxy_error is 1 at the end.
# haproxy and nginx with its stream module must be installed (the test
# installs nothing; build.sh does): without them, SKIP.
#
# Shown to fail: with session.c's proxy_done() keeping the real peer, the
# host=127.0.0.1 checks fail (127.0.0.3 is seen).
# shellcheck source=tls/lib.sh
. "$(dirname "$0")/tls/lib.sh"

if ! HAPROXY=$(command -v haproxy 2>/dev/null || command -v /usr/sbin/haproxy); then
	echo "1..0 # SKIP haproxy is not installed (Debian: apt-get install haproxy)"
	exit 77
fi

NGINX_STREAM=/usr/lib/nginx/modules/ngx_stream_module.so
if ! NGINX=$(command -v nginx 2>/dev/null || command -v /usr/sbin/nginx) ||
	[[ ! -f $NGINX_STREAM ]]; then
	echo "1..0 # SKIP nginx's stream module is not installed (Debian: apt-get install nginx-light libnginx-mod-stream)"
	exit 77
fi

t_setup
trap t_cleanup EXIT
IOC=$t_builddir/tests/t-srv-ioc

must "plain server starts" srv_start plain "$IOC" -x -i 127.0.0.1 -p @PORT@ \
	-n 2 --proxy-protocol --proxy-from 127.0.0.3/32
must "TLS server starts" srv_start tlssrv "$IOC" -x -i 127.0.0.1 -p @PORT@ \
	-n 2 --proxy-protocol --proxy-from 127.0.0.3/32 \
	-c "$PKI/server.crt" -k "$PKI/server.key"

P1=$(free_port) && P2=$(free_port) && P3=$(free_port) || exit 99
cat >"$T/haproxy.cfg" <<EOF
global
	maxconn 100
defaults
	mode tcp
	timeout connect 5s
	timeout client 30s
	timeout server 30s
listen v1
	bind 127.0.0.1:$P1
	server s 127.0.0.1:$plain_PORT send-proxy source 127.0.0.3
listen v2
	bind 127.0.0.1:$P2
	server s 127.0.0.1:$plain_PORT send-proxy-v2 proxy-v2-options crc32c source 127.0.0.3
listen tls
	bind 127.0.0.1:$P3
	server s 127.0.0.1:$tlssrv_PORT send-proxy-v2 source 127.0.0.3
EOF
"$HAPROXY" -db -f "$T/haproxy.cfg" >"$T/haproxy.out" 2>&1 </dev/null &
HAPROXY_PID=$!
t_servers+=(HAPROXY)
hap_listens() { listens "$HAPROXY_PID" "$P1" && listens "$HAPROXY_PID" "$P2" && listens "$HAPROXY_PID" "$P3"; }
if ! wait_for 10 hap_listens; then
	not_ok "haproxy listens on its three ports"
	sed 's/^/#   /' "$T/haproxy.out"
	exit 1
fi

# ping PORT WORD: PING WORD through a plain connection to PORT; the reply.
ping() {
	local reply=
	exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf 'PING %s\n' "$2" >&3
	IFS= read -r -t "$WAIT" reply <&3
	exec 3<&-
	echo "$reply"
}

r=$(ping "$P1" v1)
ck "send-proxy (v1): PING answered ($r)" '[[ $r == "PONG v1" ]]'
r=$(ping "$P2" v2)
ck "send-proxy-v2 with CRC32C: PING answered ($r)" '[[ $r == "PONG v2" ]]'
out=$(srv_out plain)
n_client=$(grep -c '^ACCEPT .* host=127\.0\.0\.1 ' <<<"$out")
n_proxy=$(grep -c 'host=127\.0\.0\.3' <<<"$out")
ck "plain: both sessions are the client 127.0.0.1 ($n_client), none haproxy's 127.0.0.3 ($n_proxy)" \
	'((n_client == 2 && n_proxy == 0))'

r=$(tls "$P3" <<<"PING t")
ck "TLS after a v2 header: handshake and PING ($(tr '\n' ' ' <<<"$r"))" \
	'has "$r" CONNECTED && has "$r" "PONG t"'
out=$(srv_out tlssrv)
ck "TLS: the session is the client 127.0.0.1" \
	'grep -q "^ACCEPT .* host=127\.0\.0\.1 " <<<"$out" && ! grep -q "host=127\.0\.0\.3" <<<"$out"'

# nginx's stream module in front, PROXY v1 ("proxy_protocol on").
P4=$(free_port) || exit 99
mkdir -p "$T/nginx"
cat >"$T/nginx/nginx.conf" <<EOF
load_module $NGINX_STREAM;
daemon off;
master_process off;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log info;
events { worker_connections 64; }
stream {
	server {
		listen 127.0.0.1:$P4;
		proxy_pass 127.0.0.1:$plain_PORT;
		proxy_protocol on;
		proxy_bind 127.0.0.3;
	}
}
EOF
"$NGINX" -p "$T/nginx" -e "$T/nginx/error.log" -c "$T/nginx/nginx.conf" \
	>"$T/NGINX.out" 2>&1 </dev/null &
NGINX_PID=$!
t_servers+=(NGINX)
if ! wait_for 10 listens "$NGINX_PID" "$P4"; then
	not_ok "nginx listens on its port"
	sed 's/^/#   /' "$T/NGINX.out" "$T/nginx/error.log"
	exit 1
fi
r=$(ping "$P4" ng)
ck "nginx stream, proxy_protocol on: PING answered ($r)" '[[ $r == "PONG ng" ]]'
out=$(srv_out plain)
n_client=$(grep -c '^ACCEPT .* host=127\.0\.0\.1 ' <<<"$out")
n_proxy=$(grep -c 'host=127\.0\.0\.3' <<<"$out")
ck "nginx: the session is the client 127.0.0.1 ($n_client), none nginx's 127.0.0.3 ($n_proxy)" \
	'((n_client == 3 && n_proxy == 0))'
srv_stop NGINX

# Straight to the server from 127.0.0.1: not in --proxy-from.
exec 3<>"/dev/tcp/127.0.0.1/$plain_PORT" || exit 99
# (closed at once: the write may find the socket reset, SIGPIPE ignored)
(trap '' PIPE; printf 'PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\nPING direct\n' >&3) 2>/dev/null
r=
IFS= read -r -t "$WAIT" r <&3
rc=$?
exec 3<&-
ck "a client outside --proxy-from is closed unanswered (read status $rc, '$r')" \
	'[[ -z $r ]] && ((rc == 1))'

exec 3<>"/dev/tcp/127.0.0.1/$P1" || exit 99
printf 'STATS\n' >&3
IFS= read -r -t "$WAIT" r <&3
exec 3<&-
ck "proxy_error=1 (the direct client), through haproxy ($r)" 'has "$r" " proxy_error=1"'

srv_stop HAPROXY
srv_finish plain
srv_finish tlssrv
t_finish
