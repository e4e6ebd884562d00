#!/bin/bash
# tests/daemon/startup.sh - the start-up order of hsvr(8), observed from the
# hooks of t-dsrv, and what the starting command reports:
#  - bad options exit 64 with one line and the usage; an unknown user or
#    group, -u root, an unreadable -f file or a bad -r directory exit 78;
#  - serv_init runs first, in the starting process, as root, in the -r
#    directory, terminal (stderr) attached, before anything listens and
#    before the pidfile exists;
#  - the starting command exits 0 only once the server accepts connections
#    and the pidfile holds the supervisor's pid: a connection made right
#    after it returns succeeds;
#  - the supervisor is a daemon: re-parented, leader of a new session,
#    stdio on /dev/null, umask 022;
#  - serv_worker_init runs once per worker in the serving process, after
#    the privilege drop, with the socket listening and the pidfile written,
#    and the starting command waits for it (a slow one here) to finish;
#  - a bind failure, and a serving process that fails to start, make the
#    starting command exit non-zero with the reason on stderr, and leave no
#    pidfile and no process behind;
#  - the daemon survives its starting command being killed before it is
#    ready (no SIGPIPE death);
#  - -x stays in the foreground, logs to stderr, writes no pidfile, and
#    exits 0 on SIGTERM, even when the SIGTERM comes as soon as the port
#    accepts (while the serving process is still starting).

# ck and bash -c evaluate their single-quoted conditions themselves, with
# variables set here, and functions run through check: shellcheck sees
# none of it.
# shellcheck disable=SC2016,SC2034,SC2317 source-path=SCRIPTDIR
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
dt_enter "$@"

nobody_uid=$(id -u nobody)
nobody_gid=$(id -g nobody)
my_sid=$(awk '{ print $6 }' /proc/$$/stat)

# ---------------------------------------------------------------- 1. usage
port=$(free_port)
out=$("$DSRV" --no-such-option 2>&1)
rc=$?
check "unknown option: exit 64 (got $rc)" [ "$rc" -eq 64 ]
check "unknown option: one line naming it, then the usage" \
	bash -c '[[ $(sed -n 1p <<<"$1") == *"unknown option"*"--no-such-option"* &&
		$(sed -n 2p <<<"$1") == usage:* ]]' _ "$out"
out=$("$DSRV" -p notaport 2>&1)
rc=$?
check "bad port: exit 64 (got $rc)" [ "$rc" -eq 64 ]
check "bad port: the message names it" grep -q "notaport" <<<"$out"

for case in "-u hsvr-no-such-user|unknown user" \
	"-g hsvr-no-such-group|unknown group" \
	"-u root|root" \
	"-f $T/no-such-file|$T/no-such-file" \
	"-r $T/no-such-dir|$T/no-such-dir"; do
	args=${case%%|*} why=${case#*|}
	# shellcheck disable=SC2086 # args holds two words
	out=$("$DSRV" $args -p "$port" -i 127.0.0.1 --pidfile "$T/bad.pid" 2>&1)
	rc=$?
	check "'$args': exit 78 (got $rc)" [ "$rc" -eq 78 ]
	check "'$args': the reason is given ($out)" grep -qF -- "$why" <<<"$out"
	check "'$args': no pidfile, nothing listens" \
		bash -c '[[ ! -e $1 ]] && ! "$2" connect "$3" >/dev/null' _ "$T/bad.pid" "$DCLIENT" "$port"
done

# -------------------------------------------------------- 2. daemon start
mkdir "$T/root"
: >"$T/trace"
pidf=$T/pid/startup.pid
(
	umask 002
	exec "$DSRV" -p "$port" -i 127.0.0.1 -n 2 -r "$T/root" -f "$T/trace" \
		--pidfile "$pidf" --probe-pidfile "$pidf" --slow-start 300
) 2>"$T/start.err" &
starter=$!
wait "$starter"
rc=$?
# No delay here: the port must accept the moment the command returned.
"$DCLIENT" connect "$port" >"$T/connect.out" 2>&1
connected=$?
workers_done=$(grep -c '^worker_init ' "$T/trace")
sup=$(cat "$pidf" 2>/dev/null)
dt_daemons+=("$pidf")
must "the starting command exits 0 (got $rc)" [ "$rc" -eq 0 ]
check "a connection right after the command returned succeeds" [ "$connected" -eq 0 ]
check "the command returned after every serv_worker_init ($workers_done of 2 done)" [ "$workers_done" -eq 2 ]
must "the pidfile holds a live pid right after it returned ($sup)" \
	bash -c '[[ $1 =~ ^[0-9]+$ ]] && [[ -d /proc/$1 ]]' _ "$sup"
check "the supervisor is not the starting command" [ "$sup" != "$starter" ]
check "the supervisor was re-parented (PPid 1, got $(proc_field "$sup" PPid))" \
	[ "$(proc_field "$sup" PPid)" = 1 ]
read -r -a sup_stat < <(sed 's/.*) //' "/proc/$sup/stat")
check "the supervisor leads a new session (sid ${sup_stat[3]})" [ "${sup_stat[3]}" = "$sup" ]
check "the supervisor leads its process group" [ "${sup_stat[2]}" = "$sup" ]
for fd in 0 1 2; do
	check "the supervisor's fd $fd is /dev/null" [ "$(readlink "/proc/$sup/fd/$fd")" = /dev/null ]
done
check "the supervisor's umask is 0022 (started with 002)" [ "$(proc_field "$sup" Umask)" = 0022 ]
check "the supervisor runs in the -r directory" [ "$(readlink "/proc/$sup/cwd")" = "$T/root" ]
check "the supervisor runs as root" [ "$(proc_field "$sup" Uid)" = "0 0 0 0" ]

srv=$(serving_pid "$sup")
must "the supervisor has one serving process ($srv)" [ -n "$srv" ]
wait_for 10 bash -c '[[ $(grep -c "^worker_init " "$1") -ge 2 ]]' _ "$T/trace"
init=$(trace_line "$T/trace" init)
must "serv_init ran once" [ "$(grep -c '^init ' "$T/trace")" -eq 1 ]
check "serv_init ran in the starting command (pid $(field "$init" pid))" \
	[ "$(field "$init" pid)" = "$starter" ]
check "serv_init ran as root" [ "$(field "$init" uid)" = 0,0,0 ]
check "serv_init ran in the -r directory" [ "$(field "$init" cwd)" = "$T/root" ]
check "serv_init ran with the terminal attached (stderr $(field "$init" stderr))" \
	[ "$(field "$init" stderr)" = "$T/start.err" ]
check "serv_init ran in the caller's session" [ "$(field "$init" sid)" = "$my_sid" ]
check "serv_init ran before the socket listens" [ "$(field "$init" listening)" = 0 ]
check "serv_init ran before the pidfile exists" [ "$(field "$init" pidfile)" = absent ]

check "two serv_worker_init calls (-n 2)" [ "$(grep -c '^worker_init ' "$T/trace")" -eq 2 ]
for n in 1 2; do
	w=$(trace_line "$T/trace" worker_init "$n")
	check "worker_init $n: in the serving process" [ "$(field "$w" pid)" = "$srv" ]
	check "worker_init $n: after the drop to nobody" \
		[ "$(field "$w" uid)" = "$nobody_uid,$nobody_uid,$nobody_uid" ]
	check "worker_init $n: group $nobody_gid only" \
		[ "$(field "$w" gid),$(field "$w" groups)" = "$nobody_gid,$nobody_gid,$nobody_gid,$nobody_gid" ]
	check "worker_init $n: root cannot be regained" [ "$(field "$w" regain)" = denied ]
	check "worker_init $n: the socket already listens" [ "$(field "$w" listening)" = 1 ]
	check "worker_init $n: the pidfile holds the supervisor's pid" [ "$(field "$w" pidfile)" = "$sup" ]
	check "worker_init $n: after serv_init" [ "$(field "$w" t)" -gt "$(field "$init" t)" ]
	check "worker_init $n: in the -r directory" [ "$(field "$w" cwd)" = "$T/root" ]
done
check "the serving process's stdio is /dev/null" [ "$(readlink "/proc/$srv/fd/2")" = /dev/null ]

# ------------------------------------------------------ 3. a bind failure
: >"$T/trace3"
"$DSRV" -p "$port" -i 127.0.0.1 -f "$T/trace3" --pidfile "$T/pid/second.pid" 2>"$T/bind.err"
rc=$?
check "binding a port in use: exit 71 (got $rc)" [ "$rc" -eq 71 ]
check "binding a port in use: the reason on stderr" \
	grep -q "cannot listen on 127.0.0.1:$port: Address already in use" "$T/bind.err"
check "binding a port in use: no pidfile" [ ! -e "$T/pid/second.pid" ]

# --------------------------------------------------------------- stop it
kill -TERM "$sup"
must "SIGTERM: the supervisor exits" wait_for 10 gone "$sup"
wait_for 5 bash -c '[[ -n $(sed -n "s/^pid=$1 //p" "$2") ]]' _ "$sup" "$T/reaped"
check "SIGTERM: the supervisor exited 0 ($(reaped "$sup"))" [ "$(reaped "$sup")" = exit=0 ]
check "SIGTERM: the serving process ended without an error logged" \
	bash -c '! grep -q "serving process $1 " "$2"' _ "$srv" "$T/syslog"
check "SIGTERM: the pidfile is removed" [ ! -e "$pidf" ]
check "SIGTERM: the port refuses connections" "$DCLIENT" wait "$port" refused 5
check "SIGTERM: serv_exit ran in the serving process" \
	[ "$(field "$(trace_line "$T/trace" exit)" pid)" = "$srv" ]

# ------------------------------------ 4. a serving process that cannot start
port4=$(free_port)
"$DSRV" -p "$port4" -i 127.0.0.1 --pidfile "$T/pid/fail.pid" --slow-start 300 --fail-start 2>"$T/fail.err"
rc=$?
check "a failed start: the starting command exits non-zero (got $rc)" [ "$rc" -ne 0 ]
check "a failed start: the application's reason on stderr" grep -q "cannot start: --fail-start given" "$T/fail.err"
check "a failed start: the library's reason on stderr" grep -q "during start-up" "$T/fail.err"
check "a failed start: the pidfile is removed" wait_for 5 test ! -e "$T/pid/fail.pid"
check "a failed start: nothing listens" "$DCLIENT" wait "$port4" refused 5
no_fail_start() { [[ -z $(procs_with_arg --fail-start) ]]; }
check "a failed start: no process left" wait_for 5 no_fail_start

# ------------------------------------------------------- 5. -x, foreground
port5=$(free_port)
: >"$T/trace5"
"$DSRV" -x -p "$port5" -i 127.0.0.1 -f "$T/trace5" 2>"$T/fg.err" &
fg=$!
dt_daemons+=("$fg")
must "-x: the server serves" ready "$port5"
check "-x: the supervisor is the command itself" [ -n "$(serving_pid "$fg")" ]
read -r -a fg_stat < <(sed 's/.*) //' "/proc/$fg/stat")
check "-x: no new session" [ "${fg_stat[3]}" = "$my_sid" ]
check "-x: stderr is kept" [ "$(readlink "/proc/$fg/fd/2")" = "$T/fg.err" ]
check "-x: log lines on stderr" wait_for 5 grep -q "serving on 127.0.0.1:$port5" "$T/fg.err"
check "-x: log lines in syslog too" wait_for 5 syslog_has "dsrv\[[0-9]+\]: hsvr .* serving on 127.0.0.1:$port5"
check "-x: no pidfile without --pidfile" [ ! -e /run/dsrv.pid ]
fg_stop "$fg"
rc=$?
check "-x: SIGTERM, exit 0 (got $rc)" [ "$rc" -eq 0 ]
check "-x: the statistics on stderr" grep -q "^accept_counter=" "$T/fg.err"

# ------------------------- 6. SIGTERM the moment the server accepts
# The supervisor may still be starting its serving process: the SIGTERM it
# passes on must not be lost (a hang) nor kill the process unprepared.
for i in 1 2 3 4 5 6 7 8 9 10; do
	port6=$(free_port)
	"$DSRV" -x -p "$port6" -i 127.0.0.1 2>"$T/early.err" &
	fg=$!
	dt_daemons+=("$fg")
	"$DCLIENT" wait "$port6" listen 10
	fg_stop "$fg" 10
	rc=$?
	check "SIGTERM as soon as it accepts ($i of 10): exit 0 within 10 s (got $rc)" [ "$rc" -eq 0 ]
	if ((rc != 0)); then
		sed 's/^/# /' "$T/early.err"
		break   # once is enough, and each costs up to 10 s
	fi
done

# ----------- 7. the starting command dies before the server is ready
# (^C on a slow start, a service manager's time-out): the daemon goes on.
port7=$(free_port)
"$DSRV" -p "$port7" -i 127.0.0.1 --pidfile "$T/pid/orphan.pid" --slow-start 1500 2>"$T/orphan.err" &
starter=$!
dt_daemons+=("$T/pid/orphan.pid")
must "a slow start: the pidfile is written" wait_for 5 test -s "$T/pid/orphan.pid"
sup=$(cat "$T/pid/orphan.pid")
must "a slow start: the serving process exists" wait_for 5 serving_pid "$sup"
check "a slow start: the starting command still waits" alive "$starter"
kill -KILL "$starter" 2>/dev/null
wait "$starter" 2>/dev/null
check "the starting command killed: the server still comes up" ready "$port7"
sleep 0.5
check "the starting command killed: the supervisor is still there ($(reaped "$sup"))" alive "$sup"
check "the starting command killed: the pidfile still holds its pid" [ "$(cat "$T/pid/orphan.pid" 2>/dev/null)" = "$sup" ]
kill -TERM "$sup" 2>/dev/null
check "the starting command killed: it stops on SIGTERM" wait_for 10 gone "$sup"

dt_finish
