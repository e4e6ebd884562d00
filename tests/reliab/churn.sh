#!/bin/bash
# tests/reliab/churn.sh - cross-thread safety under churn: sessions on
# every worker send to each other through S_search and S_send (over IPv4
# and IPv6) while churning clients connect, send and vanish at random.
# Whatever S_send accepted for a surviving pair must arrive, in order;
# the counters must add up (accept_counter = terms + gauge) while it runs
# and when it is over.  In the AddressSanitizer and ThreadSanitizer
# builds the same run must give no report; make stress runs it 60 s.
. "$(dirname "$0")/lib.sh"

t_setup
PAIRS=20 CHURN=20 SECS=5 WORKERS=4
if ((STRESS)); then
	PAIRS=100 CHURN=100 SECS=60
elif ((SANITIZED)); then
	# Fewer pairs, as many churners: the closes are what races.
	PAIRS=10 CHURN=40 SECS=8
fi

must "server is serving with $WORKERS workers" 'rsrv_start srv -n $WORKERS -m 5000'
fd0=$(fds_base "$srv_SPID")
watch_start w "$srv_SPID"
bg c4 "$RLOAD" churn -p "$srv_PORT" -a 127.0.0.1 --pairs "$PAIRS" --churners "$CHURN" --duration "$SECS" --shared
bg c6 "$RLOAD" churn -p "$srv_PORT" -a ::1 --pairs "$PAIRS" --churners "$CHURN" --duration "$SECS" --shared
bg probe "$RLOAD" probe -p "$srv_PORT" --duration "$SECS" --fresh 5
# While it runs: TYP_TERMs delivered never exceed the sessions ended, nor
# TYP_ACCEPTs the sessions accepted.
samples=0 bad_samples=0
while alive "$c4_BG" || alive "$c6_BG"; do
	st=$(stats srv)
	if [[ -n $st ]]; then
		samples=$((samples + 1))
		acc=$(field "$st" accept_counter) gauge=$(field "$st" session_gauge)
		terms=$(field "$st" app_terms) accs=$(field "$st" app_accepts)
		if ((terms > acc - gauge || accs > acc)); then
			bad_samples=$((bad_samples + 1))
			say "inconsistent: $st"
		fi
	fi
	sleep 0.2
done
bg_stop c4
bg_stop c6
bg_stop probe
watch_stop w
c4=$(bg_line c4 CHURN) c6=$(bg_line c6 CHURN) probe=$(bg_line probe PROBE)
say "$c4"
say "$c6"
say "$probe"
say "$WATCH"
[[ -n $c4 ]] || say "IPv4 client: $(cat "$T/c4.err")"
[[ -n $c6 ]] || say "IPv6 client: $(cat "$T/c6.err")"
for c in "$c4" "$c6"; do
	ck "every byte S_send took for a surviving pair arrived ($(field "$c" delivered) of $(field "$c" expected))" \
		'[[ -n $c && $(field "$c" mismatched) == 0 && $(field "$c" expected) == $(field "$c" delivered) ]] && (($(field "$c" delivered) > 0))'
	ck "in order, nothing garbled, no live partner refused but for congestion" \
		'[[ $(field "$c" reordered) == 0 && $(field "$c" bad) == 0 && $(field "$c" nak_pair_lost) == 0 ]]'
done
ck "the counters added up in all $samples snapshots while it ran" '((samples > 0 && bad_samples == 0))'
ck "the prober was answered every time" '[[ $(field "$probe" failed) == 0 ]]'
ck "every session gone afterwards" 'wait_for 10 gauge_back srv 0'
st=$(stats srv)
say "$st"
acc=$(field "$st" accept_counter) gauge=$(field "$st" session_gauge)
ck "accept_counter $acc = app TYP_TERMs $(field "$st" app_terms) + gauge $gauge, = app TYP_ACCEPTs" \
	'((acc == $(field "$st" app_terms) + gauge && acc == $(field "$st" app_accepts)))'
ck "no TYP_TERM twice (app_dup 0)" '[[ $(field "$st" app_dup) == 0 ]]'
ck "descriptors back to $fd0" 'wait_for 5 fds_are "$srv_SPID" "$fd0"'
ck "still the first serving process" 'one_serving srv'
rsrv_finish srv

figures churn \
	"conns=$acc" \
	"requests=$(($(n "$c4" msgs) + $(n "$c6" msgs) + $(n "$probe" requests)))" \
	"bytes=$(n "$st" txoctet)" \
	"faults=random-close/reset:$(($(n "$c4" reconnects) + $(n "$c6" reconnects))),workers:$WORKERS" \
	"bad=-" \
	"lost=$(($(n "$c4" expected) - $(n "$c4" delivered) + $(n "$c6" expected) - $(n "$c6" delivered)))" \
	"delivered=$(($(n "$c4" delivered) + $(n "$c6" delivered)))" \
	"rss_kb=$(n "$WATCH" peak_rss_kb)" \
	"fds=$(n "$WATCH" peak_fds)" \
	"p99_ms=$(n "$probe" p99_ms)" \
	"result=$( ((t_failed)) && echo FAIL || echo pass)"
