#!/bin/bash
# tests/daemon/crash.sh - a crashing serving process is restarted:
#  - a request "crash" makes serv_on_read die of SIGSEGV (then SIGBUS,
#    SIGABRT, SIGKILL: any signal); the supervisor logs it and starts a
#    fresh serving process; the listening socket stays bound meanwhile (a
#    connection made right after the crash is served by the new process);
#    the supervisor's pid and the pidfile do not change;
#  - the restarted process idles when idle and stops cleanly on SIGTERM;
#  - the sixth crash within 60 s makes the supervisor give up: logged,
#    exit 70, pidfile removed, the port closed.

# ck and bash -c evaluate their single-quoted conditions themselves, with
# variables set here, and functions run through check: shellcheck sees
# none of it.
# shellcheck disable=SC2016,SC2034,SC2317 source-path=SCRIPTDIR
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
dt_enter "$@"

# A sanitizer must leave crash signals alone, so that the serving process
# dies of them as it would in production (otherwise AddressSanitizer
# reports a SIGSEGV and exits 1).
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0:handle_sigbus=0:handle_abort=0:allow_user_segv_handler=1
export TSAN_OPTIONS=${TSAN_OPTIONS:+$TSAN_OPTIONS:}handle_segv=0:handle_sigbus=0:handle_abort=0:allow_user_segv_handler=1

# crash N SIG: make the serving process of $sup die of SIG, then check
# that a new one serves on the same port at once.
crash() {
	local n=$1 sig=$2 cur a
	cur=$(serving_pid "$sup")
	"$DCLIENT" cmd "$port" "crash $sig" >/dev/null 2>&1
	# No waiting: the socket must still be bound, the connection queued.
	a=$("$DCLIENT" cmd "$port" pid 2>&1)
	new=${a#pid=}
	ck "crash $n (signal $sig): a connection right after it is served by a new process ($cur -> $a)" \
		'[[ -n $cur && $a == pid=* && $new != "$cur" ]]'
	check "crash $n: the old serving process is gone" wait_for 5 gone "$cur"
	check "crash $n: logged as a crash, with a restart" \
		wait_for 5 syslog_has "dsrv\[$sup\]: serving process $cur killed by signal $sig .*restarting"
	check "crash $n: same supervisor, same pidfile" [ "$(cat "$pidf")" = "$sup" ]
	ck "crash $n: the new process is the supervisor's child, as nobody" \
		'[[ $(proc_field "$new" PPid) == "$sup" && $(proc_field "$new" Uid) == "$nobody $nobody $nobody $nobody" ]]'
}
nobody=$(id -u nobody)

# ------------------------------------------------------ 1. one crash
pidf=$T/pid/crash1.pid
port=$(free_port)
must "started" dsrv_start "$pidf" -p "$port" -i 127.0.0.1
sup=$SUP
crash 1 11
check "the restarted process is idle when nothing happens (no busy loop)" idle "$new"
check "the restarted process still serves" [ "$("$DCLIENT" cmd "$port" "echo hi")" = hi ]
kill -TERM "$sup"
check "SIGTERM after a restart: the supervisor exits" wait_for 10 gone "$sup"
check "SIGTERM after a restart: exit 0 ($(wait_reaped "$sup"))" [ "$(reaped "$sup")" = exit=0 ]
check "SIGTERM after a restart: the pidfile is removed" [ ! -e "$pidf" ]

# ------------------------------------- 2. five crashes, then give up
pidf=$T/pid/crash2.pid
port=$(free_port)
must "started again" dsrv_start "$pidf" -p "$port" -i 127.0.0.1
sup=$SUP
n=0
for sig in 11 7 6 9 11; do
	n=$((n + 1))
	crash "$n" "$sig"
done
last=$(serving_pid "$sup")
"$DCLIENT" cmd "$port" crash >/dev/null 2>&1
check "crash 6: the supervisor gives up and exits" wait_for 10 gone "$sup"
check "crash 6: exit 70 ($(wait_reaped "$sup"))" [ "$(reaped "$sup")" = exit=70 ]
check "crash 6: logged" syslog_has "dsrv\[$sup\]: serving process $last killed by signal 11 .*giving up"
check "crash 6: the pidfile is removed" [ ! -e "$pidf" ]
check "crash 6: the port is closed" "$DCLIENT" wait "$port" refused 5
check "crash 6: no serving process left" [ -z "$(children "$sup")" ]

dt_finish
