#!/bin/sh
# tests/layers.sh - the files of lib/ call downward only (doc/design.md,
# "Layers").  From the library's objects as built: a file depends on
# another when it uses a function or a variable defined there with
# external linkage (nm: the file's undefined symbol is the other's text,
# data, bss or read-only symbol).  Fails, naming the files and the
# symbols, when
#   - files depend on each other in a circle (strongly connected files),
#   - a file calls a file of a higher layer (table below), even without
#     closing a circle,
#   - a file of lib/ has no layer in the table, or one is not built,
#   - a file of lib/ calls an S_* function (the API is for applications).
# Needs only nm, awk and sh.
set -u

: "${top_builddir:=.}"
: "${top_srcdir:=.}"
NM=${NM:-nm}

# file layer: 0 base, 1 transports and tables, 2 session, 3 workers and
# accept, 4 engine, 5 API facade, 6 start-up (S_start is one: it runs a
# server as main() does).  Calls go to the same or a
# lower layer; within a layer they must not close a circle.
layers='
alloc.c 0
log.c 0
clock.c 0
fdlimit.c 0
hash.c 0
shared.c 0
ondemand.c 0
hooks.c 1
transport-tcp.c 1
transport.c 1
tls.c 1
tls-client.c 1
ossl.c 1
dial.c 1
output.c 1
search.c 1
stripes.c 1
perip.c 1
qsbr.c 1
proxy.c 1
session.c 2
linger.c 2
worker.c 3
accept.c 3
signals.c 4
stats.c 4
metrics.c 4
engine.c 4
send.c 5
apptimer.c 5
connect.c 5
start.c 6
main.c 6
options.c 6
supervisor.c 6
listen.c 6
daemon.c 6
pidfile.c 6
privdrop.c 6
notify.c 6
upgrade.c 6
sandbox.c 6
'

objdir=$top_builddir/lib/.libs
set -- "$objdir"/libhsvr_la-*.o
if [ ! -f "$1" ]; then
	objdir=$top_builddir/lib
	set -- "$objdir"/libhsvr_la-*.o
fi
if [ ! -f "$1" ]; then
	echo "layers: no objects of libhsvr in $top_builddir/lib" >&2
	exit 99
fi

sources=$(cd "$top_srcdir/lib" && ls *.c)

{
	printf '%s\n' "$layers" | awk 'NF == 2 { print "L", $1, $2 }'
	for s in $sources; do
		echo "S $s"
	done
	for o in "$@"; do
		f=${o##*/libhsvr_la-}
		f=${f%.o}.c
		# An object left in the build tree by a source since removed.
		[ -f "$top_srcdir/lib/$f" ] || continue
		echo "O $f"
		"$NM" -P "$o" | awk -v f="$f" '
		    $2 ~ /^[TDBRV]$/ { print "T", f, $1 }
		    $2 == "U" { print "U", f, $1 }'
	done
} | awk '
$1 == "L" { layer[$2] = $3; next }
$1 == "S" { src[$2] = 1; next }
$1 == "O" { obj[$2] = 1; nodes[++n] = $2; next }
$1 == "T" { def[$3] = $2; next }
$1 == "U" { nu++; uf[nu] = $2; us[nu] = $3; next }
END {
	bad = 0
	for (f in src)
		if (!(f in obj)) {
			printf "lib/%s is not in the library (Makefile.am)\n", f
			bad = 1
		}
	for (i = 1; i <= n; i++)
		if (!(nodes[i] in layer)) {
			printf "lib/%s has no layer in tests/layers.sh\n", nodes[i]
			bad = 1
		}
	for (k = 1; k <= nu; k++) {
		a = uf[k]; s = us[k]
		if (!(s in def) || def[s] == a)
			continue
		b = def[s]
		if (s ~ /^S_/) {
			printf "lib/%s calls %s (lib/%s): nothing in lib/ calls " \
			    "the API\n", a, s, b
			bad = 1
		}
		if (!((a, b) in edge))
			why[a, b] = s
		else
			why[a, b] = why[a, b] " " s
		edge[a, b] = 1
		reach[a, b] = 1
	}
	for (i = 1; i <= n; i++)
		for (j = 1; j <= n; j++) {
			a = nodes[i]; b = nodes[j]
			if (!((a, b) in edge) || !(a in layer) || !(b in layer))
				continue
			if (layer[a] + 0 < layer[b] + 0) {
				printf "upward: lib/%s (layer %d) calls lib/%s " \
				    "(layer %d): %s\n", a, layer[a], b, layer[b],
				    why[a, b]
				bad = 1
			}
		}
	# Transitive closure (a few dozen files): a and b are in one circle
	# when each reaches the other.
	for (k = 1; k <= n; k++)
		for (i = 1; i <= n; i++) {
			if (!((nodes[i], nodes[k]) in reach))
				continue
			for (j = 1; j <= n; j++)
				if ((nodes[k], nodes[j]) in reach)
					reach[nodes[i], nodes[j]] = 1
		}
	ncyc = 0
	for (i = 1; i <= n; i++) {
		a = nodes[i]
		if ((a in done) || !((a, a) in reach))
			continue
		ncyc++
		members = ""
		for (j = 1; j <= n; j++) {
			b = nodes[j]
			if ((a, b) in reach && (b, a) in reach) {
				done[b] = 1
				members = members " " b
				comp[ncyc, b] = 1
			}
		}
		printf "circle %d:%s\n", ncyc, members
		for (j = 1; j <= n; j++)
			for (k = 1; k <= n; k++) {
				b = nodes[j]; c = nodes[k]
				if ((b, c) in edge && (ncyc, b) in comp &&
				    (ncyc, c) in comp)
					printf "  %s -> %s: %s\n", b, c,
					    why[b, c]
			}
		bad = 1
	}
	if (!bad)
		printf "layers: %d files of lib/, no circle, no upward call\n", n
	exit bad
}'
