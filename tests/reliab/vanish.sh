#!/bin/bash
# tests/reliab/vanish.sh - peers that vanish: resets in the middle of a
# download and of an upload, half-closed clients that must still get their
# whole reply, TLS handshakes abandoned in every way, over plain TCP and
# TLS, while a well-behaved client is served; no SIGPIPE, no crash, every
# accepted session gets exactly one TYP_TERM, no descriptor is left behind.
. "$(dirname "$0")/lib.sh"

t_setup
K=20 HALF=10 ABORT=20 SILENT=2 BIG=$((16 << 20)) HALFX=50
if ((STRESS)); then
	K=400 HALF=200 ABORT=300 SILENT=6 HALFX=500
fi
((SANITIZED && !STRESS)) && K=10 HALF=5 ABORT=10

must "made a test certificate" 'make_cert "$T/pki"'
must "plain server is serving" 'rsrv_start plain -m 2000'
must "TLS server is serving" 'rsrv_start tls -m 2000 -c "$T/pki/cert.pem" -k "$T/pki/key.pem" --tls-handshake-timeout 1'
fd0_plain=$(fds_base "$plain_SPID") fd0_tls=$(fds_base "$tls_SPID")
watch_start wplain "$plain_SPID"
watch_start wtls "$tls_SPID"

# A well-behaved client on each, all along (from ::1: another address).
bg probe "$RLOAD" probe -p "$plain_PORT" -a ::1 --duration 3600 --fresh 10
bg tprobe "$RLOAD" probe -p "$tls_PORT" --tls --duration 3600 --fresh 10

# Plain TCP.  Downloads of 16 MiB read to 256 KiB, then reset; uploads
# reset after 4 KiB of a promised 10 MB; half-closed clients.
out=$("$RLOAD" rst -p "$plain_PORT" -n "$K" --get "$BIG" --after 262144 --rcvbuf 65536)
say "$out"
ck "reset downloads: $K done, every byte before the reset correct" \
	'[[ $(field "$out" done) == "$K" && $(field "$out" verified) == "$K" && $(field "$out" corrupt) == 0 ]]'
out=$("$RLOAD" rst -p "$plain_PORT" -n "$K" --put 10000000)
say "$out"
ck "reset uploads: $K done" '[[ $(field "$out" done) == "$K" ]]'
half=$("$RLOAD" half -p "$plain_PORT" -n "$HALF" --put 100000 --get 4000000)
say "$half"
ck "half-closed clients get their whole 4 MB reply, then the end" \
	'[[ $(field "$half" ok) == "$HALF" && $(field "$half" ended) == "$HALF" && $(field "$half" lost_bytes) == 0 && $(field "$half" corrupt) == 0 ]]'

# A half-closed session that another worker's session keeps sending to:
# once the sending stops, it has nothing more to send and must end.
halfx=$("$RLOAD" halfx -p "$plain_PORT" -n "$HALFX" --get 20000 --timeout 2)
say "$halfx"
ck "half-closed sessions sent to from another worker end once the sends stop" \
	'[[ $(field "$halfx" ended) == "$HALFX" && $(field "$halfx" stuck) == 0 && $(field "$halfx" lost_bytes) == 0 ]]'

# TLS.  The same, and handshakes abandoned: half a ClientHello then our
# end; a whole one and gone; a reset after the first byte of the answer;
# garbage instead of a handshake; silence until the handshake timeout.
tout=$("$RLOAD" rst -p "$tls_PORT" --tls -n "$K" --get "$BIG" --after 262144 --rcvbuf 65536)
say "$tout"
ck "TLS reset downloads: $K done, correct up to the reset" \
	'[[ $(field "$tout" done) == "$K" && $(field "$tout" verified) == "$K" && $(field "$tout" corrupt) == 0 ]]'
thalf=$("$RLOAD" half -p "$tls_PORT" --tls -n "$HALF" --put 100000 --get 4000000)
say "$thalf"
ck "TLS clients that sent close_notify still get their whole reply" \
	'[[ $(field "$thalf" ok) == "$HALF" && $(field "$thalf" ended) == "$HALF" && $(field "$thalf" lost_bytes) == 0 ]]'
aborted=0
for mode in partial close rst garbage; do
	out=$("$RLOAD" tlsabort -p "$tls_PORT" -n "$ABORT" --mode "$mode")
	say "$out"
	ck "TLS handshakes abandoned ($mode): $ABORT done" '[[ $(field "$out" done) == "$ABORT" ]]'
	aborted=$((aborted + ABORT))
done
ck "garbage instead of a ClientHello: the server hangs up" '[[ $(field "$out" server_closed) == "$ABORT" ]]'
out=$("$RLOAD" tlsabort -p "$tls_PORT" -n "$SILENT" --mode silent)
say "$out"
ck "silent TLS clients are cut by the handshake timeout (1 s)" \
	'[[ $(field "$out" server_closed) == "$SILENT" ]] && awk -v w="$(field "$out" waited_s)" -v n="$SILENT" -v s="$SCALE" "BEGIN { exit !(w < n * (1.5 + s)) }"'
aborted=$((aborted + SILENT))

bg_stop probe
bg_stop tprobe
probe=$(bg_line probe PROBE) tprobe=$(bg_line tprobe PROBE)
say "plain: $probe"
say "TLS:   $tprobe"
ck "the well-behaved clients were answered every time" \
	'[[ -n $probe && -n $tprobe && $(field "$probe" failed) == 0 && $(field "$tprobe" failed) == 0 && $(field "$probe" ok) -gt 0 ]]'

# Afterwards: nobody left, descriptors as before, the same process.
ck "plain: every session gone (session_gauge back to 0)" 'wait_for 10 gauge_back plain 0'
ck "TLS: every session gone (session_gauge back to 0)" 'wait_for 10 gauge_back tls 0'
st=$(stats plain) tst=$(stats tls)
say "plain: $st"
say "TLS:   $tst"
ck "plain: the output lost to resets is counted (discarded_octet > 0)" '(($(field "$st" discarded_octet) > 0))'
ck "TLS: every abandoned handshake counted (tls_handshake_error >= $aborted)" \
	'(($(field "$tst" tls_handshake_error) >= aborted))'
ck "plain: descriptors back to $fd0_plain" 'wait_for 5 fds_are "$plain_SPID" "$fd0_plain"'
ck "TLS: descriptors back to $fd0_tls" 'wait_for 5 fds_are "$tls_SPID" "$fd0_tls"'
ck "plain: no SIGPIPE or crash: still the first serving process" 'one_serving plain'
ck "TLS: no SIGPIPE or crash: still the first serving process" 'one_serving tls'
watch_stop wplain
wplain=$WATCH
watch_stop wtls
say "plain: $wplain"
say "TLS:   $WATCH"
rsrv_finish plain
rsrv_finish tls

figures vanish \
	"conns=$((2 * K + 2 * HALF + 2 * HALFX + 2 * K + aborted))" \
	"requests=$(($(n "$probe" requests) + $(n "$tprobe" requests)))" \
	"bytes=$(($(n "$st" txoctet) + $(n "$tst" txoctet)))" \
	"faults=rst-download:$((2 * K)),rst-upload:$K,half-close:$((2 * HALF + HALFX)),tls-abandoned:$aborted" \
	"bad=garbage-handshake:$ABORT,partial-hello:$ABORT" \
	"lost=$(($(n "$half" lost_bytes) + $(n "$thalf" lost_bytes) + $(n "$halfx" lost_bytes)))" \
	"stuck=$(n "$halfx" stuck)" \
	"probe_failed=$(($(n "$probe" failed) + $(n "$tprobe" failed)))" \
	"rss_kb=$(n "$wplain" peak_rss_kb)+$(n "$WATCH" peak_rss_kb)" \
	"fds=$(n "$wplain" peak_fds)+$(n "$WATCH" peak_fds)" \
	"p99_ms=$(n "$probe" p99_ms)/$(n "$tprobe" p99_ms)" \
	"result=$( ((t_failed)) && echo FAIL || echo pass)"
