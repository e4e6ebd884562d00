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

T=$DT_TMP
mkdir "$T/pid"

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

port2=$(free_port)
"$DSRV" -p "$port2" -i 127.0.0.1 --pidfile "$pidf" 2>"$T/second.err"
rc=$?
check "a second instance (same pidfile, other port): exit 69 (got $rc)" [ "$rc" -eq 69 ]
check "a second instance: says 'already running, pid $first'" \
	grep -q "already running, pid $first\b" "$T/second.err"
check "a second instance: its port is closed again" "$DCLIENT" wait "$port2" refused 5
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
echo "$dead" >"$pidf"
port=$(free_port)
must "a stale pidfile (dead pid $dead): taken over" dsrv_start "$pidf" -p "$port" -i 127.0.0.1
check "a stale pidfile: it now holds the new supervisor's pid" [ "$(cat "$pidf")" = "$SUP" ]
kill -TERM "$SUP"
wait_for 10 gone "$SUP"

echo $$ >"$pidf"
port=$(free_port)
must "a stale pidfile (live unrelated pid $$, no lock): taken over" \
	dsrv_start "$pidf" -p "$port" -i 127.0.0.1
check "a stale pidfile: it now holds the new supervisor's pid" [ "$(cat "$pidf")" = "$SUP" ]
kill -TERM "$SUP"
check "removed at exit" wait_for 10 test ! -e "$pidf"

# -------------------------------------------------- cannot be created
port=$(free_port)
"$DSRV" -p "$port" -i 127.0.0.1 --pidfile "$T/no-such-dir/x.pid" 2>"$T/cantcreat.err"
rc=$?
check "a pidfile that cannot be created: exit 73 (got $rc)" [ "$rc" -eq 73 ]
check "a pidfile that cannot be created: the reason on stderr" \
	grep -q "$T/no-such-dir/x.pid" "$T/cantcreat.err"
check "a pidfile that cannot be created: nothing listens" "$DCLIENT" wait "$port" refused 5

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
as_nobody() { setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups "$@"; }
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
