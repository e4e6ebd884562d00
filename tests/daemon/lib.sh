# tests/daemon/lib.sh - what every daemon test shares; sourced by bash.
#
# A daemon test runs as root (else it exits 77, "skipped") and never
# disturbs the machine: dt_enter re-runs the script inside private mount
# and pid namespaces (unshare), under tests/daemon/t-dinit as init, where
#   /dev is a small tmpfs with the usual device nodes and a /dev/log of its
#     own, served by a syslog daemon of its own (busybox syslogd -n -O
#     $DT_TMP/syslog): the machine's /dev/log and system log are untouched;
#   /run (so /var/run) is an empty tmpfs: default pidfiles land there;
#   every process the test leaves behind dies with the namespace, and
#     t-dinit writes the exit status of every daemon it reaps to
#     $DT_TMP/reaped ("pid=N exit=C" or "pid=N signal=S").
# $DT_TMP is a fresh directory (mode 1777: the serving processes run as
# nobody), removed at the end unless DT_KEEP=1; a failed test prints the
# end of its files (syslog, traces, stderr) first.
#
# Output is TAP-like: "ok - ..." and "not ok - ..." lines; the test fails
# if any check failed.  Times are scaled by HSVR_TEST_SCALE (4 in the
# sanitizer builds).

# Variables set here are read by the test scripts that source this file;
# bash -c runs single-quoted scripts.
# shellcheck disable=SC2034,SC2016

# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

dt_name=$t_name
dt_srcdir=$(cd "$(dirname "$0")" && pwd)
dt_top_srcdir=$(cd "$dt_srcdir/../.." && pwd)
# make check runs the tests in the top build directory.
dt_builddir=${DT_BUILDDIR:-$PWD}
t_builddir=$dt_builddir
DSRV=$dt_builddir/tests/daemon/t-dsrv
DCLIENT=$dt_builddir/tests/daemon/t-dclient
DINIT=$dt_builddir/tests/daemon/t-dinit
HTTPD=$dt_builddir/examples/hsvr-http
HSVR_SERVICE=$dt_builddir/rc.d/hsvr-service
TEMPLATES=$dt_top_srcdir/rc.d
lib_direct DSRV
lib_scale "$dt_builddir"

t_timed=1      # each verdict line says when it came
dt_daemons=()  # pidfiles or pids of servers to stop at exit

# check DESCRIPTION COMMAND...: ok or not ok as COMMAND succeeds.
check() {
	local d=$1
	shift
	if "$@"; then ok "$d"; else not_ok "$d"; fi
}

# must DESCRIPTION COMMAND...: like check, but the test ends on failure
# (here a command, not the condition of tests/lib.sh's must).
must() {
	local d=$1
	shift
	if "$@"; then
		ok "$d"
	else
		not_ok "$d"
		dt_finish
	fi
}

bail() {
	not_ok "$*"
	dt_finish
}

# The value of FIELD (Uid, Gid, Groups, PPid, Umask...) in /proc/PID/status,
# its words separated by one space.
proc_field() {
	local k v
	while read -r k v; do
		if [[ $k == "$2:" ]]; then
			# shellcheck disable=SC2086 # tabs to single spaces
			echo $v
			return 0
		fi
	done 2>/dev/null <"/proc/$1/status"
	return 1
}

# The live processes, other than this shell, with WORD among their
# arguments.
procs_with_arg() {
	local d a
	for d in /proc/[0-9]*; do
		[[ ${d#/proc/} == "$$" || ${d#/proc/} == "$BASHPID" ]] && continue
		while IFS= read -r -d '' a; do
			if [[ $a == "$1" ]]; then
				alive "${d#/proc/}" && echo "${d#/proc/}"
				break
			fi
		done 2>/dev/null <"$d/cmdline"
	done
	return 0
}

# The CPU time of PID so far, in clock ticks (utime + stime).
cpu_ticks() {
	local stat f
	read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
	read -r -a f <<<"${stat##*) }"
	# f[0] is the state (field 3): utime and stime are fields 14 and 15.
	echo $((f[11] + f[12]))
}

# idle PID: PID uses less than 0.1 s of CPU in one second (no busy loop).
idle() {
	local a b
	a=$(cpu_ticks "$1") || return 1
	sleep 1
	b=$(cpu_ticks "$1") || return 1
	say "pid $1 used $((b - a)) ticks of CPU in 1 s"
	((10 * (b - a) < $(getconf CLK_TCK) * SCALE))
}

# The live pids whose parent is PID.
children() {
	local d stat f
	for d in /proc/[0-9]*; do
		read -r stat 2>/dev/null <"$d/stat" || continue
		stat=${stat##*) }
		read -r -a f <<<"$stat"
		# f: state ppid pgrp ...
		[[ ${f[1]} == "$1" && ${f[0]} != Z ]] && echo "${d#/proc/}"
	done
	return 0
}

# The serving process of supervisor PID: its one live child.
serving_pid() {
	local kids
	kids=$(children "$1")
	[[ -n $kids && $kids != *$'\n'* ]] && echo "$kids"
}

# proc_dump PID: how PID and its children are doing, for the log.
proc_dump() {
	local p t
	for p in "$1" $(children "$1"); do
		say "pid $p: $(grep -E '^(State|PPid|Threads|SigQ|SigPnd|ShdPnd|SigBlk|SigIgn|SigCgt):' "/proc/$p/status" 2>/dev/null | tr '\t\n' '  ')"
		say "  fds: $(cd "/proc/$p/fd" 2>/dev/null && for t in *; do printf '%s:%s ' "$t" "$(readlink "$t")"; done)"
		for t in /proc/"$p"/task/*; do
			say "  task ${t##*/}: $(cat "$t/wchan" 2>/dev/null) $(grep -E '^(State|SigPnd|SigBlk):' "$t/status" 2>/dev/null | tr '\t\n' '  ')"
		done
	done
}

# dsrv_start PIDFILE ARG...: start t-dsrv as a daemon with --pidfile
# PIDFILE and the ARGs, its stderr in $DT_TMP/start.err; on success set
# SUP (the supervisor) and SRV (the serving process) and stop it at exit.
dsrv_start() {
	local pidfile=$1 rc=0
	shift
	SUP='' SRV=''
	"$DSRV" --pidfile "$pidfile" "$@" 2>"$DT_TMP/start.err" || rc=$?
	if ((rc != 0)); then
		say "t-dsrv $* exited $rc: $(cat "$DT_TMP/start.err")"
		return "$rc"
	fi
	dt_daemons+=("$pidfile")
	SUP=$(cat "$pidfile")
	wait_for 10 serving_pid "$SUP" >/dev/null || return 1
	SRV=$(serving_pid "$SUP")
}

# fg_stop PID [SECONDS]: SIGTERM a foreground (-x) server that this shell
# started and wait for it, at most SECONDS (10): its exit status, or 124
# after a SIGKILL if it did not stop in time.
fg_stop() {
	local pid=$1 secs=${2:-10} rc=0
	kill -TERM "$pid" 2>/dev/null
	if ! wait_for "$secs" gone "$pid"; then
		say "pid $pid did not stop within $secs s of SIGTERM: killed"
		proc_dump "$pid"
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 124
	fi
	wait "$pid" 2>/dev/null || rc=$?
	return "$rc"
}

# ready ADDR [SECONDS]: wait until the serving process behind ADDR
# answers a command, at most SECONDS (10).
ready() { wait_for "${2:-10}" "$DCLIENT" cmd "$1" pid >/dev/null 2>&1; }

# wait_reaped PID: wait until t-dinit reaped PID, print how it ended.
wait_reaped() {
	local r
	wait_for 10 bash -c '[[ -n $(sed -n "s/^pid=$1 //p" "$2") ]]' _ "$1" "$DT_TMP/reaped" || true
	r=$(reaped "$1")
	echo "${r:-not reaped}"
}

# The exit of PID as t-dinit reaped it: "exit=C", "signal=S" or nothing.
reaped() { sed -n "s/^pid=$1 //p" "$DT_TMP/reaped" | tail -n 1; }

# hsvr-http itself rather than its libtool wrapper when the library's
# directory is in LD_LIBRARY_PATH (for init scripts and units, which run it
# by its path), else $HTTPD.
httpd_direct() {
	if [[ -x $dt_builddir/examples/.libs/hsvr-http && -n ${LD_LIBRARY_PATH:-} ]]; then
		echo "$dt_builddir/examples/.libs/hsvr-http"
	else
		echo "$HTTPD"
	fi
}

# notify_listen: a systemd notification socket at $sock (t-dclient notify:
# each message it gets goes to $log, "pid=N MESSAGE"); the test ends if
# it does not come up.
notify_listen() {
	sock=$T/notify.sock
	log=$T/notify.out
	: >"$log"
	"$DCLIENT" notify "$sock" "$log" &
	must "the notify socket is up" wait_for 5 test -S "$sock"
}

# Lines of the private syslog matching an extended regexp.
syslog_has() { grep -Eq -- "$1" "$DT_TMP/syslog" 2>/dev/null; }

free_port() { "$DCLIENT" freeport; }

# Stop what dt_daemons names (pidfiles or pids) at exit, SIGTERM then KILL.
dt_stop_all() {
	local d pid i
	for d in "${dt_daemons[@]}"; do
		if [[ $d == /* ]]; then
			pid=$(cat "$d" 2>/dev/null) || continue
		else
			pid=$d
		fi
		if ! [[ $pid =~ ^[0-9]+$ ]] || ! alive "$pid"; then
			continue
		fi
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < 100 * SCALE; i++)); do
			alive "$pid" || break
			sleep 0.05
		done
		alive "$pid" && kill -KILL "$pid" 2>/dev/null
	done
	return 0
}

dt_dump() {
	local f
	for f in "$DT_TMP"/*.err "$DT_TMP"/trace* "$DT_TMP"/syslog "$DT_TMP"/reaped "$DT_TMP"/*.out; do
		[[ -f $f ]] || continue
		say "---- $f (last 30 lines)"
		tail -n 30 "$f" | sed 's/^/# /'
	done
}

dt_finish() {
	trap - EXIT
	dt_stop_all
	if ((t_failed)); then
		dt_dump
		exit 1
	fi
	exit 0
}

# The script ended without dt_finish: an error of its own (set -u) must
# not pass for success.
dt_abort() {
	(($1 == 0)) || not_ok "the test script ended early, exit status $1"
	dt_finish
}

# Enter the private namespaces (see the top of this file), then set them up.
dt_enter() {
	local rc=0 b
	if [[ ${DT_INSIDE:-} != 1 ]]; then
		if [[ $(id -u) != 0 ]]; then
			echo "SKIP: the daemon tests run as root only"
			exit 77
		fi
		for b in "$DSRV" "$DCLIENT" "$DINIT"; do
			[[ -x $b ]] || { echo "ERROR: $b is not built (run make check)"; exit 99; }
		done
		DT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/hsvr-$dt_name.XXXXXX") || exit 99
		chmod 1777 "$DT_TMP"
		: >"$DT_TMP/reaped"
		export DT_INSIDE=1 DT_TMP DT_BUILDDIR=$dt_builddir
		if mountpoint -q /; then
			unshare --mount --pid --fork --mount-proc --propagation private -- \
				"$DINIT" "$DT_TMP/reaped" "$BASH" "$0" "$@" || rc=$?
		else
			# In a chroot "/" is no mount point and cannot be made
			# private: the namespace makes each of its mounts private
			# itself, before it mounts anything (dt_private_mounts).
			export DT_PRIVATE_MOUNTS=1
			unshare --mount --pid --fork --propagation unchanged -- \
				"$DINIT" "$DT_TMP/reaped" "$BASH" "$0" "$@" || rc=$?
		fi
		if [[ -z ${DT_KEEP:-} ]]; then
			rm -rf "$DT_TMP"
		else
			echo "# files kept in $DT_TMP"
		fi
		exit "$rc"
	fi
	trap 'dt_abort $?' EXIT
	elapsed
	# The test's files: $T; pidfiles go in $T/pid.
	T=$DT_TMP
	mkdir -p "$T/pid"
	if [[ ${DT_PRIVATE_MOUNTS:-} == 1 ]]; then
		dt_private_mounts || bail "cannot make this namespace's mounts private"
	fi
	dt_private_dev || bail "cannot set up the private /dev, /run and syslog daemon"
	[[ -z ${HSVR_TEST_SECCOMP:-} ]] || dt_seccomp_wrappers
}

# HSVR_TEST_SECCOMP=1 runs every test server and hsvr-http with --seccomp,
# through a script that execs it (same pid, same arguments after it), to
# find the system calls the allowlist misses.  Under AddressSanitizer set
# ASAN_OPTIONS=detect_leaks=0 too (sandbox.sh says why).
dt_seccomp_wrappers() {
	local v w
	for v in DSRV HTTPD; do
		w=$DT_TMP/seccomp-${v,,}
		printf '#!/bin/sh\nexec %q --seccomp "$@"\n' "${!v}" >"$w"
		chmod 755 "$w"
		printf -v "$v" %s "$w"
	done
}

# Without a mount point at "/" (a chroot), make every mount this namespace
# sees private, deepest first, so that nothing mounted here reaches the
# host; then a /proc of the new pid namespace (what --mount-proc does).
dt_private_mounts() {
	local m
	while read -r m; do
		mount --make-private "$m" 2>/dev/null || :
	done < <(findmnt -rn -o TARGET | sort -r)
	# /proc must be private itself before a new one goes on it.
	findmnt -rn -o TARGET,PROPAGATION /proc | grep -q ' private$' || return 1
	mount -t proc -o nosuid,nodev,noexec proc /proc
}

dt_private_dev() {
	local i
	if [[ ${DT_PRIVATE_MOUNTS:-} == 1 ]] && ! mountpoint -q /dev; then
		return 1        # (nothing to make private under: see above)
	fi
	mount -t tmpfs -o mode=0755,size=1m hsvr-test-dev /dev || return 1
	mknod -m 666 /dev/null c 1 3 &&
		mknod -m 666 /dev/zero c 1 5 &&
		mknod -m 666 /dev/full c 1 7 &&
		mknod -m 666 /dev/random c 1 8 &&
		mknod -m 666 /dev/urandom c 1 9 &&
		mknod -m 666 /dev/tty c 5 0 || return 1
	ln -s /proc/self/fd /dev/fd
	ln -s /proc/self/fd/0 /dev/stdin
	ln -s /proc/self/fd/1 /dev/stdout
	ln -s /proc/self/fd/2 /dev/stderr
	mkdir /dev/shm && mount -t tmpfs -o mode=1777,size=16m hsvr-test-shm /dev/shm || return 1
	# In a chroot, a /run that is no mount point sits on a mount this
	# namespace cannot see nor make private: it stays as it is (it is the
	# chroot's own, thrown away with it).
	if [[ ${DT_PRIVATE_MOUNTS:-} != 1 ]] || mountpoint -q /run; then
		mount -t tmpfs -o mode=0755,size=4m hsvr-test-run /run || return 1
	fi
	if ! command -v busybox >/dev/null; then
		echo "# busybox is not installed: the daemon tests need its syslogd (apt-get install busybox)"
		return 1
	fi
	: >"$DT_TMP/syslog"
	busybox syslogd -n -O "$DT_TMP/syslog" &
	for ((i = 0; i < 100; i++)); do
		[[ -S /dev/log ]] && return 0
		sleep 0.05
	done
	echo "# busybox syslogd did not create /dev/log"
	return 1
}

# The line of trace file FILE for EVENT (the last one, or the Nth with N).
trace_line() {
	grep "^$2 " "$1" | sed -n "${3:-\$}p"
}

# In a ThreadSanitizer build, the tid of the runtime's own thread in the
# serving process PID: started in the child right after fork, before the
# privilege drop, it keeps the per-thread no_new_privs, bounding set and
# capabilities the drop gives up (it runs no code of hsvr's or the
# application's); the lowest tid after the main thread's.  Nothing in
# other builds.
dt_tsan_runtime_tid() {
	local t min=''
	grep -q 'enable-sanitizers=thread' "$dt_builddir/config.status" 2>/dev/null || return 0
	for t in /proc/"$1"/task/*; do
		t=${t##*/}
		[[ $t == "$1" || ! $t =~ ^[0-9]+$ ]] && continue
		if [[ -z $min ]] || ((t < min)); then min=$t; fi
	done
	[[ -n $min ]] && echo "$min"
	return 0
}
