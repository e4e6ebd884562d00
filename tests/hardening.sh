#!/bin/sh
# hardening.sh - libhsvr.so and the example programs carry the hardening
# that configure turned on (HSVR_HARDENING, from tests/lint.mk: a list of
# the names below, or "no" after --disable-hardening: then skipped, 77).
#
#   stack-protector  each C unit was compiled -fstack-protector-strong
#                    (gcc records its options in DW_AT_producer when there
#                    is debug information), and __stack_chk_fail is
#                    imported (not every program has a buffer to guard,
#                    but the library has)
#   stack-clash      each C unit was compiled -fstack-clash-protection
#                    (DW_AT_producer, as above)
#   cf-protection    each C unit was compiled -fcf-protection (full or
#                    branch), and every object file of the library and the
#                    examples carries the x86 feature note IBT (and SHSTK
#                    with full); the linked files carry it only when the C
#                    library's start files have it too (not on Debian 12:
#                    the linker drops it), so there it is only reported
#   fortify          no printf-family call bypasses glibc's checks: with
#                    _FORTIFY_SOURCE=2 or 3 fprintf, printf, syslog and the
#                    like always become __*_chk; and the library imports
#                    some __*_chk (snprintf, poll, read... when the size is
#                    known); fortify3 says the level is 3
#   pie              programs are position-independent: ELF type DYN with
#                    an interpreter
#   relro            a GNU_RELRO segment
#   now              bound at start: BIND_NOW in DT_FLAGS or NOW in DT_FLAGS_1
#
# Under libtool, examples/NAME may be a wrapper script; the program is then
# examples/.libs/NAME.  Without a shared library (--disable-shared) the
# library's part is checked in the programs, which then contain it.
set -u

: "${top_builddir:?}" "${HSVR_HARDENING?}"
: "${READELF:=readelf}" "${NM:=nm}"

if [ "$HSVR_HARDENING" = no ]; then
	echo "# configured with --disable-hardening"
	exit 77
fi
for t in "$READELF" "$NM"; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "# $t is not installed"
		exit 77
	fi
done

# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"

on() {
	case " $HSVR_HARDENING " in
	*" $1 "*) return 0 ;;
	esac
	return 1
}

is_elf() {
	[ -f "$1" ] && [ "$(od -An -tx1 -N4 "$1" | tr -d ' \n')" = 7f454c46 ]
}

imports() {
	"$NM" -D --undefined-only "$1" 2>/dev/null |
	    awk '{ sub(/@.*/, "", $NF); print $NF }'
}

# The option that decides stack protection, last one wins, of each C unit
# that gcc compiled; one line per unit.  Nothing without debug information.
ssp_of_units() {
	"$READELF" --debug-dump=info "$1" 2>/dev/null |
	    awk '/DW_AT_producer/ && /GNU C[0-9]/ {
		ssp = "none"
		for (i = 1; i <= NF; i++)
			if ($i ~ /^-f(no-)?stack-protector/)
				ssp = $i
		print ssp
	    }'
}

# The last option of each C unit that gcc compiled matching the extended
# regexp $2 (e.g. '-f(no-)?stack-clash-protection'), "none" if none.
opt_of_units() {
	"$READELF" --debug-dump=info "$1" 2>/dev/null |
	    awk -v re="^($2)" '/DW_AT_producer/ && /GNU C[0-9]/ {
		v = "none"
		for (i = 1; i <= NF; i++)
			if ($i ~ re)
				v = $i
		print v
	    }'
}

# check_units CHECK NAME FILE RE GOOD...: every unit's last RE option is
# one of the GOOD ones.
check_units() {
	c=$1 cname=$2 cf=$3 re=$4
	shift 4
	units=$(opt_of_units "$cf" "$re")
	bad=$(printf '%s\n' "$units" | while read -r u; do
		[ -n "$u" ] || continue
		case " $* " in
		*" $u "*) ;;
		*) echo "$u" ;;
		esac
	done | sort | uniq -c | tr -s ' \n' '  ')
	units_verdict "$c: $cname" "$units" "$bad"
}

# units_verdict WHAT UNITS BAD: ok when no unit of UNITS (one a line) is
# in BAD, a note when there are none to tell.
units_verdict() {
	if [ -z "$2" ]; then
		echo "# $1: no debug information from gcc to tell"
	elif [ -z "$3" ]; then
		ok "$1: $(echo "$2" | wc -l) units"
	else
		not_ok "$1: units with:$3"
	fi
}

# The x86 feature note of an ELF file: "IBT, SHSTK", "IBT"... or nothing.
x86_features() {
	"$READELF" -nW "$1" 2>/dev/null |
	    sed -n 's/.*x86 feature: *//p' | head -n 1
}

# check_binary FILE NAME KIND: KIND is program or library.
check_binary() {
	f=$1 name=$2 kind=$3
	if on stack-clash; then
		check_units stack-clash "$name" "$f" \
		    '-f(no-)?stack-clash-protection' -fstack-clash-protection
	fi
	if on cf-protection; then
		check_units cf-protection "$name" "$f" '-f(no-)?cf-protection.*' \
		    -fcf-protection -fcf-protection=full -fcf-protection=branch
		feat=$(x86_features "$f")
		case $feat in
		*IBT*) ok "cf-protection: $name is marked $feat" ;;
		*) echo "# cf-protection: $name is not marked IBT (start files without it?)" ;;
		esac
	fi
	if on stack-protector; then
		units=$(ssp_of_units "$f")
		bad=$(printf '%s\n' "$units" |
		    grep -v -x -e '' -e -fstack-protector-strong \
		    -e -fstack-protector-all | sort | uniq -c | tr -s ' \n' '  ')
		units_verdict "stack-protector: $name" "$units" "$bad"
	fi
	if on fortify; then
		bad=$(imports "$f" | grep -x -E \
		    'v?f?printf|v?dprintf|v?syslog' | tr '\n' ' ')
		if [ -z "$bad" ]; then
			ok "fortify: $name: no unchecked printf family$(on fortify3 && echo ' (level 3)')"
		else
			not_ok "fortify: $name: imports unchecked $bad"
		fi
	fi
	if on pie && [ "$kind" = program ]; then
		if "$READELF" -hW "$f" | grep -q 'Type:.*DYN' &&
		    "$READELF" -lW "$f" | grep -q INTERP; then
			ok "pie: $name"
		else
			not_ok "pie: $name: $("$READELF" -hW "$f" | grep Type: | tr -s " ")"
		fi
	fi
	if on relro; then
		if "$READELF" -lW "$f" | grep -q GNU_RELRO; then
			ok "relro: $name"
		else
			not_ok "relro: $name: no GNU_RELRO segment"
		fi
	fi
	if on now; then
		if "$READELF" -dW "$f" |
		    grep -q -E '\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*NOW'; then
			ok "now: $name"
		else
			not_ok "now: $name: neither BIND_NOW nor NOW in the flags"
		fi
	fi
}

if [ -z "$HSVR_HARDENING" ]; then
	not_ok "configure found no hardening flag the compiler takes"
fi

checked=
all_imports=
lib=$top_builddir/.libs/libhsvr.so
if is_elf "$lib"; then
	check_binary "$lib" libhsvr.so library
	checked="$checked $lib"
	lib_imports=$(imports "$lib")
else
	echo "# no $lib (--disable-shared?): the programs contain the library"
	lib_imports=
fi

for w in "$top_builddir"/examples/hsvr-*; do
	case $w in
	*.o) continue ;;
	esac
	name=${w#"$top_builddir"/}
	f=$w
	if ! is_elf "$f"; then
		f=$(dirname "$w")/.libs/$(basename "$w")
		if ! is_elf "$f"; then
			not_ok "$name: no program found (not built?)"
			continue
		fi
	fi
	check_binary "$f" "$name" program
	checked="$checked $f"
	all_imports="$all_imports $(imports "$f")"
done

[ -n "$checked" ] || not_ok "no binary to inspect in $top_builddir"

# What the library (or, static, the programs with it) must import.
[ -n "$lib_imports" ] || lib_imports=$all_imports
lib_grep() {
	printf '%s\n' "$lib_imports" | tr ' ' '\n' | grep "$@"
}
if on stack-protector; then
	if lib_grep -q -x __stack_chk_fail; then
		ok "stack-protector: the library imports __stack_chk_fail"
	else
		not_ok "stack-protector: the library does not import __stack_chk_fail"
	fi
fi
if on fortify; then
	chk=$(lib_grep -x -E '__[a-z0-9_]+_chk' | grep -v -x __stack_chk_fail |
	    sort -u | tr '\n' ' ')
	if [ -n "$chk" ]; then
		ok "fortify: the library imports $chk"
	else
		not_ok "fortify: the library imports no __*_chk function"
	fi
fi

# The object files: the compiler's IBT/SHSTK marks, before the linker.
if on cf-protection; then
	objs=0
	unmarked=
	for o in "$top_builddir"/lib/*.o "$top_builddir"/lib/.libs/*.o \
	    "$top_builddir"/examples/*.o; do
		[ -f "$o" ] || continue
		objs=$((objs + 1))
		case $(x86_features "$o") in
		*IBT*SHSTK* | *SHSTK*IBT*) ;;
		*) unmarked="$unmarked ${o#"$top_builddir"/}" ;;
		esac
	done
	if [ "$objs" -eq 0 ]; then
		not_ok "cf-protection: no object file to inspect"
	elif [ -z "$unmarked" ]; then
		ok "cf-protection: $objs object files are marked IBT and SHSTK"
	else
		not_ok "cf-protection: not marked IBT and SHSTK:$unmarked"
	fi
fi

if [ "$nfailed" -gt 0 ]; then
	echo "# $nfailed of $n failed; hardening configured: $HSVR_HARDENING"
	exit 1
fi
exit 0
