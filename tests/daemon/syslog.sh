#!/bin/bash
# tests/daemon/syslog.sh - logging through a real syslog daemon (busybox
# syslogd on the test's private /dev/log):
#  - lines are tagged NAME[PID] (serv_set_name, LOG_PID), facility daemon;
#  - start ("serving on"), serv_log from the serving process, SIGUSR1's
#    statistics, an error, and the stop (draining, statistics, stopped,
#    then the supervisor's "exiting") arrive, in that order;
#  - as a daemon, nothing goes to the starting command's stderr once it is
#    up; the serving process, unprivileged, still logs.

# ck and bash -c evaluate their single-quoted conditions themselves, with
# variables set here, and functions run through check: shellcheck sees
# none of it.
# shellcheck disable=SC2016,SC2034,SC2317 source-path=SCRIPTDIR
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
dt_enter "$@"

port=$(free_port)
must "started" dsrv_start "$T/pid/log.pid" -p "$port" -i 127.0.0.1 --name logtest
check "nothing on the starting command's stderr" [ ! -s "$T/start.err" ]

tag="logtest\[$SRV\]"
check "start: 'daemon.info logtest[$SRV]: hsvr ... serving on 127.0.0.1:$port'" \
	wait_for 5 syslog_has "daemon\.info $tag: hsvr [0-9.]+ serving on 127\.0\.0\.1:$port: "

word=hello-$RANDOM-$$
check "serv_log: answered" "$DCLIENT" cmd "$port" "log $word"
check "serv_log: 'daemon.notice logtest[$SRV]: dsrv: $word'" \
	wait_for 5 syslog_has "daemon\.notice $tag: dsrv: $word\$"

"$DCLIENT" cmd "$port" "echo one" "echo two" >/dev/null
kill -USR1 "$SUP"
check "SIGUSR1: a statistics line from the serving process" \
	wait_for 5 syslog_has "daemon\.info $tag: statistics: session_gauge=[0-9]+ .*accept_counter=[0-9]+ "
stats=$(grep -E "$tag: statistics: " "$T/syslog" | tail -n 1)
accepted=$(sed -n 's/.* accept_counter=\([0-9]*\) .*/\1/p' <<<"$stats")
check "SIGUSR1: the statistics count the connections (accept_counter=$accepted)" [ "${accepted:-0}" -ge 2 ]
check "SIGUSR1: the server goes on" "$DCLIENT" cmd "$port" pid

# An error: a second server on the same port, from its start-up.
"$DSRV" -p "$port" -i 127.0.0.1 --name logtest --pidfile "$T/pid/other.pid" 2>/dev/null
check "an error: 'daemon.err logtest[N]: cannot listen on ...'" \
	wait_for 5 syslog_has "daemon\.err logtest\[[0-9]+\]: cannot listen on 127\.0\.0\.1:$port: Address already in use"

kill -TERM "$SUP"
must "SIGTERM: stopped" wait_for 10 gone "$SUP"
check "stop: 'stopping: draining'" wait_for 5 syslog_has "daemon\.info $tag: stopping: draining [0-9]+ connections"
check "stop: the final statistics" wait_for 5 syslog_has "daemon\.info $tag: statistics: session_gauge=0 "
check "stop: 'stopped'" wait_for 5 syslog_has "daemon\.info $tag: stopped\$"
check "stop: the supervisor's 'exiting'" wait_for 5 syslog_has "daemon\.info logtest\[$SUP\]: exiting\$"
order=$(grep -nE "$tag: (hsvr|dsrv: $word|statistics|stopping|stopped)|logtest\[$SUP\]: exiting" "$T/syslog" |
	sed -E 's/^([0-9]+):.*\]: (hsvr|dsrv|statistics|stopping|stopped|exiting).*/\2/' | tr '\n' ' ')
check "in order: $order" [ "$order" = "hsvr dsrv statistics stopping statistics stopped exiting " ]
check "nothing on the starting command's stderr afterwards" [ ! -s "$T/start.err" ]

dt_finish
