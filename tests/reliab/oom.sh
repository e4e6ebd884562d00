#!/bin/bash
# tests/reliab/oom.sh - allocation failures: with HSVR_FAULT_ALLOC=N every
# Nth allocation of the library and of libevent fails while the server
# serves well-behaved clients that check every byte, sessions sending to
# each other across workers, and a prober.  A failure may refuse a
# connection, make S_send return -1 or close a session; it must never
# crash the server, corrupt or reorder data, leave a request unanswered on
# an open session, or leave a session or descriptor behind.
. "$(dirname "$0")/lib.sh"

t_setup
EVERY=10 SECS=4
((STRESS)) && SECS=60

must "made a test certificate" 'make_cert "$T/pki"'
must "server is serving with every ${EVERY}th allocation failing" \
	'rsrv_start srv env HSVR_FAULT_ALLOC=$EVERY -- -m 1000'
must "TLS server too" \
	'rsrv_start tls env HSVR_FAULT_ALLOC=$EVERY -- -m 1000 -c "$T/pki/cert.pem" -k "$T/pki/key.pem"'
srv_ADDR=::1
fd0=$(fds_base "$srv_SPID") tfd0=$(fds_base "$tls_SPID")
watch_start w "$srv_SPID"
bg mix "$RLOAD" mix -p "$srv_PORT" --clients 4 --duration "$SECS"
bg tmix "$RLOAD" mix -p "$tls_PORT" --tls --clients 2 --duration "$SECS"
bg churn "$RLOAD" churn -p "$srv_PORT" --pairs 10 --churners 10 --duration "$SECS" --tolerant --shared
probe=$("$RLOAD" probe -p "$srv_PORT" -a ::1 --duration "$SECS" --fresh 5)
for b in mix tmix churn; do
	wait_for $((SECS + 60)) eval "gone \$${b}_BG" || say "$b still running"
done
bg_stop mix
bg_stop tmix
bg_stop churn
watch_stop w
mix=$(bg_line mix MIX) tmix=$(bg_line tmix MIX) churn=$(bg_line churn CHURN)
say "$mix"
say "TLS: $tmix"
say "$churn"
say "$probe"
st=$(stats srv) tst=$(stats tls)
say "$st"
say "TLS: $tst"
ck "allocations failed and the library coped (alloc_error $(field "$st" alloc_error), TLS $(field "$tst" alloc_error))" \
	'(($(field "$st" alloc_error) > 0 && $(field "$tst" alloc_error) > 0))'
ck "the server kept serving: $(field "$mix" ok) operations done" \
	'(($(field "$mix" ok) > 0 && $(field "$tmix" ok) > 0 && $(field "$probe" ok) > 0))'
ck "no byte corrupted, on any session" '[[ $(field "$mix" corrupt) == 0 && $(field "$tmix" corrupt) == 0 ]]'
ck "no request left unanswered on a session that stayed open" \
	'[[ $(field "$mix" hung) == 0 && $(field "$tmix" hung) == 0 ]]'
ck "cross-worker sends: whatever S_send took arrived, in order, or the session closed" \
	'[[ -n $churn && $(field "$churn" mismatched) == 0 && $(field "$churn" reordered) == 0 && $(field "$churn" bad) == 0 ]]'
ck "every session gone afterwards (session_gauge back to 0)" 'wait_for 10 gauge_back srv 0'
st=$(stats srv)
ck "the counters add up: accept_counter = TYP_TERMs + gauge, = TYP_ACCEPTs" \
	'(($(field "$st" accept_counter) == $(field "$st" app_terms) + $(field "$st" session_gauge) && $(field "$st" accept_counter) == $(field "$st" app_accepts)))'
ck "TLS: every session gone afterwards" 'wait_for 10 gauge_back tls 0'
ck "descriptors back to $fd0" 'wait_for 10 fds_are "$srv_SPID" "$fd0"'
ck "TLS: descriptors back to $tfd0" 'wait_for 10 fds_are "$tls_SPID" "$tfd0"'
ck "no crash: still the first serving processes" 'one_serving srv && one_serving tls'
rsrv_finish srv
rsrv_finish tls

figures alloc-failure \
	"conns=$(($(n "$mix" sessions) + $(n "$tmix" sessions) + $(n "$churn" reconnects) + 21))" \
	"requests=$(($(n "$mix" ops) + $(n "$tmix" ops) + $(n "$churn" msgs) + $(n "$probe" requests)))" \
	"bytes=$(($(n "$mix" bytes) + $(n "$tmix" bytes) + $(n "$churn" bytes)))" \
	"faults=every-${EVERY}th-allocation:$(($(n "$st" alloc_error) + $(n "$tst" alloc_error)))" \
	"bad=-" \
	"lost=$(($(n "$mix" corrupt) + $(n "$churn" mismatched)))" \
	"cut_short=$(($(n "$mix" failed) + $(n "$tmix" failed) + $(n "$churn" server_closed)))" \
	"send_err=$(n "$st" app_send_err)" \
	"rss_kb=$(n "$WATCH" peak_rss_kb)" \
	"fds=$(n "$WATCH" peak_fds)" \
	"p99_ms=$(n "$probe" p99_ms)" \
	"result=$( ((t_failed)) && echo FAIL || echo pass)"
