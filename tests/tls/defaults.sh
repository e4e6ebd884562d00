#!/bin/bash
# tests/tls/defaults.sh - the TLS defaults (Mozilla "intermediate"), seen
# by openssl s_client: for TLS 1.2 only ECDHE with AES-GCM or
# ChaCha20-Poly1305 (no static RSA, no CBC, no DHE), for TLS 1.3 the three
# AEAD suites; the client's order followed (ChaCha20 for a client that
# prefers it); only the groups X25519, P-256, P-384; an OCSP response
# stapled (--tls-ocsp), refused when it is about another certificate, kept
# on a reload that brings a bad one; session ticket keys rotated (a ticket
# from before one rotation resumes, one from before two does not), one
# TLS 1.3 ticket per full handshake that resumes, and --tls-no-tickets
# resuming by session ID; a TLS 1.3 name in
# --tls-ciphers refused (78); hsvr-http selecting ALPN http/1.1.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
t_setup

# sc PORT ARG...: what openssl s_client says, stdin empty.
sc() {
	local port=$1
	shift
	timeout "$WAIT" openssl s_client -connect "127.0.0.1:$port" -servername localhost "$@" </dev/null 2>&1
}
# cipher_of PORT ARG...: the cipher negotiated, "(NONE)" if none.
cipher_of() { sc "$@" | sed -n 's/^New, [^,]*, Cipher is //p; s/^Reused, [^,]*, Cipher is //p' | head -n 1; }
# accepted PORT LIST: the TLS 1.2 ciphers of LIST the server accepts, one
# client offering each in turn, sorted, on one line.
accepted() {
	local c
	for c in $(openssl ciphers -tls1_2 "$2:@SECLEVEL=0" | tr ':' ' '); do
		[[ $c == TLS_* ]] && continue
		[[ $(cipher_of "$1" -tls1_2 -cipher "$c:@SECLEVEL=0") == "$c" ]] && echo "$c"
	done | sort | tr '\n' ' '
}
# starts_not WHAT CODE MESSAGE ARG...: t-tsrv with ARGs exits CODE saying
# MESSAGE.
starts_not() {
	local what=$1 want=$2 msg=$3 rc
	shift 3
	timeout "$WAIT" "$TSRV" -x -i 127.0.0.1 -p "$(free_port)" "$@" >"$T/fail.out" 2>"$T/fail.err"
	rc=$?
	ck "$what: exit $want (got $rc)" '[[ $rc == "$want" ]]'
	ck "$what: says \"$msg\"" 'grep -qF -- "$msg" "$T/fail.err"'
	[[ $rc == "$want" ]] || sed 's/^/#   /' "$T/fail.err"
}

# ---- ciphers, with an RSA certificate (static RSA would be possible)
must "t-tsrv starts with an RSA certificate and the defaults" \
	'ioc R -c "$PKI/server2.crt" -k "$PKI/server2.key"'
got=$(accepted "$R_PORT" 'ALL:COMPLEMENTOFALL')
ck "RSA certificate, TLS 1.2: only ECDHE-RSA with AES-GCM or ChaCha20 ($got)" \
	'[[ $got == "ECDHE-RSA-AES128-GCM-SHA256 ECDHE-RSA-AES256-GCM-SHA384 ECDHE-RSA-CHACHA20-POLY1305 " ]]'
ck "no static RSA key exchange (kRSA)" '[[ $(cipher_of "$R_PORT" -tls1_2 -cipher "kRSA:@SECLEVEL=0") == "(NONE)" ]]'
ck "no CBC cipher (SHA1, SHA256, SHA384 MACs)" \
	'[[ $(cipher_of "$R_PORT" -tls1_2 -cipher "SHA1:SHA256:SHA384:!AESGCM:!CHACHA20:!AESCCM:@SECLEVEL=0") == "(NONE)" ]]'
ck "no DHE key exchange" '[[ $(cipher_of "$R_PORT" -tls1_2 -cipher "kDHE:@SECLEVEL=0") == "(NONE)" ]]'
ck "TLS 1.2 client preferring ChaCha20 gets it" \
	'[[ $(cipher_of "$R_PORT" -tls1_2 -cipher ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384) == ECDHE-RSA-CHACHA20-POLY1305 ]]'
ck "TLS 1.2 client preferring AES-128 gets it" \
	'[[ $(cipher_of "$R_PORT" -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305) == ECDHE-RSA-AES128-GCM-SHA256 ]]'
t13=
for s in TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256 TLS_AES_128_CCM_SHA256 TLS_AES_128_CCM_8_SHA256; do
	[[ $(cipher_of "$R_PORT" -tls1_3 -ciphersuites "$s") == "$s" ]] && t13+="$s "
done
ck "TLS 1.3: the three suites, no CCM ($t13)" \
	'[[ $t13 == "TLS_AES_128_GCM_SHA256 TLS_AES_256_GCM_SHA384 TLS_CHACHA20_POLY1305_SHA256 " ]]'
ck "TLS 1.3 client preferring ChaCha20 gets it" \
	'[[ $(cipher_of "$R_PORT" -tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256) == TLS_CHACHA20_POLY1305_SHA256 ]]'
ck "TLS 1.3 client preferring AES-128 gets it" \
	'[[ $(cipher_of "$R_PORT" -tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384) == TLS_AES_128_GCM_SHA256 ]]'

# ---- groups
for g in X25519 P-256 P-384; do
	ck "group $g is accepted (TLS 1.3 and 1.2)" \
		'[[ $(cipher_of "$R_PORT" -tls1_3 -groups "$g") == TLS_* && $(cipher_of "$R_PORT" -tls1_2 -groups "$g") == ECDHE-* ]]'
done
for g in ffdhe2048 ffdhe8192 X448 P-521; do
	ck "group $g is refused" '[[ $(cipher_of "$R_PORT" -tls1_3 -groups "$g") == "(NONE)" ]]'
done
srv_finish R

must "t-tsrv starts with an ECDSA certificate, --tls-groups P-384" \
	'ioc E -c "$PKI/server.crt" -k "$PKI/server.key" --tls-groups P-384'
got=$(accepted "$E_PORT" 'aECDSA')
ck "ECDSA certificate, TLS 1.2: only ECDHE-ECDSA with AES-GCM or ChaCha20 ($got)" \
	'[[ $got == "ECDHE-ECDSA-AES128-GCM-SHA256 ECDHE-ECDSA-AES256-GCM-SHA384 ECDHE-ECDSA-CHACHA20-POLY1305 " ]]'
ck "--tls-groups P-384: P-384 accepted" '[[ $(cipher_of "$E_PORT" -tls1_3 -groups P-384) == TLS_* ]]'
ck "--tls-groups P-384: X25519 refused" '[[ $(cipher_of "$E_PORT" -tls1_3 -groups X25519) == "(NONE)" ]]'
srv_finish E

starts_not "--tls-ciphers with a TLS 1.3 name" 78 "is a TLS 1.3 suite: give it with --tls-ciphersuites" \
	-c "$PKI/server.crt" -k "$PKI/server.key" --tls-ciphers "ECDHE-ECDSA-AES128-GCM-SHA256:TLS_CHACHA20_POLY1305_SHA256"

# ---- OCSP stapling: responses of the test CA for server.crt and server2.crt
ocsp_for() {
	local crt=$PKI/$1.crt serial subj
	serial=$(openssl x509 -in "$crt" -noout -serial | cut -d= -f2)
	subj=$(openssl x509 -in "$crt" -noout -subject -nameopt compat | sed 's/^subject=//')
	printf 'V\t%s\t\t%s\tunknown\t%s\n' "$(date -u -d '+2 days' +%y%m%d%H%M%SZ)" "$serial" "$subj" >"$T/index-$1.txt"
	(
		cd "$PKI" &&
			openssl ocsp -issuer ca.crt -cert "$crt" -no_nonce -reqout "$T/req-$1.der" &&
			openssl ocsp -index "$T/index-$1.txt" -rsigner ca.crt -rkey ca.key -CA ca.crt \
				-reqin "$T/req-$1.der" -respout "$T/ocsp-$1.der" -ndays 1
	) >>"$T/ocsp.log" 2>&1
}
must "openssl ocsp makes responses for both certificates" 'ocsp_for server && ocsp_for server2'
cat "$PKI/server.crt" "$PKI/ca.crt" >"$T/chain.crt"
cp "$T/ocsp-server.der" "$T/live.der"
must "t-tsrv starts with --tls-ocsp" 'ioc O -c "$T/chain.crt" -k "$PKI/server.key" --tls-ocsp "$T/live.der"'
stapled() { local o; o=$(sc "$O_PORT" -status "$@"); has "$o" "OCSP Response Status: successful" && has "$o" "Cert Status: good"; }
ck "TLS 1.3: s_client -status shows the stapled response (good)" 'stapled -tls1_3'
ck "TLS 1.2: s_client -status shows the stapled response (good)" 'stapled -tls1_2'
ck "without -status nothing is stapled" 'has "$(sc "$O_PORT")" "No OCSP response" || hasnt "$(sc "$O_PORT")" "OCSP Response Status"'
cp "$T/ocsp-server2.der" "$T/live.der"
kill -HUP "$O_PID"
ck "SIGHUP with another certificate's response: refused, logged" \
	'wait_for 10 err_has O "not about the certificate in use"'
ck "... and the response in use is kept" 'wait_for 10 err_has O "keeping the OCSP response in use"'
ck "... still stapled after the reload" 'stapled -tls1_3'
srv_finish O
starts_not "--tls-ocsp with another certificate's response" 78 "not about the certificate in use" \
	-c "$T/chain.crt" -k "$PKI/server.key" --tls-ocsp "$T/ocsp-server2.der"
starts_not "--tls-ocsp without the issuer in the chain file" 78 "issuer is not in its chain" \
	-c "$PKI/server.crt" -k "$PKI/server.key" --tls-ocsp "$T/ocsp-server.der"

# ---- session tickets: rotation (test hook: a period of PERIOD ms)
PERIOD=$((1500 * SCALE))
# ticket_key FILE: the key name (first 16 bytes) of FILE's ticket.
ticket_key() {
	openssl sess_id -in "$1" -noout -text 2>/dev/null |
		sed -n '/TLS session ticket:/{n;s/^ *0000 - //;s/   .*//;s/[- ]//g;p;q}'
}
# ticket FILE: a new TLS 1.2 session into FILE; prints its key name.
ticket() { sc "$H_PORT" -tls1_2 -sess_out "$1" >/dev/null; ticket_key "$1"; }
# resume FILE: the session of FILE resumed?
resume() { has "$(sc "$H_PORT" -tls1_2 -sess_in "$1")" "Reused, TLSv1.2"; }
# rotations: how many times the keys rotated (the test build logs it).
rotations() { count_in "$T/H.err" "session ticket key rotated"; }
# next_key KEY: wait until new tickets have another key than KEY (a
# rotation), their session in $T/next.pem; prints the new key.
next_key() {
	local k deadline=$(($(now_cs) + 4 * PERIOD / 10))
	while (($(now_cs) < deadline)); do
		k=$(ticket "$T/next.pem")
		[[ -n $k && $k != "$1" ]] && { echo "$k"; return 0; }
		sleep 0.1
	done
	return 1
}
# rotation_round: 0 when the checks were made, 2 when a rotation came in
# the middle of one (a retry is due).  Keys rotate when a handshake first
# needs them in a new period, and the test build logs it: a resumption
# that rotated the key, or a wait that saw two rotations, does not count.
rotation_round() {
	local ka kb kc n r1 r2
	ka=$(ticket "$T/a.pem")
	[[ -n $ka ]] || { not_ok "a TLS 1.2 session ticket is issued"; return 0; }
	n=$(rotations)
	kb=$(next_key "$ka") || { not_ok "the ticket key rotates within $((4 * PERIOD)) ms"; return 0; }
	cp "$T/next.pem" "$T/b.pem"
	(($(rotations) == n + 1)) || return 2
	n=$(rotations)
	resume "$T/a.pem"
	r1=$?
	(($(rotations) == n)) || return 2
	kc=$(next_key "$kb") || { not_ok "the ticket key rotates again"; return 0; }
	(($(rotations) == n + 1)) || return 2
	n=$(rotations)
	resume "$T/b.pem"
	r2=$?
	(($(rotations) == n)) || return 2
	ck "a ticket from before one rotation resumes ($ka, now $kb)" '((r1 == 0))'
	ck "another ticket from before one rotation resumes ($kb, now $kc)" '((r2 == 0))'
	ck "a ticket from before two rotations does not resume ($ka, now $kc)" '! resume "$T/a.pem"'
	return 0
}
must "t-tsrv-hooks starts, ticket keys rotated every $PERIOD ms" \
	'HSVR_TEST_TICKET_PERIOD_MS=$PERIOD ioc_prog H "$TSRV_HOOKS" -c "$PKI/server.crt" -k "$PKI/server.key"'
made=0
for try in 1 2 3 4; do
	if rotation_round; then made=1; break; fi
	say "a rotation came in the middle of round $try: again"
done
ck "the rotation checks were made (in at most 4 rounds)" '((made))'
srv_finish H

# ---- --tls-no-tickets: no ticket, resumption by session ID still works
must "t-tsrv starts with --tls-no-tickets" 'ioc N -c "$PKI/server.crt" -k "$PKI/server.key" --tls-no-tickets'
sc "$N_PORT" -tls1_2 -sess_out "$T/n.pem" >/dev/null
ck "--tls-no-tickets: no ticket issued" '[[ -s $T/n.pem && -z $(ticket_key "$T/n.pem") ]]'
ck "--tls-no-tickets: the session resumes by its ID" \
	'has "$(sc "$N_PORT" -tls1_2 -sess_in "$T/n.pem")" "Reused, TLSv1.2"'
srv_finish N

# ---- TLS 1.3: one session ticket after a full handshake (not OpenSSL's
# two), which resumes the session (a ticket under the current key is not
# renewed: no new one, as with two)
must "t-tsrv starts, tickets on" 'ioc K -c "$PKI/server.crt" -k "$PKI/server.key"'
out=$(printf 'INFO\n!tickets\n' | tls "$K_PORT" --tls 1.3 --sess-out "$T/k.pem")
ck "TLS 1.3: one ticket after a full handshake ($(line_of "$out" TICKETS))" \
	'has_line "$out" "TICKETS n=1 reused=0"'
out=$(printf 'INFO\n!tickets\n' | tls "$K_PORT" --tls 1.3 --sess-in "$T/k.pem")
ck "TLS 1.3: that ticket resumes ($(line_of "$out" TICKETS))" \
	'has_line "$out" "TICKETS n=0 reused=1"'
srv_finish K

# ---- the HTTP example advertises http/1.1
HTTP=$t_builddir/examples/hsvr-http
[[ -x $t_builddir/examples/.libs/hsvr-http ]] && HTTP=$t_builddir/examples/.libs/hsvr-http
must "hsvr-http starts with TLS" \
	'srv_start W "$HTTP" -x -i 127.0.0.1 -p @PORT@ -n 1 --hello -c "$PKI/server.crt" -k "$PKI/server.key"'
ck "hsvr-http selects ALPN http/1.1 from h2,http/1.1" 'has "$(sc "$W_PORT" -alpn h2,http/1.1)" "ALPN protocol: http/1.1"'
srv_stop W
ck "hsvr-http stops with status 0 (got $W_RC)" '[[ $W_RC == 0 ]]'
t_finish
