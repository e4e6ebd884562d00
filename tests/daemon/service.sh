#!/bin/bash
# tests/daemon/service.sh - hsvr-service and what it makes:
#  - bad input (unknown kind, bad name, relative daemon path, an option
#    with characters a script or a unit would expand, --pidfile for a
#    script that passes its own, no template) is refused with a reason;
#  - init, rc.d and systemd files have every placeholder filled in; the
#    scripts pass sh -n (and shellcheck, when installed); the rc.d script
#    follows rc.subr(8) (NAME_enable, NAME_flags, NAME_pidfile, reload);
#  - the systemd unit is Type=notify, NotifyAccess=main, ExecReload sends
#    SIGHUP to $MAINPID, KillMode=mixed, and systemd-analyze verify finds
#    nothing to say about it;
#  - run the way systemd runs it (its ExecStart, NOTIFY_SOCKET set, its
#    ExecReload, then SIGTERM to the main process alone), the http example
#    reports READY=1 with MAINPID = the process started, RELOADING=1 and
#    READY=1 on reload, STOPPING=1, and exits 0.

# ck and bash -c evaluate their single-quoted conditions themselves, with
# variables set here, and functions run through check: shellcheck sees
# none of it.
# shellcheck disable=SC2016,SC2034,SC2317 source-path=SCRIPTDIR
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
dt_enter "$@"

daemon=$(httpd_direct)
must "hsvr-service is built" test -x "$HSVR_SERVICE"
svc() { "$HSVR_SERVICE" -d "$TEMPLATES" "$@"; }

# ------------------------------------------------------- bad input
refuses() {
	local code=$1 out rc
	shift
	out=$(svc "$@" 2>&1 >/dev/null)
	rc=$?
	ck "hsvr-service $*: refused, exit $code (got $rc: $out)" '[[ $rc -eq $code && -n $out ]]'
}
refuses 64
refuses 64 init onlyname
refuses 64 upstart myserver /usr/bin/myserver
refuses 64 init 1server /usr/bin/myserver
refuses 64 init my/server /usr/bin/myserver
refuses 64 init 'my server' /usr/bin/myserver
refuses 64 init myserver usr/bin/myserver
refuses 64 init myserver /usr/bin/myserver -p '$PORT'
refuses 64 init myserver /usr/bin/myserver -p '80;reboot'
refuses 64 systemd myserver /usr/bin/myserver --root '/srv/%i'
refuses 64 init myserver /usr/bin/myserver --pidfile /run/x.pid
refuses 64 rc.d myserver /usr/bin/myserver --pidfile=/run/x.pid
out=$("$HSVR_SERVICE" -d "$T/no-templates" init myserver /usr/bin/myserver 2>&1 >/dev/null)
check "hsvr-service without templates: exit 66 and why ($out)" [ $? -eq 66 ]

lint() {
	local f=$1 what=$2
	check "$what: no placeholder left" bash -c '! grep -n "@[A-Z]*@" "$1"' _ "$f"
	if [[ $what != systemd* ]]; then
		check "$what: sh -n" sh -n "$f"
		if command -v shellcheck >/dev/null; then
			check "$what: shellcheck" shellcheck -s sh "$f"
		else
			say "shellcheck is not installed: $what not linted"
		fi
	fi
}

# ---------------------------------------------------------- init
svc init my-server /usr/local/bin/my-server -p 8080 -u www-data >"$T/init"
check "init: made" [ -s "$T/init" ]
lint "$T/init" "init"
check "init: NAME, DAEMON and DAEMON_ARGS filled in" bash -c \
	'grep -qx "NAME='\''my-server'\''" "$1" && grep -qx "DAEMON='\''/usr/local/bin/my-server'\''" "$1" &&
	grep -qx "DAEMON_ARGS='\''-p 8080 -u www-data'\''" "$1" && grep -q "^# Provides: *my-server$" "$1"' _ "$T/init"

# ---------------------------------------------------------- rc.d
svc rc.d my-server /usr/local/bin/my-server -p 8080 >"$T/rc"
check "rc.d: made" [ -s "$T/rc" ]
lint "$T/rc" "rc.d"
for line in '. /etc/rc.subr' 'name="my_server"' 'rcvar="my_server_enable"' \
	': "${my_server_enable:=NO}"' ': "${my_server_flags:=-p 8080}"' \
	': "${my_server_pidfile:=/var/run/my-server.pid}"' 'command="/usr/local/bin/my-server"' \
	'pidfile="${my_server_pidfile}"' 'command_args="--pidfile ${pidfile}"' \
	'extra_commands="reload"' 'sig_reload="HUP"' 'load_rc_config "$name"' 'run_rc_command "$1"'; do
	check "rc.d: has: $line" grep -qxF -- "$line" "$T/rc"
done
check "rc.d: PROVIDE and KEYWORD: shutdown" bash -c \
	'grep -qx "# PROVIDE: my_server" "$1" && grep -qx "# KEYWORD: shutdown" "$1"' _ "$T/rc"

# -------------------------------------------------------- systemd
port=$(free_port)
mkdir "$T/units"
unit=$T/units/hsvr-http.service
svc systemd hsvr-http "$daemon" -p "$port" -i 127.0.0.1 --body-size 1000 >"$unit"
check "systemd: made" [ -s "$unit" ]
lint "$unit" "systemd unit"
for line in 'Type=notify' 'NotifyAccess=main' 'ExecReload=/bin/kill -HUP $MAINPID' 'KillMode=mixed' \
	"ExecStart=$daemon -x -p $port -i 127.0.0.1 --body-size 1000" 'WantedBy=multi-user.target'; do
	check "systemd: has: $line" grep -qxF -- "$line" "$unit"
done
if command -v systemd-analyze >/dev/null; then
	say "$(systemd-analyze --version | head -n 1)"
	out=$(cd "$T/units" && systemd-analyze verify --man=no "$unit" 2>&1)
	rc=$?
	check "systemd-analyze verify: exit 0 (got $rc)" [ "$rc" -eq 0 ]
	check "systemd-analyze verify: nothing to say about the unit${out:+ (said: $out)}" \
		bash -c '! grep -q "hsvr-http" <<<"$1"' _ "$out"
else
	not_ok "systemd-analyze is not installed (apt-get install systemd): the unit is not verified"
fi

# Run it the way systemd would.
notify_listen
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
exec_reload=$(sed -n 's/^ExecReload=//p' "$unit")
# shellcheck disable=SC2086 # a command line, split like systemd splits it
NOTIFY_SOCKET=$sock $exec_start 2>"$T/unit.err" &
mainpid=$!
dt_daemons+=("$mainpid")
check "systemd: READY=1, MAINPID=$mainpid, from the main process" \
	wait_for 10 grep -q "^pid=$mainpid READY=1 MAINPID=$mainpid\b" "$log"
check "systemd: it serves HTTP" bash -c '"$1" http "$2" | grep -q "^HTTP/1.1 200"' _ "$DCLIENT" "$port"
check "systemd: no pidfile" [ ! -e /run/hsvr-http.pid ]
old=$(serving_pid "$mainpid")
reload=${exec_reload//\$MAINPID/$mainpid}
# shellcheck disable=SC2086
check "systemd: ExecReload ($reload) succeeds" $reload
check "systemd: RELOADING=1" wait_for 10 grep -q "^pid=$mainpid RELOADING=1" "$log"
check "systemd: READY=1 again" wait_for 10 bash -c '(($(grep -c "^pid=$1 READY=1" "$2") >= 2))' _ "$mainpid" "$log"
new_child() { local c; c=$(serving_pid "$mainpid") && [[ $c != "$old" ]]; }
check "systemd: a new serving process after the reload" wait_for 10 new_child
fg_stop "$mainpid" 45
rc=$?
check "systemd: SIGTERM to the main process: exit 0 (got $rc)" [ "$rc" -eq 0 ]
check "systemd: STOPPING=1" wait_for 5 grep -q "^pid=$mainpid STOPPING=1" "$log"

dt_finish
