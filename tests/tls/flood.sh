#!/bin/bash
# tests/tls/flood.sh - a flood of silent TCP connections to a TLS port,
# far beyond -m and --tls-max-handshakes, kept up (each one the server
# closes is opened again), starves no one: an established session keeps
# echoing and new clients complete their handshakes and get their answers
# all along, because handshakes are bounded apart from -m and the oldest
# silent one is closed first.  Without the bound every new client is
# refused until the handshake timeout.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
t_setup

C=$PKI/server.crt K=$PKI/server.key
# Silent connections held against -m 200 (100 handshakes at once), each
# one closed opened again at up to RATE a second: a new client has 50 ms
# (100 handshakes on two workers / RATE) to send its ClientHello.
FLOOD=400 RATE=1000
ROUNDS=20       # clients that must be served during the flood

# A handshake timeout longer than the test: no slot comes back by itself.
must "t-tsrv starts (-m 200, handshake timeout 600 s)" \
	'ioc F -c "$C" -k "$K" -m 200 --tls-handshake-timeout 600'
must "a session is established and held" 'hold_open "$F_PORT"'

# The flooder runs until its stdin (a fifo) ends.
mkfifo "$T/flood.in"
"$TLSC" flood --rate "$RATE" "$FLOOD" "$F_PORT" <"$T/flood.in" >"$T/flood.out" 2>>"$T/clients.err" &
flood_pid=$!
exec {flood_fd}>"$T/flood.in"
must "$FLOOD silent connections are open" 'wait_for 10 grep -q "^FLOODING n=$FLOOD" "$T/flood.out"'

served=0
for i in $(seq 1 "$ROUNDS"); do
	out=$(printf 'during-flood-%s\n' "$i" | tls "$F_PORT")
	if has_line "$out" "during-flood-$i"; then
		served=$((served + 1))
	else
		say "client $i: ${out:-nothing}"
	fi
	[[ $(hold "held-$i") == "held-$i" ]] || say "held session, round $i: no echo"
done
ck "during the flood all $ROUNDS new clients were served (got $served)" '((served == ROUNDS))'
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
hold_close
srv_finish F
t_finish
