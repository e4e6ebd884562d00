#!/bin/bash
# tests/http-linger.sh - hsvr-http closes at once (S_linger) after a request answered with Connection: close, read to its end with nothing after it, and lingers otherwise.
#
# A close that lingers shuts the socket's sending side down and keeps the
# descriptor until the client closes (2 s without progress at most); one
# that does not closes it, and the kernel keeps the connection alone
# (an orphan).  Each request below goes on a connection of its own (bash's
# /dev/tcp), whose client reads the 1 MB answer to its end and keeps its
# side open: ss then says whether the server's side is
# still the serving process's (users:) or an orphan.  The default body
# goes by sendfile, so at the close the reply is not yet acknowledged:
# without S_linger(s, 0) every close would linger.
#  - GET HTTP/1.0, GET HTTP/1.1 with Connection: close, and a keep-alive
#    GET followed by one with Connection: close: the whole answers, the
#    server's side an orphan;
#  - GET HTTP/1.0 with another request after it in the same packet (the
#    server does not read it): the answer whole, the close lingers.
# How it was shown to fail: http.c without its S_linger call (the first
# three say the socket is the server's); http.c calling S_linger whatever
# follows the request (the last says an orphan).
#
# Environment (tests/local.mk): top_builddir, HSVR_TEST_BINDIR (t-probe),
# HSVR_TEST_SCALE.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/http-lib.sh"

if ! command -v ss >/dev/null 2>&1; then
	echo "1..0 # SKIP ss (iproute2) is not installed"
	exit 77
fi

# side NAME: send $work/NAME.req on a new connection, read the answers
# until the server's end into $work/NAME.rsp and, the client's side still
# open, print what holds the server's side (in FIN-WAIT-1 until the
# client's delayed ACK of the FIN, then FIN-WAIT-2): "process", "orphan"
# or "none".
side() {
	local name=$1 out
	exec 3<>"/dev/tcp/127.0.0.1/$port" || {
		echo none
		return
	}
	cat "$work/$name.req" >&3
	timeout "$wait_s" cat <&3 >"$work/$name.rsp"
	out=$(ss -tnpH state fin-wait-1 state fin-wait-2 "( sport = :$port )")
	exec 3>&-
	case $out in
	'') echo none ;;
	*users:*) echo process ;;
	*) echo orphan ;;
	esac
}

# bodies NAME N: $work/NAME.rsp holds N answers of 1,000,000 bytes each.
bodies() {
	local got
	got=$(grep -ac '^Content-Length: 1000000' "$work/$1.rsp")
	[[ $got == "$2" ]] && (($(stat -c %s "$work/$1.rsp") > 1000000 * $2))
}

# expect NAME N WANT WHAT
expect() {
	local name=$1 count=$2 want=$3 what=$4 got
	got=$(side "$name")
	if [[ $got == "$want" ]] && bodies "$name" "$count"; then
		ok "$what: $count whole answer(s), the server's side: $got"
	else
		not_ok "$what: want $count whole answer(s) and '$want', got '$got' ($(stat -c %s "$work/$name.rsp") bytes)"
	fi
}

start_http --body-size 1000000

request http10 'GET / HTTP/1.0\r\n\r\n'
expect http10 1 orphan "GET HTTP/1.0 (no keep-alive)"
request close11 "$GET$H$CLOSE_H"'\r\n'
expect close11 1 orphan "GET HTTP/1.1 with Connection: close"
request keep "$GET$H"'\r\n'"$GET$H$CLOSE_H"'\r\n'
expect keep 2 orphan "a keep-alive GET, then one with Connection: close"
request piped 'GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n'
expect piped 1 process "GET HTTP/1.0 with another request after it"

stop_server
echo "1..$n"
exit "$failed"
