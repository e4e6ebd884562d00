#!/bin/bash
# tests/reliab/leaks.sh - nothing left behind: after sessions of every kind
# have come and gone (requests, cross-worker sends, resets, half-closes,
# write timeouts, idle timeouts, per-address refusals, TLS handshakes good
# and abandoned), session_gauge is 0 and the serving process has exactly
# the descriptors it started with; its orderly exit under valgrind
# memcheck reports no leak and no invalid access.  In the sanitizer builds
# valgrind cannot run: there AddressSanitizer's leak check at exit does
# (any report fails the test), and under ThreadSanitizer only the counts.
. "$(dirname "$0")/lib.sh"

t_setup
# The floods last longer where everything is slower (a coverage build).
SECS=$((3 * SCALE)) SLOWN=10
((STRESS)) && SECS=20
VG=()
if ((!SANITIZED)) && [[ ${RELIAB_VALGRIND:-1} == 1 ]] && command -v valgrind >/dev/null; then
	# shellcheck disable=SC2054 # the commas are in option values
	VG=(valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect
		--errors-for-leak-kinds=definite,indirect --error-exitcode=99
		--log-file="$T/vg.%p.log" --)
	# Everything is some ten times slower under valgrind.
	SCALE=$((SCALE * 4))
	export HSVR_TEST_SCALE=$SCALE
	say "the servers run under valgrind memcheck"
elif ((SANITIZED)); then
	say "sanitizer build: LeakSanitizer (in the AddressSanitizer build) checks at exit"
else
	say "valgrind is not installed: only the counts are checked"
fi

must "made a test certificate" 'make_cert "$T/pki"'
must "server is serving" \
	'rsrv_start srv "${VG[@]}" -m 500 -T $((2 * SCALE)) --write-timeout 1 --max-per-ip $((SLOWN * 9 / 2))'
must "TLS server is serving" \
	'rsrv_start tls "${VG[@]}" -m 500 -c "$T/pki/cert.pem" -k "$T/pki/key.pem" --tls-handshake-timeout 1'
srv_ADDR=::1
fd0=$(fds_base "$srv_SPID") tfd0=$(fds_base "$tls_SPID")
say "descriptors at the start: $fd0, TLS $tfd0"

# Every kind of session, several at once.  The floods come from 127.0.0.1
# (--max-per-ip: some are refused, whichever flood comes first, and some of
# both are let in), the well-behaved clients from ::1.
bg mix "$RLOAD" mix -p "$srv_PORT" -a ::1 --clients 2 --duration "$SECS"
bg churn "$RLOAD" churn -p "$srv_PORT" -a ::1 --pairs 4 --churners 4 --duration "$SECS" --shared
bg tmix "$RLOAD" mix -p "$tls_PORT" --tls --clients 1 --duration "$SECS"
bg slow "$RLOAD" flood -p "$srv_PORT" -n "$SLOWN" --mode noread --get 10000000 --rcvbuf 4096 --hold "$SECS"
# The non-readers first: the silent ones then fill the address's slots.
wait_for 30 bg_has slow READY || say "the non-reading flood is not connected"
# Fifty silent ones exceed --max-per-ip (45) by themselves: a refusal
# does not depend on the non-readers still being open (their 1 s write
# timeout may have closed them on a loaded machine).  The idle timeout
# (-T) scales with the valgrind factor: a server under valgrind on a
# loaded machine must accept all fifty before the first ones time out,
# and they are held until past that timeout.
bg idle "$RLOAD" flood -p "$srv_PORT" -n $((SLOWN * 5)) --mode silent --hold $((SECS + 2 * SCALE))
ops=()
ops+=("$("$RLOAD" rst -p "$srv_PORT" -a ::1 -n 5 --get 10000000 --after 100000)")
ops+=("$("$RLOAD" rst -p "$srv_PORT" -a ::1 -n 5 --put 1000000)")
ops+=("$("$RLOAD" half -p "$srv_PORT" -a ::1 -n 3 --put 10000 --get 1000000)")
ops+=("$("$RLOAD" rst -p "$tls_PORT" --tls -n 3 --get 10000000 --after 100000)")
ops+=("$("$RLOAD" half -p "$tls_PORT" --tls -n 2 --put 10000 --get 1000000)")
for mode in partial close rst garbage silent; do
	ops+=("$("$RLOAD" tlsabort -p "$tls_PORT" -n 3 --mode "$mode")")
done
for b in mix churn tmix slow idle; do
	wait_for $((SECS + 60)) eval "gone \$${b}_BG" || say "$b still running"
done
for b in mix churn tmix slow idle; do
	bg_stop "$b"
	ops+=("$(grep -E '^(MIX|CHURN|FLOOD)' "$T/$b.out")")
done
printf '# %s\n' "${ops[@]}"
ck "the clients were served (MIX, CHURN)" \
	'[[ $(bg_line mix MIX) == *" corrupt=0 "* && $(bg_line churn CHURN) == *" mismatched=0 "* ]]'

st=$(stats srv) tst=$(stats tls)
say "$st"
say "TLS: $tst"
ck "write timeouts, idle timeouts and per-address refusals all happened" \
	'(($(field "$st" write_timeout) > 0 && $(field "$st" rxtimeout) > 0 && $(field "$st" session_error_per_ip) > 0))'
ck "every session gone (session_gauge back to 0)" 'wait_for 20 gauge_back srv 0'
ck "TLS: every session gone (session_gauge back to 0)" 'wait_for 20 gauge_back tls 0'
ck "descriptors back to $fd0 (/proc/$srv_SPID/fd)" 'wait_for 10 fds_are "$srv_SPID" "$fd0"'
fd1=$(fds "$srv_SPID")
ck "TLS: descriptors back to $tfd0" 'wait_for 10 fds_are "$tls_SPID" "$tfd0"'
rsrv_finish srv
rsrv_finish tls
leak="-"
if ((${#VG[@]})); then
	logs=("$T"/vg.*.log)
	say "valgrind logs: ${#logs[@]}"
	grep -h 'ERROR SUMMARY\|definitely lost\|indirectly lost\|possibly lost' "${logs[@]}" | sed 's/^/#   /'
	bad=$(grep -L 'ERROR SUMMARY: 0 errors' "${logs[@]}")
	ck "valgrind ran the 2 servers and their serving processes (${#logs[@]} logs)" '((${#logs[@]} >= 4))'
	ck "valgrind memcheck: no invalid access, no leak, in every process" '[[ -z $bad ]]'
	[[ -z $bad ]] || for f in $bad; do sed -n '1,60p' "$f" | sed 's/^/#   /'; done
	leak=$(grep -h 'definitely lost:' "${logs[@]}" | awk '{ s += $4 } END { print s + 0 }')B
fi
figures leaks \
	"conns=$(($(n "$st" accept_counter) + $(n "$tst" accept_counter)))" \
	"requests=-" \
	"bytes=$(($(n "$st" txoctet) + $(n "$tst" txoctet)))" \
	"faults=rst,half-close,write-timeout,idle-timeout,per-ip,tls-abandoned" \
	"bad=garbage-handshake:3" \
	"lost=0" \
	"leaked=${leak}" \
	"gauge_after=0" \
	"fds=$fd0->$fd1" \
	"rss_kb=-" \
	"p99_ms=-" \
	"result=$( ((t_failed)) && echo FAIL || echo pass)"
