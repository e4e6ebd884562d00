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
# the figures go to $RELIAB_FIGURES.  The flood goes in 24 flooders of 500
# connections, each started once the server has taken those before from
# the listen queue (see below).  Without the bound (--tls-max-handshakes
# 65535) no new client is served: -m fills with the flood.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
t_setup

C=$PKI/server.crt K=$PKI/server.key
# Silent connections held against -m 200 (100 handshakes at once), each
# one closed opened again at up to RATE a second: a new client has 200 ms
# (100 handshakes on two workers / RATE) to send its ClientHello.  (At
# 50 ms, on a machine loaded to 15 runnable tasks per core, a client now
# and then was not scheduled in time between its connect and its
# ClientHello, and was closed as a silent one.)
FLOOD=400 RATE=250 MAXC=200
ROUNDS=20       # clients that must be served during the flood
DURATION=0      # or new clients for this many seconds, at most ROUNDS
FLOODERS=1      # the flood in this many t-tlsc processes, one after the other
STRESS=${RELIAB_STRESS:-0}
# make stress: 1 s (4,000 / 2 / 2,000) for a ClientHello; the flooders
# hold 12,000 descriptors (500 each), the server at most 8,000 (the hard
# limit is 20,000).
[[ $STRESS != 1 ]] || FLOOD=12000 RATE=2000 MAXC=8000 ROUNDS=5000 DURATION=60 FLOODERS=24

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
	[[ -s $T/$1.us ]] || { echo -; return; }
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

# queued: connections in the listen queue of F's port, not yet accepted
# (the rx_queue of its listening socket).
queued() {
	local hex q n=0
	hex=$(printf ':%04X' "$F_PORT")
	for q in $(awk -v h="$hex" '$4 == "0A" && substr($2, length($2) - 4) == h { print $5 }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null); do
		n=$((n + 16#${q#*:}))
	done
	echo "$n"
}
drained() { (($(queued) < 64)); }

# The flooders run until their stdin (a fifo) ends.  With more than one,
# each starts once the listen queue (1024) has been drained of the
# connections of those before: opened at once, most of a flood larger
# than the queue never reaches the server (the kernel drops the SYNs, or
# answers them with SYN cookies and then drops the last ACK: the flooder
# believes such a connection open, the server never hears of it).
# (Opened for reading and writing, the fifo does not wait for a reader;
# the flooders must not hold its writing end themselves.)
mkfifo "$T/flood.in"
exec {flood_fd}<>"$T/flood.in"
flood_pids=() taken=0
for ((k = 1; k <= FLOODERS; k++)); do
	"$TLSC" flood --rate $((RATE / FLOODERS)) $((FLOOD / FLOODERS)) "$F_PORT" \
		<"$T/flood.in" {flood_fd}>&- >"$T/flood$k.out" 2>>"$T/clients.err" &
	flood_pids+=("$!")
	wait_for 10 grep -q "^FLOODING n=$((FLOOD / FLOODERS))" "$T/flood$k.out" || break
	((FLOODERS > 1)) || continue
	if wait_for 10 drained; then
		taken=$((taken + FLOOD / FLOODERS))
	else
		say "flooder $k: $(queued) connections still queued after $((10 * SCALE)) s"
	fi
done
must "$FLOOD silent connections are open" '((k > FLOODERS))'
((FLOODERS == 1)) || ck "the server took them all from the listen queue ($taken)" '((taken == FLOOD))'

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
connects=0 closed=0
for ((k = 1; k <= ${#flood_pids[@]}; k++)); do
	wait_for 10 gone "${flood_pids[k - 1]}"
	wait "${flood_pids[k - 1]}" 2>/dev/null
	l=$(grep '^FLOOD ' "$T/flood$k.out")
	connects=$((connects + $(field "$l" connects || echo 0)))
	closed=$((closed + $(field "$l" closed || echo 0)))
done
end="FLOOD connects=$connects closed=$closed"
say "flood: $end"
ck "the server closed flood connections (it did not just hold them)" \
	'(($(field "$end" closed) > 0))'
ck "the server says why it closed them (one line per 10 s)" \
	'err_has F "too many handshakes at once"'
if [[ $STRESS == 1 ]]; then
	ck "new clients for ${DURATION} s ($rounds)" '((rounds >= 20))'
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
	line+=" max_conn=$MAXC handshakes_at_once=$((MAXC / 2)) evicted=${evicted:--}"
	line+=" probes=$rounds probe_failed=$((rounds - served)) p99_before_ms=$(p99 idle)"
	say "$line"
	[[ -z ${RELIAB_FIGURES:-} ]] || printf '%s\n' "$line" >>"$RELIAB_FIGURES"
fi
t_finish
