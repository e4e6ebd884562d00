#!/bin/bash
# tests/fuzz/http-limits.sh - the real hsvr-http answers oversized and malformed requests with 414, 431 or 400, closes, and keeps serving.
#
# One hsvr-http (--hello, one worker) on a fresh port of 127.0.0.1.  Each
# request goes on a connection of its own (bash's /dev/tcp): the client
# sends it all, then reads until the server closes.  Checked: the statuses
# of the answers, "Connection: close" on an error, and that the server
# closed (end of file; a reset only after the whole answer arrived, for a
# request so big that the server closed with some of it unread).  Requests
# just inside each limit must be served, and after all the abuse a plain
# request still is.
#
# Environment (tests/local.mk): top_builddir, HSVR_TEST_BINDIR (t-probe),
# HSVR_TEST_SCALE.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/../http-lib.sh"

# fill N CHAR: N times CHAR.
fill() { head -c "$1" /dev/zero | tr '\0' "$2"; }

# outcome NAME: exchange NAME, then set STATUSES (the statuses of the
# answers, space-separated), CLOSE (the last answer says "Connection:
# close") and CLOSED: eof, reset, or "no" if the server kept the
# connection open.
outcome() {
	local name=$1 rc
	exchange "$name"
	rc=$?
	case $rc in
	0) CLOSED=eof ;;
	124) CLOSED=no ;;
	90) CLOSED="no connection" ;;
	*) if grep -q 'reset by peer' "$work/$name.err"; then CLOSED=reset; else CLOSED="error $rc"; fi ;;
	esac
	STATUSES=$(grep -ao '^HTTP/1\.1 [0-9][0-9][0-9] ' "$work/$name.rsp" |
		cut -d' ' -f2 | tr '\n' ' ')
	STATUSES=${STATUSES% }
	CLOSE=0
	if [[ -n $STATUSES ]] &&
		awk '/^HTTP\/1\.1 / { c = 0 } /^Connection: close\r$/ { c = 1 } END { exit !c }' \
			"$work/$name.rsp"; then
		CLOSE=1
	fi
}

# complete FILE: the last answer in FILE has all its Content-Length bytes.
complete() {
	local rsp body head
	rsp=$(cat "$1"; echo .)
	rsp=${rsp%.}
	body=${rsp##*$'\r\n\r\n'}
	head=${rsp%$'\r\n\r\n'*}
	head=${head##*HTTP/1.1 }
	[[ $head =~ Content-Length:\ ([0-9]+) ]] && ((${#body} == BASH_REMATCH[1]))
}

# answered NAME STATUSES WHAT: the request NAME gets complete answers with
# these statuses, the last one saying "Connection: close", and the server
# closes the connection: with a FIN, or with a reset when it closed with
# some of the client's bytes unread (a request bigger than it reads).
answered() {
	local name=$1 want=$2 what=$3
	outcome "$name"
	if [[ $STATUSES == "$want" && $CLOSE == 1 && ($CLOSED == eof || $CLOSED == reset) ]] &&
		complete "$work/$name.rsp"; then
		ok "$what: $want, connection closed ($CLOSED)"
	else
		not_ok "$what: want $want and the connection closed; got '${STATUSES:-nothing}', Connection: close $CLOSE, closed: $CLOSED"
		head -c 300 "$work/$name.rsp" | od -c | head -n 12 | sed 's/^/#   /'
	fi
}

start_http -n 1 --hello

# ---- what is served
request plain "$GET$H$CLOSE_H\r\n"
answered plain 200 "a plain GET"
request pipelined "$GET$H\r\nHEAD / HTTP/1.1\r\n$H\r\n$GET$H$CLOSE_H\r\n"
answered pipelined "200 200 200" "GET, HEAD and GET pipelined"

# ---- request line: HTTP_LINE_MAX (8192) bytes without its CRLF
line=$(fill $((8192 - 15)) a)
request line-8192 "GET /?$line HTTP/1.1\r\n$H$CLOSE_H\r\n"
answered line-8192 200 "a request line of 8192 bytes"
request line-8193 "GET /?${line}a HTTP/1.1\r\n$H\r\n"
answered line-8193 414 "a request line of 8193 bytes"
request line-100k "GET /?$(fill 100000 a) HTTP/1.1\r\n$H\r\n"
answered line-100k 414 "a request line of 100000 bytes"
request line-nocrlf "GET /?$(fill 20000 a)"
answered line-nocrlf 414 "8 KiB of request line and no end to it yet"

# ---- header section: HTTP_FIELDS_MAX (16384) bytes with its CRLFs
fields="$H${CLOSE_H}X-Fill: "
pad=$((16384 - 17 - 19 - 8 - 2 - 2))
request fields-16384 "$GET$fields$(fill $pad b)\r\n\r\n"
answered fields-16384 200 "a header section of 16384 bytes"
request fields-16385 "$GET$fields$(fill $((pad + 1)) b)\r\n\r\n"
answered fields-16385 431 "a header section of 16385 bytes"
request field-200k "${GET}${H}X-Big: $(fill 200000 c)\r\n\r\n"
answered field-200k 431 "a 200000-byte header field"
# HTTP_FIELD_LINES (100) lines
lines=$(for i in $(seq 1 98); do printf 'X-%d: v\\r\\n' "$i"; done)
request lines-100 "$GET$H$CLOSE_H$lines\r\n"
answered lines-100 200 "100 header lines"
request lines-101 "$GET$H$CLOSE_H${lines}X-Last: v\r\n\r\n"
answered lines-101 431 "101 header lines"

# ---- malformed
request no-colon "${GET}Host localhost\r\n\r\n"
answered no-colon 400 "a field without a colon"
request bare-lf "GET / HTTP/1.1\nHost: localhost\n\n"
answered bare-lf 400 "lines ended by LF alone"
request bare-cr "GET / HTTP/1.1\rHost: localhost\r\n\r\n"
answered bare-cr 400 "a CR without LF"
request nul "${GET}Host: local\0host\r\n\r\n"
answered nul 400 "a NUL in a field value"
request space-colon "${GET}Host : localhost\r\n\r\n"
answered space-colon 400 "a space before the colon"
request obs-fold "$GET${H}X-A: a\r\n  b\r\n\r\n"
answered obs-fold 400 "a folded field line"
request version "GET / HTTP/1.x\r\n$H\r\n"
answered version 400 "a malformed version"
request no-host "$GET\r\n"
answered no-host 400 "HTTP/1.1 without Host"
request two-lengths "POST / HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 1\r\n\r\nx"
answered two-lengths 400 "two Content-Length fields"
request smuggle "POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
answered smuggle 400 "Content-Length and chunked at once"
request bad-chunk "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n"
answered bad-chunk 400 "a chunk not followed by CRLF"
request binary "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"
answered binary 400 "binary bytes"
request after-good "$GET$H\r\nGET / HTTP/1.1\r\nHost localhost\r\n\r\n$GET$H\r\n"
answered after-good "200 400" "a malformed request after a good one on the same connection"

# ---- still serving
request final "$GET$H$CLOSE_H\r\n"
answered final 200 "a plain GET after all that"
if kill -0 "$pid" 2>/dev/null; then
	ok "hsvr-http is still running"
else
	not_ok "hsvr-http is still running"
	sed 's/^/# /' "$work/server.err"
fi
stop_server
echo "1..$n"
exit "$failed"
