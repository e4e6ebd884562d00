#!/bin/bash
# tests/systemd/listenfd.sh - listening sockets the server inherits, as
# t-sdexec hands them over (a socket at a descriptor, LISTEN_* set, exec):
#  - --listen-fd 3: the daemon serves on it, close-on-exec in the serving
#    process; under a loop of short connections, three reloads (SIGHUP)
#    each start a new serving process on the same socket and no connection
#    fails; a crashed serving process is restarted on it; it stops with 0;
#  - LISTEN_PID = the server's pid, LISTEN_FDS=1: it serves on descriptor
#    3 and not on its -p port, logs the LISTEN_FDNAMES, and serv_init saw
#    none of the three variables; LISTEN_PID of another process: ignored
#    (the -p port is served), the variables still removed;
#  - refused, exit 71 and one line naming the descriptor and why: a bound
#    socket that does not listen, a UDP socket, a closed descriptor (by
#    --listen-fd and by LISTEN_FDS); --listen-fd with -p, or with
#    --reuseport: usage errors (64).
# Proof that it can fail: with the SO_ACCEPTCONN check of
# listen_inherited() (lib/listen.c) removed, "not listening" is not
# refused; with the unsetenv() calls of hsvr_listen_activated() removed,
# serv_init sees LISTEN_PID and LISTEN_FDS.

# shellcheck disable=SC2016,SC2034,SC2317 source-path=SCRIPTDIR
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=../daemon/lib.sh
. "$(dirname "$0")/../daemon/lib.sh"
dt_enter "$@"

SDEXEC=$dt_builddir/tests/systemd/t-sdexec
ENVSRV=$dt_builddir/tests/systemd/t-envsrv
lib_direct ENVSRV

# ---------------------------------------------- --listen-fd, a daemon
port=$(free_port)
pidf=$T/pid/lfd.pid
mkdir -p "${pidf%/*}"
: >"$T/trace"
rc=0
"$SDEXEC" "$port" "$DSRV" --pidfile "$pidf" -f "$T/trace" -n 2 --listen-fd 3 \
	2>"$T/start.err" || rc=$?
must "--listen-fd 3: started (exit $rc: $(cat "$T/start.err"))" [ "$rc" -eq 0 ]
dt_daemons+=("$pidf")
sup=$(cat "$pidf")
must "a serving process" wait_for 10 serving_pid "$sup"
srv=$(serving_pid "$sup")
check "it answers on the inherited socket" ready "$port"
check "the log says where it serves" wait_for 5 syslog_has "serving on 127\.0\.0\.1:$port"
# The listening socket: the only socket the serving process has at 3.
flags=$(sed -n 's/^flags:[[:space:]]*//p' "/proc/$srv/fdinfo/3" 2>/dev/null)
check "descriptor 3 of the serving process is a socket, close-on-exec (flags $flags)" \
	bash -c '[[ $(readlink /proc/$1/fd/3) == socket:* ]] && (( (8#$2 & 8#2000000) != 0 ))' _ "$srv" "${flags:-0}"

rm -f "$T/stop"
"$DCLIENT" loop "$port" 4 0 "$T/stop" >"$T/loop.out" 2>&1 &
loop=$!
for i in 1 2 3; do
	old=$(serving_pid "$sup")
	kill -HUP "$sup"
	new_child() { local c; c=$(serving_pid "$sup") && [[ $c != "$old" ]]; }
	check "reload $i: a new serving process" wait_for 10 new_child
	check "reload $i: it answers" ready "$port"
done
touch "$T/stop"
wait "$loop"
rc=$?
check "no connection failed or was lost during the reloads ($(cat "$T/loop.out"))" \
	bash -c '[[ $1 -eq 0 ]] && grep -q "short_failed=0" "$2"' _ "$rc" "$T/loop.out"

old=$(serving_pid "$sup")
"$DCLIENT" cmd "$port" crash >/dev/null 2>&1
new_child() { local c; c=$(serving_pid "$sup") && [[ $c != "$old" ]]; }
check "a crashed serving process is restarted" wait_for 10 new_child
check "the restarted one answers on the inherited socket" ready "$port"
kill -TERM "$sup"
check "it stops" wait_for 45 gone "$sup"
check "with exit 0 ($(wait_reaped "$sup"))" [ "$(wait_reaped "$sup")" = exit=0 ]

# ------------------------------------------------ LISTEN_FDS, LISTEN_PID
# env_gone PORT WHAT: serv_init of the server on PORT saw no LISTEN_*.
env_gone() {
	local answer
	answer=$("$DCLIENT" cmd "$1" env 2>&1)
	check "$2 ($answer)" bash -c '[[ $1 == *"LISTEN_PID=- LISTEN_FDS=- LISTEN_FDNAMES=-" ]]' _ "$answer"
}
port=$(free_port)
other=$(free_port)
"$SDEXEC" -e -N web "$port" "$ENVSRV" -x -n 2 -p "$other" -i 127.0.0.1 2>"$T/env.err" &
pid=$!
dt_daemons+=("$pid")
check "LISTEN_FDS: it answers on descriptor 3" ready "$port"
env_gone "$port" "serv_init saw no LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES"
check "the log names the socket activation and its name" \
	grep -q "serving on 127\.0\.0\.1:$port (socket activation: web)" "$T/env.err"
check "-p is not listened on with LISTEN_FDS" "$DCLIENT" wait "$other" refused 1
fg_stop "$pid"
check "it stops with 0" [ $? -eq 0 ]

port=$(free_port)
"$SDEXEC" -o "$port" "$ENVSRV" -x -n 1 -p "$other" -i 127.0.0.1 2>"$T/other.err" &
pid=$!
dt_daemons+=("$pid")
check "LISTEN_PID of another process: ignored, -p is served" ready "$other"
env_gone "$other" "the variables are removed all the same"
check "descriptor 3, not ours, is not served" "$DCLIENT" wait "$port" refused 1
fg_stop "$pid"

# ---------------------------------------------------------- refusals
# refused CODE LINE SDEXEC-ARGS... -- SERVER-ARGS...
refused() {
	local code=$1 line=$2 a=() rc=0
	shift 2
	while [[ $1 != -- ]]; do
		a+=("$1")
		shift
	done
	shift
	# A server that wrongly starts is stopped (timeout: exit 124).
	timeout $((10 * SCALE)) "$SDEXEC" "${a[@]}" "$(free_port)" "$ENVSRV" -x -n 1 "$@" >"$T/ref.out" 2>&1 || rc=$?
	check "${a[*]} $*: exit $code (got $rc), \"$line\"" \
		bash -c '[[ $1 -eq $2 ]] && grep -qF -- "$3" "$4"' _ "$rc" "$code" "$line" "$T/ref.out"
}
refused 71 "cannot listen on descriptor 3 (--listen-fd): the socket is not listening" -k bound -- --listen-fd 3
refused 71 "cannot listen on descriptor 3 (--listen-fd): not a TCP or UNIX-domain stream socket" -k udp -- --listen-fd 3
refused 71 "cannot listen on descriptor 3 (--listen-fd): not open" -k closed -- --listen-fd 3
refused 71 "cannot listen on descriptor 4 (--listen-fd): not a socket" -- --listen-fd 3 --listen-fd=4 4</dev/null
refused 71 "cannot listen on descriptor 3 (LISTEN_FDS): the socket is not listening" -e -k bound --
refused 71 "cannot listen on descriptor 3 (LISTEN_FDS): not a TCP or UNIX-domain stream socket" -e -k udp --
refused 71 "cannot listen on descriptor 3 (LISTEN_FDS): not open" -e -k closed --
refused 64 "--listen-fd cannot be combined with --port, --interface or --unix" -- --listen-fd 3 -p 80
refused 64 "--reuseport needs sockets of its own" -- --listen-fd 3 --reuseport
refused 64 "--reuseport needs sockets of its own" -e -- --reuseport

dt_finish
