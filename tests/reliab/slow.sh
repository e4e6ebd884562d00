#!/bin/bash
# tests/reliab/slow.sh - slow and idle clients: thousands of slowloris
# connections (a byte every 2 s) and garbage senders held while a
# well-behaved client is measured; one address flooding a server with
# --max-per-ip; a connect-and-say-nothing flood past the connection limit,
# reclaimed by the idle timeout.  The two limits are also shown missing
# (control runs): then the well-behaved client is locked out.
. "$(dirname "$0")/lib.sh"

t_setup
SLOW=2000 JUNK=200 PERIP=50 SILENT=600 LIMIT=300 SECS=3
if ((STRESS)); then
	SLOW=5000 JUNK=1000 SECS=60
elif ((SANITIZED)); then
	SLOW=500 JUNK=50
fi
flood_ready() { bg_has "$1" READY; }

# ---- slowloris and garbage, held; a well-behaved client from ::1
must "server is serving (-m $((SLOW + JUNK + 100)))" 'rsrv_start slow -m $((SLOW + JUNK + 100))'
watch_start w "$slow_SPID"
bg loris "$RLOAD" flood -p "$slow_PORT" -n "$SLOW" --mode slow --interval 2
bg junk "$RLOAD" flood -p "$slow_PORT" -n "$JUNK" --mode garbage
must "$SLOW slow connections and $JUNK garbage senders are connected" \
	'wait_for 60 flood_ready loris && wait_for 30 flood_ready junk'
say "$(bg_line loris READY)"
out=$("$RLOAD" probe -p "$slow_PORT" -a ::1 --duration "$SECS" --fresh 10)
say "$out"
st=$(stats slow)
bg_stop loris
bg_stop junk
watch_stop w
loris=$(bg_line loris FLOOD) junk=$(bg_line junk FLOOD)
say "$loris"
say "$junk"
say "$st"
say "$WATCH"
ck "all $SLOW slow connections were held by the server all along" \
	'[[ $(field "$loris" opened) == "$SLOW" && $(field "$loris" open) == "$SLOW" ]]'
ck "the well-behaved client was answered every time meanwhile" \
	'[[ $(field "$out" failed) == 0 ]] && (($(field "$out" ok) > 0))'
p99=$(field "$out" p99_ms)
ck "with bounded latency: p99 $p99 ms < $((250 * SCALE)) ms" \
	'awk -v p="$p99" -v b="$((250 * SCALE))" "BEGIN { exit !(p < b) }"'
ck "the overlong garbage lines were dropped, not kept" '(($(field "$st" app_overlong) > 0))'
ck "every session gone afterwards" 'wait_for 10 gauge_back slow 0'
rsrv_finish slow
figures slowloris \
	"conns=$((SLOW + JUNK))+probe" \
	"requests=$(n "$out" requests)" \
	"bytes=$(($(n "$loris" sent) + $(n "$junk" sent)))" \
	"faults=slow-1B/2s:$SLOW" \
	"bad=binary-junk:$JUNK,overlong-lines:$((JUNK / 2))" \
	"lost=0" \
	"probe_failed=$(n "$out" failed)" \
	"rss_kb=$(n "$WATCH" peak_rss_kb)" \
	"fds=$(n "$WATCH" peak_fds)" \
	"p99_ms=$p99" \
	"result=$( ((t_failed)) && echo FAIL || echo pass)"
fails=$t_failed

# ---- one address floods a server limited to $PERIP per address
# flood_probe NAME [SECS]: $SLOW slow connections from 127.0.0.1
# (IPv4-mapped on the dual-stack socket), then a well-behaved client from
# ::1 on fresh connections for SECS (2) seconds; sets FLOOD, PROBE, ST.
flood_probe() {
	local name=$1 port=${1}_PORT
	printf -v "${name}_ADDR" %s ::1
	bg f "$RLOAD" flood -p "${!port}" -n "$SLOW" --mode slow --interval 2
	wait_for 60 flood_ready f || say "flood not ready"
	PROBE=$("$RLOAD" probe -p "${!port}" -a ::1 --duration "${2:-2}" --fresh 1 --timeout 2)
	ST=$(stats "$name")
	bg_stop f
	FLOOD=$(bg_line f FLOOD)
	say "$FLOOD"
	say "$PROBE"
	say "$ST"
}
HALFM=$((SLOW / 2))
must "server is serving (-m $HALFM --max-per-ip $PERIP)" 'rsrv_start perip -m $HALFM --max-per-ip $PERIP'
watch_start w "$perip_SPID"
flood_probe perip
watch_stop w
ck "the address got its $PERIP sessions, no more" \
	'[[ $(field "$FLOOD" open) == "$PERIP" ]] && (($(field "$ST" session_high) <= PERIP + 2))'
ck "the excess was refused and counted (session_error_per_ip=$((SLOW - PERIP)))" \
	'[[ $(field "$ST" session_error_per_ip) == $((SLOW - PERIP)) ]]'
ck "and in session_error too" '(($(field "$ST" session_error) >= SLOW - PERIP))'
ck "a client from another address was served every time" \
	'[[ $(field "$PROBE" failed) == 0 ]] && (($(field "$PROBE" ok) > 0))'
rsrv_finish perip
figures max-per-ip \
	"conns=$SLOW+probe" \
	"requests=$(n "$PROBE" requests)" \
	"bytes=$(n "$FLOOD" sent)" \
	"faults=one-address-flood:$SLOW" \
	"bad=-" \
	"lost=0" \
	"refused=$(n "$ST" session_error_per_ip)" \
	"probe_failed=$(n "$PROBE" failed)" \
	"rss_kb=$(n "$WATCH" peak_rss_kb)" \
	"fds=$(n "$WATCH" peak_fds)" \
	"p99_ms=$(n "$PROBE" p99_ms)" \
	"result=$( ((t_failed > fails)) && echo FAIL || echo pass)"
fails=$t_failed

# Control: without --max-per-ip the same flood takes every slot.
if ! ((STRESS)); then
	must "control server is serving (-m $HALFM, no --max-per-ip)" 'rsrv_start noperip -m $HALFM'
	flood_probe noperip 1
	ck "control: without --max-per-ip the other client is locked out" \
		'(($(field "$PROBE" fresh_failed) > 0))'
	rsrv_finish noperip
fi

# ---- a silent flood past the connection limit; the idle timeout
# silent_flood NAME: $SILENT silent connections, held in the background.
# While the server is full, STATS connections are refused too.
silent_flood() {
	local port=${1}_PORT
	bg f "$RLOAD" flood -p "${!port}" -n "$SILENT" --mode silent
	wait_for 60 flood_ready f || say "flood not ready"
	FLOOD_READY=$(bg_line f READY)
	say "$FLOOD_READY"
}
IDLE=$((2 * SCALE))
must "server is serving (-m $LIMIT -T $IDLE)" 'rsrv_start idle -m $LIMIT -T $IDLE'
idle_ADDR=::1
t0=$(now_cs)
silent_flood idle
ck "the silent sessions are reclaimed by the idle timeout ($IDLE s)" 'wait_for 10 gauge_back idle 0'
reclaim=$(($(now_cs) - t0))
bg_stop f
FLOOD=$(bg_line f FLOOD)
say "$FLOOD (all reclaimed after $reclaim cs)"
PROBE=$("$RLOAD" probe -p "$idle_PORT" -a ::1 --duration 1 --fresh 1)
say "$PROBE"
ST=$(stats idle)
say "$ST"
ck "the server never held more than $LIMIT (session_high $(field "$ST" session_high))" \
	'(($(field "$ST" session_high) <= LIMIT))'
ck "past the limit the rest were refused at once: $(field "$FLOOD" refused) >= $((SILENT - LIMIT))" \
	'(($(field "$FLOOD" refused) >= SILENT - LIMIT))'
ck "refusals counted (session_error >= $((SILENT - LIMIT)))" '(($(field "$ST" session_error) >= SILENT - LIMIT))'
ck "idle timeouts counted (rxtimeout >= $LIMIT)" '(($(field "$ST" rxtimeout) >= LIMIT))'
ck "afterwards newcomers are served" '[[ $(field "$PROBE" failed) == 0 ]]'
rsrv_finish idle
figures idle-flood \
	"conns=$SILENT" \
	"requests=$(n "$PROBE" requests)" \
	"bytes=0" \
	"faults=silent-flood:$SILENT,limit:$LIMIT" \
	"bad=-" \
	"lost=0" \
	"reclaimed_s=$((reclaim / 100))" \
	"rss_kb=-" \
	"fds=-" \
	"p99_ms=$(n "$PROBE" p99_ms)" \
	"result=$( ((t_failed > fails)) && echo FAIL || echo pass)"

# Control: without an idle timeout the silent flood keeps every slot.
if ! ((STRESS)); then
	must "control server is serving (-m $LIMIT -T 0)" 'rsrv_start noidle -m $LIMIT -T 0'
	noidle_ADDR=::1
	silent_flood noidle
	PROBE=$("$RLOAD" probe -p "$noidle_PORT" -a ::1 --duration 1 --fresh 1)
	say "$PROBE"
	ck "control: without the idle timeout newcomers stay locked out" \
		'(($(field "$PROBE" ok) == 0))'
	bg_stop f
	rsrv_finish noidle
fi
