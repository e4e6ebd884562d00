#!/bin/bash
# tests/daemon/unixsock.sh - the UNIX-domain socket (-l) of a root server
# in a directory another user (nobody) can write:
#  - the socket is mode 0770, owned by the -u user and group, and never
#    seen at its name with another mode or owner; no private directory is
#    left behind; the supervisor holds the socket's directory open, the
#    serving process does not;
#  - a racer (nobody) that swaps a symbolic link to a root-only file in
#    for every socket it sees, while the server is started and stopped 30
#    times under umask 000, never gets that file re-moded, re-owned or
#    changed, nor the server to remove or follow its link;
#  - a socket another server listens on is refused: exit 71, one line
#    "another server is listening on PATH", and that server goes on
#    serving on it; a stale socket (connection refused) is replaced; a
#    symbolic link at the name is refused (71), its target untouched;
#  - a relative name is in the working directory;
#  - started without root, the socket is the user's, 0770, removed at exit.

# ck and bash -c evaluate their single-quoted conditions themselves, with
# variables set here, and functions run through check: shellcheck sees
# none of it.
# shellcheck disable=SC2016,SC2034,SC2317 source-path=SCRIPTDIR
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
dt_enter "$@"

nobody_uid=$(id -u nobody)
nobody_gid=$(id -g nobody)
as_nobody() { setpriv --reuid=nobody --regid="$nobody_gid" --clear-groups "$@"; }

# The socket's directory belongs to nobody (not sticky: nobody may rename
# and remove anything in it); the root-only file is elsewhere.
dir=$T/sockdir
mkdir -m 0755 "$dir"
chown nobody:"$nobody_gid" "$dir"
sock=$dir/s.sock
secret=$T/secret
printf 'root only\n' >"$secret"
chmod 0600 "$secret"
# Owner, group, mode, size, change time (chmod and chown set it), content.
secret_state() { echo "$(stat -c '%u:%g %a %s %Z' "$secret") $(cksum <"$secret")"; }
secret_before=$(secret_state)
# Sleep past a second so that a change of the change time shows.
sleep 1.1

# Everything in the directory but what is named.
others() { (cd "$dir" && find . -mindepth 1 ! -name "$1" | tr '\n' ' '); }

umask 000

# ------------------------------------------------- mode, owner, serving
must "-l: started under umask 000" dsrv_start "$T/pid/a.pid" -l "$sock"
a_sup=$SUP a_srv=$SRV
check "the socket is mode 0770 and belongs to nobody ($(stat -c %a:%u:%g "$sock"))" \
	[ "$(stat -c %a:%u:%g "$sock")" = "770:$nobody_uid:$nobody_gid" ]
check "it serves" [ "$("$DCLIENT" cmd "unix:$sock" pid)" = "pid=$a_srv" ]
check "no private directory is left beside it (found: $(others s.sock))" [ -z "$(others s.sock)" ]
# holds PID DIR: PID has a descriptor open on DIR.
holds() {
	local f
	for f in /proc/"$1"/fd/*; do
		[[ $(readlink "$f") == "$2" ]] && return 0
	done
	return 1
}
check "the supervisor holds the socket's directory (to remove the socket)" holds "$a_sup" "$dir"
ck "the serving process does not" '! holds "$a_srv" "$dir"'
ino=$(stat -c %i "$sock")

# ------------------------------------------- another server listens on it
"$DSRV" --pidfile "$T/pid/b.pid" -l "$sock" 2>"$T/live.err"
rc=$?
check "a second server on the live socket: exit 71 (got $rc)" [ "$rc" -eq 71 ]
ck "it says so in one line ($(head -n 1 "$T/live.err"))" \
	'[[ $(wc -l <"$T/live.err") -eq 1 ]] && grep -q "another server is listening on $sock\$" "$T/live.err"'
check "the first still serves on the same socket" \
	[ "$("$DCLIENT" cmd "unix:$sock" pid) $(stat -c %i "$sock")" = "pid=$a_srv $ino" ]
check "nothing is left beside it (found: $(others s.sock))" [ -z "$(others s.sock)" ]
kill -TERM "$a_sup"
check "stopped" wait_for 10 gone "$a_sup"
check "the socket is removed at exit" [ ! -e "$sock" ]

# ---------------------------------------------------------- stale socket
as_nobody "$DCLIENT" stale "$sock"
ck "a stale socket of nobody's is there" '[[ -S $sock ]] && ! "$DCLIENT" connect "unix:$sock" 2>/dev/null'
stale_ino=$(stat -c %i "$sock")
must "over the stale socket: started" dsrv_start "$T/pid/a.pid" -l "$sock"
check "it replaced the stale socket (mode 0770, nobody's, a new inode)" \
	[ "$(stat -c %a:%u:%g "$sock") $(($(stat -c %i "$sock") != stale_ino))" = "770:$nobody_uid:$nobody_gid 1" ]
check "it serves" [ "$("$DCLIENT" cmd "unix:$sock" pid)" = "pid=$SRV" ]
kill -TERM "$SUP"
check "stopped" wait_for 10 gone "$SUP"

# ------------------------------------------------------- a relative name
(cd "$dir" && "$DSRV" --pidfile "$T/pid/rel.pid" -l rel.sock 2>"$T/rel.err")
rc=$?
dt_daemons+=("$T/pid/rel.pid")
must "a relative name: started (exit $rc)" [ "$rc" -eq 0 ]
check "a relative name: the socket is in the working directory, 0770, nobody's" \
	[ "$(stat -c %a:%u:%g "$dir/rel.sock")" = "770:$nobody_uid:$nobody_gid" ]
sup=$(cat "$T/pid/rel.pid")
kill -TERM "$sup"
check "a relative name: stopped" wait_for 10 gone "$sup"
check "a relative name: removed at exit" [ ! -e "$dir/rel.sock" ]

# ---------------------------------------- a symbolic link at the name
as_nobody ln -s "$secret" "$sock"
"$DSRV" --pidfile "$T/pid/a.pid" -l "$sock" 2>"$T/link.err"
rc=$?
ck "a symbolic link at the name: exit 71, one line (got $rc: $(head -n 1 "$T/link.err"))" \
	'[[ $rc -eq 71 && $(wc -l <"$T/link.err") -eq 1 ]] && grep -q "exists and is not a socket" "$T/link.err"'
check "the link is left alone" [ "$(readlink "$sock")" = "$secret" ]
check "its target is untouched" [ "$(secret_state)" = "$secret_before" ]
rm -f "$sock"

# ------------------------------------------------------------- the race
: >"$T/race.out"
rm -f "$T/race.stop"
as_nobody "$DCLIENT" swap "$dir" s.sock "$secret" "$T/race.stop" "$T/race.out" &
racer=$!
fails=0
for ((i = 0; i < 30; i++)); do
	rm -f "$sock"
	if ! dsrv_start "$T/pid/r.pid" -l "$sock"; then
		fails=$((fails + 1))
		continue
	fi
	kill -TERM "$SUP"
	wait_for 10 gone "$SUP" || fails=$((fails + 1))
done
: >"$T/race.stop"
wait "$racer"
say "racer: $(tr '\n' ' ' <"$T/race.out")"
check "30 starts and stops beside the racer, all fine ($fails failed)" [ "$fails" -eq 0 ]
swaps=$(sed -n 's/^swaps=//p' "$T/race.out")
check "the racer swapped its link in for sockets ($swaps times)" [ "${swaps:-0}" -ge 1 ]
check "the root-only file is untouched ($(secret_state))" [ "$(secret_state)" = "$secret_before" ]
bad=$(grep '^sock ' "$T/race.out" | grep -v " mode=770 uid=$nobody_uid gid=$nobody_gid\$" | head -n 3)
check "the racer never saw the socket with another mode or owner${bad:+ ($bad)}" [ -z "$bad" ]
rm -f "$sock" "$dir/.racer"
check "no private directory is left (found: $(others none))" [ -z "$(others none)" ]

umask 022

# ----------------------------------------------------------- not root
mkdir -m 0700 "$T/user"
chown nobody "$T/user"
as_nobody "$DSRV" --pidfile "$T/user/u.pid" -l "$T/user/u.sock" 2>"$T/user.err"
rc=$?
dt_daemons+=("$T/user/u.pid")
must "not root: started (exit $rc)" [ "$rc" -eq 0 ]
sup=$(cat "$T/user/u.pid")
check "not root: the socket is mode 0770 and nobody's" \
	[ "$(stat -c %a:%u:%g "$T/user/u.sock")" = "770:$nobody_uid:$nobody_gid" ]
ck "not root: it serves" '"$DCLIENT" cmd "unix:$T/user/u.sock" pid >/dev/null'
kill -TERM "$sup"
check "not root: stopped" wait_for 10 gone "$sup"
check "not root: the socket is removed at exit" [ ! -e "$T/user/u.sock" ]

dt_finish
