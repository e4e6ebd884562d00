#!/bin/bash
# tests/daemon/upgrade.sh - SIGUSR2: the server upgrades itself in place.
# The server runs from a copy of t-dsrv in a directory of the test; the
# copy is replaced (by rename) with t-dsrv2, the same server answering
# "version=2", and the supervisor gets SIGUSR2, as a daemon and in the
# foreground (-x, with a systemd notification socket), each time under a
# loop of short connections (6 threads: connect, request, close) and 2
# keep-alive connections making requests:
#  - no short connection fails, none is lost, no wrong answer; a
#    keep-alive connection loses at most the one request in flight when
#    the old serving process closed it;
#  - the supervisor keeps its pid (the pidfile is the same file, still
#    holding that pid, still locked); new connections are answered by
#    the new binary; the old serving process is gone; the log says so;
#  - -x under NOTIFY_SOCKET: RELOADING=1, then READY=1, from the same
#    MAINPID; started with relative -r and -f, which the check and the
#    new image find again (they start where the first image started).
# SIGUSR2 to the serving process (systemctl kill signals every process of
# a unit) does nothing: a fatal signal kills at once, so the next
# connection would see it.
# Then what must not upgrade, each time with the server serving on with
# the old serving process, exactly one more "upgrade failed" line in the
# log, and the same supervisor:
#  - the new binary is not executable (chmod -x);
#  - the new binary exits at once (a script: exit 1);
#  - the new binary's serving process fails to start (t-dsrv3);
#  - and a later SIGUSR2 with a good binary upgrades.
# And with a UNIX-domain socket (-l: its name stays, and is removed at
# exit by the new image) and with --reuseport (a socket per worker).
# Last, started through a symbolic link to a release directory that is
# then re-pointed to another release: SIGUSR2 runs the other release.
# Broken on purpose once each (the line then failing):
#  - adopt_kids() in lib/supervisor.c returning 0 (no adoption): "daemon:
#    the old serving process ... is gone" fails (nobody tells it to
#    drain), then "one serving process";
#  - upgrade_start() in lib/supervisor.c calling upgrade_exec() instead
#    of hsvr_upgrade_check_start() (no check): "serv_init ran in check
#    mode ... (3 init lines)", then "exit 1 at once: one 'upgrade failed'
#    line" fail (the script replaced the supervisor, which is gone);
#  - without the chdir to the starting directory in lib/upgrade.c:
#    "foreground: SIGUSR2: new connections are answered by the new
#    binary" fails (the check cannot chdir to "run" from "run");
#  - record_exe() in lib/upgrade.c with its same-name shortcut inverted
#    (argv[0] kept only when it is /proc/self/exe's name): "link: SIGUSR2
#    after the link was re-pointed: version 2 answers" and "link: the
#    supervisor runs rel2's binary" fail (rel1's file is run again).

# ck and bash -c evaluate their single-quoted conditions themselves, with
# variables set here, and functions run through check: shellcheck sees
# none of it.
# shellcheck disable=SC2016,SC2034,SC2317 source-path=SCRIPTDIR
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
dt_enter "$@"

# Sanitizer reports to files (a daemon's stderr is /dev/null), checked at
# the end: the old and new images, the checks and every serving process.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$T/san
export TSAN_OPTIONS=${TSAN_OPTIONS:+$TSAN_OPTIONS:}log_path=$T/san
# The three builds, as lib_direct made DSRV: the program or its wrapper.
D1=$DSRV D2=${DSRV%/*}/t-dsrv2 D3=${DSRV%/*}/t-dsrv3
[[ $(head -c 2 "$D1") != '#!' ]] || bail "t-dsrv is a libtool wrapper here: no binary to copy"
bin=$T/bin
mkdir -p "$bin"
chmod 755 "$bin"
SRVBIN=$bin/srv
# install FILE: FILE becomes the server's binary, by rename, as a package
# manager does (the running one's inode lives on, deleted).
install() {
	cp "$1" "$bin/new" && chmod 755 "$bin/new" && mv -f "$bin/new" "$SRVBIN"
}
install "$D1"

ask() { "$DCLIENT" cmd "$1" "$2" 2>/dev/null; }
# version PORT: what a new connection is answered, "version=N".
serves_version() { [[ $(ask "$1" version) == "version=$2" ]]; }
fails() { grep -c "dsrv\[$1\]: upgrade failed" "$DT_TMP/syslog" 2>/dev/null; }
exe_of() { readlink "/proc/$1/exe" 2>/dev/null; }
locked() { ! flock -n -E 9 "$1" true; }

# has_read PID N: PID has read N bytes (/proc/PID/io: requests, mostly).
has_read() { local r; r=$(sed -n 's/^rchar: //p' "/proc/$1/io" 2>/dev/null) && ((r >= $2)); }

# upgrade_under_load MODE SUP PORT PROGRAM N: replace the binary with
# PROGRAM (answering version=N) under the client loop, SIGUSR2 the
# supervisor SUP, and check everything above.  Sets SRV to the new
# serving process.
upgrade_under_load() {
	local mode=$1 sup=$2 port=$3 to=$4 want=$5 old out loop rc=0 t0 dt
	old=$(serving_pid "$sup")
	rm -f "$T/stop"
	"$DCLIENT" loop "$port" 6 2 "$T/stop" >"$T/loop-$mode.out" 2>&1 &
	loop=$!
	# The loop runs: the serving process has read some requests.
	must "$mode: the client loop runs" wait_for 10 has_read "$old" 4096
	install "$to"
	t0=$(now_cs)
	kill -USR2 "$sup"
	must "$mode: SIGUSR2: new connections are answered by the new binary" \
		wait_for 30 serves_version "$port" "$want"
	dt=$(($(now_cs) - t0))
	check "$mode: the old serving process $old is gone" wait_for 30 gone "$old"
	say "$mode: from SIGUSR2 to the new binary answering: $((dt * 10)) ms"
	: >"$T/stop"
	check "$mode: the client loop ends" wait_for $((30 * SCALE)) gone "$loop"
	wait "$loop" || rc=1
	out=$(grep '^LOOP ' "$T/loop-$mode.out")
	say "$out"
	ck "$mode: short requests made all along ($(field "$out" short))" '(($(field "$out" short) >= 100))'
	ck "$mode: no short request lost ($(field "$out" short_lost)), none failed ($(field "$out" short_failed)), no wrong answer ($(field "$out" bad))" \
		'[[ $rc == 0 && $(field "$out" short_lost) == 0 && $(field "$out" short_failed) == 0 && $(field "$out" bad) == 0 ]]'
	ck "$mode: keep-alive: at most one request lost per connection closed ($(field "$out" keep_lost) <= $(field "$out" keep_closed))" \
		'(($(field "$out" keep) > 0 && $(field "$out" keep_lost) <= $(field "$out" keep_closed)))'
	check "$mode: the supervisor kept its pid $sup" alive "$sup"
	SRV=$(serving_pid "$sup")
	check "$mode: one serving process, a child of $sup" test -n "$SRV"
	check "$mode: it runs $SRVBIN ($(exe_of "$SRV"))" [ "$(exe_of "$SRV")" = "$SRVBIN" ]
	check "$mode: so does the supervisor ($(exe_of "$sup"))" [ "$(exe_of "$sup")" = "$SRVBIN" ]
	check "$mode: the log: 'upgraded'" wait_for 5 syslog_has "dsrv\[$sup\]: upgraded: serving process $SRV "
}

# fallback MODE SUP PORT WHAT: after the binary was replaced by a bad one,
# SIGUSR2 leaves the server serving as it was, with one line in the log.
fallback() {
	local mode=$1 sup=$2 port=$3 what=$4 srv n0 v
	srv=$(serving_pid "$sup")
	v=$(ask "$port" version)
	n0=$(fails "$sup")
	kill -USR2 "$sup"
	must "$mode, $what: one 'upgrade failed' line" wait_for 30 bash -c '(($(grep -c "dsrv\[$1\]: upgrade failed" "$2") > $3))' _ "$sup" "$DT_TMP/syslog" "$n0"
	say "$(grep "dsrv\[$sup\]: upgrade failed" "$DT_TMP/syslog" | tail -n 1)"
	check "$mode, $what: the supervisor is still there" alive "$sup"
	check "$mode, $what: the same serving process answers" [ "$(ask "$port" pid)" = "pid=$srv" ]
	check "$mode, $what: ... the same version" [ "$(ask "$port" version)" = "$v" ]
	check "$mode, $what: one serving process" [ "$(serving_pid "$sup")" = "$srv" ]
	check "$mode, $what: only one line" [ "$(fails "$sup")" -eq $((n0 + 1)) ]
}

# ---------------------------------------------------------- as a daemon
pidf=$T/pid/upgrade.pid
port=$(free_port)
: >"$T/trace"
DSRV=$SRVBIN
must "daemon: started from $SRVBIN" dsrv_start "$pidf" -p "$port" -i 127.0.0.1 -n 4 -m 2000 -f "$T/trace"
sup=$SUP
check "daemon: version 1 answers" serves_version "$port" 1
# systemctl kill -s USR2 signals every process of the unit.
kill -USR2 "$SRV"
check "daemon: SIGUSR2 to the serving process does nothing" \
	bash -c '[[ $("$1" cmd "$2" pid) == "pid=$3" ]]' _ "$DCLIENT" "$port" "$SRV"
ino=$(stat -c %i "$pidf")
upgrade_under_load daemon "$sup" "$port" "$D2" 2
check "daemon: the pidfile still holds $sup" [ "$(cat "$pidf")" = "$sup" ]
check "daemon: it is the same file" [ "$(stat -c %i "$pidf")" = "$ino" ]
check "daemon: it is still locked" locked "$pidf"
check "daemon: serv_init ran in check mode and in the new image (3 init lines)" \
	[ "$(grep -c '^init ' "$T/trace")" -eq 3 ]

# What must not upgrade.
cp "$D1" "$bin/new" && chmod 644 "$bin/new" && mv -f "$bin/new" "$SRVBIN"
fallback daemon "$sup" "$port" "not executable"
check "daemon, not executable: the line says why" syslog_has "upgrade failed: .*Permission denied"
printf '#!/bin/sh\necho "not today" >&2\nexit 1\n' >"$T/exit1"
install "$T/exit1"
fallback daemon "$sup" "$port" "exit 1 at once"
check "daemon, exit 1 at once: the line says why" syslog_has "upgrade failed: .*exited with status 1: not today"
install "$D3"
fallback daemon "$sup" "$port" "its serving process fails"
check "daemon, its serving process fails: the line says why" \
	syslog_has "upgrade failed: the new binary's serving process [0-9]+ exited with status 3 during start-up"
check "daemon: the pidfile still holds $sup, locked" bash -c '[[ $(cat "$1") == "$2" ]] && ! flock -n "$1" true' _ "$pidf" "$sup"
# A later SIGUSR2, with a good binary (version 1 again).
upgrade_under_load daemon-again "$sup" "$port" "$D1" 1
check "daemon: the pidfile still holds $sup, locked" bash -c '[[ $(cat "$1") == "$2" ]] && ! flock -n "$1" true' _ "$pidf" "$sup"

# SIGUSR2 while stopping: ignored; the server stops as usual.
kill -TERM "$sup"
check "daemon: SIGTERM: the supervisor exits" wait_for 20 gone "$sup"
check "daemon: exit 0 ($(wait_reaped "$sup"))" [ "$(reaped "$sup")" = exit=0 ]
check "daemon: the pidfile is removed" [ ! -e "$pidf" ]

# ------------------------------------ in the foreground, under systemd's eye
notify_listen
port=$(free_port)
install "$D1"
# Started in $T/fg with relative -r and -f: the new image starts where
# the first one did, not in -r's directory.
mkdir -p "$T/fg/run"
: >"$T/fg/run/trace"
(cd "$T/fg" && NOTIFY_SOCKET=$sock exec "$SRVBIN" -x -p "$port" -i 127.0.0.1 -n 2 -r run -f trace 2>"$T/fg.err") &
fg=$!
dt_daemons+=("$fg")
must "-x: started" ready "$port"
must "-x: READY=1" wait_for 10 grep -q "^pid=$fg READY=1" "$log"
upgrade_under_load foreground "$fg" "$port" "$D2" 2
check "-x: RELOADING=1 then READY=1 from MAINPID $fg" \
	bash -c 'grep -o "RELOADING=1 MAINPID=[0-9]*\|READY=1 MAINPID=[0-9]*" "$1" | tr "\n" " " | grep -q "^READY=1 MAINPID=$2 RELOADING=1 MAINPID=$2 READY=1 MAINPID=$2 $"' _ "$log" "$fg"
install "$T/exit1"
fallback foreground "$fg" "$port" "exit 1 at once"
check "-x: READY=1 again after the failed upgrade" \
	bash -c '[[ $(grep -o "READY=1 MAINPID=$2" "$1" | wc -l) -eq 3 ]]' _ "$log" "$fg"
install "$D3"
fallback foreground "$fg" "$port" "its serving process fails"
upgrade_under_load foreground-again "$fg" "$port" "$D1" 1
check "-x: stops on SIGTERM, exit 0" fg_stop "$fg" 20
# At start, then a check and a new image for each binary but the script.
check "-x: serv_init found -r's trace file 7 times (relative paths held)" \
	[ "$(grep -c '^init ' "$T/fg/run/trace")" -eq 7 ]

# ------------------------------- a UNIX-domain socket (-l), --reuseport
# Other sockets go across as they are: the -l socket keeps its name (the
# new image removes it at exit), --reuseport's per-worker sockets each
# keep their worker.
other() { # NAME ADDR ARGS...
	local name=$1 addr=$2 sup old
	shift 2
	install "$D1"
	must "$name: started" dsrv_start "$T/pid/$name.pid" "$@"
	sup=$SUP old=$SRV
	check "$name: version 1" serves_version "$addr" 1
	install "$D2"
	kill -USR2 "$sup"
	check "$name: SIGUSR2: version 2 answers" wait_for 30 serves_version "$addr" 2
	check "$name: the old serving process is gone" wait_for 30 gone "$old"
	check "$name: every new connection: version 2" bash -c 'for i in 1 2 3 4 5 6 7 8; do [[ $("$1" cmd "$2" version) == version=2 ]] || exit 1; done' _ "$DCLIENT" "$addr"
	kill -TERM "$sup"
	check "$name: SIGTERM: exit 0" wait_for 20 gone "$sup"
	check "$name: exit 0 ($(wait_reaped "$sup"))" [ "$(reaped "$sup")" = exit=0 ]
}
other unix "unix:$T/u.sock" -l "$T/u.sock" -n 2
check "unix: the socket's name is removed at exit" [ ! -e "$T/u.sock" ]
port=$(free_port)
other reuseport "$port" -p "$port" -i 127.0.0.1 -n 3 --reuseport

# ------------------------------- a symbolic link re-pointed to a release
# Started as .../current/srv, current a link to rel1: re-pointed to rel2,
# SIGUSR2 executes rel2's binary (argv[0], not /proc/self/exe, was
# recorded: it names the running file, through the link).
mkdir -p "$T/rel1" "$T/rel2"
cp "$D1" "$T/rel1/srv" && cp "$D2" "$T/rel2/srv" && chmod 755 "$T/rel1/srv" "$T/rel2/srv"
ln -s rel1 "$T/current"
port=$(free_port)
DSRV=$T/current/srv
must "link: started as $DSRV" dsrv_start "$T/pid/link.pid" -p "$port" -i 127.0.0.1 -n 2
sup=$SUP
check "link: version 1" serves_version "$port" 1
ln -sfn rel2 "$T/current"
kill -USR2 "$sup"
check "link: SIGUSR2 after the link was re-pointed: version 2 answers" wait_for 30 serves_version "$port" 2
check "link: the supervisor runs rel2's binary ($(exe_of "$sup"))" [ "$(exe_of "$sup")" = "$(readlink -f "$T/rel2/srv")" ]
kill -TERM "$sup"
check "link: SIGTERM: exit 0" wait_for 20 gone "$sup"
check "no sanitizer report" bash -c '! ls "$1".* 2>/dev/null' _ "$T/san"
dt_finish
