#!/bin/bash
# tests/tls/connect.sh - outbound TLS sessions (S_connect with
# S_CONNECT_TLS): t-srv-connect (tests/srv-connect.c) dials t-tsrv, a
# TLS server with the test PKI's certificate for localhost and 127.0.0.1,
# and relays what a plain client (bash's /dev/tcp) sends:
#  - with the test CA (serv_set_connect_ca, loaded at start-up while the
#    CA file is readable by its owner only): a name (SNI localhost) and an
#    address are verified; the relay carries lines both ways; TLS 1.3;
#    the ALPN protocol offered by serv_set_connect_alpn is chosen;
#  - the peer's certificate does not name the address dialled
#    (127.0.0.2): "TLS: certificate verify failed: IP address mismatch";
#  - with the system's CAs, the test CA is unknown: verification fails
#    with its reason, and S_CONNECT_NOVERIFY connects anyway;
#  - a plain server dialled with TLS fails with a reason, at once;
#  - a CA file that cannot be loaded stops the start (exit 78).
# Shown to fail: with tls-client.c not asking OpenSSL to check the peer's
# name or address (SSL_set1_host, X509_VERIFY_PARAM_set1_ip_asc), the
# 127.0.0.2 check connects.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
t_setup

CONNECT=$t_builddir/tests/t-srv-connect
lib_direct CONNECT

# dialer NAME ARG...: t-srv-connect in the foreground on a fresh port.
dialer() {
	local name=$1
	shift
	srv_start "$name" "$CONNECT" -x -i 127.0.0.1 -p @PORT@ -n 2 \
		--connect-timeout "$((5 * SCALE))" "$@"
}

# session PORT: a plain connection to t-srv-connect on fd 3.
session() {
	exec 3<>"/dev/tcp/127.0.0.1/$1"
}
# say_line TEXT / get_line: one line to / from fd 3 (get_line: in $REPLY,
# '\r' stripped; 1 on timeout or end).
say_line() { printf '%s\n' "$1" >&3; }
get_line() {
	IFS= read -r -t "$WAIT" REPLY <&3 || return 1
	REPLY=${REPLY%$'\r'}
}
# dial PORT LINE: a new session, LINE sent, its first reply in $REPLY.
dial() {
	session "$1"
	say_line "$2"
	get_line || REPLY="(no reply)"
}

must "t-tsrv (the TLS backend) starts" \
	'ioc B -c "$PKI/server.crt" -k "$PKI/server.key"'
must "a second t-tsrv listens on 127.0.0.2" \
	'srv_start B2 "$TSRV" -x -i 127.0.0.2 -p @PORT@ -n 1 -c "$PKI/server.crt" -k "$PKI/server.key"'
must "t-srv-connect starts with --connect-ca (a file only its owner reads)" \
	'dialer D --connect-ca "$PKI/ca.crt" --connect-alpn http/1.1'

dial "$D_PORT" "DIAL localhost $B_PORT 1"
ck "a name, verified against the test CA: up ($REPLY)" '[[ $REPLY == "UP "*" host=127.0.0.1 port=$B_PORT alpn=http/1.1" ]]'
say_line INFO
get_line || REPLY="(no reply)"
ck "the relay reaches the TLS backend, in TLS 1.3 ($REPLY)" '[[ $REPLY == "INFO "*"version=TLSv1.3 "* ]]'
say_line "hello over TLS"
get_line || REPLY="(no reply)"
ck "and brings its answer back ($REPLY)" '[[ $REPLY == "hello over TLS" ]]'
exec 3>&-

dial "$D_PORT" "DIAL 127.0.0.1 $B_PORT 1"
ck "an address, verified against the certificate's IP name: up ($REPLY)" '[[ $REPLY == "UP "* ]]'
exec 3>&-

dial "$D_PORT" "DIAL 127.0.0.2 $B2_PORT 1"
ck "an address the certificate does not name: refused ($REPLY)" \
	'[[ $REPLY == "DOWN why=TLS: certificate verify failed: IP address mismatch" ]]'
say_line "STATS"
get_line || REPLY="(no reply)"
ck "S_STATS: 2 outbound sessions, 1 failed ($REPLY)" \
	'[[ $REPLY == "STATS outbound_gauge="[01]" outbound_counter=2 outbound_error=1 "* ]]'
exec 3>&-

must "t-srv-connect starts with the system's CAs" 'dialer S'
dial "$S_PORT" "DIAL localhost $B_PORT 1"
ck "the test CA is unknown to the system: refused with the reason ($REPLY)" \
	'[[ $REPLY == "DOWN why=TLS: certificate verify failed: "* ]]'
say_line "DIAL localhost $B_PORT 3"
get_line || REPLY="(no reply)"
ck "S_CONNECT_NOVERIFY connects anyway ($REPLY)" '[[ $REPLY == "UP "*"alpn=-" ]]'
exec 3>&-

dial "$S_PORT" "DIAL 127.0.0.1 $D_PORT 1"
ck "TLS to a plain server: refused with a reason ($REPLY)" '[[ $REPLY == "DOWN why=TLS: "* ]]'
exec 3>&-

rc=0
timeout "$WAIT" "$CONNECT" -x -i 127.0.0.1 -p "$(free_port)" --connect-ca "$PKI/server.key" >"$T/bad.out" 2>"$T/bad.err" || rc=$?
ck "a CA file that holds no certificate stops the start: exit 78 (got $rc)" '[[ $rc == 78 ]]'
ck "saying why ($(grep -m 1 "cannot load" "$T/bad.err"))" 'grep -q "cannot load the CAs of" "$T/bad.err"'

srv_finish D
srv_finish S
srv_finish B
srv_finish B2
t_finish
