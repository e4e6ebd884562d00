#!/bin/sh
# tests/perip.sh - runs t-perip (tests/perip.c) in a network namespace of
# its own, whose loopback carries fd00:a::1-6/64 and fd00:b::1/64, so that
# clients can connect from many addresses of one /64 without leaving the
# machine.  Without root or unshare(1) it runs the checks that need no
# namespace (127.0.0.0/8 only).
bin=${HSVR_TEST_BINDIR:-$(dirname "$0")}/t-perip
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null &&
	unshare -n true 2>/dev/null; then
	# shellcheck disable=SC2016 # expanded by the shell in the namespace
	exec unshare -n sh -c '
		ip link set lo up || exit 99
		for a in fd00:a::1 fd00:a::2 fd00:a::3 fd00:a::4 fd00:a::5 \
		    fd00:a::6 fd00:b::1; do
			ip -6 addr add "$a/64" dev lo nodad || exit 99
		done
		exec "$0" --netns' "$bin"
fi
echo "# no network namespace (not root, no ip(8) or no unshare): 127.0.0.0/8 only"
exec "$bin"
