#!/bin/bash
# tests/reliab/fuzz.sh - hostile input, for make stress only (make check
# runs tests/fuzz/fuzz.sh for 15 s a target itself): the http example's
# parser and server code under libFuzzer for FUZZ_STRESS_TIME seconds a
# target (default 120), then the FIGURES line for tests/RELIABILITY.md:
# inputs run, failures found (must be 0).
. "$(dirname "$0")/lib.sh"

t_setup
t_srcdir=${RELIAB_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
if ! grep -q '^S\["HSVR_FUZZER"\]="yes"' "$t_builddir/config.status" 2>/dev/null; then
	say "configure found no clang that links -fsanitize=fuzzer: skipped"
	trap - EXIT
	rm -rf "$T"
	exit 77
fi
secs=${FUZZ_STRESS_TIME:-120}
((STRESS)) || secs=10
out=$(top_builddir=$t_builddir top_srcdir=$t_srcdir HSVR_FUZZER=yes \
	FUZZ_TIME=$secs bash "$t_srcdir/tests/fuzz/fuzz.sh" 2>&1)
rc=$?
printf '%s\n' "$out" | sed 's/^/# /'
runs=0
while read -r n; do
	runs=$((runs + n))
done < <(printf '%s\n' "$out" | sed -n 's/^ok .* s of fuzzing, \([0-9]*\) inputs run.*/\1/p')
ck "two libFuzzer targets, $secs s each, $runs inputs, no failure" \
	'((rc == 0 && runs > 0))'
figures hostile-input \
	"conns=-" \
	"requests=$runs" \
	"bytes=-" \
	"faults=-" \
	"bad=libFuzzer-inputs:$runs,failures:$( ((rc == 0)) && echo 0 || echo '>0')" \
	"lost=0" \
	"rss_kb=-" \
	"fds=-" \
	"p99_ms=-" \
	"result=$( ((t_failed)) && echo FAIL || echo pass)"
