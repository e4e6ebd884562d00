#!/bin/bash
# tests/daemon/notify.sh - sd_notify(3) when NOTIFY_SOCKET is set, as
# systemd runs the server (-x, Type=notify, NotifyAccess=main): the test's
# own AF_UNIX datagram socket stands in for systemd's and records each
# message with its sender's pid (SCM_CREDENTIALS).
#  - READY=1 with MAINPID=<the started process> once the server serves
#    (a connection made the moment it arrives is answered);
#  - SIGHUP: RELOADING=1, then READY=1 once the new serving process serves;
#  - SIGTERM: STOPPING=1, then exit 0;
#  - every message comes from the main process itself, none from the
#    serving processes (NotifyAccess=main would drop those);
#  - as a daemon (no -x), READY=1 names the supervisor in MAINPID.

# ck and bash -c evaluate their single-quoted conditions themselves, with
# variables set here, and functions run through check: shellcheck sees
# none of it.
# shellcheck disable=SC2016,SC2034,SC2317 source-path=SCRIPTDIR
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
dt_enter "$@"

notify_listen

# count WORD: how many messages carry WORD.
count() { grep -c -- "$1" "$log"; }
has_n() { (($(count "$1") >= $2)); }

port=$(free_port)
: >"$T/trace"
NOTIFY_SOCKET=$sock "$DSRV" -x -p "$port" -i 127.0.0.1 -f "$T/trace" 2>"$T/fg.err" &
fg=$!
dt_daemons+=("$fg")
must "READY=1 arrives" wait_for 10 has_n READY=1 1
check "at READY=1 the server serves" "$DCLIENT" cmd "$port" pid
ready_line=$(grep READY=1 "$log" | head -n 1)
say "$ready_line"
check "READY=1 names the main process: MAINPID=$fg" grep -q "MAINPID=$fg\b" <<<"$ready_line"
check "READY=1 was sent by the main process" [ "$(field "$ready_line" pid)" = "$fg" ]
old=$(serving_pid "$fg")

kill -HUP "$fg"
check "SIGHUP: RELOADING=1" wait_for 10 has_n RELOADING=1 1
check "SIGHUP: READY=1 again when the new process serves" wait_for 10 has_n READY=1 2
a=$("$DCLIENT" cmd "$port" pid)
check "SIGHUP: the new serving process answers ($a, was $old)" [ "$a" != "pid=$old" ]
order=$(grep -oE 'READY=1|RELOADING=1|STOPPING=1' "$log" | tr '\n' ' ')
check "SIGHUP: in order: $order" [ "$order" = "READY=1 RELOADING=1 READY=1 " ]

fg_stop "$fg"
rc=$?
check "SIGTERM: exit 0 (got $rc)" [ "$rc" -eq 0 ]
check "SIGTERM: STOPPING=1" wait_for 5 has_n STOPPING=1 1
order=$(grep -oE 'READY=1|RELOADING=1|STOPPING=1' "$log" | tr '\n' ' ')
check "in order: $order" [ "$order" = "READY=1 RELOADING=1 READY=1 STOPPING=1 " ]
others=$(grep -v "^pid=$fg " "$log")
check "every message came from the main process ${others:+(not: $others)}" [ -z "$others" ]

# ------------------------------------------------------ as a daemon
: >"$log"
port=$(free_port)
NOTIFY_SOCKET=$sock dsrv_start "$T/pid/n.pid" -p "$port" -i 127.0.0.1
must "daemon: started" [ -n "$SUP" ]
check "daemon: READY=1 with MAINPID=<the supervisor, $SUP>" \
	wait_for 5 grep -q "^pid=$SUP READY=1 MAINPID=$SUP\b" "$log"
kill -TERM "$SUP"
check "daemon: STOPPING=1 from the supervisor" wait_for 5 grep -q "^pid=$SUP STOPPING=1" "$log"
check "daemon: stopped" wait_for 10 gone "$SUP"

dt_finish
