# tests/lib.sh - the shell library the bash test suites share (tests/daemon, tests/tls, tests/reliab): verdict lines, the time scale, polls with deadlines, processes and ports in /proc, a server's trouble and the scratch directory.
#
# Sourced by each suite's own lib.sh, which keeps only what is the
# suite's: its programs, how it starts and stops its servers, its set-up.
#
# Output is TAP-like: "ok - ..." and "not ok - ..." lines (with the
# seconds since the start after each when t_timed=1); t_failed is 1 once
# a check failed.  Every time limit is multiplied by $SCALE: $HSVR_TEST_SCALE,
# else 4 in a sanitizer build of $t_builddir, else 1.

# Variables set here are read by the scripts that source this file.
# shellcheck disable=SC2034

set -u

t_name=$(basename "$0" .sh)

# lib_scale BUILDDIR: set SCALE (see above).
lib_scale() {
	SCALE=${HSVR_TEST_SCALE:-}
	if [[ -z $SCALE ]]; then
		SCALE=1
		if [[ -x $1/config.status ]] &&
			grep -q 'enable-sanitizers=[at]' "$1/config.status"; then
			SCALE=4
		fi
	fi
	case $SCALE in '' | *[!0-9]*) SCALE=1 ;; esac
}

t_failed=0
t_timed=0

# Seconds since the test started, for the log.
t_t0=
# elapsed: set t_elapsed (no subshell: forks are slow on some machines).
elapsed() {
	local up t
	read -r up _ </proc/uptime
	t=$((10#${up%.*} * 100 + 10#${up#*.}))
	: "${t_t0:=$t}"
	t=$((t - t_t0))
	printf -v t_elapsed '%d.%02d' $((t / 100)) $((t % 100))
}

say() { printf '# %s\n' "$*"; }
# lib_verdict WORDS DESCRIPTION: one verdict line.
lib_verdict() {
	if ((t_timed)); then
		elapsed
		printf '%s - %s [%ss]\n' "$1" "$2" "$t_elapsed"
	else
		printf '%s - %s\n' "$1" "$2"
	fi
}
ok() { lib_verdict ok "$*"; }
not_ok() {
	lib_verdict 'not ok' "$*"
	t_failed=1
}

# ck DESCRIPTION 'SHELL CONDITION': ok or not ok as the condition (given
# to eval, for compound ones) holds.
ck() {
	local d=$1
	shift
	if eval "$*"; then ok "$d"; else not_ok "$d"; fi
}

# must DESCRIPTION 'SHELL CONDITION': like ck, but the test ends on failure.
must() {
	local d=$1
	shift
	if eval "$*"; then
		ok "$d"
	else
		not_ok "$d"
		exit 1
	fi
}

# A monotonic clock in centiseconds (/proc/uptime), without a process.
now_cs() {
	local up
	read -r up _ </proc/uptime
	echo $((10#${up%.*} * 100 + 10#${up#*.}))
}

# wait_for SECONDS COMMAND...: run COMMAND every 50 ms until it succeeds,
# for at most SECONDS * SCALE seconds.
wait_for() {
	local deadline=$(($(now_cs) + $1 * SCALE * 100))
	shift
	while ! "$@"; do
		(($(now_cs) < deadline)) || return 1
		sleep 0.05
	done
	return 0
}

# alive PID: PID exists and is not a zombie.
alive() {
	local stat
	read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
	stat=${stat##*) }
	[[ ${stat:0:1} != Z ]]
}
gone() { ! alive "$1"; }

# field TEXT KEY: the value of the first KEY=VALUE (up to a space) in TEXT.
field() {
	local re="(^|[[:space:]])$2=([^[:space:]]*)"
	[[ $1 =~ $re ]] || return 1
	echo "${BASH_REMATCH[2]}"
}

# Something listens on TCP port PORT (of 127.0.0.1 or any address).
listening() {
	local hex
	hex=$(printf ':%04X' "$1")
	awk -v h="$hex" '$4 == "0A" && substr($2, length($2) - 4) == h { f = 1 } END { exit !f }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# lib_direct VAR...: VAR (a test program, path in the build directory
# $t_builddir) becomes the program itself rather than its libtool wrapper
# (which takes a fifth of a second each time, and would be what signals
# reach), with the library's directory in LD_LIBRARY_PATH.  Only when the
# first one and the shared library are built.
lib_direct() {
	local v p
	p=${!1}
	[[ -x ${p%/*}/.libs/${p##*/} && -e $t_builddir/.libs/libhsvr.so ]] || return 0
	for v; do
		p=${!v}
		printf -v "$v" %s "${p%/*}/.libs/${p##*/}"
	done
	LD_LIBRARY_PATH=$t_builddir/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	export LD_LIBRARY_PATH
}

# lib_stop NAME SIGNAL SECONDS [PID...]: send SIGNAL to server NAME (the
# pid in NAME_PID, started by this shell) and wait for it, at most
# SECONDS * SCALE s; if it did not stop, SIGKILL it and the PIDs.  Sets
# NAME_RC to its exit status (124 if it had to be killed, lib_killed=1
# then), empties NAME_PID, and returns NAME_RC; 0 if NAME was not running.
lib_stop() {
	local name=$1 sig=$2 secs=$3 pid_var=${1}_PID pid rc=0
	shift 3
	lib_killed=0
	pid=${!pid_var:-}
	[[ -n $pid ]] || return 0
	kill "-$sig" "$pid" 2>/dev/null
	if ! wait_for "$secs" gone "$pid"; then
		say "$name (pid $pid) did not stop within $((secs * SCALE)) s: killed"
		kill -KILL "$pid" "$@" 2>/dev/null
		wait "$pid" 2>/dev/null
		rc=124
		lib_killed=1
	else
		wait "$pid" 2>/dev/null || rc=$?
	fi
	printf -v "$pid_var" %s ""
	printf -v "${name}_RC" %s "$rc"
	return "$rc"
}

# The sanitizer reports and broken promises in server NAME's output
# ($T/NAME.out and .err), if any; a suite may add to lib_trouble_re.
lib_trouble_re='ERROR: (Address|Leak|Thread|UndefinedBehavior)Sanitizer|WARNING: ThreadSanitizer|runtime error:|VIOLATION'
trouble() {
	grep -hE "$lib_trouble_re" "$T/$1.out" "$T/$1.err" 2>/dev/null | head -n 20
}

# lib_mirror: the Debian mirror apt uses (deb822 sources or a classic
# "deb URL bookworm" line), for debootstrap (deb.sh, systemd/nspawn.sh).
lib_mirror() {
	local m
	m=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
		grep -v security | head -n 1)
	[[ -n $m ]] || m=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ { print $2; exit }' \
		/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null)
	echo "${m:-http://deb.debian.org/debian}"
}

# lib_scratch PREFIX MODE: a fresh scratch directory $T; t_cleanup runs
# at exit, an interrupt ends the test.
lib_scratch() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/$1-$t_name.XXXXXX") || exit 99
	chmod "$2" "$T"
	trap t_cleanup EXIT
	trap 'exit 1' INT TERM HUP
}

# lib_keep_or_remove KEEP: after a failed check or with KEEP=1, keep $T and
# show the end of every server's output (the names in t_servers);
# otherwise remove $T.  Then exit: 1 if a check failed.
lib_keep_or_remove() {
	local name
	if ((t_failed)) || [[ $1 == 1 ]]; then
		say "kept $T"
		for name in "${t_servers[@]}"; do
			say "---- $name stdout (last lines)"
			tail -n 15 "$T/$name.out" 2>/dev/null | sed 's/^/#   /'
			say "---- $name stderr (last lines)"
			tail -n 15 "$T/$name.err" 2>/dev/null | sed 's/^/#   /'
		done
	else
		rm -rf "$T"
	fi
	exit $((t_failed ? 1 : 0))
}
