#!/bin/bash
# tests/daemon/initscript.sh - the LSB/SysV init script that hsvr-service
# makes, driving the http example (examples/hsvr-http) for real, with the
# LSB exit codes:
#  - status when stopped: 3; stop when stopped: 0;
#  - start: 0, the server answers HTTP, the pidfile (/var/run/NAME.pid)
#    holds the supervisor's pid; status: 0;
#  - start again: 0 and "already running", no second instance;
#  - reload: 0, a fresh serving process under the same supervisor;
#  - restart: 0, a new supervisor; try-restart when running: 0;
#  - stop: 0, the port closed, the pidfile gone; status: 3;
#  - a pidfile left by a dead process: status 1; start takes over;
#  - reload when stopped: 7; try-restart when stopped: 0; an unknown
#    action: 2; a start that fails (port taken): non-zero, with the reason.
# /etc/default is a tmpfs here: only the test's settings (a shorter
# STOP_TIMEOUT) are read.

# ck and bash -c evaluate their single-quoted conditions themselves, with
# variables set here, and functions run through check: shellcheck sees
# none of it.
# shellcheck disable=SC2016,SC2034,SC2317 source-path=SCRIPTDIR
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
dt_enter "$@"

daemon=$(httpd_direct)
must "examples/hsvr-http is built" test -x "$daemon"
must "hsvr-service is built" test -x "$HSVR_SERVICE"
[[ -d /etc/default ]] && mount -t tmpfs -o size=1m hsvr-test-default /etc/default
[[ -d /etc/sysconfig ]] && mount -t tmpfs -o size=1m hsvr-test-sysconfig /etc/sysconfig
# Local settings are read: a server that does not stop costs 5 s, not 35.
mkdir -p /etc/default
echo STOP_TIMEOUT=5 >/etc/default/hsvr-http

port=$(free_port)
mkdir "$T/init.d"
init=$T/init.d/hsvr-http
"$HSVR_SERVICE" -d "$TEMPLATES" init hsvr-http "$daemon" -p "$port" -i 127.0.0.1 --body-size 1000 >"$init"
must "hsvr-service init makes the script" [ -s "$init" ]
chmod 755 "$init"
check "the script parses (sh -n)" sh -n "$init"
check "no placeholder left" bash -c '! grep -n "@[A-Z]*@" "$1"' _ "$init"
pidf=/var/run/hsvr-http.pid

# run ACTION: run the init script like service(8) would, keep its output.
run() {
	out=$(cd / && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin ${LD_LIBRARY_PATH:+LD_LIBRARY_PATH=$LD_LIBRARY_PATH} \
		sh "$init" "$@" 2>&1)
	rc=$?
	say "$* -> exit $rc: $out"
	return "$rc"
}
http_ok() { "$DCLIENT" http "$port" 2>/dev/null | grep -q '^HTTP/1\.[01] 200 '; }
supervisors() {
	local p n=0
	for p in $(procs_with_arg "$daemon"); do
		[[ $(proc_field "$p" PPid) == 1 ]] && n=$((n + 1))
	done
	echo "$n"
}

run status
check "status when stopped: exit 3" [ "$rc" -eq 3 ]
run stop
check "stop when stopped: exit 0" [ "$rc" -eq 0 ]

run start
check "start: exit 0" [ "$rc" -eq 0 ]
dt_daemons+=("$pidf")
check "start: the server answers HTTP at once" http_ok
sup=$(cat "$pidf" 2>/dev/null)
ck "start: $pidf holds the supervisor's pid ($sup)" \
	'[[ -n $sup && $(proc_field "$sup" PPid) == 1 && -n $(serving_pid "$sup") ]]'
run status
check "status when running: exit 0" [ "$rc" -eq 0 ]
check "status when running: names the pid" grep -q "$sup" <<<"$out"
out=$(cd / && setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups sh "$init" status 2>&1)
rc=$?
check "status when running, asked by nobody: exit 0 ($out)" [ "$rc" -eq 0 ]

run start
check "start when running: exit 0" [ "$rc" -eq 0 ]
check "start when running: says 'already running'" grep -q "already running" <<<"$out"
check "start when running: the pidfile is unchanged" [ "$(cat "$pidf")" = "$sup" ]
check "start when running: still one instance ($(supervisors))" [ "$(supervisors)" = 1 ]

old=$(serving_pid "$sup")
run reload
check "reload: exit 0" [ "$rc" -eq 0 ]
new_child() { local c; c=$(serving_pid "$sup") && [[ $c != "$old" ]]; }
check "reload: a fresh serving process under the same supervisor" wait_for 10 new_child
check "reload: the server answers HTTP" http_ok
check "reload: the pidfile is unchanged" [ "$(cat "$pidf")" = "$sup" ]

run try-restart
check "try-restart when running: exit 0" [ "$rc" -eq 0 ]
check "try-restart: the old supervisor is gone" wait_for 10 gone "$sup"
sup2=$(cat "$pidf" 2>/dev/null)
ck "try-restart: a new supervisor ($sup2)" '[[ -n $sup2 && $sup2 != "$sup" ]]'
run restart
check "restart: exit 0" [ "$rc" -eq 0 ]
sup3=$(cat "$pidf" 2>/dev/null)
ck "restart: a new supervisor ($sup3) that serves" '[[ -n $sup3 && $sup3 != "$sup2" ]] && http_ok'
check "restart: one instance ($(supervisors))" [ "$(supervisors)" = 1 ]

run stop
check "stop: exit 0" [ "$rc" -eq 0 ]
check "stop: the supervisor is gone" gone "$sup3"
check "stop: the port is closed" "$DCLIENT" wait "$port" refused 5
check "stop: the pidfile is removed" [ ! -e "$pidf" ]
run status
check "status after stop: exit 3" [ "$rc" -eq 3 ]

# ------------------------------------------------ a stale pidfile
sleep 0.01 &
dead=$!
wait "$dead"
echo "$dead" >"$pidf"
run status
check "status with a stale pidfile: exit 1" [ "$rc" -eq 1 ]
sleep 60 &
unrelated=$!
echo "$unrelated" >"$pidf"
run status
check "status with a pidfile naming an unrelated live process: exit 1" [ "$rc" -eq 1 ]
run start
check "start with a stale pidfile: exit 0" [ "$rc" -eq 0 ]
ck "start with a stale pidfile: took it over" '[[ $(cat "$pidf") != "$unrelated" ]] && http_ok'
check "the unrelated process was left alone" alive "$unrelated"
kill "$unrelated"
run stop
check "stop: exit 0" [ "$rc" -eq 0 ]
check "stop: the pidfile is removed" [ ! -e "$pidf" ]

# ------------------------------------------------- when stopped
run reload
check "reload when stopped: exit 7" [ "$rc" -eq 7 ]
run try-restart
check "try-restart when stopped: exit 0" [ "$rc" -eq 0 ]
check "try-restart when stopped: still stopped" [ ! -e "$pidf" ]
run frobnicate
check "an unknown action: exit 2" [ "$rc" -eq 2 ]

# ------------------------------------------------- a failed start
# Take the port with a server of our own, then start.
"$DSRV" -x -p "$port" -i 127.0.0.1 2>/dev/null &
blocker=$!
dt_daemons+=("$blocker")
must "the port is taken" ready "$port"
run start
check "start on a taken port: fails (exit $rc)" [ "$rc" -ne 0 ]
check "start on a taken port: says why" grep -q "Address already in use" <<<"$out"
check "start on a taken port: no pidfile" [ ! -e "$pidf" ]
fg_stop "$blocker"

dt_finish
