# tests/reliab/lib.sh - what every fault and abuse test shares; sourced by
# bash.
#
# A test starts t-rsrv servers on fresh ports (rsrv_start; they listen on
# every address, and the clients use only 127.0.0.1 and ::1), drives them
# with t-rload, reads the serving process's /proc, and stops every server
# it started at exit.  Its scratch directory $T is removed unless a check
# failed or RELIAB_KEEP=1.
#
# Output is TAP-like: "ok - ..." and "not ok - ..." lines; the test fails if
# any check failed.  Waits poll with deadlines; every time limit is
# multiplied by $SCALE ($HSVR_TEST_SCALE: 4 in the sanitizer builds).
# RELIAB_STRESS=1 selects the long version of a scenario (make stress);
# RELIAB_FIGURES names a file that receives one "FIGURES ..." line per
# scenario for tests/RELIABILITY.md.

# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

t_builddir=${RELIAB_BUILDDIR:-$PWD}
RSRV=$t_builddir/tests/reliab/t-rsrv
RLOAD=$t_builddir/tests/reliab/t-rload
# t-rsrv links the tests' build of the library (tests/libhsvr-test.la,
# with HSVR_FAULT_ALLOC and the other test hooks) statically: it is the
# program itself, not a libtool wrapper, so signals and /proc reach it.

lib_scale "$t_builddir"
SANITIZED=0 SANITIZER=none
if [[ -x $t_builddir/config.status ]] &&
	grep -q 'enable-sanitizers=[at]' "$t_builddir/config.status"; then
	SANITIZED=1
	SANITIZER=address
	grep -q 'enable-sanitizers=t' "$t_builddir/config.status" && SANITIZER=thread
fi
export HSVR_TEST_SCALE=$SCALE
STRESS=${RELIAB_STRESS:-0}
WAIT=$((10 * SCALE))

t_servers=()
t_bg=()
lib_trouble_re+='|killed by signal|restarting'

# n TEXT KEY: like field, 0 when absent (for figures).
n() { field "$1" "$2" || echo 0; }

# answers NAME: server NAME answers a PING.
answers() { [[ $(cmd "$1" "PING up") == "PONG up" ]]; }

# serving NAME: server NAME has printed its serving process's pid.
serving() { grep -q '^SERVING pid=' "$T/$1.out" 2>/dev/null; }

# rsrv_start NAME [WRAPPER... --] ARG...: t-rsrv in the foreground on a
# fresh port (all addresses), two workers, with ARGs; stdout in $T/NAME.out,
# stderr in $T/NAME.err.  Sets NAME_PORT, NAME_PID (the command) and
# NAME_SPID (the serving process, whose /proc the tests read).  A WRAPPER
# (prlimit, valgrind, env ...) runs the server.  $RELIAB_SERVER_ARGS is
# added to every server's arguments: to check that a test fails without a
# protection (--sigpipe-default).  1 if it did not come up.
rsrv_start() {
	local name=$1 port pid wrap=() line
	shift
	if [[ " $* " == *" -- "* ]]; then
		while [[ $1 != -- ]]; do
			wrap+=("$1")
			shift
		done
		shift
	fi
	for _ in 1 2 3; do
		port=$("$RLOAD" freeport) || return 1
		# shellcheck disable=SC2086 # RELIAB_SERVER_ARGS: words to add
		"${wrap[@]}" "$RSRV" -x -p "$port" -n 2 --drain-timeout "$((5 * SCALE))" \
			"$@" ${RELIAB_SERVER_ARGS:-} >"$T/$name.out" 2>"$T/$name.err" </dev/null &
		pid=$!
		printf -v "${name}_PID" %s "$pid"
		printf -v "${name}_PORT" %s "$port"
		printf -v "${name}_TLS" %s ""
		[[ " $* " != *" -c "* ]] || printf -v "${name}_TLS" %s 1
		t_servers+=("$name")
		# Answering means the start-up is over (its pipes closed), so
		# the descriptors counted from now on are the serving ones.
		if wait_for 20 serving "$name" && wait_for 10 listening "$port" &&
			wait_for 10 answers "$name"; then
			line=$(grep -m1 '^SERVING pid=' "$T/$name.out")
			printf -v "${name}_SPID" %s "$(field "$line" pid)"
			return 0
		fi
		if alive "$pid"; then
			say "$name: not serving on port $port after $((30 * SCALE)) s"
			return 1
		fi
		wait "$pid" 2>/dev/null
		grep -qi 'in use' "$T/$name.err" || {
			say "$name exited at start-up: $(head -c 2000 "$T/$name.err")"
			return 1
		}
	done
	return 1
}

# rsrv_stop NAME [SIGNAL]: stop NAME (SIGTERM) and wait for it, at most
# 30 * SCALE s: NAME_RC is its exit status (124 if it had to be killed).
rsrv_stop() {
	local spid_var=${1}_SPID pid_var=${1}_PID
	lib_stop "$1" "${2:-TERM}" 30 "${!spid_var:-${!pid_var:-}}"
}

# rsrv_finish NAME: stop NAME; it must exit 0 with nothing wrong in its
# output, every accepted session having had exactly one TYP_TERM.
rsrv_finish() {
	local name=$1 rc_var=${1}_RC bad line
	rsrv_stop "$name"
	ck "$name: stops with status 0 (got ${!rc_var})" '[[ ${!rc_var} == 0 ]]'
	bad=$(trouble "$name")
	ck "$name: no crash, sanitizer report or VIOLATION" '[[ -z $bad ]]'
	[[ -z $bad ]] || printf '#   %s\n' "${bad//$'\n'/$'\n#   '}"
	line=$(grep -m1 '^EXITCHECK' "$T/$name.out")
	ck "$name: every accepted session had exactly one TYP_TERM ($line)" \
		'[[ -n $line && $(field "$line" missing) == 0 && $(field "$line" dup) == 0 && $(field "$line" accepts) == $(field "$line" terms) ]]'
}

# cmd NAME LINE: send LINE to server NAME on a fresh connection (TLS if
# it serves TLS; from NAME_ADDR, default 127.0.0.1), print the reply line
# (nothing if none came).
cmd() {
	local p=${1}_PORT tls=${1}_TLS a=${1}_ADDR opt=()
	[[ -z ${!tls:-} ]] || opt=(--tls)
	"$RLOAD" cmd -p "${!p}" -a "${!a:-127.0.0.1}" "${opt[@]}" "$2" 2>/dev/null
}

# stats NAME: server NAME's STATS line (S_stats and the app_* counts);
# tried again a few times, as a connection may be refused (limits, faults).
stats() {
	local line
	for _ in 1 2 3 4 5; do
		line=$(cmd "$1" STATS)
		[[ -z $line ]] || break
		sleep 0.1
	done
	printf '%s\n' "$line"
}

# stat_is NAME KEY VALUE: the counter KEY of server NAME is VALUE now.
stat_is() { [[ $(field "$(stats "$1")" "$2") == "$3" ]]; }

# stat_ge NAME KEY N: the counter KEY of server NAME is at least N now.
stat_ge() {
	local v
	v=$(field "$(stats "$1")" "$2") || return 1
	((v >= $3))
}

# gauge_back NAME N: server NAME has N sessions open (besides the STATS
# connection that asks).
gauge_back() { stat_is "$1" session_gauge "$(($2 + 1))"; }

# fds PID: open descriptors of PID.
fds() {
	local f n=0
	for f in /proc/"$1"/fd/*; do [[ -e $f || -L $f ]] && n=$((n + 1)); done
	echo "$n"
}

# fds_base PID: the descriptors PID holds for itself, without the session
# of a probe still closing (the start-up's PING, a STATS): the fewest seen
# over about a second.
fds_base() {
	local n min
	min=$(fds "$1")
	for _ in 1 2 3 4 5 6 7 8 9; do
		sleep 0.1
		n=$(fds "$1")
		((n >= min)) || min=$n
	done
	echo "$min"
}

# fds_are PID N: PID holds no more than N descriptors (a leak holds more).
fds_are() { (($(fds "$1") <= $2)); }

# rss_kb PID / hwm_kb PID: resident and peak resident memory of PID.
rss_kb() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null; }
hwm_kb() { awk '$1 == "VmHWM:" { print $2 }' "/proc/$1/status" 2>/dev/null; }

# bg NAME COMMAND...: run COMMAND in the background, stdout in $T/NAME.out,
# stderr in $T/NAME.err; NAME_BG is its pid.  Stopped at exit.
bg() {
	local name=$1
	shift
	"$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
	printf -v "${name}_BG" %s "$!"
	t_bg+=("$!")
}

# bg_stop NAME: SIGTERM and wait for background command NAME.
bg_stop() {
	local v=${1}_BG
	[[ -n ${!v:-} ]] || return 0
	kill -TERM "${!v}" 2>/dev/null
	wait_for 30 gone "${!v}" || kill -KILL "${!v}" 2>/dev/null
	wait "${!v}" 2>/dev/null
	printf -v "$v" %s ""
}

# bg_line NAME PREFIX: the first line of NAME's output starting with PREFIX.
bg_line() { grep -m1 "^$2" "$T/$1.out" 2>/dev/null; }
bg_has() { grep -q "^$2" "$T/$1.out" 2>/dev/null; }

# watch_start NAME PID / watch_stop NAME: sample PID's descriptors, RSS and
# CPU meanwhile; watch_stop sets WATCH (its "WATCH ..." line).
watch_start() { bg "$1" "$RLOAD" watch --pid "$2" --interval 100; }
watch_stop() {
	bg_stop "$1"
	WATCH=$(bg_line "$1" WATCH)
}

# figures SCENARIO KEY=VALUE...: a row of tests/RELIABILITY.md.
figures() {
	local line
	line="FIGURES scenario=$1"
	shift
	line+=$(printf ' %s' "$@")
	say "$line"
	[[ -z ${RELIAB_FIGURES:-} ]] || printf '%s\n' "$line" >>"$RELIAB_FIGURES"
}

# t_setup: the scratch directory, the traps.
t_setup() {
	lib_scratch reliab 755
	say "$t_name in $T (scale $SCALE, stress $STRESS, sanitized $SANITIZED, as uid $(id -u))"
}

t_cleanup() {
	local name p
	trap - EXIT
	for p in "${t_bg[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	for name in "${t_servers[@]}"; do
		rsrv_stop "$name" KILL >/dev/null 2>&1
	done
	lib_keep_or_remove "${RELIAB_KEEP:-0}"
}

# make_cert DIR: a self-signed EC certificate for localhost in DIR/cert.pem
# and its key in DIR/key.pem (read by the server before it drops root).
make_cert() {
	mkdir -p "$1" &&
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$1/key.pem" -out "$1/cert.pem" -subj /CN=localhost \
			-days 2 >"$1/make.log" 2>&1
}

# one_serving NAME: server NAME is still its first serving process (none
# crashed and was restarted).
one_serving() {
	local n spid=${1}_SPID
	n=$(grep -c '^SERVING pid=' "$T/$1.out")
	[[ $n == 1 ]] && alive "${!spid}"
}
