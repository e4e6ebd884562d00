#!/bin/bash
# tests/daemon/reloadloss.sh - a reload loses no request (issue #12,
# defect 6).  Under a loop of short connections (connect, one request,
# close) on 6 threads, and 2 keep-alive connections making requests one
# after the other, the server is reloaded 5 times:
#  - every short connection gets its answer: none sees the end of the
#    connection instead (the old serving process serves what it accepted,
#    what its workers were handed and what had already arrived);
#  - a keep-alive connection loses at most the one request it sent as the
#    old process closed it between requests (hsvr(8));
#  - after the loop, one serving process is left and the server stops.
# RELIAB_STRESS=1 (make stress, the "reload" row of tests/RELIABILITY.md):
# 60 reloads under four runs of the client loop, each serving process
# reading 128 KiB of requests (some 9,000) before the next SIGHUP; the
# figures go to $RELIAB_FIGURES.

# ck and bash -c evaluate their single-quoted conditions themselves, with
# variables set here, and functions run through check: shellcheck sees
# none of it.
# shellcheck disable=SC2016,SC2034,SC2317 source-path=SCRIPTDIR
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
dt_enter "$@"

pidf=$T/pid/rl.pid
port=$(free_port)
STRESS=${RELIAB_STRESS:-0}
# RELOADS in RUNS runs of the client loop (each at most 120 s); PACE: bytes
# of requests each new serving process reads before the next reload.
RELOADS=5 RUNS=1 PACE=0 SHORT=6 KEEP=2
[[ $STRESS != 1 ]] || RELOADS=60 RUNS=4 PACE=131072
must "started (4 workers)" dsrv_start "$pidf" -p "$port" -i 127.0.0.1 -n 4 -m 2000
sup=$SUP

# sum KEY: a LOOP field summed over the runs.  For make stress: the bytes
# PID has read (/proc/PID/io: the requests it was sent), its descriptors.
sum() {
	local o t=0
	for o in "${outs[@]}"; do t=$((t + $(field "$o" "$1"))); done
	echo "$t"
}
rchar() { sed -n 's/^rchar: //p' "/proc/$1/io" 2>/dev/null; }
has_read() { local r; r=$(rchar "$1") && ((r >= $2)); }
nfds() { local l=(/proc/"$1"/fd/*); echo "${#l[@]}"; }

cur=$SRV
serves() { a=$("$DCLIENT" cmd "$port" pid 2>/dev/null) && [[ -n $a && $a != "pid=$cur" ]]; }
reloaded=0 rc=0 outs=() hwm=0 peak_fds=0 drain_cs=0
for ((run = 1; run <= RUNS; run++)); do
	rm -f "$T/stop"
	"$DCLIENT" loop "$port" "$SHORT" "$KEEP" "$T/stop" >"$T/loop$run.out" 2>&1 &
	loop=$!
	for ((i = reloaded + 1; i <= RELOADS * run / RUNS; i++)); do
		if ((PACE)); then
			# the serving process has served its share of the load
			wait_for 20 has_read "$cur" "$PACE" || break
			h=$(proc_field "$cur" VmHWM) && h=${h% kB} && ((h > hwm)) && hwm=$h
			f=$(nfds "$cur") && ((f > peak_fds)) && peak_fds=$f
		fi
		t0=$(now_cs)
		kill -HUP "$sup"
		wait_for 20 serves || break
		old=$cur cur=${a#pid=}
		wait_for 20 gone "$old" || break
		(($(now_cs) - t0 > drain_cs)) && drain_cs=$(($(now_cs) - t0))
		reloaded=$i
	done
	: >"$T/stop"
	check "the client loop ends" wait_for $((30 * SCALE)) gone "$loop"
	wait "$loop" || rc=1
	out=$(grep '^LOOP ' "$T/loop$run.out")
	say "$out"
	[[ -n $out ]] || say "loop: $(cat "$T/loop$run.out")"
	outs+=("$out")
	((reloaded == RELOADS * run / RUNS)) || break
done
out="LOOP short=$(sum short) short_lost=$(sum short_lost) short_failed=$(sum short_failed) keep=$(sum keep) keep_lost=$(sum keep_lost) keep_closed=$(sum keep_closed) bad=$(sum bad)"
((RUNS == 1)) || say "all runs: $out"
check "$RELOADS reloads, each old serving process gone ($reloaded)" [ "$reloaded" -eq "$RELOADS" ]
ck "short requests made all along ($(field "$out" short))" '(($(field "$out" short) >= 500 * RUNS))'
ck "no short request lost ($(field "$out" short_lost)), none failed ($(field "$out" short_failed)), no wrong answer ($(field "$out" bad))" \
	'[[ $rc == 0 && $(field "$out" short_lost) == 0 && $(field "$out" short_failed) == 0 && $(field "$out" bad) == 0 ]]'
ck "keep-alive: at most one request lost per connection the server closed ($(field "$out" keep_lost) <= $(field "$out" keep_closed))" \
	'(($(field "$out" keep) > 0 && $(field "$out" keep_lost) <= $(field "$out" keep_closed)))'
check "one serving process left" [ "$(serving_pid "$sup")" = "$cur" ]
kill -TERM "$sup"
check "SIGTERM: the supervisor exits 0" wait_for 20 gone "$sup"
check "exit 0 ($(wait_reaped "$sup"))" [ "$(reaped "$sup")" = exit=0 ]

if [[ $STRESS == 1 ]]; then
	# A row of tests/RELIABILITY.md (as figures in tests/reliab/lib.sh).
	line="FIGURES scenario=reload conns=$(($(field "$out" short) + $(field "$out" keep_closed) + RUNS * KEEP))"
	line+=" requests=$(($(field "$out" short) + $(field "$out" keep))) faults=SIGHUP-reloads:$reloaded"
	line+=" lost=$(field "$out" short_lost) rss_kb=$hwm fds=$peak_fds"
	line+=" result=$( ((t_failed)) && echo FAIL || echo pass)"
	line+=" short_failed=$(field "$out" short_failed) wrong=$(field "$out" bad)"
	line+=" keep_lost=$(field "$out" keep_lost) keep_closed=$(field "$out" keep_closed)"
	line+=" keep_clients=$KEEP longest_reload_ms=$((drain_cs * 10))"
	say "$line"
	[[ -z ${RELIAB_FIGURES:-} ]] || printf '%s\n' "$line" >>"$RELIAB_FIGURES"
fi
dt_finish
