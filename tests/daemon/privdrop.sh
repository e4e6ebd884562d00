#!/bin/bash
# tests/daemon/privdrop.sh - the serving process gives up root for good:
#  - started as root, the serving process (every thread of it) runs as
#    nobody and nobody's primary group, with no other group, no
#    capability left (effective, permitted, inheritable, ambient), an
#    empty capability bounding set and no_new_privs, while the supervisor
#    keeps root;
#  - started as another user with an ambient capability, the serving
#    process has no_new_privs and no capability either (sandbox.c);
#  - from inside, setuid(0), seteuid(0), setgid(0), setegid(0) and
#    setgroups fail (the "ids" command tries them in a worker);
#  - -u and -g choose the user and the group; -u alone takes the user's
#    primary group;
#  - with -l the UNIX socket is mode 0770, owned by that user and group,
#    served by the unprivileged process, and removed at exit (as a daemon
#    and in the foreground).

# ck and bash -c evaluate their single-quoted conditions themselves, with
# variables set here, and functions run through check: shellcheck sees
# none of it.
# shellcheck disable=SC2016,SC2034,SC2317 source-path=SCRIPTDIR
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
dt_enter "$@"

# check_ids WHAT PID UID GID: the process and all its threads run as
# UID:GID with GID its only group and no capabilities.
check_ids() {
	local what=$1 pid=$2 uid=$3 gid=$4 task bad=
	for task in /proc/"$pid"/task/*; do
		task=${task##*/}
		[[ $(proc_field "$pid/task/$task" Uid) == "$uid $uid $uid $uid" ]] || bad+=" uid:$task"
		[[ $(proc_field "$pid/task/$task" Gid) == "$gid $gid $gid $gid" ]] || bad+=" gid:$task"
		[[ $(proc_field "$pid/task/$task" Groups) == "$gid" ]] || bad+=" groups:$task"
	done
	check "$what: every thread runs as $uid:$gid, groups $gid only${bad:+ (wrong:$bad)}" [ -z "$bad" ]
	# What a wrong thread is, for the record (seen once under TSan: one
	# thread's Gid line, its Uid and Groups right).
	[ -z "$bad" ] || for task in /proc/"$pid"/task/*; do
		echo "# task ${task##*/}: $(grep -E '^(Name|State|Tgid|Pid|PPid|Uid|Gid|Groups):' "$task/status" 2>&1 | tr '\t\n' '  ')"
	done
	check_sandboxed "$what" "$pid" 0
}

# check_sandboxed WHAT PID NONROOT: every thread of PID has no_new_privs
# and no capability, and (unless NONROOT) an empty bounding set; but
# ThreadSanitizer's own thread (dt_tsan_runtime_tid).
check_sandboxed() {
	local what=$1 pid=$2 nonroot=$3 task f bad='' bnd=', CapBnd 0' skip
	((nonroot)) && bnd=
	skip=$(dt_tsan_runtime_tid "$pid")
	for task in /proc/"$pid"/task/*; do
		task=${task##*/}
		[[ $task == "$skip" ]] && continue
		[[ $(proc_field "$pid/task/$task" NoNewPrivs) == 1 ]] || bad+=" NoNewPrivs:$task"
		for f in CapInh CapPrm CapEff CapAmb; do
			[[ $(proc_field "$pid/task/$task" $f) == 0000000000000000 ]] || bad+=" $f:$task"
		done
		((nonroot)) || [[ $(proc_field "$pid/task/$task" CapBnd) == 0000000000000000 ]] || bad+=" CapBnd:$task"
	done
	check "$what: every thread has NoNewPrivs 1, CapInh/CapPrm/CapEff/CapAmb 0$bnd${bad:+ (wrong:$bad)}" [ -z "$bad" ]
	# What a wrong thread is, for the record (seen once: CapBnd only).
	[ -z "$bad" ] || for task in /proc/"$pid"/task/*; do
		echo "# task ${task##*/}: $(grep -E '^(Name|State|NoNewPrivs|Cap[A-Za-z]+|Seccomp):' "$task/status" 2>&1 | tr '\t\n' '  ')"
	done
}

# check_answer WHAT ADDR PID UID GID: the "ids" answer of the server.
check_answer() {
	local what=$1 addr=$2 pid=$3 uid=$4 gid=$5 a
	a=$("$DCLIENT" cmd "$addr" ids 2>&1)
	say "ids: $a"
	check "$what: the answer comes from the serving process" [ "$(field "$a" pid)" = "$pid" ]
	check "$what: it runs as $uid:$gid" \
		[ "$(field "$a" uid) $(field "$a" gid) $(field "$a" groups)" = "$uid,$uid,$uid $gid,$gid,$gid $gid" ]
	check "$what: root cannot be regained" [ "$(field "$a" regain)" = denied ]
}

stop() {
	kill -TERM "$1"
	check "$2: stopped" wait_for 10 gone "$1"
}

nobody_uid=$(id -u nobody)
nobody_gid=$(id -g nobody)

# -------------------------------------------------------- TCP, defaults
port=$(free_port)
: >"$T/trace"
must "TCP: started" dsrv_start "$T/pid/tcp.pid" -p "$port" -i 127.0.0.1 -n 3 -f "$T/trace"
check "TCP: the supervisor keeps root" [ "$(proc_field "$SUP" Uid)" = "0 0 0 0" ]
check "TCP: the supervisor keeps its capabilities (CapEff $(proc_field "$SUP" CapEff))" \
	[ "$(proc_field "$SUP" CapEff)" != 0000000000000000 ]
check "TCP: 3 workers (-n 3) started as nobody" \
	wait_for 10 bash -c '(($(grep -c "^worker_init pid=$1 .* uid=$2,$2,$2 .* regain=denied" "$3") == 3))' _ "$SRV" "$(id -u nobody)" "$T/trace"
check "TCP: the serving process has at least 4 threads (main + 3 workers)" \
	[ "$(proc_field "$SRV" Threads)" -ge 4 ]
check_ids "TCP" "$SRV" "$nobody_uid" "$nobody_gid"
check_answer "TCP" "$port" "$SRV" "$nobody_uid" "$nobody_gid"
stop "$SUP" "TCP"

# ----------------------------------------------------- -u and -g chosen
d_uid=$(id -u daemon)
d_gid=$(id -g daemon)
sys_gid=$(getent group sys | cut -d: -f3)
port=$(free_port)
must "-u daemon -g sys: started" dsrv_start "$T/pid/ug.pid" -p "$port" -i 127.0.0.1 -u daemon -g sys
check_ids "-u daemon -g sys" "$SRV" "$d_uid" "$sys_gid"
check_answer "-u daemon -g sys" "$port" "$SRV" "$d_uid" "$sys_gid"
stop "$SUP" "-u daemon -g sys"

port=$(free_port)
must "-u daemon: started" dsrv_start "$T/pid/u.pid" -p "$port" -i 127.0.0.1 -u daemon
check_ids "-u daemon" "$SRV" "$d_uid" "$d_gid"
stop "$SUP" "-u daemon"

# ------------------------------------ not root, with an ambient capability
# A program started with a capability (here CAP_NET_BIND_SERVICE, ambient,
# as a service manager gives it) serves without it, under no_new_privs.
port=$(free_port)
setpriv --reuid=nobody --regid="$nobody_gid" --clear-groups \
	--inh-caps=+net_bind_service --ambient-caps=+net_bind_service \
	"$DSRV" -x -p "$port" -i 127.0.0.1 2>"$T/nonroot.err" &
fg=$!
dt_daemons+=("$fg")
must "not root: started" ready "$port"
check "not root: the supervisor has CAP_NET_BIND_SERVICE (CapAmb $(proc_field "$fg" CapAmb))" \
	[ "$(proc_field "$fg" CapAmb)" = 0000000000000400 ]
SRV=$(serving_pid "$fg")
check_sandboxed "not root" "$SRV" 1
check "not root: stops on SIGTERM" fg_stop "$fg"

# ---------------------------------------------------------- UNIX socket
sock=$T/unix.sock
must "-l: started" dsrv_start "$T/pid/unix.pid" -l "$sock" --probe-unix "$sock"
check "-l: the socket is mode 0770 ($(stat -c %a "$sock"))" [ "$(stat -c %a "$sock")" = 770 ]
check "-l: the socket belongs to nobody:$nobody_gid ($(stat -c %u:%g "$sock"))" \
	[ "$(stat -c %u:%g "$sock")" = "$nobody_uid:$nobody_gid" ]
check "-l: it is a socket" [ -S "$sock" ]
check_ids "-l" "$SRV" "$nobody_uid" "$nobody_gid"
check_answer "-l" "unix:$sock" "$SRV" "$nobody_uid" "$nobody_gid"
stop "$SUP" "-l"
check "-l: the socket is removed at exit" [ ! -e "$sock" ]

# The same in the foreground, where the supervisor is the starting process.
"$DSRV" -x -l "$sock" 2>"$T/fg.err" &
fg=$!
dt_daemons+=("$fg")
must "-x -l: started" ready "unix:$sock"
check "-x -l: the socket is mode 0770 and belongs to nobody" \
	[ "$(stat -c %a:%u:%g "$sock")" = "770:$nobody_uid:$nobody_gid" ]
check "-x -l: stops on SIGTERM" fg_stop "$fg"
check "-x -l: the socket is removed at exit" [ ! -e "$sock" ]

dt_finish
