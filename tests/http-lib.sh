# tests/http-lib.sh - what the shell tests of the real hsvr-http share: TAP lines, a server on a fresh port, requests over bash's /dev/tcp.
#
# Sourced after setting nothing; uses top_builddir, HSVR_TEST_BINDIR and
# HSVR_TEST_SCALE from tests/local.mk.  Sets work (a scratch directory,
# removed at exit unless a check failed), http, port and pid.
set -u

: "${top_builddir:?}"
: "${HSVR_TEST_BINDIR:=$top_builddir/tests}"
scale=${HSVR_TEST_SCALE:-1}
case $scale in '' | *[!0-9]*) scale=1 ;; esac
wait_s=$((10 * scale))
http=$top_builddir/examples/hsvr-http
probe=$HSVR_TEST_BINDIR/t-probe

# shellcheck source=tap.sh
. "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
pid=
port=
work=$(mktemp -d "${TMPDIR:-/tmp}/hsvr-http-XXXXXX") || exit 99

# The server and its serving process are stopped whatever happens.
stop_server() {
	local kids i
	[[ -n $pid ]] || return 0
	kids=$(ps -o pid= --ppid "$pid" 2>/dev/null)
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 50 * scale; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	# shellcheck disable=SC2086 # a list of pids
	kill -KILL "$pid" $kids 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=
}

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	stop_server
	if ((failed)); then
		echo "# files kept in $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# start_http ARGS...: hsvr-http -x -i 127.0.0.1 -p PORT ARGS on a free
# port, once it accepts connections (a port taken meanwhile: another one),
# with its pidfile in $work.
start_http() {
	local i up=0
	if [[ ! -x $http || ! -x $probe ]]; then
		echo "Bail out! $http or $probe is not built"
		exit 99
	fi
	for _ in 1 2 3; do
		port=$("$probe" --free-port) || exit 99
		# A pidfile of its own: the default, /run/hsvr-http.pid, is the
		# daemon tests' (which run alongside).
		"$http" -x -p "$port" -i 127.0.0.1 --pidfile "$work/hsvr-http.pid" "$@" \
			>"$work/server.out" 2>"$work/server.err" </dev/null &
		pid=$!
		for ((i = 0; i < 100 * scale; i++)); do
			if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
				up=1
				break
			fi
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		((up)) && break
		stop_server
		grep -q 'in use' "$work/server.err" || break
	done
	if ((!up)); then
		echo "Bail out! hsvr-http did not come up on 127.0.0.1:$port"
		sed 's/^/# /' "$work/server.err"
		failed=1
		exit 99
	fi
	echo "# hsvr-http $* (pid $pid) on 127.0.0.1:$port"
}

# exchange NAME: send $work/NAME.req on a new connection and read until
# the server closes, for at most $wait_s s, into $work/NAME.rsp.  Returns
# 0 (the server closed: end of file), 124 (it kept the connection open),
# 90 (no connection), or cat's status (a reset).
exchange() {
	local name=$1
	(
		exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 90
		cat "$work/$name.req" >&3 2>/dev/null &
		timeout "$wait_s" cat <&3 >"$work/$name.rsp" 2>"$work/$name.err"
		rc=$?
		kill $! 2>/dev/null
		exit "$rc"
	)
}

# request NAME TEXT...: the request bytes (printf %b: \r, \n, \0 work).
request() {
	local name=$1
	shift
	printf '%b' "$@" >"$work/$name.req"
}

H='Host: localhost\r\n'
GET='GET / HTTP/1.1\r\n'
CLOSE_H='Connection: close\r\n'
