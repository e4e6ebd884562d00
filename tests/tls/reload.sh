#!/bin/bash
# tests/tls/reload.sh - SIGHUP re-reads the certificate and key (as root,
# in the supervisor: the key file is root's, mode 0600) and a fresh
# serving process serves new connections with them, while an established
# TLS session stays with the old process and keeps echoing; a broken or
# encrypted new file is logged and the certificate in use is kept, without
# a prompt (the server's controlling terminal is a pseudo-terminal that
# would show one).  With the default serv_on_drain, a reload ends the
# established sessions in order (close_notify), without dropping them.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
t_setup

LC=$PKI/live.crt LK=$PKI/live.key
FPA=$(fingerprint "$PKI/server.crt")
FPB=$(fingerprint "$PKI/server2.crt")

# install NAME: make the live files those of NAME (server or server2).
install() {
	cp "$PKI/$1.crt" "$LC.new" && cp "$PKI/$1.key" "$LK.new" && chmod 600 "$LK.new" &&
		mv -f "$LC.new" "$LC" && mv -f "$LK.new" "$LK"
}

# served_fp: the fingerprint a new session sees; served_pid: its process.
served_fp() { field "$(tls "$R_PORT" </dev/null)" sha256; }
served_pid() { field "$(printf 'PID\n' | tls "$R_PORT")" pid; }
fp_is() { [[ $(served_fp) == "$1" ]]; }
# served_cert: subject and fingerprint seen by openssl s_client.
served_cert() {
	timeout "$WAIT" openssl s_client -connect "127.0.0.1:$R_PORT" -servername localhost \
		</dev/null 2>/dev/null | openssl x509 -noout -subject -fingerprint -sha256
}
# serving_started N: the N-th serving process has said it serves.
serving_started() { (($(count_in "$T/R.err" "serving on") >= $1)); }
# hup: SIGHUP to the supervisor, then wait for the next serving process.
generation=1
hup() {
	generation=$((generation + 1))
	kill -HUP "$SUP"
	wait_for 10 serving_started "$generation"
}

install server
must "t-tsrv starts under a terminal, --keep-on-drain" \
	'srv_start R "$TLSC" pty --pid-file "$T/R.sup" "$((120 * SCALE))" "$TSRV" -x -i 127.0.0.1 -p @PORT@ -n 2 \
		-c "$LC" -k "$LK" --keep-on-drain --drain-timeout "$((30 * SCALE))"'
SUP=$(<"$T/R.sup")
must "it serves" 'wait_for 10 serving_started 1'
if (($(id -u) == 0)); then
	ck "the live key file is root's, mode 0600" '[[ $(stat -c %a:%u "$LK") == 600:0 ]]'
fi

must "a TLS 1.3 session is established and held" 'hold_open "$R_PORT" --tls 1.3'
ck "the held session got certificate A" '[[ $(field "$HOLD_CONNECTED" sha256) == "$FPA" ]]'
pid1=$(field "$(hold PID)" pid)
sc=$(served_cert)
ck "openssl s_client sees certificate A (OU = first)" 'has "$sc" "OU = first" && has "$sc" "=$FPA"'

# ---- a good new certificate (and key of another type)
install server2
must "after SIGHUP a fresh serving process starts" hup
ck "the supervisor re-read them" 'err_has R "TLS certificate and key reloaded"'
ck "new sessions get certificate B" 'wait_for 10 fp_is "$FPB"'
sc=$(served_cert)
ck "openssl s_client sees certificate B (OU = second)" 'has "$sc" "OU = second" && has "$sc" "=$FPB"'
pid2=$(served_pid)
ck "new sessions are served by a new process ($pid2, was $pid1)" '[[ -n $pid2 && $pid2 != "$pid1" ]]'
ck "the old process was asked to drain the held session (serv_on_drain)" \
	'wait_for 10 out_has R "pid=$pid1 keep=1"'
for i in 1 2 3; do
	ck "the held session keeps echoing ($i)" '[[ $(hold "still-$i") == "still-$i" ]]'
done
ck "the held session is still served by the old process" '[[ $(field "$(hold PID)" pid) == "$pid1" ]]'
r=$(hold "!echo 1000000 7")
ck "the held session moves 1 MB both ways" 'has "$r" "ECHO-OK n=1000000 "'
has "$r" ECHO-OK || say "$r"

# ---- a broken certificate file: logged, B kept
printf 'not a certificate\n' >"$LC"
must "after SIGHUP with a broken certificate file, a fresh serving process starts" hup
ck "the failure is logged, the certificate in use kept" \
	'err_has R "cannot load the certificate $LC" && err_has R "TLS reload failed: keeping the certificate in use"'
pid3=$(served_pid)
ck "new sessions are served by the new process ($pid3), with certificate B still" \
	'[[ -n $pid3 && $pid3 != "$pid2" && $(served_fp) == "$FPB" ]]'

# ---- an encrypted key: logged, B kept, no prompt
cp "$PKI/server.crt" "$LC" && cp "$PKI/enc-pkcs8.key" "$LK"
must "after SIGHUP with an encrypted key, a fresh serving process starts" hup
ck "the encrypted key is refused with a clear message" \
	'err_has R "cannot load the private key $LK: it is encrypted" && [[ $(count_in "$T/R.err" "TLS reload failed") == 2 ]]'
ck "new sessions still get certificate B" '[[ $(served_fp) == "$FPB" ]]'
ck "no passphrase prompt on the terminal" '! grep -q "^TTY:" "$T/R.out"'

# ---- back to A
install server
must "after SIGHUP with certificate A again, a fresh serving process starts" hup
ck "new sessions get certificate A" 'wait_for 10 fp_is "$FPA"'
ck "the held session still echoes, in the first process" \
	'[[ $(hold "still-4") == still-4 && $(field "$(hold PID)" pid) == "$pid1" ]]'
ck "the held session ends in order: BYE" '[[ $(hold CLOSE) == BYE ]]'
ck "... then close_notify" '[[ $(hold "!eof") == "EOF close_notify" ]]'
hold_close
ck "the first serving process exits once its session is over" 'wait_for 10 gone "$pid1"'
ck "the replaced serving processes are gone" 'gone "$pid2" && gone "$pid3"'
srv_finish R
ck "nothing was written to the terminal" '! grep -q "^TTY:" "$T/R.out"'

# ---- the default serv_on_drain closes established sessions in order
install server
must "t-tsrv starts (default serv_on_drain)" 'ioc D -c "$LC" -k "$LK"'
must "a session is established and held" 'hold_open "$D_PORT"'
ck "it echoes" '[[ $(hold before) == before ]]'
D_SUP=$D_PID
install server2
kill -HUP "$D_SUP"
ck "SIGHUP: the held session is closed in order (close_notify), not dropped" \
	'[[ $(hold "!eof") == "EOF close_notify" ]]'
hold_close
ck "new sessions get certificate B" 'R_PORT=$D_PORT wait_for 10 fp_is "$FPB"'
srv_finish D

t_finish
