#!/bin/bash
# tests/tls/handshake.sh - handshakes and echo over TLS 1.2 and 1.3, with
# openssl s_client and with an OpenSSL client (t-tlsc), on a server of
# serv_* hooks (the library's main) and on one of S_start(..., 1, cert,
# key); what S_tls_info reports; ALPN; --tls-min 1.3; --tls-ciphers; a
# key file readable by root only while the serving process runs as nobody.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
t_setup

CERT=$PKI/server.crt KEY=$PKI/server.key
FP=$(fingerprint "$CERT")

# ---- a server on the serv_* hooks
must "t-tsrv starts with -c/-k" 'ioc A -c "$CERT" -k "$KEY"'

if (($(id -u) == 0)); then
	ck "the key file is mode 0600, owned by root" \
		'[[ $(stat -c %a:%u "$KEY") == 600:0 ]]'
fi

for v in 1.2 1.3; do
	out=$(printf 'hello-%s\nINFO\nPID\n' "$v" | tls "$A_PORT" --tls "$v" --ca "$PKI/ca.crt")
	con=$(line_of "$out" CONNECTED)
	info=$(line_of "$out" INFO)
	ck "t-tlsc TLS $v: handshake done" 'has "$con" "version=TLSv$v "'
	ck "t-tlsc TLS $v: the served certificate is server.crt, verified for localhost" \
		'[[ $(field "$con" sha256) == "$FP" && $(field "$con" verify) == ok ]]'
	ck "t-tlsc TLS $v: echo" 'has_line "$out" "hello-$v"'
	ck "t-tlsc TLS $v: S_tls_info version=TLSv$v, same cipher as the client's, no peer" \
		'has "$info" "version=TLSv$v " && [[ $(field "$info" cipher) == $(field "$con" cipher) ]] && has "$info" "verified=0 peer=" && [[ $info == *"peer=" ]]'
	lport=$(field "$con" lport)
	ck "TLS $v: TYP_ACCEPT after the handshake, S_tls_info there too" \
		'out_has A "port=$lport version=TLSv$v "'
	if (($(id -u) == 0)); then
		pidl=$(line_of "$out" PID)
		ck "TLS $v: the serving process runs as nobody (the key was loaded before the drop)" \
			'[[ $(field "$pidl" euid) == $(nobody_uid) && $(field "$pidl" uid) == $(nobody_uid) ]]'
	fi
done

for v in 1.2 1.3; do
	sc=$(printf 'hello-s_client-%s\nCLOSE\n' "$v" |
		timeout "$WAIT" openssl s_client -connect "127.0.0.1:$A_PORT" "-tls${v/./_}" \
			-servername localhost -CAfile "$PKI/ca.crt" -verify_return_error \
			-verify_hostname localhost -alpn http/1.1 -ign_eof 2>&1)
	rc=$?
	ck "openssl s_client TLS $v: exit 0 after the server's CLOSE (got $rc)" '[[ $rc == 0 ]]'
	ck "openssl s_client TLS $v: echo, then BYE" \
		'sc_echoed "$sc" "hello-s_client-$v"'
	ck "openssl s_client TLS $v: protocol, verified chain, ALPN http/1.1" \
		'[[ $sc == *"Protocol  : TLSv$v"* && $sc == *"Verify return code: 0 (ok)"* && $sc == *"ALPN protocol: http/1.1"* ]]'
done

# ---- ALPN: serv_set_alpn("h2,http/1.1") in serv_init
alpn_of() { # OFFER...
	local out
	out=$(printf 'INFO\n' | tls "$A_PORT" "$@")
	echo "$(field "$(line_of "$out" CONNECTED)" alpn)/$(field "$(line_of "$out" INFO)" alpn)"
}
ck "ALPN: the client offers http/1.1: S_tls_info alpn=http/1.1" '[[ $(alpn_of --alpn http/1.1) == http/1.1/http/1.1 ]]'
ck "ALPN: the client offers http/1.1,h2: the server's preference, h2" '[[ $(alpn_of --alpn http/1.1,h2) == h2/h2 ]]'
ck "ALPN: the client offers h2 over TLS 1.2: h2" '[[ $(alpn_of --alpn h2 --tls 1.2) == h2/h2 ]]'
out=$(printf 'INFO\n' | tls "$A_PORT" --alpn spdy/3)
ck "ALPN: nothing in common: refused with the no_application_protocol alert (RFC 7301)" \
	'has "$out" HANDSHAKE-FAILED && has "$out" "no application protocol"'
ck "ALPN: nothing offered: alpn is empty" '[[ $(alpn_of) == / ]]'

srv_finish A
ck "A: one TYP_ACCEPT per session, each with its TYP_TERM" \
	'[[ $(count_in "$T/A.out" ACCEPT) == 8 && $(count_in "$T/A.out" "TERM id=") == 8 ]]'
ck "A: S_tls_info works in TYP_TERM" \
	'[[ $(grep "TERM id=" "$T/A.out" | grep -c " tls=TLSv1\.[23]") == 8 ]]'
ck "A: statistics: the ALPN refusal is the one failed handshake" 'err_has A tls_handshake_error=1'

# ---- --tls-min 1.3
must "t-tsrv starts with --tls-min 1.3" 'ioc M -c "$CERT" -k "$KEY" --tls-min 1.3'
out=$(printf 'INFO\n' | tls "$M_PORT" --tls 1.2)
ck "--tls-min 1.3: a TLS 1.2-only client is refused (protocol version)" \
	'has "$out" HANDSHAKE-FAILED && has "$out" "protocol version"'
timeout "$WAIT" openssl s_client -connect "127.0.0.1:$M_PORT" -tls1_2 </dev/null >"$T/sc12.out" 2>&1
rc=$?
ck "--tls-min 1.3: openssl s_client -tls1_2 fails (exit $rc)" '[[ $rc != 0 && $rc != 124 ]]'
out=$(printf 'INFO\nSTATS\n' | tls "$M_PORT")
ck "--tls-min 1.3: a TLS 1.3 client is served" 'has "$out" "INFO id=" && has "$out" "version=TLSv1.3"'
ck "--tls-min 1.3: both refusals counted in tls_handshake_error, one session accepted" \
	'[[ $(field "$(line_of "$out" STATS)" tls_handshake_error) == 2 && $(field "$(line_of "$out" STATS)" accept_counter) == 1 ]]'
srv_finish M
ck "--tls-min 1.3: the refused clients ran no callback" '[[ $(count_in "$T/M.out" ACCEPT) == 1 ]]'

# ---- --tls-ciphers (TLS 1.2) and --tls-ciphersuites (TLS 1.3)
must "t-tsrv starts with a TLS 1.2 cipher list" \
	'ioc C -c "$CERT" -k "$KEY" --tls-ciphers ECDHE-ECDSA-AES128-GCM-SHA256'
out=$(printf 'INFO\n' | tls "$C_PORT" --tls 1.2)
ck "--tls-ciphers ECDHE-ECDSA-AES128-GCM-SHA256: chosen over TLS 1.2" \
	'[[ $(field "$(line_of "$out" INFO)" cipher) == ECDHE-ECDSA-AES128-GCM-SHA256 ]]'
srv_finish C
must "t-tsrv starts with a TLS 1.3 suite" \
	'ioc S -c "$CERT" -k "$KEY" --tls-ciphersuites TLS_CHACHA20_POLY1305_SHA256'
out=$(printf 'INFO\n' | tls "$S_PORT" --tls 1.3)
ck "--tls-ciphersuites TLS_CHACHA20_POLY1305_SHA256: chosen over TLS 1.3" \
	'[[ $(field "$(line_of "$out" INFO)" cipher) == TLS_CHACHA20_POLY1305_SHA256 ]]'
srv_finish S

# ---- S_start(port, limit, multi, cb, 1, cert, key)
must "t-tsrv-low: S_start serves TLS" 'srv_start L "$TSRV_LOW" @PORT@ "$CERT" "$KEY" 2'
for v in 1.2 1.3; do
	out=$(printf 'hello-low-%s\nINFO\n' "$v" | tls "$L_PORT" --tls "$v" --alpn http/1.1 --ca "$PKI/ca.crt")
	con=$(line_of "$out" CONNECTED)
	ck "S_start TLS $v: handshake, certificate, echo" \
		'has "$con" "version=TLSv$v " && [[ $(field "$con" sha256) == "$FP" ]] && has_line "$out" "hello-low-$v"'
	ck "S_start TLS $v: S_tls_info (ALPN set before S_start)" \
		'has "$(line_of "$out" INFO)" "version=TLSv$v " && [[ $(field "$(line_of "$out" INFO)" alpn) == http/1.1 ]]'
done
sc=$(printf 'hello-s_client-low\nCLOSE\n' | timeout "$WAIT" openssl s_client -connect "127.0.0.1:$L_PORT" -CAfile "$PKI/ca.crt" -verify_return_error -ign_eof 2>&1)
rc=$?
ck "S_start: openssl s_client echo and BYE, exit 0 (got $rc)" '[[ $rc == 0 ]] && sc_echoed "$sc" hello-s_client-low'
srv_finish L
ck "S_start returned 0 and printed the statistics" \
	'out_has L "S_START_RETURNED 0" && out_has L accept_counter=3 && out_has L tls_handshake_error=0'

t_finish
