#!/bin/sh
# lint.sh - cppcheck and clang-tidy find nothing in lib/.
#
#  - cppcheck: warning, style, performance and portability checks with the
#    POSIX, GNU and OpenSSL function models, in the configuration the
#    library is built in (config.h), except variableScope: it asks for
#    declarations in inner blocks, and hsvr declares at the top of a
#    function, as style(9) does.
#  - clang-tidy: the checks of $top_srcdir/.clang-tidy (bugprone-*, cert-*,
#    clang-analyzer-*, with the exclusions explained there) on each file and
#    the headers of include/ and lib/.  One run per file: clang-tidy 14's
#    analyzer carries state from one file to the next when given several
#    and then reports uninitialized va_lists that are not.
# A false positive is suppressed where it occurs, with the reason:
# "cppcheck-suppress ID ; why" or NOLINTNEXTLINE(check) under a comment.
#
# Both tools see the preprocessor flags the library is compiled with
# (HSVR_LINT_CPPFLAGS, from tests/lint.mk).  Nothing is written to the
# source tree.  Exits 77 (skipped) when a tool is missing, after running
# the other one; CPPCHECK and CLANG_TIDY name other binaries.
set -u

: "${top_srcdir:?}" "${HSVR_LINT_CPPFLAGS:?}"
: "${CPPCHECK:=cppcheck}" "${CLANG_TIDY:=clang-tidy}"

# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
missing=
out=$(mktemp "${TMPDIR:-/tmp}/hsvr-lint-XXXXXX") || exit 1
trap 'rm -f "$out"' EXIT
trap 'exit 1' INT TERM

# verdict WHAT STATUS: ok if the tool exited 0 and said nothing of note;
# otherwise not ok, with what it said.
verdict() {
	if [ "$2" -eq 0 ] && ! grep -q -e ': warning:' -e ': error:' \
	    -e ': style:' -e ': performance:' -e ': portability:' \
	    -e ': information:' "$out"; then
		ok "$1"
	else
		not_ok "$1"
		grep -v -E '^[0-9]+ warnings? generated\.$' "$out" | sed 's/^/# /'
	fi
}

# The flags of the build, in what each tool understands.
cpp_flags=
for f in $HSVR_LINT_CPPFLAGS; do
	case $f in
	-[DIU]?*) cpp_flags="$cpp_flags $f" ;;
	esac
done

files=$(ls "$top_srcdir"/lib/*.c) || exit 1

if command -v "$CPPCHECK" >/dev/null 2>&1; then
	echo "# $("$CPPCHECK" --version)"
	# shellcheck disable=SC2086 # word splitting of flags and files wanted
	"$CPPCHECK" --quiet --error-exitcode=1 --inline-suppr \
	    --enable=warning,style,performance,portability,information \
	    --std=c11 --library=posix --library=gnu --library=openssl \
	    --suppress=missingIncludeSystem --suppress=variableScope \
	    --template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
	    $cpp_flags $files >"$out" 2>&1
	verdict "cppcheck lib/*.c" $?
else
	missing="$missing $CPPCHECK"
fi

if command -v "$CLANG_TIDY" >/dev/null 2>&1; then
	echo "# $("$CLANG_TIDY" --version | grep -i version)"
	for f in $files; do
		# shellcheck disable=SC2086
		"$CLANG_TIDY" --quiet --config-file="$top_srcdir/.clang-tidy" \
		    "$f" -- $HSVR_LINT_CPPFLAGS >"$out" 2>&1
		verdict "clang-tidy lib/${f##*/}" $?
	done
else
	missing="$missing $CLANG_TIDY"
fi

if [ "$nfailed" -gt 0 ]; then
	echo "# $nfailed of $n failed"
	exit 1
fi
if [ -n "$missing" ]; then
	echo "# not installed:$missing; skipped"
	exit 77
fi
exit 0
