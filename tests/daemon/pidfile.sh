#!/bin/bash
# tests/daemon/pidfile.sh - one instance per pidfile:
#  - as root the default is /var/run/NAME.pid (NAME from serv_set_name);
#    --pidfile overrides it; it holds the supervisor's pid and is removed
#    at exit;
#  - it is locked for the server's life: a second instance with the same
#    pidfile exits 69 with "already running, pid N", closes what it opened
#    and leaves the first alone; the same command line again (same port)
#    also says "already running" (69): the pidfile is locked before the
#    sockets are bound;
#  - a stale pidfile (dead pid, or the live pid of an unrelated process,
#    but no lock) is taken over;
#  - a pidfile that cannot be created: exit 73, nothing left listening;
#  - in a directory another user (nobody) can write: a planted symbolic
#    link (to a root-only file, or dangling), a FIFO, a directory, a file
#    of nobody's or one with a second hard link is refused with exit 73
#    and one line, and left as it was; the pidfile is open close-on-exec
#    in the supervisor and not at all in the serving process; a file
#    swapped in for it while the server runs is not removed at exit;
#  - -x writes none unless --pidfile is given, then with its own pid;
#  - without root: $XDG_RUNTIME_DIR/NAME.pid, or none without it.

# ck and bash -c evaluate their single-quoted conditions themselves, with
# variables set here, and functions run through check: shellcheck sees
# none of it.
# shellcheck disable=SC2016,SC2034,SC2317 source-path=SCRIPTDIR
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
dt_enter "$@"

# ------------------------------------------------- the default, as root
port=$(free_port)
"$DSRV" -p "$port" -i 127.0.0.1 --name pftest 2>"$T/start.err"
rc=$?
dt_daemons+=(/var/run/pftest.pid)
must "default pidfile: started (exit $rc)" [ "$rc" -eq 0 ]
sup=$(cat /var/run/pftest.pid)
ck "default pidfile: /var/run/pftest.pid holds the supervisor's pid ($sup)" \
	'[[ -n $sup && -n $(serving_pid "$sup") && $(proc_field "$sup" PPid) == 1 ]]'
check "default pidfile: one line, the pid" [ "$(cat /var/run/pftest.pid)" = "$sup" ]
kill -TERM "$sup"
check "default pidfile: the supervisor exits on SIGTERM" wait_for 10 gone "$sup"
check "default pidfile: removed at exit" [ ! -e /var/run/pftest.pid ]

# --------------------------------------- --pidfile, locked, one instance
pidf=$T/pid/a.pid
port=$(free_port)
old_umask=$(umask)
umask 077
must "--pidfile: started (umask 077)" dsrv_start "$pidf" -p "$port" -i 127.0.0.1
umask "$old_umask"
first=$SUP
check "--pidfile: it holds the supervisor's pid" [ "$(cat "$pidf")" = "$first" ]
check "--pidfile: mode 644 whatever the umask (got $(stat -c %a "$pidf"))" \
	[ "$(stat -c %a "$pidf")" = 644 ]
check "--pidfile: no default pidfile" [ ! -e /var/run/dsrv.pid ]

# refused_start WHAT CODE PIDFILE ERR: t-dsrv on a free port with
# --pidfile PIDFILE exits CODE (its stderr in ERR) and its port is closed.
refused_start() {
	local port rc
	port=$(free_port)
	"$DSRV" -p "$port" -i 127.0.0.1 --pidfile "$3" 2>"$4"
	rc=$?
	check "$1: exit $2 (got $rc)" [ "$rc" -eq "$2" ]
	check "$1: its port is closed" "$DCLIENT" wait "$port" refused 5
}

refused_start "a second instance (same pidfile, other port)" 69 "$pidf" "$T/second.err"
check "a second instance: says 'already running, pid $first'" \
	grep -q "already running, pid $first\b" "$T/second.err"
check "a second instance: the pidfile still holds the first's pid" [ "$(cat "$pidf")" = "$first" ]
check "a second instance: the first still serves" "$DCLIENT" cmd "$port" pid
check "a second instance: the first still holds the lock" \
	bash -c '! flock -n -s 9' 9<"$pidf"

"$DSRV" -p "$port" -i 127.0.0.1 --pidfile "$pidf" 2>"$T/same.err"
rc=$?
ck "the same command line again: exit 69, already running (exit $rc: $(head -n 1 "$T/same.err"))" \
	'[[ $rc -eq 69 ]] && grep -q "already running, pid $first\b" "$T/same.err"'
ck "the same command line again: the first is untouched" \
	'[[ $(cat "$pidf") == "$first" ]] && "$DCLIENT" cmd "$port" pid >/dev/null'

kill -TERM "$first"
check "--pidfile: the supervisor exits on SIGTERM" wait_for 10 gone "$first"
check "--pidfile: removed at exit" [ ! -e "$pidf" ]

# ------------------------------------------------------ stale pidfiles
sleep 0.01 &
dead=$!
wait "$dead"
# taken_over HOLDER: a server started on the pidfile holding HOLDER takes
# it over; then it is sent SIGTERM.
taken_over() {
	port=$(free_port)
	must "a stale pidfile ($1): taken over" dsrv_start "$pidf" -p "$port" -i 127.0.0.1
	check "a stale pidfile: it now holds the new supervisor's pid" [ "$(cat "$pidf")" = "$SUP" ]
	kill -TERM "$SUP"
}
echo "$dead" >"$pidf"
taken_over "dead pid $dead"
wait_for 10 gone "$SUP"

echo $$ >"$pidf"
taken_over "live unrelated pid $$, no lock"
check "removed at exit" wait_for 10 test ! -e "$pidf"

# -------------------------------------------------- cannot be created
refused_start "a pidfile that cannot be created" 73 "$T/no-such-dir/x.pid" \
	"$T/cantcreat.err"
check "a pidfile that cannot be created: the reason on stderr" \
	grep -q "$T/no-such-dir/x.pid" "$T/cantcreat.err"

# ------------------------------- a directory another user can write
pub=$T/pub
mkdir -m 0755 "$pub"
chown nobody "$pub"
secret=$T/secret
printf 'root only\n' >"$secret"
chmod 0600 "$secret"
# Owner, group, mode, size, change time (chmod and chown set it), content.
secret_state() { echo "$(stat -c '%u:%g %a %s %Z' "$secret") $(cksum <"$secret")"; }
secret_before=$(secret_state)
sleep 1.1       # past a second, so that a change of the change time shows
as_nobody() { setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups "$@"; }

# refused WHAT PIDFILE: the server refuses PIDFILE with exit 73 and one
# line, and nothing listens.
refused() {
	local rc=0 port pf=$2
	port=$(free_port)
	"$DSRV" -p "$port" -i 127.0.0.1 --pidfile "$pf" 2>"$T/refused.err" || rc=$?
	ck "$1: exit 73, one line (got $rc: $(head -n 1 "$T/refused.err"))" \
		'[[ $rc -eq 73 && $(wc -l <"$T/refused.err") -eq 1 ]] && grep -qF "$pf" "$T/refused.err"'
	check "$1: nothing listens" "$DCLIENT" wait "$port" refused 5
}

as_nobody ln -s "$secret" "$pub/link.pid"
refused "a planted link to a root-only file" "$pub/link.pid"
check "a planted link: its target is untouched ($(secret_state))" [ "$(secret_state)" = "$secret_before" ]
check "a planted link: left as it was" [ "$(readlink "$pub/link.pid")" = "$secret" ]

as_nobody ln -s "$T/made-through-a-link" "$pub/dangling.pid"
refused "a planted dangling link" "$pub/dangling.pid"
check "a planted dangling link: nothing made where it points" [ ! -e "$T/made-through-a-link" ]

as_nobody mkfifo "$pub/fifo.pid"
refused "a FIFO" "$pub/fifo.pid"
check "a FIFO: left as it was" [ -p "$pub/fifo.pid" ]

as_nobody mkdir "$pub/dir.pid"
refused "a directory" "$pub/dir.pid"

as_nobody sh -c 'echo 1 >"$1"' _ "$pub/nobody.pid"
refused "a file of nobody's" "$pub/nobody.pid"
check "a file of nobody's: left as it was" [ "$(stat -c %U "$pub/nobody.pid") $(cat "$pub/nobody.pid")" = "nobody 1" ]

echo 1 >"$T/pid/linked.pid"
ln "$T/pid/linked.pid" "$T/pid/second-link"
refused "a file with a second hard link" "$T/pid/linked.pid"
check "a file with a second hard link: left as it was" [ "$(cat "$T/pid/linked.pid")" = 1 ]

# Where nobody may write, the server's own pidfile works as anywhere.
port=$(free_port)
must "in nobody's directory: started" dsrv_start "$pub/ok.pid" -p "$port" -i 127.0.0.1
check "in nobody's directory: it holds the supervisor's pid" [ "$(cat "$pub/ok.pid")" = "$SUP" ]
# fd_of PID FILE: the descriptor of PID open on FILE, if any.
fd_of() {
	local f
	for f in /proc/"$1"/fd/*; do
		[[ $(readlink "$f") == "$2" ]] && { echo "${f##*/}"; return 0; }
	done
	return 1
}
fd=$(fd_of "$SUP" "$pub/ok.pid")
flags=$(sed -n 's/^flags:[[:space:]]*//p' "/proc/$SUP/fdinfo/$fd" 2>/dev/null)
ck "the supervisor holds the pidfile (fd ${fd:-none}) close-on-exec (flags ${flags:-?})" \
	'[[ -n $flags ]] && (((8#$flags & 8#2000000) != 0))'
ck "the serving process holds no descriptor of the pidfile" '! fd_of "$SRV" "$pub/ok.pid" >/dev/null' 
# Renamed away and replaced by nobody's own file while the server runs:
# at exit the server removes its own file only, wherever it is.
as_nobody mv "$pub/ok.pid" "$pub/moved.pid"
as_nobody sh -c 'echo mine >"$1"' _ "$pub/ok.pid"
kill -TERM "$SUP"
check "swapped: the supervisor exits on SIGTERM" wait_for 10 gone "$SUP"
check "swapped: the file now at the name is not removed" [ "$(cat "$pub/ok.pid" 2>/dev/null)" = mine ]

# ----------------------------------------------------------------- -x
port=$(free_port)
"$DSRV" -x -p "$port" -i 127.0.0.1 --name pftest 2>"$T/fg.err" &
fg=$!
dt_daemons+=("$fg")
must "-x: started" ready "$port"
check "-x: no pidfile" [ ! -e /var/run/pftest.pid ]
check "-x: stops on SIGTERM" fg_stop "$fg"

port=$(free_port)
"$DSRV" -x -p "$port" -i 127.0.0.1 --pidfile "$T/pid/fg.pid" 2>"$T/fg.err" &
fg=$!
dt_daemons+=("$fg")
must "-x --pidfile: started" ready "$port"
check "-x --pidfile: it holds the foreground process's pid" [ "$(cat "$T/pid/fg.pid")" = "$fg" ]
check "-x --pidfile: stops on SIGTERM" fg_stop "$fg"
check "-x --pidfile: removed at exit" [ ! -e "$T/pid/fg.pid" ]

# --------------------------------------------------------- without root
mkdir -m 0700 "$T/xdg"
chown nobody "$T/xdg"
port=$(free_port)
as_nobody env XDG_RUNTIME_DIR="$T/xdg" "$DSRV" -p "$port" -i 127.0.0.1 --name pfuser 2>"$T/user.err"
rc=$?
dt_daemons+=("$T/xdg/pfuser.pid")
must "not root: started (exit $rc)" [ "$rc" -eq 0 ]
sup=$(cat "$T/xdg/pfuser.pid" 2>/dev/null)
ck "not root: \$XDG_RUNTIME_DIR/pfuser.pid holds the supervisor's pid ($sup)" \
	'[[ -n $sup && -n $(serving_pid "$sup") ]]'
check "not root: the supervisor runs as nobody" [ "$(proc_field "$sup" Uid)" = "$(id -u nobody) $(id -u nobody) $(id -u nobody) $(id -u nobody)" ]
kill -TERM "$sup"
check "not root: removed at exit" wait_for 10 test ! -e "$T/xdg/pfuser.pid"

port=$(free_port)
as_nobody env -u XDG_RUNTIME_DIR "$DSRV" -p "$port" -i 127.0.0.1 --name pfuser 2>"$T/user.err"
rc=$?
must "not root, no \$XDG_RUNTIME_DIR: started (exit $rc)" [ "$rc" -eq 0 ]
sup=
for p in $(procs_with_arg pfuser); do
	[[ $(proc_field "$p" PPid) == 1 ]] && sup=$p
done
dt_daemons+=("$sup")
check "not root, no \$XDG_RUNTIME_DIR: no pidfile" \
	[ -z "$(find "$T/xdg" /run -name 'pfuser.pid')" ]
kill -TERM "$sup"
check "not root, no \$XDG_RUNTIME_DIR: stopped" wait_for 10 gone "$sup"

dt_finish
