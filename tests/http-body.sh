#!/bin/bash
# tests/http-body.sh - hsvr-http's bodies go out without a copy and arrive byte for byte: by sendfile from an unnamed read-only file written at start (--body-size) and from a file (--file).
#
# Each server gets requests pipelined on one connection (bash's /dev/tcp)
# and its answers are compared with the bytes they must be, head and body:
#  - --body-size 3000000 (S_send_file of the unnamed file of /var/tmp,
#    or where there is none the sealed memfd, the server wrote it into at
#    start; its serving process holds it, read-only): GET, GET, and GET
#    with Connection: close;
#  - --file of 3 MB of random bytes (S_send_file, one worker): GET, HEAD, GET; then
#    the file rewritten shorter and longer: each GET has its length now;
#  - --hello, one worker: two answers 2 s apart carry different Dates (the
#    head of a 200 is kept for the rest of its second only);
#  - a --file that cannot be opened: a one-line message and exit 78.
#
# Environment (tests/local.mk): top_builddir, HSVR_TEST_BINDIR (t-probe),
# HSVR_TEST_SCALE.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/http-lib.sh"

# head_of LENGTH [close]: the head hsvr-http sends before a body of LENGTH
# (its Date field as undated() leaves it).
head_of() {
	printf 'HTTP/1.1 200 OK\r\nServer: hsvr\r\nDate: (date)\r\nContent-Type: application/octet-stream\r\nContent-Length: %s\r\n%s\r\n' \
		"$1" "${2:+Connection: close$'\r\n'}"
}

# undated FILE: every Date field of the responses in FILE (RFC 7231
# IMF-fixdate, checked) becomes "Date: (date)".
undated() {
	perl -0777 -pi -e 's/\r\nServer: hsvr\r\nDate: (?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT\r\n/\r\nServer: hsvr\r\nDate: (date)\r\n/g' "$1"
}

# same NAME WHAT: $work/NAME.rsp is $work/NAME.want, and the server closed.
same() {
	local name=$1 what=$2 rc at
	exchange "$name"
	rc=$?
	undated "$work/$name.rsp"
	if ((rc == 0)) && cmp -s "$work/$name.rsp" "$work/$name.want"; then
		ok "$what ($(stat -c %s "$work/$name.rsp") bytes)"
	else
		at=$(cmp "$work/$name.rsp" "$work/$name.want" 2>&1 | head -n 1)
		not_ok "$what: exchange $rc, $(stat -c %s "$work/$name.rsp") of $(stat -c %s "$work/$name.want") bytes; ${at:-same bytes}"
	fi
}

# ---- from memory, by sendfile: --body-size
start_http -n 2 --body-size 3000000
yes abcdefghijklmnopqrstuvwxyz | tr -d '\n' | head -c 3000000 >"$work/alpha"
request mem "$GET$H\r\n$GET$H\r\n$GET$H$CLOSE_H\r\n"
{
	head_of 3000000; cat "$work/alpha"
	head_of 3000000; cat "$work/alpha"
	head_of 3000000 close; cat "$work/alpha"
} >"$work/mem.want"
same mem "--body-size: three pipelined GETs, 3 MB each by sendfile from the body's fixed copy"
# The serving process (pid's child) holds the body's copy: an unnamed file
# of /var/tmp (O_TMPFILE) open read-only, or else the sealed memfd.  A plain
# connection's body goes by sendfile from it, not by a copy from memory.
held=""
for p in $pid $(pgrep -P "$pid"); do
	for f in /proc/"$p"/fd/*; do
		link=$(readlink "$f" 2>/dev/null) || continue
		flags=$(awk '/^flags:/ { print $2 }' "/proc/$p/fdinfo/${f##*/}" 2>/dev/null)
		if [[ $link =~ ^/var/tmp/#[0-9]+\ \(deleted\)$ ]]; then
			# O_ACCMODE of the octal flags: 0 is O_RDONLY.
			if (((8#${flags:-1} & 3) == 0)); then
				held="an unnamed read-only file of /var/tmp"
			else
				held="writable:$link"
			fi
		elif [[ $link == /memfd:hsvr-http-body* && -z $held ]]; then
			held="the sealed memfd"
		fi
	done
done
# Where /var/tmp is root's, on a filesystem with O_TMPFILE, it must be there.
tmpfs=$(stat -f -c %T /var/tmp 2>/dev/null)
if [[ $(stat -c %u /var/tmp 2>/dev/null) == 0 && $tmpfs =~ ^(ext2/ext3|xfs|btrfs|tmpfs)$ &&
	$held == "the sealed memfd" ]]; then
	not_ok "--body-size: a sealed memfd, not the unnamed file of /var/tmp ($tmpfs)"
elif [[ -n $held && $held != writable:* ]]; then
	ok "--body-size: the serving process holds the body as $held"
else
	not_ok "--body-size: no read-only body file among the server's descriptors (${held:-none})"
fi
stop_server

# ---- from a file: --file
head -c 3000000 /dev/urandom >"$work/body"
# One worker: every answer below goes through the same head cache, so a
# length kept past its file's rewrite would show.
start_http -n 1 --file "$work/body"
request file "$GET$H\r\nHEAD / HTTP/1.1\r\n$H\r\n$GET$H$CLOSE_H\r\n"
{
	head_of 3000000; cat "$work/body"
	head_of 3000000
	head_of 3000000 close; cat "$work/body"
} >"$work/file.want"
same file "--file: GET, HEAD, GET pipelined, 3 MB of a file by S_send_file"

head -c 1000 /dev/urandom >"$work/short"
cat "$work/short" >"$work/body"
request short "$GET$H$CLOSE_H\r\n"
{ head_of 1000 close; cat "$work/short"; } >"$work/short.want"
same short "--file: the file rewritten to 1000 bytes, a GET has those"

head -c 5000000 /dev/urandom >"$work/long"
cat "$work/long" >"$work/body"
request long "$GET$H\r\n$GET$H$CLOSE_H\r\n"
{ head_of 5000000; cat "$work/long"; head_of 5000000 close; cat "$work/long"; } >"$work/long.want"
same long "--file: rewritten to 5 MB, two GETs have those"
stop_server

# ---- the head follows the clock: made once a second by each worker, and
# kept for the next answers of that second, never for a later one.
start_http -n 1 --hello
date_of() {
	exchange "$1"
	tr -d '\r' <"$work/$1.rsp" | sed -n 's/^Date: //p'
}
request d1 "$GET$H$CLOSE_H\r\n"
request d2 "$GET$H$CLOSE_H\r\n"
d1=$(date_of d1)
s1=$(date -u -d "$d1" +%s 2>/dev/null || echo 0)
# Until the clock is 4 s past the first Date (at most 7 s): no request
# meanwhile.  Not 2: time(2), which the server's Date follows, is the
# kernel's coarse clock, which on this machine lags clock_gettime by up to
# 1.006 s (a loop of 30,000,000 of each): the check once saw 07:28:38 when
# the clock had just turned 07:28:39.
for ((i = 0; i < 70 && $(date -u +%s) < s1 + 4; i++)); do
	sleep 0.1
done
d2=$(date_of d2)
s2=$(date -u -d "$d2" +%s 2>/dev/null || echo 0)
now=$(date -u +%s)
if ((s1 > 0 && s2 >= s1 + 2 && s2 <= now)); then
	ok "the second answer's Date is the clock's, not the first's ('$d1', then '$d2')"
else
	not_ok "Date '$d1', then 2 s later '$d2' (clock $(date -u -d "@$now"))"
fi
stop_server

# ---- a file that is not there
"$http" -x -p 1 -i 127.0.0.1 --pidfile "$work/missing.pid" --file "$work/nothing" >"$work/missing.out" 2>&1 </dev/null
rc=$?
msg=$(head -n 1 "$work/missing.out")
if ((rc == 78)) && [[ $msg == *"$work/nothing"*"No such file"* ]]; then
	ok "--file that is not there: exit 78, '$msg'"
else
	not_ok "--file that is not there: exit $rc (want 78), '$msg'"
fi

echo "1..$n"
exit "$failed"
