#!/bin/bash
# tests/hproxy.sh - hsvr-proxy (examples/proxy.c) between real clients and real backends: bytes intact both ways under back-pressure with bounded memory, failing backends, 1000 short connections, TLS on either side, round-robin and health checks, PROXY v2.
#
# The backends and clients are t-hproxy-peer (tests/hproxy-peer.c, the
# byte pattern of pattern.h), hsvr-echo over TLS and t-srv-ioc with
# --proxy-protocol; every hsvr-proxy runs -x on 127.0.0.1 with 2 workers
# (1 where the order of backends is checked):
#  (a) 100 MB client -> backend to a backend that reads slowly, and
#      100 MB backend -> client to a client that reads slowly: every byte
#      in order, the end seen; the proxy's peak resident memory (VmHWM of
#      supervisor + serving process) grows by less than RSS_GROWTH_MB;
#  half-close: a client that ends its sending side still gets the
#      backend's answer; a backend that ends its side still gets what the
#      client sends after;
#  SIGTERM during a slow 8 MB transfer: the proxy waits for it to end
#      (every byte and the end reach the client), then exits 0;
#  (b) a backend that refuses (a closed port), one that resets each
#      connection (SO_LINGER 0) and one that never reads (-T 2): the
#      client is closed, each time, and the proxy still serves; one that
#      never answers a connect (--connect-timeout): what the client sent
#      meanwhile, and its end, go to the next backend;
#  (c) 1000 connections, 10 at a time, each a PING answered;
#  (d) TLS termination (-c/-k, openssl s_client and t-tlsc); TLS to the
#      backend (--backend-tls) verified against the test CA, refused
#      against another CA, accepted with --backend-noverify;
#  (e) two backends: served in turn; one down: found by the health check,
#      every client goes to the other, no client's connect failed
#      (proxy_backend_errors_total 0, --metrics), and once it is back the
#      turns resume;
#  --send-proxy: the backend (--proxy-protocol) sees the client's port;
#      health probes send a LOCAL header (proxy_error stays 0).
# Waits are polls with deadlines (tests/lib.sh), times scaled by SCALE.
#
# Shown to fail, each with one change to examples/proxy.c (not committed):
#  - forward() dropping what S_send refused (-4) instead of keeping it:
#    both 100 MB transfers fail (the sink waits for bytes that never come;
#    the client sees a bad byte at 5,962,240 and the end at 9,133,568);
#  - forward() keeping it without S_pause_read (HELD_MAX raised): bytes
#    intact, but the peak memory grows by 139 MB, not 2;
#  - no second try after a failed connect: the failover PING is not
#    answered (EOF);
#  - forward() sending to a backend not connected yet (queued on the
#    session of the connect that fails): the line is lost, the client
#    gets "EOF" instead of "PONG g";
#  - end_direction() shutting a backend down before it is connected, as
#    it did when the client was not read until then: the end is lost
#    with the failed connect (the client's "end" gets none: it gives up
#    after HPROXY_LIMIT);
#  - the PROXY header's source port off by one: the backend's session is
#    not the client's port;
#  - health() probing nothing: D is never found down nor up again, the
#    probes never reach the --send-proxy backend;
#  - serv_on_drain() closing every session, as it did: the transfer under
#    way at SIGTERM is cut (the client gets a part, then the end);
#  - no S_halfclose: the client that ends its side gets no answer, and
#    what it sends after the backend's end never arrives.
# (side_ended()'s wait for what is held is not caught: a side that is
# paused does not read its peer's end, so it rarely ends holding data.)
# shellcheck source=tls/lib.sh
. "$(dirname "$0")/tls/lib.sh"

t_setup
t_timed=1
# --backend-ca files stay in the private $PKI: hsvr-proxy loads them at
# start-up, as the user that starts it, before the privilege drop.
PEER=$t_builddir/tests/t-hproxy-peer
PROXY=$t_builddir/examples/hsvr-proxy
ECHO=$t_builddir/examples/hsvr-echo
IOC=$t_builddir/tests/t-srv-ioc
lib_direct PROXY ECHO IOC
BIG=$((100 * 1000 * 1000))
RSS_GROWTH_MB=${RSS_GROWTH_MB:-48}
export HPROXY_LIMIT=$((120 * SCALE))
# Freed memory stays in ASan's quarantine (256 MB by default): keep it
# small, so that the memory check measures what the proxy holds.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8

# peer NAME MODE [ARG...]: a t-hproxy-peer backend; sets NAME_PORT, NAME_PID.
peer() {
	local name=$1 mode=$2 pf
	shift 2
	pf=$T/$name.port
	rm -f "$pf"
	"$PEER" "$mode" "$pf" "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
	printf -v "${name}_PID" %s "$!"
	t_servers+=("$name")
	wait_for 10 test -s "$pf" || return 1
	printf -v "${name}_PORT" %s "$(cat "$pf")"
}

# proxy NAME THREADS ARG...: hsvr-proxy -x on a fresh port of 127.0.0.1.
proxy() {
	local name=$1 n=$2
	shift 2
	srv_start "$name" "$PROXY" -x -i 127.0.0.1 -p @PORT@ -n "$n" \
		--pidfile "$T/$name.pid" --drain-timeout "$((5 * SCALE))" "$@"
}

# client ARG...: t-hproxy-peer as a client; its output line.
client() { "$PEER" "$@" 2>>"$T/clients.err"; }

# hwm_kb PID: VmHWM (peak resident) summed over PID and its descendants.
hwm_kb() {
	local p sum=0 v
	for p in "$1" $(descendants "$1"); do
		v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}
rss_kb() {
	local p sum=0 v
	for p in "$1" $(descendants "$1"); do
		v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

# who PORT: the name of the backend a new connection through PORT reaches.
who() { client line "$1" WHO | awk '{ print $1 }'; }

# Bad command lines: one line, exit 64.
for bad in "--to 127.0.0.1" "--to ::1:80" "--to [::1]" "--to 127.0.0.1:0" "--to h:65536" \
	"--health-interval -1" "--to 127.0.0.1:1 --backend-noverify" ""; do
	# shellcheck disable=SC2086 # the options above, split
	err=$("$PROXY" -x -i 127.0.0.1 -p "$(free_port)" --pidfile "$T/bad.pid" $bad 2>&1 </dev/null)
	rc=$?
	ck "hsvr-proxy ${bad:-without --to}: exit 64 ($rc), one line ($(head -n 1 <<<"$err"))" \
		'((rc == 64)) && [[ -n $err ]]'
done

must "backend A" peer A serve A
must "backend B" peer B serve B

# ---- (a) 100 MB each way, slow receivers, bounded memory
must "hsvr-proxy to A" proxy big 2 --to "127.0.0.1:$A_PORT"
before=$(rss_kb "$big_PID")
r=$(client send "$big_PORT" "$BIG" 2000)
ck "client -> backend: $BIG bytes intact to a backend reading slowly ($r)" \
	'[[ $r == *"SUNK $BIG bad=-1" ]]'
r=$(client recv "$big_PORT" "$BIG" 2000)
ck "backend -> client: $BIG bytes intact to a client reading slowly, then the end ($r)" \
	'[[ $r == "received $BIG of $BIG bytes"*"first bad byte -1, then the end" ]]'
peak=$(hwm_kb "$big_PID")
say "hsvr-proxy resident memory: $((before / 1024)) MB before, peak $((peak / 1024)) MB ($peak kB, supervisor + serving process)"
ck "its peak resident memory grew by less than $RSS_GROWTH_MB MB ($(((peak - before) / 1024)) MB)" \
	'((peak - before < RSS_GROWTH_MB * 1024))'

# ---- half-close: one direction ends, the other goes on
r=$(client halfsend "$big_PORT" 1000000)
ck "the client ends its side after 1 MB: the backend's answer still comes ($r)" \
	'[[ $r == *"SUNK 1000000 bad=-1" ]]'
r=$(client halfrecv "$big_PORT" 1000000)
ck "the backend ends its side after 1 MB: all of it and the end reach the client ($r)" \
	'[[ $r == "received 1000000 of 1000000 bytes"*"then the end" ]]'
ck "... and what the client sends after that reaches the backend" \
	'wait_for 10 out_has A "AFTER-END THANKS"'

# ---- graceful stop (SIGTERM): a transfer under way goes on to its end
# receiving_from PORT: a connection to PORT has received bytes and is
# still established: the client's to the proxy, which lasts as long as its
# transfer.  (The proxy's to A may end as soon as A has sent everything
# into the proxy's buffers: a check on it once saw no connection for 27 s,
# and SIGTERM came after the end.)  The client takes 64 KB every 20 ms:
# 8 MB in 2.5 s at least.
receiving_from() {
	ss -Htni state established "( dport = :$1 )" | grep -q 'bytes_received:[1-9]'
}
must "hsvr-proxy to A (drain)" proxy drain 2 --to "127.0.0.1:$A_PORT"
client recv "$drain_PORT" 8000000 20000 >"$T/drain.client" &
dpid=$!
ck "drain: the client's transfer from A is under way" 'wait_for 10 receiving_from "$drain_PORT"'
srv_finish drain
wait "$dpid"
r=$(cat "$T/drain.client")
ck "SIGTERM in the middle of an 8 MB transfer to a slow client: all of it and the end reach it ($r)" \
	'[[ $r == "received 8000000 of 8000000 bytes"*"then the end" ]]'
ck "... the proxy waited for it: \"$(grep -o 'draining [0-9]* connection[^(]*' "$T/drain.err")\"" \
	'err_has drain "draining 1 connection"'

# ---- (c) 1000 short connections
r=$(client pings "$big_PORT" 1000 10)
ck "1000 connections, 10 at a time, each PING answered ($r)" '[[ $r == "ok=1000 failed=0 "* ]]'

# ---- (b) backends that fail
CLOSED=$(free_port)
must "hsvr-proxy to a closed port" proxy refused 2 --to "127.0.0.1:$CLOSED" --health-interval 0
r=$(client line "$refused_PORT" "PING x")
ck "refused: the client is closed ($r)" '[[ $r == EOF* || $r == RESET* ]]'
r=$(client line "$refused_PORT" "PING y")
ck "refused again: closed again, the proxy serves on ($r)" '[[ $r == EOF* || $r == RESET* ]]'
ck "refused: one line says the backend is down and why" \
	'(($(count_in "$T/refused.err" "port $CLOSED down: ") == 1))'
ck "refused: a line says a client was closed for want of a backend" \
	'err_has refused "no backend up: client 127.0.0.1"'

must "backend that resets" peer R reset
must "hsvr-proxy to it" proxy reset 2 --to "127.0.0.1:$R_PORT" --health-interval 0
r=$(client line "$reset_PORT" "PING x")
ck "reset: the client is closed ($r)" '[[ $r == EOF* || $r == RESET* ]]'
r=$(client line "$reset_PORT" "PING y")
ck "reset again: closed again ($r)" '[[ $r == EOF* || $r == RESET* ]]'

must "backend that never reads" peer S stall
must "hsvr-proxy to it, -T 2" proxy stall 2 --to "127.0.0.1:$S_PORT" -T 2
t0=$(now_cs)
r=$(client line "$stall_PORT" "PING x")
t1=$(now_cs)
ck "stall: the client is closed after the idle timeout, $(((t1 - t0) * 10)) ms ($r)" \
	'[[ $r == EOF* ]] && ((t1 - t0 >= 150))'

# The same proxies still serve: one to a dead and a live backend.
must "hsvr-proxy to the closed port and A" proxy failover 1 --to "127.0.0.1:$CLOSED" \
	--to "127.0.0.1:$A_PORT" --health-interval 0
r=$(client line "$failover_PORT" "PING f")
ck "a failed connect is retried on the next backend: PING answered ($r)" '[[ $r == "PONG f "* ]]'
# A backend that never answers a connect, then A: what a client sends
# comes long before any backend is connected; it is held, and goes to A
# once the first connect times out.  Each proxy's first client meets the
# full backend (it is marked down after that, and skipped).
must "backend whose queue is full" peer F full
# (-T 600: no idle timeout closes the client in the meantime.)
for s in slowfail slowend; do
	must "hsvr-proxy ($s) to it and A, --connect-timeout 1" proxy "$s" 1 \
		--to "127.0.0.1:$F_PORT" --to "127.0.0.1:$A_PORT" --health-interval 0 \
		--connect-timeout 1 -T 600
done
t0=$(now_cs)
r=$(client lineend "$slowfail_PORT" "PING g")
t1=$(now_cs)
ck "a client's line and end, sent before any backend connected, reach the next one after the connect timeout ($r, $(((t1 - t0) * 10)) ms)" \
	'[[ $r == "PONG g "*" then the end" ]] && ((t1 - t0 >= 90))'
ck "... and the proxy said why the first backend is down" \
	'err_has slowfail "port $F_PORT down: timed out"'
# The end alone: it reaches A, which closes, and so the client sees the end.
t0=$(now_cs)
r=$(client end "$slowend_PORT")
t1=$(now_cs)
ck "a client's end alone, before any backend connected, reaches the next one ($r, $(((t1 - t0) * 10)) ms)" \
	'[[ $r == "the end "* ]] && ((t1 - t0 < 1000 * SCALE)) &&
	err_has slowend "port $F_PORT down: timed out"'

# ---- (d) TLS
must "hsvr-proxy with -c/-k" proxy tls 2 --to "127.0.0.1:$A_PORT" \
	-c "$PKI/server.crt" -k "$PKI/server.key"
r=$(tls "$tls_PORT" <<<"PING t")
ck "TLS termination: t-tlsc's PING answered through it ($(tr '\n' ' ' <<<"$r"))" \
	'has "$r" CONNECTED && has "$r" "PONG t"'
# s_client ends at the end of its input (-no_ign_eof), once A answered.
{
	printf 'WHO\n'
	wait_for 10 test -s "$T/scl.out"
} | timeout "$WAIT" openssl s_client -quiet -no_ign_eof -connect "127.0.0.1:$tls_PORT" \
	-CAfile "$PKI/ca.crt" -verify_return_error >"$T/scl.out" 2>>"$T/clients.err"
r=$(head -n 1 "$T/scl.out")
ck "TLS termination: openssl s_client verifies it and reaches A ($r)" '[[ $r == A ]]'

must "hsvr-echo over TLS" srv_start techo "$ECHO" -x -i 127.0.0.1 -p @PORT@ -n 1 \
	--pidfile "$T/techo.pid" -c "$PKI/server.crt" -k "$PKI/server.key"
must "hsvr-proxy --backend-tls, the test CA" proxy btls 2 --to "127.0.0.1:$techo_PORT" \
	--backend-tls --backend-ca "$PKI/ca.crt"
r=$(client line "$btls_PORT" "PING b")
ck "--backend-tls: the TLS echo answers through it ($r)" '[[ $r == "!ING b "* ]]'
must "hsvr-proxy --backend-tls, another CA" proxy bbad 2 --to "127.0.0.1:$techo_PORT" \
	--backend-tls --backend-ca "$PKI/other-ca.crt" --health-interval 0
r=$(client line "$bbad_PORT" "PING b")
ck "--backend-tls with another CA: the client is closed ($r)" '[[ $r == EOF* || $r == RESET* ]]'
ck "... and the log says the certificate failed" 'grep -qi "down: .*certificate" "$T/bbad.err"'
must "hsvr-proxy --backend-noverify, another CA" proxy bnov 2 --to "127.0.0.1:$techo_PORT" \
	--backend-tls --backend-noverify --backend-ca "$PKI/other-ca.crt"
r=$(client line "$bnov_PORT" "PING n")
ck "--backend-noverify: answered ($r)" '[[ $r == "!ING n "* ]]'

# An IPv6 backend, [V6]:PORT: hsvr-echo on every address.
must "hsvr-echo on every address" srv_start echo6 "$ECHO" -x -p @PORT@ -n 1 --pidfile "$T/echo6.pid"
must "hsvr-proxy --to [::1]:PORT" proxy v6 1 --to "[::1]:$echo6_PORT"
r=$(client line "$v6_PORT" "PING 6")
ck "a backend at [::1]: answered ($r)" '[[ $r == "!ING 6 "* ]]'

# ---- (e) round-robin and health
must "hsvr-proxy -n 1 to A and B" proxy rr 1 --to "127.0.0.1:$A_PORT" --to "127.0.0.1:$B_PORT"
seq=$(for i in 1 2 3 4; do who "$rr_PORT"; done | tr -d '\n')
ck "two backends in turn ($seq)" '[[ $seq == ABAB || $seq == BABA ]]'

D_PORT=$(free_port)
MPORT=$(free_port)
must "hsvr-proxy -n 1 to A and a dead D, probes every second" proxy hc 1 \
	--to "127.0.0.1:$A_PORT" --to "127.0.0.1:$D_PORT" --health-interval 1 \
	--metrics "127.0.0.1:$MPORT"
ck "the health check finds D down" 'wait_for 10 err_has hc "port $D_PORT down: "'
seq=$(for i in 1 2 3 4; do who "$hc_PORT"; done | tr -d '\n')
ck "with D down, every client goes to A ($seq)" '[[ $seq == AAAA ]]'
m=$(curl -s --max-time "$WAIT" "http://127.0.0.1:$MPORT/metrics")
ck "no client's connect failed: proxy_backend_errors_total 0, 4 connections, 1 backend up" \
	'has_line "$m" "proxy_backend_errors_total 0" && has_line "$m" "proxy_connections_total 4" && has_line "$m" "proxy_backends_up 1"'
ck "S_stats counts the probes' failures (hsvr_outbound_errors)" 'grep -q "^hsvr_outbound.*error.* [1-9]" <<<"$m"'
must "backend D comes up" peer D serve D "$D_PORT"
ck "the health check finds D up" 'wait_for 10 err_has hc "port $D_PORT up"'
seq=$(for i in 1 2 3 4; do who "$hc_PORT"; done | tr -d '\n')
ck "with D back, they take turns again ($seq)" '[[ $seq == ADAD || $seq == DADA ]]'

# ---- --send-proxy
must "t-srv-ioc --proxy-protocol" srv_start pp "$IOC" -x -i 127.0.0.1 -p @PORT@ -n 2 \
	--pidfile "$T/pp.pid" --proxy-protocol
must "hsvr-proxy --send-proxy" proxy sp 2 --to "127.0.0.1:$pp_PORT" --send-proxy --health-interval 1
r=$(client line "$sp_PORT" "PING v2")
lport=$(field "$r" port)
ck "--send-proxy: PING answered ($r)" '[[ $r == "PONG v2 "* ]]'
ck "the backend's session is the client's address and port $lport" \
	'grep -q "^ACCEPT .* host=127\.0\.0\.1 port=$lport " "$T/pp.out"'
# Two probes after the client (one a second).
probes_seen() { (($(grep -c "^ACCEPT .* host=127\.0\.0\.1 " "$T/pp.out") >= 3)); }
ck "the health probes reach the backend" 'wait_for 10 probes_seen'
r=$(client line "$sp_PORT" STATS)
ck "health probes (LOCAL headers) are no proxy_error ($r)" 'has "$r" " proxy_error=0"'

for s in big refused reset stall failover slowfail slowend tls btls bbad bnov v6 rr hc sp techo pp echo6; do
	srv_finish "$s"
done
t_finish
