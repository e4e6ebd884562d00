#!/bin/bash
# tests/tls/bulk.sh - large transfers over TLS arrive intact (byte by byte
# and by SHA-256): 10 MB from the server to a slow reader, so that S_send
# says -4 and TYP_SENDABLE resumes it (back-pressure); 10 MB to the server;
# 10 MB echoed both ways at once; echoes of 2 to 10 MB to clients that
# read only once they sent everything (the output waits in the server's
# queue); TLS 1.2 and 1.3, several at a time, with
# and without --tls-keep-buffers; 10 MB by S_send_ref and S_send_file,
# also with each piece sent from the release of an earlier one; a
# TLS 1.3 key update during an echo; and
# what arrives in one burst, more than one TYP_READ holds (64000 bytes),
# is all delivered without waiting for more.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
t_setup

MB10=10000000
C=$PKI/server.crt K=$PKI/server.key

must "t-tsrv starts" 'ioc B -c "$C" -k "$K"'

# Four 10 MB transfers at once, on both workers.
printf '!gen %s 11\n' $MB10 | tls "$B_PORT" --tls 1.3 --slow --rcvbuf 32768 >"$T/gen13" &
g13=$!
printf '!gen %s 12\n' $MB10 | tls "$B_PORT" --tls 1.2 --slow --rcvbuf 32768 >"$T/gen12" &
g12=$!
printf '!sink %s 13\n' $MB10 | tls "$B_PORT" --tls 1.3 >"$T/sink13" &
s13=$!
printf '!echo %s 14\n' $MB10 | tls "$B_PORT" --tls 1.2 >"$T/echo12" &
e12=$!
wait $g13 $g12 $s13 $e12

for f in gen13 gen12; do
	out=$(<"$T/$f")
	ck "$f: 10 MB to a slow reader arrive intact (SHA-256)" 'has "$out" "GEN-OK n=$MB10 "'
	has "$out" GEN-OK || say "$(line_of "$out" GEN-)"
	lport=$(field "$(line_of "$out" CONNECTED)" lport)
	ck "$f: under back-pressure: S_send said -4, TYP_SENDABLE resumed it" \
		'backpressured B "$lport"'
	backpressured B "$lport" || say "$(grep "^GEN-DONE id=$(session_id B "$lport") " "$T/B.out")"
done
out=$(<"$T/sink13")
ck "sink13: 10 MB to the server arrive intact (SHA-256 computed by the server)" 'has "$out" "SINK-OK n=$MB10 "'
has "$out" SINK-OK || say "$(line_of "$out" SINK-)"
out=$(<"$T/echo12")
ck "echo12: 10 MB echoed while sending arrive intact" 'has "$out" "ECHO-OK n=$MB10 "'
has "$out" ECHO-OK || say "$(line_of "$out" ECHO-)"

# slow_gens NAME FORMAT: four slow readers at once (S_send_ref and
# S_send_file, TLS 1.2 and 1.3) each send B the request printf FORMAT
# makes of 10 MB, the TLS version's digits and the way; their output in
# $T/NAME.WAY.VERSION, their pids added to pids.
slow_gens() {
	local name=$1 fmt=$2 how v
	for how in ref file; do
		for v in 1.2 1.3; do
			# shellcheck disable=SC2059 # the format is the argument
			printf "$fmt" "$MB10" "${v/./}" "$how" |
				tls "$B_PORT" --tls "$v" --slow --rcvbuf 32768 >"$T/$name.$how.$v" &
			pids+=($!)
		done
	done
}

# Zero-copy sends over TLS: 10 MB by S_send_ref and by S_send_file (read
# into the queue piece by piece: no sendfile under TLS) to slow readers,
# intact and under back-pressure; every piece released by the session's
# end (tsrv prints a VIOLATION otherwise).
pids=()
slow_gens zc '!gen %s 4%s %s\n'
wait "${pids[@]}"
for how in ref file; do
	for v in 1.2 1.3; do
		out=$(<"$T/zc.$how.$v")
		ck "TLS $v: 10 MB sent by S_send_$how to a slow reader arrive intact" \
			'has "$out" "GEN-OK n=$MB10 "'
		has "$out" GEN-OK || say "$(line_of "$out" GEN-)"
		lport=$(field "$(line_of "$out" CONNECTED)" lport)
		ck "TLS $v: S_send_$how under back-pressure: -4, then TYP_SENDABLE" \
			'backpressured B "$lport"'
		l=$(grep -m1 "^GEN-DONE id=$(session_id B "$lport") " "$T/B.out")
		ck "TLS $v: the 10 MB went in 39 pieces by S_send_$how" '[[ $(field "$l" zc) == 39 ]]'
	done
done

# Streaming from release callbacks: each next piece handed over by the
# release of an earlier one, then S_close from the last release; the
# client sees every byte, then close_notify, and every piece is released
# by TYP_TERM (tsrv checks).  To slow readers 8 pieces (2 MB) out at a
# time: -4 inside a release, TYP_SENDABLE goes on.  To fast readers one
# at a time: each release comes as the queue drains empty.
pids=()
slow_gens chain '!gen %s 5%s close %s chain\n!eof\n'
for how in ref file; do
	printf '!gen %s 57 close %s chain1\n!eof\n' $MB10 "$how" |
		tls "$B_PORT" --tls 1.3 >"$T/chain1.$how" &
	pids+=($!)
done
wait "${pids[@]}"
for how in ref file; do
	out=$(<"$T/chain1.$how")
	ck "TLS 1.3: 10 MB by S_send_$how, one piece out at a time, each sent from a release, arrive intact, then close_notify" \
		'has "$out" "GEN-OK n=$MB10 " && has "$out" "EOF close_notify"'
	has "$out" GEN-OK || say "$(line_of "$out" GEN-)"
	has "$out" "EOF close_notify" || say "$(line_of "$out" EOF)"
	for v in 1.2 1.3; do
		out=$(<"$T/chain.$how.$v")
		ck "TLS $v: 10 MB by S_send_$how, each piece sent from a release, arrive intact, then close_notify" \
			'has "$out" "GEN-OK n=$MB10 " && has "$out" "EOF close_notify"'
		has "$out" GEN-OK || say "$(line_of "$out" GEN-)"
		has "$out" "EOF close_notify" || say "$(line_of "$out" EOF)"
		lport=$(field "$(line_of "$out" CONNECTED)" lport)
		ck "TLS $v: chained S_send_$how under back-pressure: -4, then TYP_SENDABLE" \
			'backpressured B "$lport"'
		ck "TLS $v: and its TYP_TERM came" \
			'grep -q "^TERM id=$(session_id B "$lport") .*txoctet=$MB10 " "$T/B.out"'
	done
done

# Echoes to clients that send everything before they read (and read
# slowly): the output waits in the server's queue, short of the high mark
# for the smaller ones, beyond it (S_send -4, TYP_SENDABLE) for the larger.
pids=()
for n in 2000000 2500000 3000000 3500000 10000000; do
	for v in 1.2 1.3; do
		printf '!echo %s 3%s late\n' "$n" "${v/./}" |
			tls "$B_PORT" --tls "$v" --rcvbuf 32768 --timeout "$((3 * SCALE))" >"$T/late.$n.$v" &
		pids+=($!)
	done
done
wait "${pids[@]}"
for n in 2000000 2500000 3000000 3500000 10000000; do
	for v in 1.2 1.3; do
		out=$(<"$T/late.$n.$v")
		ck "TLS $v: $n bytes echoed to a client that reads only after sending all, intact" \
			'has "$out" "ECHO-OK n=$n "'
		has "$out" ECHO-OK || say "$(line_of "$out" ECHO-)"
	done
done

out=$(printf '!keyupdate\n!echo 2000000 15\nINFO\n' | tls "$B_PORT" --tls 1.3)
ck "TLS 1.3 key update requested by the client, then 2 MB echoed intact" \
	'has "$out" "KEYUPDATE 1" && has "$out" "ECHO-OK n=2000000 " && has "$out" "INFO id="'
has "$out" ECHO-OK || say "$(line_of "$out" ECHO-)"

# The server's worker sleeps while the next request and its data (65000
# bytes, more than one TYP_READ) pile up in its socket: after the first
# 64000 bytes, the rest is already decrypted inside OpenSSL and the socket
# has nothing more to say.
for v in 1.3 1.2; do
	out=$(printf 'SLEEP 300\n!sink 65000 16\n' | tls "$B_PORT" --tls "$v" --timeout "$((3 * SCALE))")
	ck "TLS $v: 65000 bytes that arrived in one burst are all delivered" 'has "$out" "SINK-OK n=65000 "'
	has "$out" SINK-OK || say "$(line_of "$out" SINK-)"
	out=$(printf 'SLEEP 300\n!lines 2000 a-line-of-some-length-to-fill-the-records\n' |
		tls "$B_PORT" --tls "$v" --timeout "$((3 * SCALE))")
	ck "TLS $v: 2000 pipelined lines (96 kB in one burst) all answered" 'has "$out" "LINES-OK k=2000"'
	has "$out" LINES-OK || say "$(line_of "$out" LINES-)"
done

out=$(printf 'STATS\n' | tls "$B_PORT")
ck "B: no session left but the asking one, no failed handshake" \
	'[[ $(field "$out" session_gauge) == 1 && $(field "$out" tls_handshake_error) == 0 ]]'
srv_finish B

must "t-tsrv starts with --tls-keep-buffers" 'ioc KB -c "$C" -k "$K" --tls-keep-buffers'
printf '!gen %s 21\n' $MB10 | tls "$KB_PORT" --tls 1.3 --slow --rcvbuf 32768 >"$T/kgen" &
kg=$!
out=$(printf '!echo %s 22\n' $MB10 | tls "$KB_PORT" --tls 1.2)
ck "--tls-keep-buffers: 10 MB echoed intact" 'has "$out" "ECHO-OK n=$MB10 "'
wait $kg
ck "--tls-keep-buffers: 10 MB to a slow reader intact" 'has "$(<"$T/kgen")" "GEN-OK n=$MB10 "'
srv_finish KB

t_finish
