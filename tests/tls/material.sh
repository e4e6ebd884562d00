#!/bin/bash
# tests/tls/material.sh - certificate and key problems stop the server at
# start-up with exit 78 (EX_CONFIG) and one clear line, before it listens,
# and never with a passphrase prompt: each start runs with stdin from
# /dev/null and a fresh pseudo-terminal as its controlling terminal (a
# prompt would show there, and hang until the time limit); the same for
# S_start, which returns -1.  Usage mistakes in the TLS options exit 64.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
t_setup

# start_fails NAME EXPECTED-STATUS MESSAGE ARG...: t-tsrv with ARGs exits
# with EXPECTED-STATUS, MESSAGE on stderr, nothing on the terminal.
start_fails() {
	local what=$1 want=$2 msg=$3 port rc tty
	shift 3
	port=$(free_port)
	"$TLSC" pty "$WAIT" "$TSRV" -x -i 127.0.0.1 -p "$port" "$@" \
		>"$T/pty.out" 2>"$T/pty.err"
	rc=$?
	tty=$(grep '^TTY:' "$T/pty.out")
	ck "$what: exit $want (got $rc), within the time limit" '[[ $rc == "$want" ]]'
	ck "$what: says \"$msg\"" 'grep -qF -- "$msg" "$T/pty.err"'
	ck "$what: no prompt, nothing on the terminal" '[[ -z $tty ]]'
	ck "$what: nothing listens on the port" '! listening "$port"'
	[[ $rc == "$want" && -z $tty ]] || sed 's/^/#   /' "$T/pty.out" "$T/pty.err"
	ck "$what: no sanitizer report" '! grep -qE "Sanitizer|runtime error" "$T/pty.err"'
}

C=$PKI/server.crt K=$PKI/server.key
cp "$C" "$T/junk.crt" && printf 'this is not PEM\n' >"$T/junk.crt"

start_fails "certificate and key mismatch" 78 \
	"the private key $PKI/server2.key does not match the certificate $C" -c "$C" -k "$PKI/server2.key"
start_fails "missing certificate file" 78 "cannot load the certificate $T/none.crt" -c "$T/none.crt" -k "$K"
start_fails "missing key file" 78 "cannot load the private key $T/none.key" -c "$C" -k "$T/none.key"
start_fails "certificate file that is no certificate" 78 "cannot load the certificate $T/junk.crt" -c "$T/junk.crt" -k "$K"
start_fails "encrypted key (PKCS#8)" 78 "cannot load the private key $PKI/enc-pkcs8.key: it is encrypted" -c "$C" -k "$PKI/enc-pkcs8.key"
start_fails "encrypted key (traditional PEM)" 78 "cannot load the private key $PKI/enc-trad.key: it is encrypted" -c "$C" -k "$PKI/enc-trad.key"
start_fails "missing --tls-ca file" 78 "cannot load the CA certificates $T/none-ca.crt" -c "$C" -k "$K" --tls-ca "$T/none-ca.crt"
start_fails "--tls-ciphers that names no cipher" 78 "--tls-ciphers: no TLS 1.2 cipher is called 'NO-SUCH-CIPHER'" -c "$C" -k "$K" --tls-ciphers NO-SUCH-CIPHER
start_fails "--tls-ciphers with an unknown name among good ones" 78 "--tls-ciphers: no TLS 1.2 cipher is called 'NOPE'" -c "$C" -k "$K" --tls-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:NOPE
start_fails "--tls-ciphers with a TLS 1.3 suite" 78 "--tls-ciphers: 'TLS_AES_128_GCM_SHA256' is a TLS 1.3 suite: give it with --tls-ciphersuites" -c "$C" -k "$K" --tls-ciphers ECDHE-ECDSA-AES128-GCM-SHA256:TLS_AES_128_GCM_SHA256
start_fails "--tls-ciphersuites with a TLS 1.2 cipher" 78 "--tls-ciphersuites: 'ECDHE-ECDSA-AES128-GCM-SHA256' is not a TLS 1.3 cipher suite (TLS 1.2 ciphers go in --tls-ciphers)" -c "$C" -k "$K" --tls-ciphersuites TLS_AES_128_GCM_SHA256:ECDHE-ECDSA-AES128-GCM-SHA256
start_fails "--tls-ciphersuites with an unknown name" 78 "--tls-ciphersuites: 'TLS_NOPE' is not a TLS 1.3 cipher suite" -c "$C" -k "$K" --tls-ciphersuites TLS_NOPE
start_fails "--tls-groups with an unknown group" 78 "--tls-groups: unknown or unusable group in 'X25519:NOPE'" -c "$C" -k "$K" --tls-groups X25519:NOPE
start_fails "missing --tls-ocsp file" 78 "cannot read the OCSP response $T/none.der" -c "$C" -k "$K" --tls-ocsp "$T/none.der"
start_fails "--tls-ocsp file that is no OCSP response" 78 "OCSP response $T/junk.crt refused: not a DER OCSP response" -c "$C" -k "$K" --tls-ocsp "$T/junk.crt"

start_fails "--tls-cert without --tls-key" 64 "--tls-cert and --tls-key go together" -c "$C"
start_fails "--tls-min 1.1" 64 "invalid argument for --tls-min: '1.1'" -c "$C" -k "$K" --tls-min 1.1
start_fails "--tls-ca without a certificate" 64 "--tls-ca and --tls-ciphers need --tls-cert" --tls-ca "$PKI/ca.crt"
start_fails "--tls-ocsp without a certificate" 64 "need --tls-cert" --tls-ocsp "$T/none.der"
start_fails "--tls-max-handshakes 0" 64 "invalid argument for --tls-max-handshakes: '0'" -c "$C" -k "$K" --tls-max-handshakes 0
start_fails "--tls-handshake-timeout 0" 64 "invalid argument for --tls-handshake-timeout: '0'" -c "$C" -k "$K" --tls-handshake-timeout 0

# S_start with bad material returns -1 (and says why), never prompts.
low_fails() {
	local what=$1 msg=$2 port rc tty
	shift 2
	port=$(free_port)
	"$TLSC" pty "$WAIT" "$TSRV_LOW" "$port" "$@" 1 >"$T/pty.out" 2>"$T/pty.err"
	rc=$?
	tty=$(grep '^TTY:' "$T/pty.out")
	ck "S_start, $what: returns -1 (exit $rc)" '[[ $rc == 1 ]] && grep -qx "S_START_RETURNED -1" "$T/pty.out"'
	ck "S_start, $what: says \"$msg\", no prompt" 'grep -qF -- "$msg" "$T/pty.err" && [[ -z $tty ]]'
	ck "S_start, $what: nothing listens on the port" '! listening "$port"'
	[[ $rc == 1 && -z $tty ]] || sed 's/^/#   /' "$T/pty.out" "$T/pty.err"
}
low_fails "encrypted key" "it is encrypted" "$C" "$PKI/enc-pkcs8.key"
low_fails "mismatched key" "does not match" "$C" "$PKI/server2.key"
low_fails "missing certificate" "cannot load the certificate" "$T/none.crt" "$K"

# The harness itself sees a prompt: openssl asked for a passphrase on the
# terminal (the same setup as above) is caught, and killed at the limit.
"$TLSC" pty 2 openssl pkey -in "$PKI/enc-pkcs8.key" -noout >"$T/pty.out" 2>&1
rc=$?
ck "the terminal harness catches a passphrase prompt (openssl pkey: exit $rc)" \
	'[[ $rc == 124 ]] && grep -q "^TTY: .*pass phrase" "$T/pty.out"'

t_finish
