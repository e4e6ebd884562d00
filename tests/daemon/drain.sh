#!/bin/bash
# tests/daemon/drain.sh - a clean and bounded stop:
#  - SIGTERM during a 100 MB transfer to a slow reader: the listener closes
#    once the drain begins (a new connection is then refused while the
#    transfer goes on),
#    serv_on_drain runs for the session, the transfer completes (every
#    byte checked), then TYP_TERM, serv_exit, the statistics, the pidfile
#    removed, and the supervisor exits 0;
#  - --drain-timeout 1 with a session serv_on_drain leaves open (SIGINT
#    this time): the server closes it and exits 0 after about 1 s;
#  - -t: SIGTERM stops at once, without serv_on_drain, yet in order
#    (TYP_TERM for each session, serv_exit, statistics, pidfile removed);
#  - a second SIGTERM during a drain stops at once.

# ck and bash -c evaluate their single-quoted conditions themselves, with
# variables set here, and functions run through check: shellcheck sees
# none of it.
# shellcheck disable=SC2016,SC2034,SC2317 source-path=SCRIPTDIR
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
dt_enter "$@"

SIZE=100000000
# "At once", in centiseconds: well below the default 30 s drain, with room
# for a loaded machine and the sanitizers.
quick=$((SCALE > 4 ? 2000 : 500 * SCALE))

# held N WHAT HOW READY HELD ARG...: t-dsrv in the foreground on a fresh
# port ($port) of 127.0.0.1 with the ARGs, tracing into $T/traceN (stderr
# in $T/fgN.err), and a session to it held open by "t-dclient hold HOW"
# (output in $T/holdN.out, where it prints READY): fg and hold are their
# pids.  The test ends if either does not come ("WHAT: started", "WHAT:
# HELD").
held() {
	local n=$1 what=$2 how=$3 re=$4 says=$5
	shift 5
	port=$(free_port)
	: >"$T/trace$n"
	"$DSRV" -x -p "$port" -i 127.0.0.1 "$@" -f "$T/trace$n" 2>"$T/fg$n.err" &
	fg=$!
	dt_daemons+=("$fg")
	must "$what: started" ready "$port"
	"$DCLIENT" hold "$port" "$how" >"$T/hold$n.out" 2>&1 &
	hold=$!
	must "$what: $says" wait_for 10 grep -q "$re" "$T/hold$n.out"
}

# stop_timed SIGNAL SECONDS: send SIGNAL to $fg and wait for its end, at
# most SECONDS * SCALE s (then SIGKILL): rc is its exit status (124 when
# killed), t0 and t1 the clock before and after.
stop_timed() {
	t0=$(now_cs)
	kill "-$1" "$fg"
	rc=0
	wait_for "$2" gone "$fg" || rc=124
	t1=$(now_cs)
	if ((rc == 0)); then wait "$fg" || rc=$?; else fg_stop "$fg" 1 || true; fi
}

# fg_stop_timed SECONDS: fg_stop $fg (SIGTERM, at most SECONDS): rc is its
# exit status, t0 and t1 the clock before and after.
fg_stop_timed() {
	t0=$(now_cs)
	fg_stop "$fg" "$1"
	rc=$?
	t1=$(now_cs)
}

# --------------------------------- 1. SIGTERM during a long transfer
port=$(free_port)
: >"$T/trace"
must "started" dsrv_start "$T/pid/drain.pid" -p "$port" -i 127.0.0.1 -f "$T/trace"
# 32 KiB, then 0.5 ms of sleep: at most ~60 MB/s, so the server is paced by
# S_send's -4 and the transfer takes a few seconds.  After 10 MB the client
# stops reading until the drain has begun (a loaded machine may take its
# time to act on SIGTERM; the transfer must not be over by then).
"$DCLIENT" fetch "$port" "$SIZE" 500 10000000 "$T/mark" "$T/go" >"$T/fetch.out" 2>&1 &
fetch=$!
must "the transfer is under way (10 MB received)" wait_for 30 test -e "$T/mark"
kill -TERM "$SUP"
# The signal reaches the serving process through the supervisor: a
# connection made before the drain begins is served (and drained) like
# any other, so the refusals are looked for once it has begun.
check "the drain begins (logged)" wait_for 30 syslog_has "dsrv\[$SRV\]: stopping: draining"
"$DCLIENT" wait "$port" refused 5
refused=$?
fetching=1
alive "$fetch" || fetching=0
check "during the drain, a new connection is refused" [ "$refused" -eq 0 ]
check "... while the transfer still runs" [ "$fetching" -eq 1 ]
check "serv_on_drain runs while the transfer waits" wait_for 30 grep -q "^drain " "$T/trace"
: >"$T/go"
check "the transfer completes" wait_for 60 gone "$fetch"
wait "$fetch"
rc=$?
check "every one of the $SIZE bytes arrived, right ($(cat "$T/fetch.out"))" [ "$rc" -eq 0 ]
check "the supervisor exits after the drain" wait_for 10 gone "$SUP"
check "the supervisor exited 0 ($(wait_reaped "$SUP"))" [ "$(reaped "$SUP")" = exit=0 ]
check "the pidfile is removed" [ ! -e "$T/pid/drain.pid" ]
# A connection a worker accepted before its own drain message came (the
# probes above) is drained too: the busy session is the one counted.
drain=$(grep "^drain .* busy=1" "$T/trace" | tail -n 1)
ck "serv_on_drain ran once for the busy session ($drain)" \
	'[[ $(grep -c "^drain .* busy=1" "$T/trace") -eq 1 ]]'
id=$(field "$drain" id)
term=$(grep "^term .* id=$id " "$T/trace")
check "TYP_TERM for it, after all $SIZE bytes" [ "$(field "$term" tx)" = "$SIZE" ]
exitl=$(trace_line "$T/trace" exit)
ck "serv_exit ran, after TYP_TERM" '[[ -n $exitl && $(field "$exitl" t) -gt $(field "$term" t) ]]'
check "the log: 'stopping: draining 1 connections'" syslog_has "dsrv\[$SRV\]: stopping: draining 1 connections"
check "the log: the final statistics" syslog_has "dsrv\[$SRV\]: statistics: session_gauge=0 .* txoctet=$SIZE"
check "the log: 'stopped', then 'exiting'" wait_for 5 syslog_has "dsrv\[$SUP\]: exiting"
check "no drain timeout" bash -c '! grep -q "drain timeout" "$1"' _ "$T/syslog"

# ----------------------------------------- 2. the drain is bounded
held 2 "--drain-timeout 1" keep '^held' "a session held open" --drain-timeout 1
stop_timed INT 10
check "--drain-timeout 1: SIGINT, exit 0 (got $rc)" [ "$rc" -eq 0 ]
ck "--drain-timeout 1: it took about 1 s ($((t1 - t0))0 ms)" \
	'((t1 - t0 >= 90 && t1 - t0 <= 100 + 200 * SCALE))'
check "--drain-timeout 1: the held session was asked (serv_on_drain)" \
	[ "$(field "$(trace_line "$T/trace2" drain)" keep)" = 1 ]
check "--drain-timeout 1: then closed" wait_for 5 grep -q '^eof' "$T/hold2.out"
ck "--drain-timeout 1: TYP_TERM and serv_exit ran" \
	'grep -q "^term " "$T/trace2" && grep -q "^exit " "$T/trace2"'
check "--drain-timeout 1: logged" grep -q "drain timeout" "$T/fg2.err"
wait_for 5 gone "$hold"

# -------------------------------------------------------------- 3. -t
held 3 -t keep '^held' "a session held open" -t --pidfile "$T/pid/t.pid"
fg_stop_timed 5
check "-t: SIGTERM, exit 0 (got $rc)" [ "$rc" -eq 0 ]
check "-t: at once, not after the 30 s drain ($((t1 - t0))0 ms)" [ $((t1 - t0)) -le "$quick" ]
check "-t: no serv_on_drain" bash -c '! grep -q "^drain " "$1"' _ "$T/trace3"
check "-t: TYP_TERM for the session" grep -q '^term ' "$T/trace3"
check "-t: serv_exit ran" grep -q '^exit ' "$T/trace3"
check "-t: the statistics" grep -q '^accept_counter=' "$T/fg3.err"
check "-t: the pidfile is removed" [ ! -e "$T/pid/t.pid" ]
check "-t: the held connection was closed" wait_for 5 grep -q '^eof' "$T/hold3.out"
wait_for 5 gone "$hold"

# --------------------------------------------- 4. a second SIGTERM
held 4 "second SIGTERM" keep '^held' "a session held open"
kill -TERM "$fg"
check "second SIGTERM: the first one drains (new connections refused)" "$DCLIENT" wait "$port" refused 5
sleep 0.5
check "second SIGTERM: still draining half a second later" alive "$fg"
fg_stop_timed 5
check "second SIGTERM: exit 0 (got $rc)" [ "$rc" -eq 0 ]
check "second SIGTERM: at once, not after the 30 s drain ($((t1 - t0))0 ms)" [ $((t1 - t0)) -le "$quick" ]
check "second SIGTERM: the held connection was closed" wait_for 5 grep -q '^eof' "$T/hold4.out"
ck "second SIGTERM: TYP_TERM and serv_exit ran" \
	'grep -q "^term " "$T/trace4" && grep -q "^exit " "$T/trace4"'
wait_for 5 gone "$hold"

# ------------------------------ 5. a hook that never returns
# The serving process cannot finish its drain; the supervisor kills it
# after --drain-timeout plus its 5 s grace, and exits non-zero.
held 5 "a hook that hangs" hang 'hanging' "the hook hangs" --drain-timeout 1
stop_timed TERM $((10 + 10 * SCALE))
ck "a hook that hangs: the server still stops, after 1 s + 5 s grace ($((t1 - t0))0 ms, exit $rc)" \
	'((rc != 0 && rc != 124 && t1 - t0 >= 550 && t1 - t0 <= 700 + 200 * SCALE))'
check "a hook that hangs: the kill is logged" grep -q "did not stop in time" "$T/fg5.err"
kill "$hold" 2>/dev/null
wait_for 5 gone "$hold"

dt_finish
