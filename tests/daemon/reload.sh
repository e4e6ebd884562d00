#!/bin/bash
# tests/daemon/reload.sh - SIGHUP: a fresh serving process takes over.
#  - serv_on_reload runs first, in the supervisor, as root;
#  - a new serving process (new pid, unprivileged) serves every new
#    connection, on the same port, from the same supervisor and pidfile;
#  - a connection established with the old serving process keeps working
#    (its serv_on_drain leaves it open) until the client closes it; then
#    the old process drains out and exits;
#  - the new process idles when idle, and a second reload works the same
#    way (the previous one stops when told); the server stops normally.

# ck and bash -c evaluate their single-quoted conditions themselves, with
# variables set here, and functions run through check: shellcheck sees
# none of it.
# shellcheck disable=SC2016,SC2034,SC2317 source-path=SCRIPTDIR
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
dt_enter "$@"

pidf=$T/pid/reload.pid
port=$(free_port)
: >"$T/trace"
must "started" dsrv_start "$pidf" -p "$port" -i 127.0.0.1 -f "$T/trace"
sup=$SUP old=$SRV

# ask LINE: send LINE on the connection open on fd 5, print the answer.
ask() {
	local a
	printf '%s\n' "$1" >&5 || return 1
	IFS= read -r -t $((10 * SCALE)) a <&5 || return 1
	printf '%s\n' "$a"
}

exec 5<>"/dev/tcp/127.0.0.1/$port"
check "a connection to the old serving process" [ "$(ask keep)" = ok ]
check "it is served by pid $old" [ "$(ask pid)" = "pid=$old" ]

new_serves() { a=$("$DCLIENT" cmd "$port" pid 2>/dev/null) && [[ -n $a && $a != "pid=$old" ]]; }
kill -HUP "$sup"
must "SIGHUP: a new serving process answers new connections" wait_for 10 new_serves
new=${a#pid=}
say "old serving process $old, new $new"
reload=$(trace_line "$T/trace" reload)
check "serv_on_reload ran in the supervisor ($(field "$reload" pid))" [ "$(field "$reload" pid)" = "$sup" ]
check "serv_on_reload ran as root" [ "$(field "$reload" uid)" = 0,0,0 ]
newinit=$(grep "^worker_init pid=$new " "$T/trace" | head -n 1)
ck "serv_on_reload ran before the new process's serv_worker_init" \
	'[[ -n $newinit && $(field "$reload" t) -lt $(field "$newinit" t) ]]'
check "the new process is a child of the same supervisor" [ "$(proc_field "$new" PPid)" = "$sup" ]
check "the new process runs as nobody" \
	[ "$(proc_field "$new" Uid)" = "$(id -u nobody) $(id -u nobody) $(id -u nobody) $(id -u nobody)" ]
check "the pidfile still holds the supervisor's pid" [ "$(cat "$pidf")" = "$sup" ]
check "the new process is idle when nothing happens (no busy loop)" idle "$new"
check "the log: 'reloading'" wait_for 5 syslog_has "dsrv\[$sup\]: reloading"
all_new=1
for i in 1 2 3 4 5 6; do
	a=$("$DCLIENT" cmd "$port" pid 2>&1)
	[[ $a == "pid=$new" ]] || { all_new=0; say "connection $i: $a"; }
done
check "every new connection goes to the new process" [ "$all_new" = 1 ]
check "the old connection still works" [ "$(ask pid)" = "pid=$old" ]
sleep 0.5
check "... half a second later too" [ "$(ask "echo still here")" = "still here" ]
check "the old process is still there, draining" alive "$old"
check "serv_on_drain ran in the old process for that connection" \
	grep -q "^drain pid=$old .* keep=1" "$T/trace"
exec 5>&-
check "the client closes: the old process exits" wait_for 10 gone "$old"
check "the old process ran serv_exit" grep -q "^exit pid=$old " "$T/trace"
check "the old process's exit is not logged as an error" \
	bash -c '! grep -q "serving process $1 " "$2"' _ "$old" "$T/syslog"
check "the new process still serves" [ "$("$DCLIENT" cmd "$port" pid)" = "pid=$new" ]

# ---------------------------------------------------- a second reload
old=$new
kill -HUP "$sup"
must "a second SIGHUP: another new serving process" wait_for 10 new_serves
new=${a#pid=}
check "a second SIGHUP: the previous one exits (no connection left)" wait_for 10 gone "$old"
check "a second SIGHUP: serv_on_reload ran twice" [ "$(grep -c '^reload ' "$T/trace")" -eq 2 ]
check "a second SIGHUP: one serving process left" [ "$(serving_pid "$sup")" = "$new" ]

# ------------------------------------------ a burst of SIGHUPs
# One new serving process starts at a time; the SIGHUPs that come while
# it starts (slowly: --slow-start, 3 s) make one more reload once it is
# ready, not one serving process each.  The first SIGHUP's reload is seen
# to begin before the four others are sent, all within a few tens of ms
# of the 3 s it takes: so the count does not depend on the machine's load.
pidb=$T/pid/burst.pid
portb=$(free_port)
: >"$T/traceb"
must "burst: started (--slow-start 3000)" dsrv_start "$pidb" -p "$portb" -i 127.0.0.1 -f "$T/traceb" --slow-start 3000
supb=$SUP
kill -HUP "$supb"
must "burst: the first reload began" wait_for 10 grep -q '^reload ' "$T/traceb"
for _ in 1 2 3 4; do kill -HUP "$supb"; sleep 0.02; done
settled() { [[ -n $(serving_pid "$supb") && $(grep -c '^reload ' "$T/traceb") -ge 2 ]]; }
must "a burst of SIGHUPs: settles on one serving process" wait_for 20 settled
sleep 2
must "a burst of SIGHUPs: still one serving process later" wait_for 20 settled
reloads=$(grep -c '^reload ' "$T/traceb")
# (One serving process per signal would make five.)
ck "a burst of five SIGHUPs, four while the first reload starts: two reloads ($reloads)" \
	'((reloads == 2))'
check "a burst of SIGHUPs: the server serves" "$DCLIENT" cmd "$portb" pid
kill -TERM "$supb"
check "burst: the supervisor exits on SIGTERM" wait_for 10 gone "$supb"

kill -TERM "$sup"
check "SIGTERM: the supervisor exits" wait_for 10 gone "$sup"
check "SIGTERM: exit 0 ($(wait_reaped "$sup"))" [ "$(reaped "$sup")" = exit=0 ]
check "SIGTERM: the pidfile is removed" [ ! -e "$pidf" ]

dt_finish
