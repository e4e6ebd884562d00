#!/bin/bash
# tests/tls/close.sh - orderly ends of TLS sessions: S_close sends
# close_notify after everything queued went out (the client reads all,
# then SSL_ERROR_ZERO_RETURN, never a truncation), also after 10 MB under
# back-pressure; a client's close_notify is answered with the server's and
# a TYP_TERM; a client's close_notify right behind a request still gets
# the reply first; a client that asks for data and sends close_notify at
# once still gets all of it; a client that just closes the socket, without
# close_notify, still gets a normal TYP_TERM, even in mid-transfer.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
t_setup

C=$PKI/server.crt K=$PKI/server.key

must "t-tsrv starts" 'ioc E -c "$C" -k "$K"'

# term_of LPORT: the TYP_TERM line of the session from local port LPORT,
# once it is there (at most 5 * SCALE s).
term_of() {
	wait_for 5 grep -q "^TERM id=[0-9]* port=$1 " "$T/E.out" || return 1
	grep "^TERM id=[0-9]* port=$1 " "$T/E.out"
}

for v in 1.2 1.3; do
	out=$(printf 'hello\nCLOSE\n!eof\n' | tls "$E_PORT" --tls "$v")
	ck "TLS $v: S_close: BYE, then close_notify (SSL_ERROR_ZERO_RETURN)" \
		'lines_follow "$out" BYE "EOF close_notify"'
	has "$out" "EOF close_notify" || say "$(tail -n 2 <<<"$out")"

	out=$(printf '!gen 10000000 3%s close\n!eof\n' "${v/./}" |
		tls "$E_PORT" --tls "$v" --slow --rcvbuf 32768)
	ck "TLS $v: S_close right after 10 MB under back-pressure: all of it, then close_notify" \
		'has "$out" "GEN-OK n=10000000 " && has_line "$out" "EOF close_notify"'
	has_line "$out" "EOF close_notify" || say "$(tail -n 2 <<<"$out")"
	ck "TLS $v: ... the transfer met back-pressure (S_send -4, TYP_SENDABLE)" \
		'backpressured E "$(field "$out" lport)"'


	out=$(printf 'hello\n!shutdown\n' | tls "$E_PORT" --tls "$v")
	ck "TLS $v: the client's close_notify is answered with the server's" \
		'has_line "$out" "SHUTDOWN close_notify"'
	term=$(term_of "$(field "$out" lport)")
	ck "TLS $v: ... and a TYP_TERM (rx=1 rxoctet=6)" 'has "$term" " rx=1 rxoctet=6 "'

	# The request and the close_notify arrive together while the worker
	# sleeps.
	out=$(printf 'SLEEP 300\n!send hello-%s\n!shutdown\n' "$v" | tls "$E_PORT" --tls "$v" --timeout "$((3 * SCALE))")
	ck "TLS $v: a request with close_notify right behind it: the reply, then close_notify" \
		'lines_follow "$out" "DATA hello-$v" "SHUTDOWN close_notify"'
	has_line "$out" "SHUTDOWN close_notify" || say "$(tail -n 2 <<<"$out")"

	out=$(printf '!send GEN 3000000 4%s\n!notify\n!recv 3000000 4%s\n!eof\n' "${v/./}" "${v/./}" |
		tls "$E_PORT" --tls "$v")
	ck "TLS $v: asks for 3 MB and sends close_notify at once: all of it arrives" \
		'has "$out" "RECV-OK n=3000000 "'
	ck "TLS $v: ... then the server's close_notify" 'has_line "$out" "EOF close_notify"'
	has_line "$out" "EOF close_notify" || say "$(tail -n 2 <<<"$out")"

	out=$(printf 'hello\n!dirty\n' | tls "$E_PORT" --tls "$v")
	term=$(term_of "$(field "$out" lport)")
	ck "TLS $v: a client that closes without close_notify gets a TYP_TERM (rx=1 rxoctet=6)" \
		'has "$term" " rx=1 rxoctet=6 "'

	# (Three times: the server may notice on a read or on a write.)
	for i in 1 2 3; do
		out=$(printf '!send GEN 10000000 5\n!dirty\n' | tls "$E_PORT" --tls "$v" --rcvbuf 32768)
		term=$(term_of "$(field "$out" lport)")
		ck "TLS $v: a client that vanishes in mid-transfer gets a TYP_TERM ($i)" '[[ -n $term ]]'
	done
done

# s_client closes with close_notify at the end of its input (no -ign_eof).
printf 'hello-s_client\n' | timeout "$WAIT" openssl s_client -connect "127.0.0.1:$E_PORT" -quiet -no_ign_eof >"$T/sc.out" 2>&1
rc=$?
ck "openssl s_client ending at the end of its input: exit 0 (got $rc)" '[[ $rc == 0 ]]'

out=$(printf 'STATS\n' | tls "$E_PORT")
ck "every session ended: only the asking one is left" '[[ $(field "$out" session_gauge) == 1 ]]'
ck "no handshake failed" '[[ $(field "$out" tls_handshake_error) == 0 ]]'
srv_finish E
ck "every TYP_ACCEPT had its TYP_TERM" \
	'[[ $(count_in "$T/E.out" "ACCEPT id=") == $(count_in "$T/E.out" "TERM id=") ]]'

t_finish
