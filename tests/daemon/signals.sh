#!/bin/bash
# tests/daemon/signals.sh - the signals nobody asked for, and what a
# serving process hands on (issue #12):
#  - SIGPIPE sent to the supervisor does not kill it, nor SIGUSR2 sent to
#    the serving process (systemctl kill -s USR2, the upgrade of
#    upgrade.sh, signals both): the same serving process still serves,
#    and SIGTERM still stops it cleanly;
#  - no thread of the serving process blocks a signal, and a program a
#    callback runs (popen) starts with no signal blocked nor ignored, even
#    when the server was started with signals ignored (as a shell's
#    background job ignores SIGINT and SIGQUIT, and nohup SIGHUP);
#  - the supervisor's pipes (a serving process's ready pipe) are
#    close-on-exec;
#  - S_stats from serv_exit gives the final counters, and a thread of the
#    application calling S_stats all through the shutdown reads no freed
#    memory (the sanitizer builds check that).

# ck and bash -c evaluate their single-quoted conditions themselves, with
# variables set here, and functions run through check: shellcheck sees
# none of it.
# shellcheck disable=SC2016,SC2034,SC2317 source-path=SCRIPTDIR
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
dt_enter "$@"

pidf=$T/pid/sig.pid
# Sanitizer reports to files, checked at the end.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$T/san
export TSAN_OPTIONS=${TSAN_OPTIONS:+$TSAN_OPTIONS:}log_path=$T/san
port=$(free_port)
: >"$T/trace"
# Started with signals ignored, which the server must not hand on.
trap '' QUIT TSTP TTIN TTOU USR2 WINCH
must "started (--stats-thread)" dsrv_start "$pidf" -p "$port" -i 127.0.0.1 -n 2 -f "$T/trace" --stats-thread
trap - QUIT TSTP TTIN TTOU USR2 WINCH
sup=$SUP srv=$SRV

# ------------------------------------- what the serving process hands on
# (The threads of the engine: a sanitizer may have one of its own.)
main=$(proc_field "$srv" SigBlk)
answer=$("$DCLIENT" cmd "$port" sigs)
say "a worker and a program run from its callback: $answer"
read -r _ _ worker _ blk _ ign <<<"$answer"
ck "the serving process's main thread ($main) and a worker ($worker) block no signal" \
	'[[ $main == 0000000000000000 && $worker == 0000000000000000 ]]'
# (Signals 1 to 31: 32 and 33 are the C library's own.)
ck "a program run from a callback starts with nothing blocked ($blk) nor ignored ($ign)" \
	'[[ -n $blk && -n $ign ]] && ((16#$blk == 0 && (16#$ign & 16#7fffffff) == 0))'
# The supervisor's own pipes (not those the test's shell handed down).
cloexec=1
for f in /proc/"$sup"/fd/*; do
	p=$(readlink "$f")
	[[ $p == pipe:* ]] || continue
	for g in /proc/"$$"/fd/*; do [[ $(readlink "$g") == "$p" ]] && continue 2; done
	flags=$(sed -n 's/^flags:[[:space:]]*//p' "/proc/$sup/fdinfo/${f##*/}")
	((8#$flags & 8#2000000)) || { cloexec=0; say "supervisor fd ${f##*/} ($(readlink "$f")) flags $flags"; }
done
check "the supervisor's pipes are close-on-exec" [ "$cloexec" = 1 ]

# ---------------------------------------------- unexpected signals
kill -USR2 "$srv"
check "SIGUSR2 to the serving process: the same serving process serves" [ "$("$DCLIENT" cmd "$port" pid)" = "pid=$srv" ]
check "SIGUSR2 to the serving process: the supervisor did not restart anything" [ "$(serving_pid "$sup")" = "$srv" ]
kill -PIPE "$sup"
check "SIGPIPE: the same serving process serves" [ "$("$DCLIENT" cmd "$port" pid)" = "pid=$srv" ]
check "SIGPIPE: the supervisor is alive" alive "$sup"
check "SIGPIPE: the supervisor did not restart anything" [ "$(serving_pid "$sup")" = "$srv" ]

# ----------------------------------------- S_stats at the end
for i in 1 2 3 4 5; do "$DCLIENT" cmd "$port" "echo $i" >/dev/null; done
kill -TERM "$sup"
check "SIGTERM: the supervisor exits" wait_for 20 gone "$sup"
# (A serving process that failed, a sanitizer's report say, makes it 1.)
check "SIGTERM: exit 0 ($(wait_reaped "$sup"))" [ "$(reaped "$sup")" = exit=0 ]
ex=$(trace_line "$T/trace" exit)
ck "S_stats in serv_exit: 0 and the final counters (at least the 9 connections made: $ex)" \
	'[[ $(field "$ex" stats_rc) == 0 ]] && (($(field "$ex" accept_counter) >= 9))'
check "no sanitizer report" bash -c '! ls "$1".* 2>/dev/null' _ "$T/san"

dt_finish
