#!/bin/bash
# tests/daemon/startfds.sh - what a server inherits from the shell that
# starts it, and what the root supervisor may leave behind:
#  - descriptors the starting shell left open (here 7, on a file, and 9,
#    on a pipe) reach neither the supervisor nor the serving process, as
#    a daemon and in the foreground: each holds only its own (standard
#    input, output and error, listening sockets, syslog, pipes, event
#    descriptors, and the supervisor its pidfile);
#  - started with standard input, output and error closed, the server
#    still starts, holds its pidfile locked (a second instance: 69) and
#    has /dev/null as 0, 1 and 2;
#  - the pipe on which the daemon reports to the starting command is
#    close-on-exec at both ends;
#  - the supervisor, root with the TLS keys, dumps no core: RLIMIT_CORE
#    is 0 (soft and hard) even when started with "ulimit -c unlimited",
#    and the serving process inherits it.

# ck and bash -c evaluate their single-quoted conditions themselves, with
# variables set here, and functions run through check: shellcheck sees
# none of it.
# shellcheck disable=SC2016,SC2034,SC2317 source-path=SCRIPTDIR
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
dt_enter "$@"

# foreign PID [PIDFILE]: the descriptors of PID from 3 on that are not
# its own kind (listed as "fd:target"): its own are sockets, event
# descriptors, pipes other than the shell's, and the pidfile and its
# directory (held to remove it safely).
foreign() {
	local f t bad=
	for f in /proc/"$1"/fd/*; do
		((${f##*/} > 2)) || continue
		t=$(readlink "$f") || continue
		case $t in
		socket:* | anon_inode:*) ;;
		pipe:*) [[ $t == "$shell_pipe" ]] && bad+=" ${f##*/}:$t" ;;
		*) [[ -n ${2:-} && ($t == "$2" || $t == "${2%/*}") ]] || bad+=" ${f##*/}:$t" ;;
		esac
	done
	echo "${bad# }"
}
fds() { (cd "/proc/$1/fd" && for f in *; do printf '%s:%s ' "$f" "$(readlink "$f")"; done); }

# core_limit PID: "soft hard" of RLIMIT_CORE.
core_limit() { awk '/^Max core file size/ { print $5, $6 }' "/proc/$1/limits"; }

ulimit -c unlimited 2>/dev/null || ulimit -c "$(ulimit -H -c)"
say "the starting shell's core limit: $(ulimit -S -c) $(ulimit -H -c)"

exec 7>"$T/inherited"
exec 9< <(sleep 600)
shell_pipe=$(readlink /proc/$$/fd/9)

# ------------------------------------------------------------- a daemon
port=$(free_port)
must "as a daemon: started with descriptors 7 and 9 open" dsrv_start "$T/pid/d.pid" -p "$port" -i 127.0.0.1
must "as a daemon: it serves" ready "$port"
say "supervisor: $(fds "$SUP")"
say "serving process: $(fds "$SRV")"
bad=$(foreign "$SUP" "$T/pid/d.pid")
check "as a daemon: the supervisor holds only its own descriptors${bad:+ (not: $bad)}" [ -z "$bad" ]
bad=$(foreign "$SRV")
check "as a daemon: the serving process holds only its own descriptors${bad:+ (not: $bad)}" [ -z "$bad" ]
check "the supervisor dumps no core: RLIMIT_CORE $(core_limit "$SUP")" [ "$(core_limit "$SUP")" = "0 0" ]
check "nor the serving process: RLIMIT_CORE $(core_limit "$SRV")" [ "$(core_limit "$SRV")" = "0 0" ]
kill -TERM "$SUP"
check "as a daemon: stopped" wait_for 10 gone "$SUP"

# ------------------------------------------- standard descriptors closed
port=$(free_port)
"$DSRV" --pidfile "$T/pid/closed.pid" -p "$port" -i 127.0.0.1 0<&- 1>&- 2>&-
rc=$?
dt_daemons+=("$T/pid/closed.pid")
check "0, 1 and 2 closed: started (exit $rc)" [ "$rc" -eq 0 ]
sup=$(cat "$T/pid/closed.pid")
ck "0, 1 and 2 closed: the pidfile holds the supervisor's pid ($sup)" '[[ $sup =~ ^[0-9]+$ ]] && alive "$sup"'
std=$(readlink "/proc/$sup/fd/0" "/proc/$sup/fd/1" "/proc/$sup/fd/2" | tr '\n' ' ')
check "0, 1 and 2 closed: the supervisor has /dev/null there ($std)" [ "$std" = "/dev/null /dev/null /dev/null " ]
"$DSRV" --pidfile "$T/pid/closed.pid" -p "$(free_port)" -i 127.0.0.1 2>"$T/second.err"
rc=$?
check "0, 1 and 2 closed: the pidfile is locked, a second instance exits 69 (got $rc)" [ "$rc" -eq 69 ]
[[ $sup =~ ^[0-9]+$ ]] && kill -TERM "$sup" && wait_for 10 gone "$sup"

# ------------------------------------------- the pipe to the start command
# The serving process is slow to start: the starting command waits, on
# the pipe from the supervisor.
port=$(free_port)
"$DSRV" --pidfile "$T/pid/slow.pid" -p "$port" -i 127.0.0.1 --slow-start $((10000 * SCALE)) 2>"$T/slow.err" &
starter=$!
dt_daemons+=("$T/pid/slow.pid")
must "slow to start: the supervisor wrote its pid" wait_for 10 test -s "$T/pid/slow.pid"
sup=$(cat "$T/pid/slow.pid")
# cloexec PID FD: the descriptor's close-on-exec flag (O_CLOEXEC) is set.
cloexec() {
	local fl
	fl=$(sed -n 's/^flags:[[:space:]]*//p' "/proc/$1/fdinfo/$2" 2>/dev/null)
	[[ -n $fl ]] && (((8#$fl & 8#2000000) != 0))
}
ends=
for f in /proc/"$starter"/fd/*; do
	t=$(readlink "$f") || continue
	[[ $t == pipe:* ]] || continue
	for g in /proc/"$sup"/fd/*; do
		[[ $(readlink "$g") == "$t" ]] || continue
		ends+=" $starter:${f##*/} $sup:${g##*/}"
	done
done
say "the report pipe: ${ends:-not found} (pid:fd)"
all_cloexec() {
	local e
	for e in "$@"; do cloexec "${e%:*}" "${e#*:}" || return 1; done
}
ck "the report pipe is close-on-exec at both ends" '[[ -n $ends ]] && all_cloexec $ends'
check "slow to start: the starting command exits 0 once it serves" wait "$starter"
kill -TERM "$sup"
check "slow to start: stopped" wait_for 10 gone "$sup"

# ------------------------------------------------------- the foreground
port=$(free_port)
"$DSRV" -x -p "$port" -i 127.0.0.1 2>"$T/fg.err" &
fg=$!
dt_daemons+=("$fg")
must "-x: started with descriptors 7 and 9 open" ready "$port"
srv=$(serving_pid "$fg")
say "supervisor: $(fds "$fg")"
say "serving process: $(fds "$srv")"
bad=$(foreign "$fg")
check "-x: the supervisor holds only its own descriptors${bad:+ (not: $bad)}" [ -z "$bad" ]
bad=$(foreign "$srv")
check "-x: the serving process holds only its own descriptors${bad:+ (not: $bad)}" [ -z "$bad" ]
check "-x: RLIMIT_CORE $(core_limit "$fg")" [ "$(core_limit "$fg")" = "0 0" ]
check "-x: stops on SIGTERM" fg_stop "$fg"

exec 7>&- 9<&-
dt_finish
