# tests/tap.sh - numbered TAP verdict lines for the tests that count theirs (link.sh, hardening.sh, lint.sh, http-lib.sh, fuzz/fuzz.sh); POSIX sh.
#
# ok / not_ok WHAT: "ok N - WHAT" / "not ok N - WHAT".  n counts the
# verdicts, nfailed the failed ones; failed is 1 once one failed (an exit
# status: a count could reach 77 or 99, which make check reads otherwise).

n=0
nfailed=0
failed=0

ok() {
	n=$((n + 1))
	echo "ok $n - $*"
}

not_ok() {
	n=$((n + 1))
	nfailed=$((nfailed + 1))
	failed=1
	echo "not ok $n - $*"
}
