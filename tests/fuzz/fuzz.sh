#!/bin/bash
# tests/fuzz/fuzz.sh - replays the committed seeds through the libFuzzer targets, then fuzzes each for a while.
#
# For each target (fuzz-http: examples/http-parser.c; fuzz-http-server:
# examples/http.c on a stand-in for libhsvr; fuzz-proxy: lib/proxy.c):
#   1. every seed of tests/fuzz/corpus/http/ (fuzz-proxy: corpus/proxy/)
#      runs once and passes;
#   2. libFuzzer mutates them for FUZZ_TIME seconds without a failure.
# New inputs go to FUZZ_CORPUS/corpus-TARGET/ when FUZZ_CORPUS is set (make
# fuzz), else to a temporary directory removed at the end: the committed
# seeds are only read.  An input that fails is kept in the build directory
# as tests/fuzz/TARGET-crash-SHA1 (or -timeout-, -leak-, -oom-), with the
# run's output in tests/fuzz/TARGET.fuzz.log; add it to the seeds once the
# bug is fixed.
#
# Environment: top_builddir, top_srcdir (absolute), HSVR_FUZZER (configure:
# "yes" if $CLANG links -fsanitize=fuzzer; else this exits 77, skipped),
# FUZZ_TIME (seconds per target, default 15).
set -u

: "${top_builddir:?}" "${top_srcdir:?}"
FUZZ_TIME=${FUZZ_TIME:-15}
FUZZ_CORPUS=${FUZZ_CORPUS:-}

if [[ ${HSVR_FUZZER:-no} != yes ]]; then
	echo "1..0 # SKIP configure found no clang that links -fsanitize=fuzzer"
	exit 77
fi
case $FUZZ_TIME in '' | *[!0-9]*)
	echo "Bail out! FUZZ_TIME='$FUZZ_TIME' is no number of seconds"
	exit 99
	;;
esac

out=$top_builddir/tests/fuzz
# shellcheck source=../tap.sh
. "$(dirname "$0")/../tap.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/hsvr-fuzz-XXXXXX") || exit 99
trap 'rm -rf "$work"' EXIT
trap 'exit 1' INT TERM

# report TARGET LOG: what went wrong, and where the failing input is kept.
report() {
	local t=$1 log=$2 a
	cp "$log" "$out/$t.fuzz.log"
	# The input that failed, when replaying the seeds; then the report
	# without libFuzzer's and libc's own frames.
	grep '^Running: ' "$log" | tail -n 1 | sed 's/^/# /'
	grep -E 'ERROR|SUMMARY|fuzz-http|fuzz-proxy|runtime error|#[0-9]+ 0x' "$log" |
		grep -vE 'fuzzer::|libc|__sanitizer|/nptl/|/stdlib/|/signal/' |
		head -n 30 | sed 's/^/# /'
	for a in "$out/$t"-*-*; do
		[[ -f $a && $a != *.fuzz.log ]] || continue
		echo "# failing input kept in $a; its first bytes:"
		od -c "$a" | head -n 8 | sed 's/^/#   /'
	done
	echo "# libFuzzer's output: $out/$t.fuzz.log"
}

# Inputs for the server go past its 64 KiB input buffer; the parser decides
# every head within 33 KiB.
max_len() {
	case $1 in
	fuzz-http-server) echo 100000 ;;
	fuzz-proxy) echo 70000 ;;      # the longest v2 header, and past it
	*) echo 40000 ;;
	esac
}

for t in fuzz-http fuzz-http-server fuzz-proxy; do
	# The seeds and the dictionary of a target.
	case $t in
	fuzz-proxy)
		seeds=$top_srcdir/tests/fuzz/corpus/proxy
		dict=()
		;;
	*)
		seeds=$top_srcdir/tests/fuzz/corpus/http
		dict=(-dict="$top_srcdir/tests/fuzz/http.dict")
		;;
	esac
	nseeds=$(find "$seeds" -type f | wc -l)
	bin=$out/$t
	if [[ ! -x $bin ]]; then
		not_ok "$t: $bin was not built"
		continue
	fi
	rm -f "$out/$t"-*-* "$out/$t.fuzz.log"
	common=(-timeout=10 -rss_limit_mb=2048 -error_exitcode=1
		-timeout_exitcode=1 "-artifact_prefix=$out/$t-")

	log=$work/$t.replay
	if "$bin" "${common[@]}" "$seeds"/* >"$log" 2>&1; then
		ok "$t: the $nseeds committed seeds pass"
	else
		not_ok "$t: a committed seed fails"
		report "$t" "$log"
		continue
	fi

	if [[ -n $FUZZ_CORPUS ]]; then
		corpus=$FUZZ_CORPUS/corpus-$t
	else
		corpus=$work/corpus-$t
	fi
	mkdir -p "$corpus" || exit 99
	before=$(find "$corpus" -type f | wc -l)
	log=$work/$t.fuzz
	if "$bin" "${common[@]}" -max_len="$(max_len "$t")" "${dict[@]}" \
		-max_total_time="$FUZZ_TIME" -print_final_stats=1 \
		"$corpus" "$seeds" >"$log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		new=$(($(find "$corpus" -type f | wc -l) - before))
		ok "$t: $FUZZ_TIME s of fuzzing, ${runs:-?} inputs run, $new new in the corpus, no failure"
		if [[ -n $FUZZ_CORPUS ]]; then
			cp "$log" "$out/$t.fuzz.log"
			echo "# corpus: $corpus; libFuzzer's output: $out/$t.fuzz.log"
		fi
	else
		not_ok "$t: fuzzing found a failing input"
		report "$t" "$log"
	fi
done
echo "1..$n"
exit "$failed"
