#!/bin/bash
# tests/metrics.sh - --metrics: GET /metrics in Prometheus text format (curl, promtool) on TCP and on a UNIX socket; values that move with the traffic; the loop lag under a blocking callback; bad clients and bad addresses.
#
# t-srv-metrics (tests/srv-metrics.c: an application counter and gauge,
# BLOCK ms blocks its worker) with two workers and --metrics on another
# port of 127.0.0.1:
#  - the page: 200, Content-Type "text/plain; version=0.0.4;
#    charset=utf-8", `promtool check metrics` clean, hsvr_build_info,
#    process_start_time_seconds near now;
#  - traffic: 3 connections held and 5 short ones (each "INC 2"), "SET
#    42": hsvr_connections_accepted_total 8, hsvr_connections_open back
#    to 3, the per-worker accepted sum to 8, app_requests_total 10 (the
#    -5 and the set that serv_init tried on it were refused),
#    app_queue_depth 42;
#  - BLOCK 400 on one worker: its hsvr_worker_loop_lag_seconds samples
#    above 0.25 s grow (the figures are printed);
#  - HEAD (no body), 404, 405 (POST), 400, 414 for a 4096-byte request
#    line; a client that sends nothing does not keep others from being
#    answered, and is closed within the endpoint's 10 s; with 16 silent
#    clients (the most served at once) a scrape waits, and is answered
#    once they close;
#  - SIGHUP: the new serving process answers on the same socket (its
#    process_start_time_seconds), the old one no longer does;
#  - SIGTERM: while the drain lasts (a worker held by BLOCK), a scrape
#    is refused at once, not queued unanswered;
#  - unix:PATH: served, mode 0770, the name removed at exit; after
#    SIGUSR2 (an upgrade in place) served by the new image's serving
#    process on the same socket, and the name removed at its exit;
#  - bad --metrics arguments exit 64 with the reason, an address in use
#    71; serv_init's registration checks (names, duplicates, prefixes,
#    _total) printed no VIOLATION, and their messages reached stderr.
# Needs curl and promtool (package prometheus): without them, SKIP.
#
# Shown to fail: with worker.c's on_lag() recording 0 instead of `late`,
# the loop lag check fails (no sample above 0.25 s); with stats.c's
# accept_counter metric named "hsvr_connections_accepted" (no _total)
# promtool and the accepted check fail; with metrics.c's valid_name()
# returning 1, the registration checks print VIOLATION lines; with
# conn_free() not resuming accept after 16 connections, "once they
# close, it is answered" fails; with listen.c's hsvr_listen_close() not
# closing the --metrics socket on SIGTERM, "during a drain a scrape is
# refused" fails;
# with listen.c's hsvr_listen_carry() not carrying the directory of the
# --metrics UNIX socket (no "mu="), as before it was, "after an upgrade
# too, the socket's name is removed at exit" fails.
# shellcheck source=tls/lib.sh
. "$(dirname "$0")/tls/lib.sh"

for tool in curl promtool; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "1..0 # SKIP $tool is not installed (Debian: apt-get install curl prometheus)"
		exit 77
	fi
done

lib_scratch metrics 700
: >"$T/clients.err"
t_timed=1
SRV=$t_builddir/tests/t-srv-metrics
lib_direct SRV
say "$t_name in $T (scale $SCALE)"

# mstart NAME ARG...: start t-srv-metrics in the foreground with ARGs,
# where @PORT@ and @MPORT@ become two free ports (NAME_PORT, NAME_MPORT);
# waits until the application's port listens.
mstart() {
	local name=$1 port mport a args pid
	shift
	for _ in 1 2 3; do
		port=$(free_port) && mport=$(free_port) || return 1
		[[ $port != "$mport" ]] || continue
		args=()
		for a in "$@"; do
			a=${a//@PORT@/$port}
			args+=("${a//@MPORT@/$mport}")
		done
		"$SRV" "${args[@]}" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
		pid=$!
		printf -v "${name}_PID" %s "$pid"
		printf -v "${name}_PORT" %s "$port"
		printf -v "${name}_MPORT" %s "$mport"
		t_servers+=("$name")
		wait_for 10 listens "$pid" "$port" && return 0
		alive "$pid" && return 1
		wait "$pid" 2>/dev/null
		grep -q 'in use' "$T/$name.err" || return 1
	done
	return 1
}

# get URL [CURL OPTIONS...]: the reply's headers in $T/hdr, its body in
# $T/body; prints the status code.
get() {
	local url=$1
	shift
	curl -sS --max-time "$WAIT" -D "$T/hdr" -o "$T/body" -w '%{http_code}' \
		"$@" "$url" 2>>"$T/clients.err"
}

# val SERIES [FILE]: the value of the sample SERIES in FILE ($T/body).
val() { awk -v s="$1" '$1 == s { print $2; f = 1 } END { exit !f }' "${2:-$T/body}"; }

# promtool_ok [FILE]: promtool finds nothing to say about FILE.
promtool_ok() {
	local out
	out=$(promtool check metrics <"${1:-$T/body}" 2>&1) && [[ -z $out ]] && return 0
	say "promtool: $out"
	return 1
}

must "server with --metrics on 127.0.0.1 starts" mstart a -x -i 127.0.0.1 \
	-p @PORT@ -n 2 --drain-timeout "$((5 * SCALE))" --metrics 127.0.0.1:@MPORT@
URL=http://127.0.0.1:$a_MPORT/metrics

ck "serv_init's registration checks ran, none failed" \
	'out_has a "NAMES checked=16" && ! out_has a VIOLATION'
for m in "'9lives' is not a metric name" "is registered already" \
	"a counter's name ends in _total" "are the library's" \
	"colons are for recording rules" "'app_nohelp' needs a help text"; do
	ck "registration refused with a reason: $m" 'err_has a "$m"'
done

code=$(get "$URL")
ck "GET /metrics: 200 (got $code)" '[[ $code == 200 ]]'
ck "Content-Type: text/plain; version=0.0.4; charset=utf-8" \
	'tr -d "\r" <"$T/hdr" | grep -qixF "content-type: text/plain; version=0.0.4; charset=utf-8"'
ck "promtool check metrics: clean" promtool_ok
ck 'hsvr_build_info{version="0.1.0"} 1' '[[ $(val "hsvr_build_info{version=\"0.1.0\"}") == 1 ]]'
start=$(val process_start_time_seconds)
now=$(date +%s)
ck "process_start_time_seconds is of the last minute ($start, now $now)" \
	'[[ -n $start ]] && ((${start%.*} <= now && ${start%.*} > now - 60))'
ck "hsvr_worker_threads 2, nothing accepted yet" \
	'[[ $(val hsvr_worker_threads) == 2 && $(val hsvr_connections_accepted_total) == 0 ]]'
ck "app_requests_total 0 (serv_init's -5 and set refused), app_level -7" \
	'[[ $(val app_requests_total) == 0 && $(val app_level) == -7 ]]'
ck "the help text of the application's counter is escaped" \
	'grep -qF "# HELP app_requests_total Requests the test server counted.\\nSecond line \\\\ escaped." "$T/body"'

# Traffic: 3 connections held, 5 short ones.
# cmd FD LINE: send LINE on FD, print the reply line.
cmd() {
	local reply=
	printf '%s\n' "$2" >&"$1" && IFS= read -r -t "$WAIT" reply <&"$1"
	echo "$reply"
}
exec 3<>"/dev/tcp/127.0.0.1/$a_PORT" 4<>"/dev/tcp/127.0.0.1/$a_PORT" \
	5<>"/dev/tcp/127.0.0.1/$a_PORT"
for fd in 3 4 5; do
	r=$(cmd $fd "PING $fd")
	ck "held connection $fd answered ($r)" '[[ $r == "PONG $fd" ]]'
done
for i in 1 2 3 4 5; do
	exec 6<>"/dev/tcp/127.0.0.1/$a_PORT"
	r=$(cmd 6 "INC 2")
	exec 6<&-
	[[ $r == "INC 2" ]] || not_ok "short connection $i: INC 2 answered ($r)"
done
r=$(cmd 3 "SET 42")
ck "SET 42 answered ($r)" '[[ $r == "SET 42" ]]'
three_open() { get "$URL" >/dev/null && [[ $(val hsvr_connections_open) == 3 ]]; }
ck "hsvr_connections_open comes back to 3 once the short ones close" 'wait_for 10 three_open'
ck "hsvr_connections_accepted_total 8 ($(val hsvr_connections_accepted_total))" \
	'[[ $(val hsvr_connections_accepted_total) == 8 ]]'
sum=$(awk '$1 ~ /^hsvr_worker_connections_accepted_total\{worker="[01]"\}$/ { s += $2 } END { print s + 0 }' "$T/body")
open=$(awk '$1 ~ /^hsvr_worker_connections_open\{worker="[01]"\}$/ { s += $2 } END { print s + 0 }' "$T/body")
ck "per worker: accepted add up to 8 ($sum), open to 3 ($open)" '[[ $sum == 8 && $open == 3 ]]'
ck "app_requests_total 10, app_queue_depth 42" \
	'[[ $(val app_requests_total) == 10 && $(val app_queue_depth) == 42 ]]'
ck "received bytes counted" '(($(val hsvr_received_bytes_total) > 0))'
ck "promtool check metrics: clean after traffic" promtool_ok

# The loop lag: one worker blocked 400 ms; every sample of it is late by
# 300 to 400 ms (the timer is due every 100 ms), so above 0.25 s.
# over W: worker W's samples above 0.25 s in $T/body.
over() {
	local inf q
	inf=$(val "hsvr_worker_loop_lag_seconds_bucket{worker=\"$1\",le=\"+Inf\"}") &&
		q=$(val "hsvr_worker_loop_lag_seconds_bucket{worker=\"$1\",le=\"0.25\"}") &&
		echo $((inf - q))
}
get "$URL" >/dev/null
before0=$(over 0) && before1=$(over 1)
r=$(cmd 4 "BLOCK 400")
w=${r#BLOCKED worker=}
ck "BLOCK 400 answered ($r)" '[[ $r == "BLOCKED worker="[01] ]]'
before=$before0
[[ $w == 1 ]] && before=$before1
grew() { get "$URL" >/dev/null && (($(over "$w") > before)); }
ck "worker $w's loop lag above 0.25 s grew (from $before)" 'wait_for 10 grew'
say "worker $w's loop lag after BLOCK 400:"
grep "^hsvr_worker_loop_lag_seconds_[a-z]*{worker=\"$w\"" "$T/body" | sed 's/^/#   /'
say "the other worker's samples above 0.25 s: before $([[ $w == 0 ]] && echo "$before1" || echo "$before0"), now $(over $((1 - w)))"
exec 3<&- 4<&- 5<&-

# Bad requests.
# whole TEXT: send TEXT (printf format) to the endpoint, print all of
# the reply, up to the endpoint's close.
whole() {
	exec 7<>"/dev/tcp/127.0.0.1/$a_MPORT" || return 1
	# shellcheck disable=SC2059 # the format is the request
	printf "$1" >&7
	timeout "$WAIT" cat <&7
	exec 7<&-
}
r=$(whole 'HEAD /metrics HTTP/1.0\r\n\r\n' | tr -d '\r')
nl=$'\n'
ck "HEAD /metrics: 200 with a length, and no body" \
	'[[ $r == "HTTP/1.1 200 OK$nl"* && $r == *"${nl}Content-Length: "[1-9]* && $r == *"Connection: close" ]]'
code=$(get "http://127.0.0.1:$a_MPORT/nope")
ck "GET /nope: 404 (got $code)" '[[ $code == 404 ]]'
code=$(get "$URL" -X POST -d x=1)
ck "POST /metrics: 405 with Allow (got $code)" '[[ $code == 405 ]] && grep -qi "^allow: GET, HEAD" "$T/hdr"'
# raw TEXT: send TEXT (printf format) to the endpoint, print the status line.
raw() {
	local reply=
	exec 7<>"/dev/tcp/127.0.0.1/$a_MPORT" || return 1
	# shellcheck disable=SC2059 # the format is the request
	printf "$1" >&7
	IFS= read -r -t "$WAIT" reply <&7
	exec 7<&-
	echo "${reply%$'\r'}"
}
r=$(raw 'HELLO\r\n\r\n')
ck "a request line that is not HTTP: 400 ($r)" '[[ $r == "HTTP/1.1 400 "* ]]'
long=$(printf 'GET /%04091d' 0)
r=$(raw "$long")
ck "a 4096-byte request line: 414 ($r)" '[[ $r == "HTTP/1.1 414 "* ]]'
exec 8<>"/dev/tcp/127.0.0.1/$a_MPORT"
silent_t0=$(now_cs)
code=$(get "$URL")
ck "with a silent client connected, others are answered (got $code)" '[[ $code == 200 ]]'
# The silent client is closed: read gives end of file (status 1), not a
# timeout (status > 128), within the endpoint's 10 s.
rc=0
IFS= read -r -t $((15 * SCALE)) _ <&8 || rc=$?
exec 8<&-
ck "the silent client is closed by the endpoint (read status $rc, after $((($(now_cs) - silent_t0) / 100)) s)" '((rc == 1))'

# 16 connections at most: with 16 silent ones a scrape waits in the
# listen queue (a bounded wait that must run out), and is answered once
# they close (the endpoint accepts again).
fds=()
for _ in $(seq 16); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$a_MPORT" && fds+=("$fd")
done
code=$(get "$URL" --max-time 1)
ck "16 silent clients: a 17th waits (got ${code:-nothing} in 1 s)" '[[ $code != 200 ]]'
for fd in "${fds[@]}"; do exec {fd}<&-; done
code=$(get "$URL")
ck "once they close, it is answered (got $code)" '[[ $code == 200 ]]'

# SIGHUP: the new serving process answers on the socket the supervisor kept.
old_start=$(get "$URL" >/dev/null && val process_start_time_seconds)
kill -HUP "$a_PID"
new_start() { get "$URL" >/dev/null && [[ $(val process_start_time_seconds) != "$old_start" ]]; }
ck "after SIGHUP the new serving process answers /metrics" 'wait_for 10 new_start'
same=0
for _ in 1 2 3 4 5; do
	get "$URL" >/dev/null && [[ $(val process_start_time_seconds) != "$old_start" ]] && same=$((same + 1))
done
ck "and only it: 5 scrapes of 5 ($same)" '((same == 5))'

# A port in use (the application's own): 71.
"$SRV" -x -i 127.0.0.1 -p "$(free_port)" --metrics "127.0.0.1:$a_PORT" \
	>"$T/inuse.out" 2>"$T/inuse.err" </dev/null
rc=$?
ck "--metrics on a port in use: exit 71 ($rc), saying so" \
	'((rc == 71)) && grep -q "cannot listen on 127.0.0.1:$a_PORT (--metrics)" "$T/inuse.err"'
for bad in nonsense 127.0.0.1:0 127.0.0.1:65536 ::1:9100 ':9100' 'unix:' '[::1]:x'; do
	"$SRV" -x -p "$(free_port)" --metrics "$bad" >"$T/bad.out" 2>"$T/bad.err" </dev/null
	rc=$?
	ck "--metrics '$bad': exit 64 ($rc) with the reason" \
		'((rc == 64)) && grep -q "invalid argument for --metrics" "$T/bad.err"'
done

# SIGTERM: the drain lasts while a worker is held (BLOCK), and meanwhile
# the endpoint is closed (the supervisor's socket and the draining
# process's): a scrape is refused at once, not queued unanswered.
exec {hold}<>"/dev/tcp/127.0.0.1/$a_PORT"
printf 'BLOCK %d\n' $((3000 * SCALE)) >&"$hold"
kill -TERM "$a_PID"
refused() {
	local rc=0
	curl -s -o /dev/null --max-time 1 "$URL" || rc=$?
	((rc == 7))
}
ck "during a drain a scrape is refused (curl exit 7), not left waiting" 'wait_for 2 refused'
exec {hold}<&-
ck "the drained server exits by itself" 'wait_for 20 gone "$a_PID"'
srv_finish a

# unix:PATH
sock=$T/metrics.sock
must "server with --metrics unix:PATH starts" mstart u -x -i 127.0.0.1 \
	-p @PORT@ -n 1 --metrics "unix:$sock"
ck "the socket is there, mode 0770" '[[ -S $sock && $(stat -c %a "$sock") == 770 ]]'
code=$(get http://localhost/metrics --unix-socket "$sock")
ck "GET /metrics on the UNIX socket: 200 (got $code)" '[[ $code == 200 ]]'
ck "promtool check metrics: clean" promtool_ok
srv_finish u
ck "the socket's name is removed at exit" '[[ ! -e $sock ]]'

# SIGUSR2: the upgrade in place carries the socket with the listening
# ones: the new image's serving process answers on it, and the new image
# removes its name at exit.
must "server with --metrics unix:PATH starts again" mstart v -x -i 127.0.0.1 \
	-p @PORT@ -n 1 --metrics "unix:$sock"
ino=$(stat -c %i "$sock")
uget() { get http://localhost/metrics --unix-socket "$sock"; }
old_start=$(uget >/dev/null && val process_start_time_seconds)
kill -USR2 "$v_PID"
new_start() { uget >/dev/null && [[ $(val process_start_time_seconds) != "$old_start" ]]; }
ck "SIGUSR2: the upgraded server's new serving process answers on the UNIX socket" \
	'wait_for 30 new_start'
ck "the log says 'upgraded', the supervisor kept its pid $v_PID" \
	'wait_for 10 err_has v "upgraded: serving process" && alive "$v_PID"'
ck "the socket is the same file, mode 0770" \
	'[[ -S $sock && $(stat -c %i "$sock") == "$ino" && $(stat -c %a "$sock") == 770 ]]'
srv_finish v
ck "after an upgrade too, the socket's name is removed at exit" '[[ ! -e $sock ]]'

t_cleanup
