#!/bin/bash
# tests/tls/hostile.sh - clients that never complete a handshake: bytes
# that are no ClientHello are refused at once, counted in
# tls_handshake_error and run no callback, while other clients are served
# all along; a silent client, one that stops in the middle of its
# ClientHello and one that stops after it are dropped after
# --tls-handshake-timeout (no callback ran, counted), while an established
# session idle for longer is not.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
t_setup

C=$PKI/server.crt K=$PKI/server.key

# no_callback SERVER LPORT: SERVER printed nothing about local port LPORT.
no_callback() { ! grep -q " port=$2 " "$T/$1.out"; }

# ---- garbage instead of a ClientHello (handshake timeout far away)
must "t-tsrv starts (handshake timeout 60 s)" 'ioc G -c "$C" -k "$K" --tls-handshake-timeout 60'
must "a session is established and held" 'hold_open "$G_PORT"'
good=1
ck "the held session echoes" '[[ $(hold before) == before ]]'

# garbage N: the t-tlsc raw options of garbage kind N; its name in WHAT.
garbage() {
	case $1 in
	1) WHAT="an HTTP request"; ARGS=(--send $'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n') ;;
	2) WHAT="'G', a zero byte and 510 random bytes"; ARGS=(--hex 4700 --random 510) ;;
	3) WHAT="a handshake record of garbage"; ARGS=(--hex 160301002063 --random 31) ;;
	4) WHAT="an SSLv2-style header"; ARGS=(--hex 802e0100020015000000 --random 40) ;;
	5) WHAT="zero bytes"; ARGS=(--hex 0000000000000000000000000000000000000000) ;;
	6) WHAT="a ClientHello gone bad halfway"; ARGS=(--hello-part 60 --random 600) ;;
	*) return 1 ;;
	esac
}
bad=0
for n in 1 2 3 4 5 6; do
	garbage $n
	out=$("$TLSC" raw "${ARGS[@]}" --wait "$((5 * SCALE))" "$G_PORT" 2>>"$T/clients.err")
	bad=$((bad + 1))
	ck "$WHAT: the server closes the connection at once (${out##*$'\n'})" \
		'has "$out" "CLOSED how="'
	ck "$WHAT: no callback ran" 'no_callback G "$(sed -n "s/^LOCALPORT //p" <<<"$out")"'
	ck "$WHAT: the held session still echoes" '[[ $(hold "after-$bad") == "after-$bad" ]]'
done

# Twenty at once, while new sessions come and the held one talks.  Each
# starts with 'G' and a zero byte: no SSLv2 length, and a record version
# whose major is not 3, which OpenSSL refuses at once.  After 'G' alone,
# a random byte was 3 once in 256, and the random length after it, about
# once in four, no more than a record may hold but more than was sent:
# OpenSSL then rightly waited for the rest (once in 900 connections, one
# of the twenty still open after 5 s about once in 45 runs).
pids=()
for i in $(seq 1 20); do
	"$TLSC" raw --hex 4700 --random $((100 + i * 37)) --wait "$((5 * SCALE))" "$G_PORT" >"$T/raw.$i" 2>>"$T/clients.err" &
	pids+=($!)
done
out=$(printf 'hello-meanwhile\n' | tls "$G_PORT")
good=$((good + 1))
ck "a new session is served while twenty garbage connections come in" 'has_line "$out" hello-meanwhile'
ck "the held session echoes meanwhile" '[[ $(hold meanwhile) == meanwhile ]]'
wait "${pids[@]}"
closed=$(cat "$T"/raw.* | grep -c "^CLOSED how=")
bad=$((bad + 20))
ck "all twenty are refused ($closed closed)" '[[ $closed == 20 ]]'
if [[ $closed != 20 ]]; then
	for i in $(seq 1 20); do
		grep -q "^CLOSED how=" "$T/raw.$i" || say "raw.$i: $(tr '\n' ' ' <"$T/raw.$i")"
	done
	say "clients.err: $(tail -5 "$T/clients.err" | tr '\n' ' ')"
fi
for i in $(seq 1 20); do
	p=$(sed -n 's/^LOCALPORT //p' "$T/raw.$i")
	no_callback G "$p" || not_ok "garbage connection from port $p ran a callback"
done

st=$(hold STATS)
ck "tls_handshake_error counts every refused connection ($bad)" \
	'[[ $(field "$st" tls_handshake_error) == "$bad" ]]'
ck "accept_counter counts the good sessions only ($good)" \
	'[[ $(field "$st" accept_counter) == "$good" ]]'
hold_close
srv_finish G
ck "TYP_ACCEPT only for the good sessions" '[[ $(count_in "$T/G.out" "ACCEPT id=") == "$good" ]]'
nlog=$(grep -c "TLS handshake with 127.0.0.1 failed: " "$T/G.err")
ck "failed handshakes are logged, at most once per 10 s ($nlog lines for $bad failures)" \
	'((nlog >= 1 && nlog <= 1 + 60 * SCALE / 10))'

# ---- handshake timeout
must "t-tsrv starts with --tls-handshake-timeout 1" 'ioc H -c "$C" -k "$K" --tls-handshake-timeout 1'
must "a session is established and held" 'hold_open "$H_PORT"'
max=$((100 + 200 * SCALE))
"$TLSC" raw --wait "$((5 * SCALE))" "$H_PORT" >"$T/silent.1" 2>>"$T/clients.err" &
p1=$!
"$TLSC" raw --wait "$((5 * SCALE))" "$H_PORT" >"$T/silent.2" 2>>"$T/clients.err" &
p2=$!
"$TLSC" raw --hello-part 20 --wait "$((5 * SCALE))" "$H_PORT" >"$T/partial" 2>>"$T/clients.err" &
p3=$!
"$TLSC" raw --hello --wait "$((5 * SCALE))" "$H_PORT" >"$T/hello" 2>>"$T/clients.err" &
p4=$!
out=$(printf 'hello-meanwhile\n' | tls "$H_PORT")
ck "a new session is served while silent clients wait" 'has_line "$out" hello-meanwhile'
wait $p1 $p2 $p3 $p4
for f in silent.1 silent.2 partial hello; do
	out=$(<"$T/$f")
	after=$(field "$out" after)
	case $f in
	silent.*) what="a silent client" ;;
	partial) what="a client stopping in its ClientHello" ;;
	hello) what="a client stopping after its ClientHello" ;;
	esac
	ck "$what is dropped after the 1 s handshake timeout (after ${after:-never})" \
		'has "$out" "CLOSED how=" && (($(cs "$after") >= 80 && $(cs "$after") <= max))'
	ck "$what: no callback ran" 'no_callback H "$(sed -n "s/^LOCALPORT //p" <<<"$out")"'
done
ck "the held session, idle for longer than the handshake timeout, still echoes" \
	'[[ $(hold still-here) == still-here ]]'
st=$(hold STATS)
ck "the four timeouts are counted in tls_handshake_error" '[[ $(field "$st" tls_handshake_error) == 4 ]]'
ck "accept_counter: the two good sessions" '[[ $(field "$st" accept_counter) == 2 ]]'
hold_close
srv_finish H

t_finish
