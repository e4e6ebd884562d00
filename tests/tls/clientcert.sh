#!/bin/bash
# tests/tls/clientcert.sh - client certificates: with --tls-ca a client
# without a certificate, or with one from another CA, fails the handshake
# (counted in tls_handshake_error, no callback); one from the CA is
# accepted and S_tls_info reports its subject and verified=1; without
# --tls-ca no certificate is asked for (peer empty, verified=0).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
t_setup

C=$PKI/server.crt K=$PKI/server.key
GOOD=(--cert "$PKI/client.crt" --key "$PKI/client.key")
OTHER=(--cert "$PKI/intruder.crt" --key "$PKI/intruder.key")
SUBJECT="/O=hsvr tests/CN=hsvr-test-client"

# refused VERSION WHO REASON [ARGS...]: the t-tlsc client WHO (with ARGS)
# is refused at the handshake with the alert REASON and runs no callback.
refused() {
	local v=$1 who=$2 reason=$3 out
	shift 3
	out=$(printf '!eof\n' | tls "$V_PORT" --tls "$v" "$@")
	failed=$((failed + 1))
	ck "TLS $v: $who is refused ($reason)" \
		'{ has "$out" HANDSHAKE-FAILED || has "$out" "EOF error"; } && has "$out" "alert $reason"'
	say "$(tail -n 1 <<<"$out")"
	ck "TLS $v: ... and ran no callback" '! grep -q " port=$(field "$out" lport) " "$T/V.out"'
}

must "t-tsrv starts with --tls-ca" 'ioc V -c "$C" -k "$K" --tls-ca "$PKI/ca.crt"'
failed=0 good=0
for v in 1.2 1.3; do
	# (Over TLS 1.3 the client's handshake ends before the server has
	# seen its certificate: the refusal comes next, as an alert.)
	refused "$v" "a client without a certificate" \
		"$([[ $v == 1.2 ]] && echo "handshake failure" || echo "certificate required")"
	refused "$v" "a client with a certificate from another CA" "unknown ca" \
		"${OTHER[@]}"

	out=$(printf 'hello\nINFO\n' | tls "$V_PORT" --tls "$v" "${GOOD[@]}")
	good=$((good + 1))
	info=$(line_of "$out" INFO)
	ck "TLS $v: a client with a certificate from the CA is served" 'has_line "$out" hello'
	ck "TLS $v: S_tls_info: verified=1 peer=$SUBJECT" \
		'has "$info" "verified=1 peer=$SUBJECT" && [[ $info == *"peer=$SUBJECT" ]]'
	ck "TLS $v: S_tls_info in TYP_ACCEPT says the same" \
		'grep -q " port=$(field "$out" lport) .*verified=1 peer=$SUBJECT\$" "$T/V.out"'
done

timeout "$WAIT" openssl s_client -connect "127.0.0.1:$V_PORT" -cert "$PKI/client.crt" -key "$PKI/client.key" \
	-CAfile "$PKI/ca.crt" -ign_eof <<<$'hello-s_client\nCLOSE' >"$T/sc1.out" 2>&1
rc=$?
good=$((good + 1))
ck "openssl s_client with the client certificate: served, exit 0 (got $rc)" \
	'[[ $rc == 0 ]] && sc_echoed "$(<"$T/sc1.out")" hello-s_client'
timeout "$WAIT" openssl s_client -connect "127.0.0.1:$V_PORT" -CAfile "$PKI/ca.crt" -ign_eof \
	<<<$'hello-s_client\nCLOSE' >"$T/sc2.out" 2>&1
rc=$?
failed=$((failed + 1))
ck "openssl s_client without a certificate: refused (exit $rc, certificate required)" \
	'[[ $rc != 124 ]] && ! sc_echoed "$(<"$T/sc2.out")" hello-s_client && grep -q "certificate required" "$T/sc2.out"'

out=$(printf 'STATS\n' | tls "$V_PORT" "${GOOD[@]}")
good=$((good + 1))
ck "tls_handshake_error counts the $failed refusals" '[[ $(field "$out" tls_handshake_error) == "$failed" ]]'
ck "accept_counter counts the $good good clients" '[[ $(field "$out" accept_counter) == "$good" ]]'
srv_finish V
ck "only the good clients ran callbacks" '[[ $(count_in "$T/V.out" "ACCEPT id=") == "$good" ]]'

# ---- without --tls-ca, nobody is asked for a certificate
must "t-tsrv starts without --tls-ca" 'ioc N -c "$C" -k "$K"'
for v in 1.2 1.3; do
	out=$(printf 'INFO\n' | tls "$N_PORT" --tls "$v" "${GOOD[@]}")
	ck "TLS $v: no --tls-ca: a client with a certificate is served, none asked: verified=0, no peer" \
		'[[ $(line_of "$out" INFO) == *" verified=0 peer=" ]]'
	out=$(printf 'INFO\n' | tls "$N_PORT" --tls "$v" "${OTHER[@]}")
	ck "TLS $v: no --tls-ca: a certificate from another CA does not matter either" \
		'[[ $(line_of "$out" INFO) == *" verified=0 peer=" ]]'
	out=$(printf 'INFO\n' | tls "$N_PORT" --tls "$v")
	ck "TLS $v: no --tls-ca: a client without a certificate is served" \
		'[[ $(line_of "$out" INFO) == *" verified=0 peer=" ]]'
done
srv_finish N

t_finish
