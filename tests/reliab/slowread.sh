#!/bin/bash
# tests/reliab/slowread.sh - slow readers: clients that ask for large
# replies and never read cannot make the server buffer without bound.
# Each session's queued output is capped by the back-pressure marks plus
# one call's data, so the serving process's RSS stays under
#     start RSS + N * (HSVR_HIGH_MARK + 2 * 64 KiB)
# (the server's S_send calls carry 64 KiB); with --write-timeout SEC a
# session whose output made no progress for SEC seconds is closed without
# flushing.  A well-behaved client is measured meanwhile.  (In the
# sanitizer builds the per-session part is multiplied: by 2 under
# AddressSanitizer, by 8 under ThreadSanitizer, for their shadow memory.)
. "$(dirname "$0")/lib.sh"

t_setup
N=100 GET=$((32 << 20)) WT=2 PTMO=10
if ((STRESS)); then
	# A thousand bursts of 3 to 4 MB (socket buffer and queue) at once:
	# the prober may wait several seconds behind them.
	N=1000 GET=$((256 << 20)) PTMO=30
elif ((SANITIZED)); then
	N=40
fi
HIGH_KB=1024 PIECE_KB=64
# Sanitizers add shadow memory (ThreadSanitizer several times the data),
# redzones and a quarantine of freed blocks.
case $SANITIZER in address) SAN=2 ;; thread) SAN=8 ;; *) SAN=1 ;; esac
bound_kb() { echo $(($1 + SAN * N * (HIGH_KB + 2 * PIECE_KB))); }
# The clients and the watcher stop; the well-behaved client (its PROBE
# line in $probe) must have been answered every time.
clients_stop() {
	bg_stop probe
	bg_stop noread
	watch_stop w
	probe=$(bg_line probe PROBE)
	say "$probe"
	ck "the well-behaved client was answered every time meanwhile" \
		'[[ -n $probe && $(field "$probe" failed) == 0 ]]'
}

# ---- without --write-timeout: the marks alone bound the memory
must "server is serving" 'rsrv_start srv -m $((N + 100))'
rss0=$(rss_kb "$srv_SPID")
watch_start w "$srv_SPID"
bg probe "$RLOAD" probe -p "$srv_PORT" -a ::1 --duration 3600 --fresh 10 --timeout "$PTMO"
bg noread "$RLOAD" flood -p "$srv_PORT" -n "$N" --mode noread --get "$GET" --rcvbuf 4096
must "$N non-reading clients connected, each asking for $((GET >> 20)) MiB" \
	'wait_for 60 bg_has noread READY'
ck "every one of them has met S_send -4: the server stopped queueing" \
	'wait_for 30 stat_ge srv app_send_cong "$N"'
# Give the server time to do anything worse, still serving the probe.
sleep 2
st=$(stats srv)
ck "nothing closed them without --write-timeout (session_gauge $(field "$st" session_gauge))" \
	'(($(field "$st" session_gauge) >= N + 1))'
rss=$(rss_kb "$srv_SPID") hwm=$(hwm_kb "$srv_SPID")
bound=$(bound_kb "$rss0")
say "$st"
say "RSS $rss kB, peak $hwm kB, started at $rss0 kB; bound $bound kB for $N sessions"
ck "peak RSS $hwm kB <= $bound kB" '((hwm <= bound))'
ck "the queued output is what the marks allow: $(($(field "$st" txoctet) >> 20)) MiB written of $((N * GET >> 20)) asked" \
	'(($(field "$st" txoctet) < N * GET / 4))'
clients_stop
ck "every session gone after the clients left" 'wait_for 10 gauge_back srv 0'
rsrv_finish srv
figures slow-readers \
	"conns=$N" \
	"requests=$(($(n "$probe" requests) + N))" \
	"bytes=$(n "$st" txoctet)" \
	"faults=non-reading:$N,asked:$((GET >> 20))MiB-each" \
	"bad=-" \
	"lost=0" \
	"rss_bound_kb=$bound" \
	"rss_kb=$hwm" \
	"fds=$(n "$WATCH" peak_fds)" \
	"p99_ms=$(n "$probe" p99_ms)" \
	"result=$( ((t_failed)) && echo FAIL || echo pass)"
fails=$t_failed

# ---- with --write-timeout: the stalled sessions are closed
must "server is serving (--write-timeout $WT)" 'rsrv_start wt -m $((N + 100)) --write-timeout $WT'
rss0=$(rss_kb "$wt_SPID")
fd0=$(fds_base "$wt_SPID")
watch_start w "$wt_SPID"
bg probe "$RLOAD" probe -p "$wt_PORT" -a ::1 --duration 3600 --fresh 10 --timeout "$PTMO"
t0=$(now_cs)
bg noread "$RLOAD" flood -p "$wt_PORT" -n "$N" --mode noread --get "$GET" --rcvbuf 4096
must "$N non-reading clients connected" 'wait_for 60 bg_has noread READY'
ck "all $N stalled sessions closed by the write timeout" 'wait_for $((WT + 15 + N / 20)) stat_ge wt write_timeout "$N"'
secs=$(($(now_cs) - t0))
st=$(stats wt)
say "$st"
ck "not one before $WT s (after $secs cs)" '((secs >= WT * 100))'
ck "exactly $N write timeouts, the well-behaved client's session not among them" \
	'[[ $(field "$st" write_timeout) == "$N" ]]'
ck "their output was discarded and counted (discarded_octet > 0)" '(($(field "$st" discarded_octet) > 0))'
ck "every stalled session gone (session_gauge back to 1: the probe)" 'wait_for 10 gauge_back wt 1'
hwm=$(hwm_kb "$wt_SPID")
bound=$(bound_kb "$rss0")
ck "peak RSS $hwm kB <= $bound kB" '((hwm <= bound))'
clients_stop
ck "descriptors back to $fd0" 'wait_for 10 fds_are "$wt_SPID" "$fd0"'
rsrv_finish wt
figures write-timeout \
	"conns=$N" \
	"requests=$(($(n "$probe" requests) + N))" \
	"bytes=$(n "$st" txoctet)" \
	"faults=non-reading:$N,write-timeout:${WT}s" \
	"bad=-" \
	"lost=0" \
	"closed=$(n "$st" write_timeout)" \
	"rss_kb=$hwm" \
	"fds=$(n "$WATCH" peak_fds)" \
	"p99_ms=$(n "$probe" p99_ms)" \
	"result=$( ((t_failed > fails)) && echo FAIL || echo pass)"
