#!/bin/bash
# tests/reliab/fdexhaust.sh - out of descriptors: with RLIMIT_NOFILE
# lowered, a flood of connections beyond it must not make the listener
# spin (CPU from /proc), the sessions already there keep being served, the
# refusals are counted (fd_exhausted) and logged once per 10 s, and the
# waiting connections are taken within a second of descriptors coming free.
. "$(dirname "$0")/lib.sh"

t_setup
LIMIT=64 KEEP=5 FLOOD=150 WINDOW=2
if ((STRESS)); then
	LIMIT=512 KEEP=20 FLOOD=3000 WINDOW=10
fi

must "server is serving with at most $LIMIT descriptors" \
	'rsrv_start srv prlimit --nofile=$LIMIT:$LIMIT -- -m 5000 -q 4096'
must "its serving process has the lowered limit" \
	'grep -Eq "^Max open files +$LIMIT +$LIMIT" /proc/$srv_SPID/limits'
fd0=$(fds_base "$srv_SPID")
t0=$(now_cs)
watch_start w "$srv_SPID"
out=$("$RLOAD" fdx -p "$srv_PORT" --pid "$srv_SPID" --keep "$KEEP" --flood "$FLOOD" --window "$WINDOW")
secs=$((($(now_cs) - t0 + 99) / 100))
watch_stop w
say "$out"
say "$WATCH"
must "the flood ran the server out of descriptors (answered first: $(field "$out" answered_first) of $FLOOD)" \
	'[[ -n $out ]] && (($(field "$out" answered_first) > 0 && $(field "$out" answered_first) < FLOOD))'
# A listener that spins burns a whole core; paused, it sleeps.
ck "no spinning: the server used $(field "$out" cpu_pct)% CPU while out of descriptors (< 25%)" \
	'awk -v c="$(field "$out" cpu_pct)" "BEGIN { exit !(c >= 0 && c < 25) }"'
ck "the $KEEP sessions already open were answered every time meanwhile" \
	'[[ $(field "$out" keep_ok) == "$(field "$out" keep_pings)" ]] && (($(field "$out" keep_pings) > 0))'
ck "waiting connections taken within a second of descriptors coming free (worst $(field "$out" resume_max_ms) ms)" \
	'(($(field "$out" resume_max_ms) < 1000 * SCALE && $(field "$out" waves) > 0))'
ck "in the end every one of the $FLOOD connections was served, none lost" \
	'[[ $(field "$out" all_answered) == 1 && $(field "$out" lost) == 0 ]]'
ck "a newcomer afterwards is served" '[[ $(field "$out" fresh_ok) == 1 ]]'

st=$(stats srv)
say "$st"
fdx=$(field "$st" fd_exhausted)
ck "the refusals are counted: fd_exhausted=$fdx > 0" '((fdx > 0))'
# Paused 100 ms after each: about 10 a second at most.
ck "and paced: fd_exhausted $fdx <= 15 per second over ${secs}s" '((fdx <= 15 * secs))'
warnings=$(grep -ciE 'out of descriptors|too many open files' "$T/srv.err")
ck "logged $warnings time(s), at most once per 10 s" \
	'((warnings >= 1 && warnings <= 1 + secs / 10))'
ck "every session gone afterwards (session_gauge back to 0)" 'wait_for 10 gauge_back srv 0'
ck "descriptors back to $fd0" 'wait_for 5 fds_are "$srv_SPID" "$fd0"'
ck "still the first serving process" 'one_serving srv'
rsrv_finish srv

figures fdexhaust \
	"conns=$((KEEP + FLOOD))" \
	"requests=$(($(n "$out" keep_pings) + FLOOD))" \
	"bytes=$(n "$st" txoctet)" \
	"faults=RLIMIT_NOFILE=$LIMIT,accept-EMFILE:$fdx" \
	"bad=-" \
	"lost=$(n "$out" lost)" \
	"cpu_pct=$(n "$out" cpu_pct)" \
	"resume_ms=$(n "$out" resume_max_ms)" \
	"rss_kb=$(n "$WATCH" peak_rss_kb)" \
	"fds=$(n "$WATCH" peak_fds)" \
	"p99_ms=$(n "$out" keep_p99_ms)" \
	"result=$( ((t_failed)) && echo FAIL || echo pass)"
