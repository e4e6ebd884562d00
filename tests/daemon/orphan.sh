#!/bin/bash
# tests/daemon/orphan.sh - a supervisor killed outright (SIGKILL) leaves
# no orphaned serving process behind (issue #12, defect 5):
#  - with clients connected (one of them kept open by serv_on_drain), the
#    serving process notices that its supervisor is gone, logs it in one
#    line, drains (the kept session is closed at --drain-timeout) and
#    exits, within the drain timeout and a margin; nothing listens on the
#    port afterwards;
#  - with no client, it exits at once.

# ck and bash -c evaluate their single-quoted conditions themselves, with
# variables set here, and functions run through check: shellcheck sees
# none of it.
# shellcheck disable=SC2016,SC2034,SC2317 source-path=SCRIPTDIR
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
dt_enter "$@"

DRAIN=3
margin=$((5 * SCALE))

# ------------------------------------------- clients connected
port=$(free_port)
: >"$T/trace"
must "started (--drain-timeout $DRAIN)" dsrv_start "$T/pid/o.pid" -p "$port" -i 127.0.0.1 -f "$T/trace" --drain-timeout "$DRAIN"
sup=$SUP srv=$SRV
"$DCLIENT" hold "$port" keep >"$T/hold.out" 2>&1 &
hold=$!
must "a session held open through a drain" wait_for 10 grep -q held "$T/hold.out"
exec 5<>"/dev/tcp/127.0.0.1/$port"
printf 'pid\n' >&5
IFS= read -r -t 10 a <&5
check "a second client is served ($a)" [ "$a" = "pid=$srv" ]
elapsed
t0=$t_elapsed
kill -KILL "$sup"
check "the supervisor is gone" wait_for 10 gone "$sup"
check "the serving process says why it stops" wait_for 10 syslog_has "dsrv\[$srv\]: the supervisor \(pid $sup\) is gone: draining, then exiting"
check "it drains: serv_on_drain ran" wait_for 10 grep -q "^drain pid=$srv .* keep=1" "$T/trace"
check "the client that was only connected gets the end of its connection" bash -c 'IFS= read -r -t 10 x <&5; [[ $? -ne 142 && -z ${x:-} ]]'
exec 5>&-
check "the serving process exits within the drain timeout + ${margin} s" wait_for $((DRAIN + margin)) gone "$srv"
elapsed
say "exited $t_elapsed s into the test, killed at $t0 s"
check "the held session was closed by the drain timeout" wait_for 10 grep -q eof "$T/hold.out"
check "the serving process ran serv_exit" grep -q "^exit pid=$srv " "$T/trace"
check "the serving process exited 0 ($(wait_reaped "$srv"))" [ "$(reaped "$srv")" = exit=0 ]
check "nothing listens on the port any more" "$DCLIENT" wait "$port" refused 5

# ------------------------------------------- no client
port=$(free_port)
must "started again" dsrv_start "$T/pid/o2.pid" -p "$port" -i 127.0.0.1 --drain-timeout 30
sup=$SUP srv=$SRV
kill -KILL "$sup"
check "no client: the serving process exits at once, not after 30 s" wait_for $margin gone "$srv"
check "no client: nothing listens" "$DCLIENT" wait "$port" refused 5

dt_finish
