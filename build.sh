#!/usr/bin/env bash
# build.sh - set up a Debian 12 machine, then build hsvr and run or test it.
#
#   ./build.sh run    install what is missing, build in _build/run and run
#                     the http example on port 8080 in the foreground
#   ./build.sh test   install what is missing, then build and test in _build/:
#                     -Werror, AddressSanitizer+UBSan, ThreadSanitizer and
#                     distcheck; the last line is "N passed, N failed, N skipped"
#
# Meant for root on Debian 12, down to a minimal debootstrap; as another user
# it works once every package below is installed.  Builds are out of tree, in
# _build/, so the source tree must not be configured in place.
set -euo pipefail

# Every Debian package that building and testing hsvr needs, in one place
# (bench/run.sh installs what the benchmarks need besides).  clang (with its
# libFuzzer runtime, libclang-rt-dev, only recommended) runs the fuzz
# tests, cppcheck and clang-tidy the lint test.
# openssl makes the TLS tests' certificates; busybox is the syslogd of the
# daemon tests (tests/daemon/lib.sh); systemd brings systemd-analyze, which
# verifies the unit (no systemd runs: packages start no services here); the
# instantiated service scripts are checked with shellcheck.  gcovr reports
# make coverage (configure --enable-coverage).  debhelper and lintian build
# and check the Debian packages of debian/ (tests/deb.sh).
PACKAGES=(
	build-essential autoconf automake libtool pkg-config
	libevent-dev libssl-dev libseccomp-dev
	git ca-certificates openssl mandoc file
	apache2-utils wrk curl netcat-openbsd procps iproute2 valgrind
	busybox systemd shellcheck clang libclang-rt-dev cppcheck clang-tidy
	gcovr systemd-container debootstrap haproxy prometheus
	nginx-light libnginx-mod-stream
	debhelper lintian
)

JOBS=2
PORT=8080
# Time limit in seconds of one make command, so that a hung test cannot eat
# the whole CI run; the stage then fails and the others still run.
STEP_TIMEOUT=${HSVR_STEP_TIMEOUT:-1500}
DISTCHECK_TIMEOUT=${HSVR_DISTCHECK_TIMEOUT:-1200}
# The stages "test" runs; a developer may pick some, e.g. HSVR_STAGES=tsan.
STAGES_WANTED=${HSVR_STAGES:-werror asan tsan distcheck}

top=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$top"

say() { printf 'build.sh: %s\n' "$*"; }
die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }

usage() {
	cat <<EOF
usage: ./build.sh run | test
  run   install missing Debian packages, build, and run examples/hsvr-http
        on port $PORT in the foreground (Ctrl-C stops it)
  test  install missing Debian packages, build and test with -Werror, with
        AddressSanitizer, with ThreadSanitizer, and make distcheck
environment: HSVR_STAGES (default "werror asan tsan distcheck"),
  HSVR_STEP_TIMEOUT (1500) and HSVR_DISTCHECK_TIMEOUT (1200) seconds
EOF
}

# ---------------------------------------------------------------- packages

POLICY_RCD=/usr/sbin/policy-rc.d
POLICY_RCD_OURS=0

cleanup() {
	if ((POLICY_RCD_OURS)); then
		rm -f "$POLICY_RCD"
		POLICY_RCD_OURS=0
	fi
}
trap cleanup EXIT

missing_packages() {
	local p st
	for p in "${PACKAGES[@]}"; do
		# shellcheck disable=SC2016 # a dpkg-query format, not a shell expansion
		st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
		[[ $st == ?i* ]] || printf '%s\n' "$p"
	done
}

# Install the missing packages; apt is not touched when none is missing.
install_packages() {
	local missing
	if ! command -v dpkg-query >/dev/null 2>&1; then
		say "not a Debian system: make sure these are installed: ${PACKAGES[*]}"
		return 0
	fi
	mapfile -t missing < <(missing_packages)
	((${#missing[@]})) || return 0
	((EUID == 0)) || die "missing packages: ${missing[*]}; as root run: apt-get install ${missing[*]}"
	say "installing ${missing[*]}"
	# Installing must start no service: policy-rc.d exiting 101 forbids it.
	if [[ ! -e $POLICY_RCD ]]; then
		printf '#!/bin/sh\n# written by hsvr build.sh while installing\nexit 101\n' >"$POLICY_RCD"
		chmod 755 "$POLICY_RCD"
		POLICY_RCD_OURS=1
	fi
	apt-get -q update
	DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends "${missing[@]}"
	cleanup
}

# ---------------------------------------------------------------- building

bootstrap() {
	if [[ ! -x configure || ! -f Makefile.in || configure -ot configure.ac ||
		configure -ot Makefile.am ]]; then
		say "autoreconf -fi"
		autoreconf -fi
	fi
	# An in-place configuration makes every out-of-tree configure refuse.
	if [[ -f config.status ]]; then
		say "the source tree is configured in place; make distclean there first"
		make distclean >/dev/null || die "make distclean failed in $top"
	fi
}

# configure_in DIR FLAGS...: run ../../configure FLAGS in _build/DIR.
configure_in() {
	local dir=$1
	shift
	mkdir -p "$dir"
	say "in $dir: ../../configure $*"
	if ! (cd "$dir" && ../../configure "$@") >"$dir/configure.out" 2>&1; then
		tail -n 25 "$dir/configure.out"
		say "configure failed in $dir; see $dir/config.log"
		return 1
	fi
}

# ---------------------------------------------------------------- run

run_server() {
	install_packages
	bootstrap
	configure_in _build/run || exit 1
	make -C _build/run -j"$JOBS"
	say "hsvr-http serves on port $PORT of every address, in the foreground; try: curl http://127.0.0.1:$PORT/ | wc -c   (Ctrl-C stops it)"
	exec _build/run/examples/hsvr-http -x -p "$PORT"
}

# ---------------------------------------------------------------- test

STAGE_ENV=()   # VAR=value for the running stage
STAGE_WRAP=()  # command prefix for the running stage (setarch)
STAGE_PID=
STAGE_NAME=
STAGES=()      # one "name|result|passed|failed|skipped|seconds" per stage
TOTAL_PASS=0
TOTAL_FAIL=0
TOTAL_SKIP=0
# What failed, said again just above the final table: CI keeps only the end
# of what a run prints, and the failed checks are the part worth keeping.
DIGEST=_build/failed-checks.txt

on_signal() {
	[[ -z $STAGE_PID ]] || kill -TERM "$STAGE_PID" 2>/dev/null || true
	exit 130
}

# in_stage DIR TIMEOUT COMMAND...: run COMMAND in DIR with the stage's
# environment and wrapper and a time limit.  timeout(1) puts the command in
# its own process group, whose id is its pid, and kills that whole group
# when time is up: with SIGKILL, because on SIGTERM make deletes the logs
# of the tests it was running, the very logs that say where they hung.
# What is still left in the group afterwards (a server a test left behind)
# is killed here, so that it cannot disturb the next stage.
in_stage() {
	local dir=$1 limit=$2 rc=0 pid left start=$SECONDS
	shift 2
	(cd "$dir" && exec env "${STAGE_ENV[@]}" "${STAGE_WRAP[@]}" timeout -s KILL "$limit" "$@") &
	pid=$!
	STAGE_PID=$pid
	wait "$pid" || rc=$?
	STAGE_PID=
	if ((rc == 124 || (rc == 137 && SECONDS - start >= limit))); then
		say "in $dir: '$*' timed out after ${limit}s"
		rc=124
	fi
	left=$(ps -eo pgid=,stat=,pid=,args= 2>/dev/null |
		awk -v g="$pid" '$1 == g && $2 !~ /^Z/ { $1 = $2 = ""; print }' || true)
	if [[ -n $left ]]; then
		say "in $dir: killing what '$*' left running:"
		printf '%s\n' "$left"
		kill -KILL -- "-$pid" 2>/dev/null || true
	fi
	return "$rc"
}

# record NAME RESULT PASSED FAILED SKIPPED START
record() {
	local secs=$((SECONDS - $6))
	STAGES+=("$1|$2|$3|$4|$5|$secs")
	TOTAL_PASS=$((TOTAL_PASS + $3))
	TOTAL_FAIL=$((TOTAL_FAIL + $4))
	TOTAL_SKIP=$((TOTAL_SKIP + $5))
	say "stage $1: $2 ($3 passed, $4 failed, $5 skipped) in ${secs}s"
}

# read_counts LOG: set T_PASS, T_FAIL, T_SKIP from the header of an automake
# test-suite.log.  Returns 1 if there is no such file.
read_counts() {
	local k v
	T_PASS=0 T_FAIL=0 T_SKIP=0
	[[ -f $1 ]] || return 1
	while read -r k v; do
		case $k in
		PASS | XFAIL) T_PASS=$((T_PASS + v)) ;;
		FAIL | ERROR | XPASS) T_FAIL=$((T_FAIL + v)) ;;
		SKIP) T_SKIP=$((T_SKIP + v)) ;;
		esac
	done < <(awk '/^\.\. contents::/ { exit }
		/^# [A-Z]+: *[0-9]+$/ {
			k = substr($2, 1, length($2) - 1)
			if (!(k in seen)) { seen[k] = 1; print k, $3 }
		}' "$1")
}

# show_failures DIR: the tail of the log of every test that test-suite.log
# in DIR lists as FAIL, ERROR or XPASS.
show_failures() {
	local dir=$1 name log
	[[ -f $dir/test-suite.log ]] || return 0
	while read -r name; do
		log=$dir/$name.log
		say "---- $name.log (its failed checks, then the last 40 lines) ----"
		if [[ -f $log ]]; then
			grep -E '^not ok' "$log" | head -n 20
			tail -n 40 "$log"
			{
				printf '%s: %s\n' "$STAGE_NAME" "$name"
				grep -E '^(not ok|Bail out)|FAIL|ERROR|error:|timed out' "$log" |
					head -n 8 | sed 's/^/    /'
			} >>"$DIGEST"
		else
			say "(no $log)"
			printf '%s: %s (no log)\n' "$STAGE_NAME" "$name" >>"$DIGEST"
		fi
	done < <(awk '/^=+$/ && prev ~ /^(FAIL|ERROR|XPASS): / && length($0) == length(prev) {
			sub(/^[A-Z]+: /, "", prev); print prev
		}
		{ prev = $0 }' "$dir/test-suite.log")
}

# show_unfinished DIR STAMP: the tail of the log of every test that started
# after STAMP but did not finish (a .log without its .trs), as when the time
# limit stopped it.
show_unfinished() {
	local dir=$1 stamp=$2 log
	while read -r log; do
		[[ ! -f ${log%.log}.trs ]] || continue
		say "---- ${log#"$dir"/} (unfinished; last 40 lines) ----"
		tail -n 40 "$log"
		printf '%s: %s (unfinished)\n' "$STAGE_NAME" "${log#"$dir"/}" >>"$DIGEST"
	done < <(find "$dir" -name '*.log' ! -name test-suite.log \
		! -name config.log -newer "$stamp" 2>/dev/null | sort)
}

# check_stage NAME DIR CONFIGURE-FLAGS...: configure, build and make check
# in DIR, with STAGE_ENV and STAGE_WRAP.
check_stage() {
	local name=$1 dir=$2 start=$SECONDS rc=0 check_jobs
	shift 2
	STAGE_NAME=$name
	say "==== stage $name ===="
	if ! configure_in "$dir" "$@"; then
		record "$name" "configure FAILED" 0 1 0 "$start"
		return 0
	fi
	if ! in_stage "$dir" "$STEP_TIMEOUT" make -j"$JOBS"; then
		record "$name" "build FAILED" 0 1 0 "$start"
		return 0
	fi
	rm -f "$dir/test-suite.log"
	touch "$dir/.check-start"
	# Sanitized tests are slow and many are timed (idle timeouts, drains,
	# back-pressure): one at a time, so that they do not starve each other
	# on a 2-CPU machine.
	case $name in
	asan | tsan) check_jobs=1 ;;
	*) check_jobs=$JOBS ;;
	esac
	in_stage "$dir" "$STEP_TIMEOUT" make -j"$check_jobs" check || rc=$?
	read_counts "$dir/test-suite.log" || true
	if ((rc != 0)); then
		show_failures "$dir"
		show_unfinished "$dir" "$dir/.check-start"
		# make check failed, yet no test did: count the stage itself.
		((T_FAIL > 0)) || T_FAIL=1
		record "$name" "check FAILED" "$T_PASS" "$T_FAIL" "$T_SKIP" "$start"
	elif ((T_PASS + T_FAIL + T_SKIP == 0)); then
		say "WARNING: stage $name ran no test"
		record "$name" "ok, no tests" 0 0 0 "$start"
	else
		record "$name" ok "$T_PASS" "$T_FAIL" "$T_SKIP" "$start"
	fi
}

# tsan_wrapper DIR: set STAGE_WRAP so that ThreadSanitizer programs can start.
# gcc 12's TSan dies with "FATAL: ThreadSanitizer: unexpected memory mapping"
# on kernels whose mmap randomisation (vm.mmap_rnd_bits) exceeds what it
# knows; setarch -R turns address randomisation off for the tests.
tsan_wrapper() {
	local dir=$1 probe=$1/tsan-probe
	STAGE_WRAP=()
	mkdir -p "$dir"
	if ! printf '%s\n' '#include <pthread.h>' \
		'static void *run(void *a) { return a; }' \
		'int main(void) { pthread_t t; void *r; pthread_create(&t, 0, run, 0);' \
		'  pthread_join(t, &r); return r != 0; }' |
		"${CC:-cc}" -fsanitize=thread -pthread -x c -o "$probe" - 2>"$probe.err"; then
		say "cannot build a ThreadSanitizer program:"
		cat "$probe.err"
		return 0
	fi
	# The probe may start while a bigger program does not (the mapping is
	# random): whenever setarch -R works, use it for the whole stage.
	if setarch "$(uname -m)" -R "$probe" >/dev/null 2>&1; then
		say "running the ThreadSanitizer stage under setarch -R (no address randomisation)"
		STAGE_WRAP=(setarch "$(uname -m)" -R)
	elif ! "$probe" >"$probe.out" 2>&1; then
		head -n 3 "$probe.out"
		say "ThreadSanitizer cannot start, even under setarch -R"
	fi
}

distcheck_stage() {
	local dir=_build/default start=$SECONDS sub
	say "==== stage distcheck ===="
	STAGE_NAME=distcheck
	STAGE_ENV=() STAGE_WRAP=()
	if [[ ! -f $dir/Makefile ]]; then
		say "no $dir/Makefile: the werror stage did not configure"
		record distcheck "FAILED" 0 1 0 "$start"
		return 0
	fi
	touch "$dir/.distcheck-start"
	# Its hundreds of lines of make output go to a file (the end of it is
	# shown if it fails), so that the end of the run stays readable.
	if in_stage "$dir" "$DISTCHECK_TIMEOUT" make -j"$JOBS" distcheck \
		DISTCHECK_CONFIGURE_FLAGS=--enable-werror >"$dir/distcheck.out" 2>&1; then
		grep -A 2 'archives ready' "$dir/distcheck.out" || true
		record distcheck ok 1 0 0 "$start"
	else
		say "---- make distcheck failed; the last 60 lines of $dir/distcheck.out ----"
		tail -n 60 "$dir/distcheck.out"
		printf 'distcheck: make distcheck failed (see %s)\n' "$dir/distcheck.out" >>"$DIGEST"
		# What make check said inside the unpacked tarball, if it got there.
		for sub in "$dir"/hsvr-*/_build/sub; do
			[[ -d $sub ]] || continue
			show_failures "$sub"
			show_unfinished "$sub" "$dir/.distcheck-start"
		done
		record distcheck FAILED 0 1 0 "$start"
	fi
}

wanted() { [[ " $STAGES_WANTED " == *" $1 "* ]]; }

run_tests() {
	local s name result pass fail skip secs start=$SECONDS
	install_packages
	trap on_signal INT TERM
	say "$(uname -srm); $("${CC:-cc}" --version | head -n 1); $(nproc) cores"
	bootstrap
	mkdir -p _build
	: >"$DIGEST"

	if wanted werror; then
		STAGE_ENV=() STAGE_WRAP=()
		check_stage werror _build/default --enable-werror
	fi
	if wanted asan; then
		STAGE_ENV=(ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
			UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)
		STAGE_WRAP=()
		check_stage asan _build/asan --enable-sanitizers=address --enable-werror
	fi
	if wanted tsan; then
		STAGE_ENV=(TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1)
		tsan_wrapper _build/tsan
		check_stage tsan _build/tsan --enable-sanitizers=thread --enable-werror
	fi
	if wanted distcheck; then
		distcheck_stage
	fi
	((${#STAGES[@]})) || die "HSVR_STAGES='$STAGES_WANTED' names no stage"

	echo
	if [[ -s $DIGEST ]]; then
		say "what failed (the logs are shown above):"
		head -n 60 "$DIGEST"
		echo
	fi
	say "stage      result            passed  failed skipped    time"
	for s in "${STAGES[@]}"; do
		IFS='|' read -r name result pass fail skip secs <<<"$s"
		printf 'build.sh: %-10s %-16s %7d %7d %7d %6ds\n' \
			"$name" "$result" "$pass" "$fail" "$skip" "$secs"
	done
	say "all stages: $((SECONDS - start))s"
	printf '%d passed, %d failed, %d skipped\n' "$TOTAL_PASS" "$TOTAL_FAIL" "$TOTAL_SKIP"
	((TOTAL_FAIL == 0))
}

case ${1:-} in
run) run_server ;;
test) run_tests ;;
-h | --help | help) usage ;;
*)
	usage >&2
	exit 64
	;;
esac
