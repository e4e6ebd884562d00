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

# ck and bash -c evaluate their single-quoted conditions themselves, with
# variables set here, and functions run through check: shellcheck sees
# none of it.
# shellcheck disable=SC2016,SC2034,SC2317 source-path=SCRIPTDIR
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
dt_enter "$@"

T=$DT_TMP
mkdir "$T/pid"
pidf=$T/pid/rl.pid
port=$(free_port)
RELOADS=5
must "started (4 workers)" dsrv_start "$pidf" -p "$port" -i 127.0.0.1 -n 4 -m 2000
sup=$SUP

"$DCLIENT" loop "$port" 6 2 "$T/stop" >"$T/loop.out" 2>&1 &
loop=$!
cur=$SRV
serves() { a=$("$DCLIENT" cmd "$port" pid 2>/dev/null) && [[ -n $a && $a != "pid=$cur" ]]; }
reloaded=0
for ((i = 1; i <= RELOADS; i++)); do
	kill -HUP "$sup"
	wait_for 20 serves || break
	old=$cur cur=${a#pid=}
	wait_for 20 gone "$old" || break
	reloaded=$i
done
: >"$T/stop"
check "the client loop ends" wait_for $((30 * SCALE)) gone "$loop"
wait "$loop"
rc=$?
out=$(grep '^LOOP ' "$T/loop.out")
say "$out"
[[ -n $out ]] || say "loop: $(cat "$T/loop.out")"
check "$RELOADS reloads, each old serving process gone ($reloaded)" [ "$reloaded" -eq "$RELOADS" ]
ck "short requests made all along ($(field "$out" short))" '(($(field "$out" short) >= 500))'
ck "no short request lost ($(field "$out" short_lost)), none failed ($(field "$out" short_failed)), no wrong answer ($(field "$out" bad))" \
	'[[ $rc == 0 && $(field "$out" short_lost) == 0 && $(field "$out" short_failed) == 0 && $(field "$out" bad) == 0 ]]'
ck "keep-alive: at most one request lost per connection the server closed ($(field "$out" keep_lost) <= $(field "$out" keep_closed))" \
	'(($(field "$out" keep) > 0 && $(field "$out" keep_lost) <= $(field "$out" keep_closed)))'
check "one serving process left" [ "$(serving_pid "$sup")" = "$cur" ]
kill -TERM "$sup"
check "SIGTERM: the supervisor exits 0" wait_for 20 gone "$sup"
check "exit 0 ($(wait_reaped "$sup"))" [ "$(reaped "$sup")" = exit=0 ]

dt_finish
