#!/bin/bash
# tests/fleet/fleet.sh - three hsvr-http "hosts" behind haproxy, scraped by Prometheus: a crash, a drain and an upgrade under wrk, 0 failed requests.
#
# Four network namespaces made by the test (each held by a sleeping
# process, entered with nsenter -n), joined by veth pairs:
#   lb   127.0.0.1:8000 haproxy (HTTP mode, health checks with
#        check-send-proxy, send-proxy-v2, retries 3, retry-on
#        all-retryable-errors, option redispatch), Prometheus on
#        127.0.0.1:9090 scraping the three every 500 ms, and wrk;
#   hN   10.77.N.2: hsvr-http --hello as a daemon (supervisor and serving
#        process, privileges dropped to nobody) with --proxy-protocol
#        --proxy-from 10.77.N.1/32 and --metrics 10.77.N.2:9100.
# While wrk runs through haproxy (4 threads, 32 keep-alive connections),
# each event waits for the previous one to settle and for 30,000 more
# requests answered, and wrk stops 30,000 requests after the last one:
#   h1: its serving process is killed (SIGKILL): the supervisor starts a
#       new one;
#   h2: its supervisor gets SIGTERM: it closes its socket and drains;
#   h3: its supervisor gets SIGUSR2: it upgrades in place (same pid, a new
#       serving process, the old one drains; the metrics socket kept).
# Then: wrk's failed requests (socket errors and non-2xx answers) are 0;
# each instance served requests (haproxy's counts); h1 and h3 still serve
# and h3's supervisor kept its pid; h2's supervisor exited 0; Prometheus
# saw the three (up), h2 go down, and the requests each served
# (http_requests_total, hsvr-http's own counter, through the
# application metrics API); `promtool check metrics` accepts a page.
#
# The figures go to the log (and bench-like, to $FLEET_REPORT if set).
# It needs root, haproxy, wrk, prometheus/promtool, nsenter and ip: without
# them it is skipped (77), saying what is missing.
#
# Shown to fail: with haproxy's "retry-on" line removed, the requests
# cut by the crash fail in wrk ("failed requests: 0" fails); with the
# supervisor's SIGUSR2 ignored, "h3 serves from a new process" fails;
# with listen.c's hsvr_listen_carry not carrying the metrics socket
# across the upgrade (its "m=" word), "h3: the new serving process answers
# /metrics on the kept socket" fails.

# ck and bash -c evaluate their single-quoted conditions themselves.
# shellcheck disable=SC2016,SC2034,SC2317 source-path=SCRIPTDIR
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=../daemon/lib.sh
. "$(dirname "$0")/../daemon/lib.sh"

missing=()
for b in haproxy wrk prometheus promtool nsenter ip curl; do
	command -v "$b" >/dev/null 2>&1 || [[ -x /usr/sbin/$b ]] || missing+=("$b")
done
if ((${#missing[@]})) && [[ ${DT_INSIDE:-} != 1 ]]; then
	echo "1..0 # SKIP not installed: ${missing[*]}"
	exit 77
fi
dt_enter "$@"
PATH=$PATH:/usr/sbin

# wrk runs until the last event settled (SIGINT: it prints its figures),
# at most this long.
WRK_SECONDS=$((120 * SCALE))
declare -A NS   # namespace name -> the pid that holds it

# ns_make NAME: a new network namespace, its loopback up.
ns_make() {
	unshare --net -- sleep 100000 &
	NS[$1]=$!
	dt_daemons+=("$!")
	wait_for 5 bash -c '[[ $(readlink /proc/$1/ns/net) != $(readlink /proc/self/ns/net) ]]' _ "$!" &&
		in_ns "$1" ip link set lo up
}

# in_ns NAME COMMAND...: COMMAND in namespace NAME's network.
in_ns() {
	local n=$1
	shift
	nsenter -t "${NS[$n]}" -n -- "$@"
}

# link_host N: a veth pair lb:fleetN (10.77.N.1) <-> hN:eth0 (10.77.N.2).
link_host() {
	ip link add "fleet$1" netns "${NS[lb]}" type veth peer name eth0 netns "${NS[h$1]}" &&
		in_ns lb ip addr add "10.77.$1.1/24" dev "fleet$1" &&
		in_ns lb ip link set "fleet$1" up &&
		in_ns "h$1" ip addr add "10.77.$1.2/24" dev eth0 &&
		in_ns "h$1" ip link set eth0 up
}

for n in lb h1 h2 h3; do
	must "namespace $n" ns_make "$n"
done
for i in 1 2 3; do
	must "veth between lb and h$i" link_host "$i"
done

HTTPD_BIN=$(httpd_direct)
# host_start N: hsvr-http on hN, a daemon; SUP_N is its supervisor.
host_start() {
	local pidf=$T/pid/h$1.pid
	in_ns "h$1" "$HTTPD_BIN" --hello -n 2 -i "10.77.$1.2" -p 8080 \
		--pidfile "$pidf" --proxy-protocol --proxy-from "10.77.$1.1/32" \
		--metrics "10.77.$1.2:9100" 2>"$T/h$1.err" || return 1
	dt_daemons+=("$pidf")
	printf -v "SUP_$1" %s "$(cat "$pidf")"
	wait_for 10 serving_pid "$(cat "$pidf")" >/dev/null
}
for i in 1 2 3; do
	must "h$i: hsvr-http starts" host_start "$i"
done

cat >"$T/haproxy.cfg" <<EOF
global
	maxconn 4000
	stats socket $T/haproxy.sock mode 600 level admin
defaults
	mode http
	option httplog
	timeout connect 2s
	timeout client 30s
	timeout server 10s
	timeout check 1s
	retries 3
	retry-on all-retryable-errors
	option redispatch 1
frontend fe
	bind 127.0.0.1:8000
	default_backend hosts
backend hosts
	balance roundrobin
	option httpchk GET /
	default-server check inter 200ms fall 2 rise 2 send-proxy-v2 check-send-proxy
	server h1 10.77.1.2:8080
	server h2 10.77.2.2:8080
	server h3 10.77.3.2:8080
EOF
# (nsenter itself, not in_ns: $! must be haproxy's pid, not a subshell's)
nsenter -t "${NS[lb]}" -n -- haproxy -db -f "$T/haproxy.cfg" >"$T/haproxy.out" 2>&1 </dev/null &
HAPROXY_PID=$!
dt_daemons+=("$HAPROXY_PID")

# hap CMD: a command on haproxy's stats socket.
hap() { printf '%s\n' "$1" | in_ns lb nc -U -N "$T/haproxy.sock" 2>/dev/null; }
# stat PROXY SERVER COLUMN: a column (by its name in the header) of
# haproxy's "show stat" line for PROXY/SERVER.
stat() {
	hap "show stat" | awk -F, -v p="$1" -v s="$2" -v c="$3" '
		NR == 1 { sub(/^# /, ""); for (i = 1; i <= NF; i++) col[$i] = i; next }
		$1 == p && $2 == s { print $col[c] }'
}
# srv_state NAME: haproxy's view of backend server NAME (UP, DOWN, ...).
srv_state() { stat hosts "$1" status; }
# served NAME: the requests haproxy sent to NAME (its streams).
served() { stat hosts "$1" stot; }
is_up() { [[ $(srv_state "$1") == UP ]]; }
all_up() { [[ $(srv_state h1) == UP && $(srv_state h2) == UP && $(srv_state h3) == UP ]]; }
must "haproxy sees the three hosts UP" wait_for 15 all_up

cat >"$T/prometheus.yml" <<EOF
global:
  scrape_interval: 500ms
  scrape_timeout: 400ms
scrape_configs:
  - job_name: hsvr
    static_configs:
      - targets: ['10.77.1.2:9100', '10.77.2.2:9100', '10.77.3.2:9100']
EOF
nsenter -t "${NS[lb]}" -n -- prometheus --config.file="$T/prometheus.yml" \
	--storage.tsdb.path="$T/prometheus" --web.listen-address=127.0.0.1:9090 \
	>"$T/prometheus.out" 2>&1 </dev/null &
dt_daemons+=("$!")
# prom EXPR: the instant vector of EXPR, one "instance value" a line.
prom() {
	in_ns lb curl -sf --get --data-urlencode "query=$1" \
		http://127.0.0.1:9090/api/v1/query |
		grep -o '"instance":"[^"]*"[^]]*\]' |
		sed -E 's/"instance":"([^"]*)".*,"([^"]*)"\]$/\1 \2/'
}
prom_up3() { (($(prom 'up{job="hsvr"} == 1' | wc -l) == 3)); }
must "Prometheus scrapes the three hosts (up == 1)" wait_for 30 prom_up3

page=$(in_ns lb curl -sf http://10.77.1.2:9100/metrics)
check "promtool check metrics accepts h1's page (${#page} bytes)" \
	bash -c '[[ -n $1 ]] && promtool check metrics <<<"$1" >"$2" 2>&1' _ "$page" "$T/promtool.out"

nsenter -t "${NS[lb]}" -n -- wrk -t 4 -c 32 -d "${WRK_SECONDS}s" --timeout 5s http://127.0.0.1:8000/ \
	>"$T/wrk.out" 2>&1 &
WRK_PID=$!
total() { stat fe FRONTEND req_tot; }
# served_more N: haproxy's frontend answered N more requests than now.
mark() { base=$(total); }
more() { (($(total) >= base + $1)); }

mark
must "wrk's requests flow through haproxy" wait_for 30 more 30000

# 1. h1: the serving process is killed.
old1=$(serving_pid "$SUP_1")
kill -KILL "$old1"
new_child() { local p; p=$(serving_pid "$1") && [[ $p != "$2" ]]; }
check "h1: a new serving process after the SIGKILL of $old1" wait_for 10 new_child "$SUP_1" "$old1"
check "h1: haproxy sees it UP" wait_for 10 is_up h1
mark
check "requests flow after the crash" wait_for 30 more 30000

# 2. h2: SIGTERM, a drain.
kill -TERM "$SUP_2"
check "h2: the supervisor drained and exited (status $(wait_reaped "$SUP_2"))" \
	[ "$(reaped "$SUP_2")" = exit=0 ]
mark
check "requests flow after the drain" wait_for 30 more 30000

# 3. h3: SIGUSR2, an upgrade in place.
old3=$(serving_pid "$SUP_3")
kill -USR2 "$SUP_3"
upgraded() { local p; p=$(serving_pid "$SUP_3") && [[ $p != "$old3" ]] && gone "$old3"; }
check "h3: a new serving process, the old one ($old3) gone" wait_for $((15 * SCALE)) upgraded
check "h3: the supervisor kept its pid $SUP_3" alive "$SUP_3"
check "h3: the log says it upgraded" wait_for 5 syslog_has "hsvr-http\[$SUP_3\]: upgraded: "
# The metrics socket went across the execve: the new serving process
# answers on it (the old one is gone).
scraped_new() {
	local page
	page=$(in_ns lb curl -sf --max-time 2 http://10.77.3.2:9100/metrics) &&
		grep -q '^hsvr_build_info{' <<<"$page"
}
check "h3: the new serving process answers /metrics on the kept socket" scraped_new
mark
check "requests flow after the upgrade" wait_for 30 more 30000

kill -INT "$WRK_PID"
must "wrk ends" wait_for 30 gone "$WRK_PID"
wait "$WRK_PID"
sed 's/^/# wrk: /' "$T/wrk.out"
requests=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$T/wrk.out")
errors=$(sed -n 's/^ *Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\)/\1 + \2 + \3 + \4/p' "$T/wrk.out")
non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: \([0-9]*\)/\1/p' "$T/wrk.out")
failed=$((${errors:-0} + ${non2xx:-0}))
ck "wrk: $requests requests, failed requests: $failed (socket errors ${errors:-none}, non-2xx ${non2xx:-0})" \
	'[[ -n $requests ]] && ((failed == 0))'
n_h1=$(served h1) n_h2=$(served h2) n_h3=$(served h3)
say "haproxy: requests per host h1 $n_h1, h2 $n_h2, h3 $n_h3"
ck "each host served requests" '((n_h1 > 0 && n_h2 > 0 && n_h3 > 0))'
for s in h1 h2 h3; do
	say "haproxy $s: $(for c in stot wretr wredis econ eresp status; do printf '%s=%s ' "$c" "$(stat hosts "$s" "$c")"; done)"
done

hello() { [[ $(in_ns lb curl -sf http://127.0.0.1:8000/) == "Hello, world" ]]; }
check "h1 and h3 still answer through haproxy" hello
# Prometheus' view: the requests each instance served (their counters
# restart with each serving process: increase() follows the resets).
got_last() { [[ $(prom 'up{job="hsvr",instance="10.77.2.2:9100"}') == *" 0" ]]; }
check "Prometheus: h2 is down (up 0)" wait_for 10 got_last
prom "sum by (instance) (increase(http_requests_total[5m]))" | sed 's/^/# Prometheus requests /' >"$T/prom-requests"
cat "$T/prom-requests"
ck "Prometheus counted requests on the three instances" \
	'(($(awk "\$2 > 0" "$T/prom-requests" | wc -l) == 3))'
prom 'max by (instance) (hsvr_worker_loop_lag_seconds_count)' | sed 's/^/# Prometheus lag samples /'

if [[ -n ${FLEET_REPORT:-} ]]; then
	{
		echo "requests=$requests failed=$failed h1=$n_h1 h2=$n_h2 h3=$n_h3"
		cat "$T/prom-requests"
	} >"$FLEET_REPORT"
fi
dt_finish
