#!/bin/bash
# tests/reliab/hashflood.sh - keys chosen to collide, for make stress only
# (make check runs tests/t-tables and tests/perip.sh once each): the
# "hash-flood" row of tests/RELIABILITY.md.
#  - tests/t-tables RUNS times (20; 3 without RELIAB_STRESS), each run with
#    fresh random SipHash keys: the S_search index under 50,000 sessions of
#    one /64 and under 50,000 chosen so that the old unkeyed hash put them
#    all in one chain, the per-IP table under 50,000 addresses of one /64
#    and under 50,000 /64s; every chain within the bound (32), every
#    session found, the lookup and take rates kept;
#  - tests/perip.sh once: --max-per-ip counts an IPv6 /64 as one address
#    (six addresses of fd00:a::/64 in a network namespace of its own) and
#    lingering closes hold their slot.
# Every run is bounded by timeout(1): a hash that chains the chosen keys
# again takes minutes a run (2,191 lookups/s against about 1,000,000), and
# fails.

# ck evaluates its single-quoted conditions itself, with variables set
# here: shellcheck sees none of it.
# shellcheck disable=SC2016,SC2034 source-path=SCRIPTDIR
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

t_setup
t_srcdir=${RELIAB_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
TABLES=$t_builddir/tests/t-tables
RUNS=3
((STRESS)) && RUNS=20
must "tests/t-tables is built" '[[ -x $TABLES ]]'

# rates KEY: the per-second figures of every run for the note KEY, one a
# line (from "# KEY: N lookups/s ..." or "# KEY: N takes/s").
rates() {
	sed -n "s/^# $1: \([0-9]*\) [a-z]*\/s.*/\1/p" "$T"/tables-*.out
}
# lo_med: the smallest and the median of numbers on stdin, "MIN/MEDIAN".
lo_med() {
	sort -n | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "-"; exit }
		printf "%d/%d\n", v[1], v[int((NR + 1) / 2)] }'
}

runs=0 fails=0
for ((r = 1; r <= RUNS; r++)); do
	timeout "$((60 * SCALE))" "$TABLES" >"$T/tables-$r.out" 2>&1
	rc=$?
	runs=$r
	if ((rc != 0)); then
		say "t-tables run $r: exit $rc"
		sed 's/^/#   /' "$T/tables-$r.out" | grep -v '^#   ok ' | tail -n 20
		fails=$((fails + 1))
		break
	fi
done
ck "t-tables: $runs runs with fresh keys, every check passed ($fails failed)" \
	'((runs == RUNS && fails == 0))'

# Sessions found and chains, over every run.
found=$(sed -n 's/.*S_search finds each (\([0-9]*\) found, \([0-9]*\) wrong).*/\1 \2/p' "$T"/tables-*.out |
	awk '{ f += $1; w += $2; n++ } END { printf "%d %d %d\n", n, f, w }')
read -r lookups_rounds found wrong <<<"$found"
longest=$(sed -n 's/.*longest chain \([0-9]*\) (bound.*/\1/p' "$T"/tables-*.out | sort -n | tail -n 1)
ck "S_search found each of the $((lookups_rounds * 50000)) sessions ($found found, $wrong wrong)" \
	'((lookups_rounds == 2 * runs && found == lookups_rounds * 50000 && wrong == 0))'
ck "longest chain of any table in any run: ${longest:-none} (bound 32)" \
	'[[ -n $longest ]] && ((longest <= 32))'
chosen=$(rates "index, 50,000 sessions that collided in the old hash" | lo_med)
random=$(rates "index, 50,000 random sessions from one \/64" | lo_med)
one64=$(rates "perip, 50,000 addresses of one \/64" | lo_med)
many64=$(rates "perip, 50,000 \/64s" | lo_med)
say "lookups/s (least/median): chosen keys $chosen, random $random; takes/s: one /64 $one64, 50,000 /64s $many64"
# A tenth of the random keys' rate would still be 50 times the old hash's.
ck "the chosen keys are looked up about as fast as random ones ($chosen against $random)" \
	'[[ $chosen != - && $random != - ]] && ((10 * ${chosen%/*} >= ${random#*/}))'

# The per-IP limit over a /64, in a network namespace of its own.
HSVR_TEST_BINDIR=$t_builddir/tests timeout "$((120 * SCALE))" \
	sh "$t_srcdir/tests/perip.sh" >"$T/perip.out" 2>&1
prc=$?
p_ok=$(grep -c '^ok ' "$T/perip.out")
p_bad=$(grep -c '^not ok ' "$T/perip.out")
grep -E '^not ok |^# no network namespace' "$T/perip.out" | sed 's/^/#   /'
ck "tests/perip.sh: $p_ok checks passed, $p_bad failed" '((prc == 0 && p_bad == 0 && p_ok > 0))'
netns=yes
grep -q '^# no network namespace' "$T/perip.out" && netns=no

figures hash-flood \
	"conns=-" \
	"requests=$((lookups_rounds * 50000 + runs * 100000))" \
	"bytes=-" \
	"faults=-" \
	"bad=one-chain-keys:50000,one-/64-addresses:50000" \
	"lost=$((lookups_rounds * 50000 - found + wrong))" \
	"rss_kb=-" \
	"fds=-" \
	"p99_ms=-" \
	"result=$( ((t_failed)) && echo FAIL || echo pass)" \
	"runs=$runs" \
	"lookups_per_s_chosen=$chosen" \
	"lookups_per_s_random=$random" \
	"takes_per_s_one_64=$one64" \
	"takes_per_s_50000_64s=$many64" \
	"longest_chain=${longest:--}/32" \
	"perip_checks=$p_ok/$((p_ok + p_bad)),netns:$netns"
