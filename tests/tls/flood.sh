#!/bin/bash
# tests/tls/flood.sh - a flood of silent TCP connections to a TLS port,
# far beyond -m and --tls-max-handshakes, kept up (each one the server
# closes is opened again), starves no one: an established session keeps
# echoing and new clients complete their handshakes and get their answers
# all along, because handshakes are bounded apart from -m and the oldest
# silent one is closed first.  Without the bound every new client is
# refused until the handshake timeout.
# RELIAB_STRESS=1 (make stress, the "tls-flood" row of
# tests/RELIABILITY.md): 12,000 silent connections against -m 8000 (4,000
# handshakes at once), reopened at up to 2,000 a second, and new clients
# one after the other for 60 s; each client's time (connect, handshake, one
# echo, t-tlsc's start included) is measured, before the flood too, and
# the figures go to $RELIAB_FIGURES.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
t_setup

C=$PKI/server.crt K=$PKI/server.key
# Silent connections held against -m 200 (100 handshakes at once), each
# one closed opened again at up to RATE a second: a new client has 50 ms
# (100 handshakes on two workers / RATE) to send its ClientHello.
FLOOD=400 RATE=1000 MAXC=200
ROUNDS=20       # clients that must be served during the flood
DURATION=0      # or new clients for this many seconds, at most ROUNDS
STRESS=${RELIAB_STRESS:-0}
# make stress: 1 s (4,000 / 2 / 2,000) for a ClientHello; the flooder
# holds 12,000 descriptors, the server at most 8,000 (the hard limit is
# 20,000).
[[ $STRESS != 1 ]] || FLOOD=12000 RATE=2000 MAXC=8000 ROUNDS=5000 DURATION=60

# probe I: a new client's one echo; its time in microseconds appended to
# $T/NAME.us (make stress).  0 if it was served.
probe() {
	local t0=${EPOCHREALTIME//[.,]/} out
	out=$(printf '%s-%s\n' "$2" "$1" | tls "$F_PORT")
	has_line "$out" "$2-$1" || { say "client $1: ${out:-nothing}"; return 1; }
	[[ $STRESS != 1 ]] || echo $((${EPOCHREALTIME//[.,]/} - t0)) >>"$T/$2.us"
}
# p99 NAME: the 99th percentile of $T/NAME.us, in milliseconds.
p99() {
	sort -n "$T/$1.us" | awk '{ t[NR] = $1 } END {
		i = int(NR * 0.99 + 0.999); if (i < 1) i = 1
		printf "%.2f\n", t[i] / 1000 }'
}
# peak: the serving process's descriptors (most seen) in $peak_fds.
peak_fds=0
peak() {
	local l=(/proc/"$spid"/fd/*)
	((${#l[@]} <= peak_fds)) || peak_fds=${#l[@]}
}

# A handshake timeout longer than the test: no slot comes back by itself.
must "t-tsrv starts (-m $MAXC, handshake timeout 600 s)" \
	'ioc F -c "$C" -k "$K" -m "$MAXC" --tls-handshake-timeout 600'
must "a session is established and held" 'hold_open "$F_PORT"'
# The serving process: t-tsrv's child, if it has one.
spid=$(descendants "$F_PID" | head -n 1)
: "${spid:=$F_PID}"
if [[ $STRESS == 1 ]]; then
	idle_ok=0
	for i in $(seq 1 50); do probe "$i" idle && idle_ok=$((idle_ok + 1)); done
	ck "before the flood 50 new clients were served (got $idle_ok)" '((idle_ok == 50))'
fi

# The flooder runs until its stdin (a fifo) ends.
mkfifo "$T/flood.in"
"$TLSC" flood --rate "$RATE" "$FLOOD" "$F_PORT" <"$T/flood.in" >"$T/flood.out" 2>>"$T/clients.err" &
flood_pid=$!
exec {flood_fd}>"$T/flood.in"
must "$FLOOD silent connections are open" 'wait_for 10 grep -q "^FLOODING n=$FLOOD" "$T/flood.out"'

served=0 held=0 rounds=0
deadline=$(($(now_cs) + DURATION * 100))
for i in $(seq 1 "$ROUNDS"); do
	((DURATION == 0 || $(now_cs) < deadline)) || break
	rounds=$i
	probe "$i" during-flood && served=$((served + 1))
	if [[ $(hold "held-$i") == "held-$i" ]]; then
		held=$((held + 1))
	else
		say "held session, round $i: no echo"
	fi
	((STRESS != 1 || i % 20 != 1)) || peak
done
ck "during the flood all $rounds new clients were served (got $served)" '((served == rounds))'
ck "during the flood the held session still echoes" '[[ $(hold held-last) == held-last ]]'
st=$(printf 'STATS\n' | tls "$F_PORT")
ck "the closed handshakes are counted in tls_handshake_error" \
	'(($(field "$(line_of "$st" STATS)" tls_handshake_error) > 0))'

exec {flood_fd}>&-
wait_for 10 gone "$flood_pid"
wait "$flood_pid" 2>/dev/null
end=$(grep '^FLOOD ' "$T/flood.out")
say "flood: $end"
ck "the server closed flood connections (it did not just hold them)" \
	'(($(field "$end" closed) > 0))'
ck "the server says why it closed them (one line per 10 s)" \
	'err_has F "too many handshakes at once"'
if [[ $STRESS == 1 ]]; then
	ck "new clients for ${DURATION} s ($rounds)" '((rounds >= 100))'
	ck "the held session echoed in every round ($held of $rounds)" '((held == rounds))'
	hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$spid/status" 2>/dev/null)
fi
hold_close
srv_finish F
if [[ $STRESS == 1 ]]; then
	# A row of tests/RELIABILITY.md (as figures in tests/reliab/lib.sh).
	evicted=$(field "$(line_of "$st" STATS)" tls_handshake_error)
	line="FIGURES scenario=tls-flood conns=$(field "$end" connects)+probe"
	line+=" requests=$((rounds + held + 50 + 1)) faults=silent-handshakes:$FLOOD,reopened:${RATE}/s"
	line+=" lost=$((rounds - served + rounds - held)) rss_kb=${hwm:--} fds=$peak_fds"
	line+=" p99_ms=$(p99 during-flood) result=$( ((t_failed)) && echo FAIL || echo pass)"
	line+=" max_conn=$MAXC handshakes_at_once=$((MAXC / 2)) evicted=$evicted"
	line+=" probes=$rounds probe_failed=$((rounds - served)) p99_before_ms=$(p99 idle)"
	say "$line"
	[[ -z ${RELIAB_FIGURES:-} ]] || printf '%s\n' "$line" >>"$RELIAB_FIGURES"
fi
t_finish
