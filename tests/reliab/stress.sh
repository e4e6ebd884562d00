#!/bin/bash
# tests/reliab/stress.sh - make stress: the long version of every fault and
# abuse scenario (and of the reload, TLS flood and hash flood tests of
# issue #12), one after the other, then tests/RELIABILITY.md from their
# figures (in the source tree when it is writable, else in the build
# directory).  Each scenario's output is kept in
# tests/reliab/stress-NAME.log of the build directory, their figures in
# tests/reliab/stress-figures.txt.  Exits 1 if any
# scenario failed (the table says which).
set -u

builddir=${RELIAB_BUILDDIR:-$PWD}
srcdir=${RELIAB_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
scenarios=(vanish fdexhaust slow slowread oom leaks churn fuzz reload tls-flood
	hash-flood tls-scan)
[[ -z ${RELIAB_ONLY:-} ]] || read -ra scenarios <<<"$RELIAB_ONLY"

# The scenarios' FIGURES lines, kept next to their logs.
figs=$builddir/tests/reliab/stress-figures.txt
mkdir -p "$builddir/tests/reliab"
: >"$figs"
export RELIAB_STRESS=1 RELIAB_FIGURES=$figs RELIAB_BUILDDIR=$builddir

# script NAME: the scenario's script (tests/reliab/NAME.sh unless named
# here: the long versions of tests of other suites).
script() {
	case $1 in
	reload) echo "$srcdir/tests/daemon/reloadloss.sh" ;;
	tls-flood) echo "$srcdir/tests/tls/flood.sh" ;;
	hash-flood) echo "$srcdir/tests/reliab/hashflood.sh" ;;
	tls-scan) echo "$srcdir/tests/tls/scan.sh" ;;
	*) echo "$srcdir/tests/reliab/$1.sh" ;;
	esac
}

failed=0
runs=()
t_all=$SECONDS
rm -f "$builddir/tests/reliab/stress-tls-scan.md"
for s in "${scenarios[@]}"; do
	log=$builddir/tests/reliab/stress-$s.log
	t0=$SECONDS
	printf 'stress: %-10s ' "$s"
	script=$(script "$s")
	if [[ -f $script ]]; then
		(cd "$builddir" && bash "$script") >"$log" 2>&1
		rc=$?
	else
		echo "SKIP: $script is not in this tree" >"$log"
		rc=77
	fi
	oks=$(grep -c '^ok' "$log")
	bad=$(grep -c '^not ok' "$log")
	((rc == 0 || rc == 77)) || failed=1
	printf '%s in %ds (%d checks passed, %d failed)\n' \
		"$( ((rc == 0)) && echo pass || { ((rc == 77)) && echo skipped || echo FAIL; })" \
		$((SECONDS - t0)) "$oks" "$bad"
	grep '^not ok' "$log" | sed 's/^/stress:   /'
	runs+=("$s|$rc|$((SECONDS - t0))|$oks|$bad|${script#"$srcdir"/}")
done

# ---- tests/RELIABILITY.md

# kv LINE KEY: the value of KEY=VALUE in a FIGURES line, "-" if absent.
kv() {
	local re="(^|[[:space:]])$2=([^[:space:]]*)"
	if [[ $1 =~ $re ]]; then echo "${BASH_REMATCH[2]}"; else echo -; fi
}

# human BYTES: 1.2 GiB, 3.4 MiB, 5.6 KiB.
human() {
	awk -v b="$1" 'BEGIN {
		if (b !~ /^[0-9]+$/) { print b; exit }
		if (b >= 1073741824) printf "%.1f GiB\n", b / 1073741824
		else if (b >= 1048576) printf "%.1f MiB\n", b / 1048576
		else if (b >= 1024) printf "%.1f KiB\n", b / 1024
		else printf "%d B\n", b }'
}

# mib KB[+KB]: resident sizes from kB to MiB ("-" when not measured).
mib() {
	local out='' part
	[[ $1 != - ]] || { echo -; return; }
	IFS=+ read -ra parts <<<"$1"
	for part in "${parts[@]}"; do
		[[ $part =~ ^[0-9]+$ ]] && part=$(awk -v k="$part" 'BEGIN { printf "%.1f", k / 1024 }')
		out+=${out:+ + }$part
	done
	echo "${out} MiB"
}

# The keys every row has; the rest go to "Notes".
common=" scenario conns requests bytes faults bad lost rss_kb fds p99_ms result "

row() {
	local line=$1 notes='' w k
	for w in $line; do
		[[ $w == *=* ]] || continue
		k=${w%%=*}
		[[ $common == *" $k "* ]] && continue
		notes+="${notes:+, }${w/=/ }"
	done
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
		"$(kv "$line" scenario)" "$(kv "$line" conns)" "$(kv "$line" requests)" \
		"$(human "$(kv "$line" bytes)")" "$(kv "$line" faults | tr ',' ' ')" \
		"$(kv "$line" bad | tr ',' ' ')" "$(kv "$line" lost)" \
		"$(mib "$(kv "$line" rss_kb)")" "$(kv "$line" fds)" \
		"$(kv "$line" p99_ms)" "$(kv "$line" result)" "${notes:--}"
}

commit=$(git -C "$srcdir" rev-parse --short HEAD 2>/dev/null || echo "(not a git tree)")
dirty=$(git -C "$srcdir" status --porcelain --untracked-files=no -- lib include tests 2>/dev/null | head -n 1)
flags=$(sed -n 's/^ *\$ .*configure *//p' "$builddir/config.log" 2>/dev/null | head -n 1)
md=$(mktemp "${TMPDIR:-/tmp}/reliab-md.XXXXXX") || exit 99
{
	echo "# hsvr reliability figures"
	echo
	echo "Written by \`make stress\` (tests/reliab/stress.sh) from a real run: the"
	echo "long version of every scenario of the fault and abuse suite (issue #7)"
	echo "and of the reload, TLS handshake flood and hash flood tests (issue #12),"
	echo "loopback only.  Do not edit by hand; run \`make stress\` again."
	echo
	echo "- run: $(date -u '+%Y-%m-%d %H:%M UTC'), $((SECONDS - t_all)) s; commit $commit${dirty:+ (with local changes)}"
	echo "- machine: $(uname -sr), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end (shared with other jobs)"
	echo "- build: configure ${flags:-(default)}; servers run with 2 workers unless the scenario says"
	echo
	echo "Columns: connections opened against the server (+probe: the"
	echo "well-behaved client besides), requests (round trips, commands,"
	echo "messages), bytes the server wrote, the faults injected and the bad"
	echo "input sent, bytes of accepted data lost (must be 0; requests for reload"
	echo "and tls-flood, sessions not found for hash-flood), the serving"
	echo "process's peak RSS and descriptors (from /proc), and the p99 round"
	echo "trip of the well-behaved client during the attack (plain/TLS where two)."
	echo
	echo "| Scenario | Connections | Requests | Bytes | Faults injected | Bad input | Lost | Peak RSS | Peak fds | p99 ms | Result | Notes |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
	while IFS= read -r line; do
		row "${line#FIGURES }"
	done <"$figs"
	echo
	echo "Scenario runs:"
	echo
	for r in "${runs[@]}"; do
		IFS='|' read -r s rc secs oks bad path <<<"$r"
		why=$(grep -m1 -E '^(# )?SKIP|: skipped$' "$builddir/tests/reliab/stress-$s.log" 2>/dev/null)
		why=${why#\# }
		echo "- $s ($path): $( ((rc == 0)) && echo pass || { ((rc == 77)) && echo "skipped${why:+ ($why)}" || echo "**FAIL**"; }) in $secs s ($oks checks passed, $bad failed)"
	done
	echo
	echo "What each scenario does and how each was shown to fail without its"
	echo "protection: tests/reliab/README."
	# tests/tls/scan.sh: testssl.sh's findings, hsvr and nginx side by side
	if [[ -s $builddir/tests/reliab/stress-tls-scan.md ]]; then
		echo
		cat "$builddir/tests/reliab/stress-tls-scan.md"
	fi
} >"$md"

dest=$srcdir/tests/RELIABILITY.md
if ! { [[ -w $srcdir/tests ]] && { [[ ! -e $dest ]] || [[ -w $dest ]]; }; }; then
	dest=$builddir/tests/RELIABILITY.md
fi
cp "$md" "$dest" && rm -f "$md"
echo "stress: wrote $dest"
exit "$failed"
