#!/bin/bash
# tests/daemon/sandbox.sh - the serving process as a sandbox (hsvr(8)):
#  - --seccomp: every thread of the serving process runs under the filter
#    (Seccomp: 2), the supervisor does not; lines, a 3 MB transfer by
#    S_send and one by S_send_file (sendfile), HTTP and a TLS handshake
#    work under it; a callback's execve, socket(AF_NETLINK),
#    socket(AF_PACKET) and ptrace fail with EPERM and the same serving
#    process goes on serving; mkdir fails with EPERM unless the
#    application allowed it (serv_seccomp_allow from serv_init or from
#    serv_worker_init), and then works; serv_seccomp_allow refuses a name
#    that is no system call;
#  - --chroot DIR: the serving process's root (/proc/PID/root, every
#    thread) is DIR, an empty root-owned directory, its working directory
#    "/", and it serves (alone, with --seccomp, with TLS too) and logs
#    (syslog was connected before); serv_init still runs in -r's
#    directory; the supervisor's root stays "/";
#  - --chroot is refused: exit 64 for a relative path (a usage error: one
#    line, then the usage), 78 with one line for a missing path, a file, a
#    directory owned by another user, one writable by others or under one
#    writable by others, and when not started as root.
#
# Under AddressSanitizer, LeakSanitizer's check at exit needs ptrace, a
# tracer process and /proc: a sandboxed serving process cannot give it
# any, so these servers run with detect_leaks=0 (the same servers without
# the sandbox are leak-checked by the other daemon tests).

# ck and bash -c evaluate their single-quoted conditions themselves, with
# variables set here, and functions run through check: shellcheck sees none
# of it.
# shellcheck disable=SC2016,SC2034,SC2317 source-path=SCRIPTDIR
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
dt_enter "$@"

export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
nobody_uid=$(id -u nobody)

stop() {
	kill -TERM "$1"
	check "$2: stopped" wait_for 10 gone "$1"
}

# every_task PID FIELD VALUE: FIELD of /proc/PID/status is VALUE in every
# thread of PID (but ThreadSanitizer's own for the per-thread privileges:
# dt_tsan_runtime_tid; seccomp's TSYNC filters it too).
every_task() {
	local task skip=""
	[[ $2 == Seccomp ]] || skip=$(dt_tsan_runtime_tid "$1")
	for task in /proc/"$1"/task/*; do
		[[ ${task##*/} == "$skip" ]] && continue
		[[ $(proc_field "$1/task/${task##*/}" "$2") == "$3" ]] || return 1
	done
	return 0
}

# answers ADDR LINE...: the answers to the LINEs, on one line.
answers() {
	local addr=$1
	shift
	"$DCLIENT" cmd "$addr" "$@" 2>&1 | tr '\n' ' '
}

# -------------------------------------------------------------- --seccomp
port=$(free_port)
: >"$T/trace"
must "--seccomp: started" dsrv_start "$T/pid/sc.pid" -p "$port" \
	-i 127.0.0.1 -n 2 -f "$T/trace" --seccomp --seccomp-allow mkdir \
	--pattern-file 3000000
check "--seccomp: every thread of the serving process is filtered" \
	every_task "$SRV" Seccomp 2
check "--seccomp: the supervisor is not ($(proc_field "$SUP" Seccomp))" \
	[ "$(proc_field "$SUP" Seccomp)" = 0 ]
init=$(trace_line "$T/trace" init)
check "serv_seccomp_allow(\"mkdir\") in serv_init: 0" [ "$(field "$init" allow)" = 0 ]
check "serv_seccomp_allow(\"no_such_system_call\"): -1" [ "$(field "$init" allow_bad)" = -1 ]
a=$(answers "$port" "echo hello")
check "--seccomp: a line is answered ($a)" [ "$a" = "hello " ]
check "--seccomp: 3,000,000 bytes by S_send_file (sendfile), byte-exact" \
	"$DCLIENT" fetch "$port" 3000000
check "--seccomp: 5,000,000 bytes by S_send, byte-exact" \
	"$DCLIENT" fetch "$port" 5000000
a=$(answers "$port" "try execve" "try netlink" "try packet" "try ptrace")
say "forbidden calls: $a"
check "--seccomp: execve, socket(AF_NETLINK), socket(AF_PACKET), ptrace fail with EPERM" \
	[ "$a" = "execve=EPERM netlink=EPERM packet=EPERM ptrace=EPERM " ]
a=$(answers "$port" "try mkdir $T/made")
ck "--seccomp: mkdir, allowed by the application, works ($a)" \
	'[ "$a" = "mkdir=ok " ] && [ "$(stat -c %u "$T/made" 2>/dev/null)" = "$nobody_uid" ]'
a=$(answers "$port" "echo still here")
check "--seccomp: still serving afterwards ($a)" [ "$a" = "still here " ]
check "--seccomp: by the same serving process" [ "$(serving_pid "$SUP")" = "$SRV" ]
stop "$SUP" "--seccomp"
# The supervisor exits 0 only if its serving process did.
check "--seccomp: the server exited 0 ($(wait_reaped "$SUP"))" [ "$(reaped "$SUP")" = exit=0 ]

port=$(free_port)
must "--seccomp, nothing allowed: started" dsrv_start "$T/pid/sc2.pid" \
	-p "$port" -i 127.0.0.1 -n 2 --seccomp
a=$(answers "$port" "try mkdir $T/notmade")
ck "--seccomp: mkdir is refused with EPERM ($a)" '[ "$a" = "mkdir=EPERM " ] && [ ! -e "$T/notmade" ]'
stop "$SUP" "--seccomp, nothing allowed"

port=$(free_port)
: >"$T/trace.w"
must "--seccomp, mkdir allowed by worker 1: started" dsrv_start "$T/pid/sc3.pid" \
	-p "$port" -i 127.0.0.1 -n 2 -f "$T/trace.w" --seccomp --seccomp-allow-worker mkdir
check "serv_seccomp_allow from serv_worker_init: 0" \
	[ "$(field "$(grep ' worker=1 ' "$T/trace.w")" allow)" = 0 ]
a=$(answers "$port" "try mkdir $T/made.w")
check "--seccomp: mkdir allowed from serv_worker_init works ($a)" [ "$a" = "mkdir=ok " ]
stop "$SUP" "--seccomp, mkdir allowed by worker 1"

# HTTP with a file (sendfile), and TLS (a handshake, the file read into
# the TLS stream), from examples/hsvr-http.
head -c 1234567 /dev/urandom >"$T/body"
chmod 644 "$T/body"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=localhost -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null ||
	bail "openssl cannot make a test certificate"
port=$(free_port)
tport=$(free_port)
"$HTTPD" --pidfile "$T/pid/http.pid" -p "$port" -i 127.0.0.1 --seccomp \
	--file "$T/body" 2>"$T/http.err" || bail "hsvr-http --seccomp did not start: $(cat "$T/http.err")"
dt_daemons+=("$T/pid/http.pid")
"$HTTPD" --pidfile "$T/pid/https.pid" -p "$tport" -i 127.0.0.1 --seccomp \
	--file "$T/body" -c "$T/cert.pem" -k "$T/key.pem" 2>"$T/https.err" ||
	bail "hsvr-http --seccomp over TLS did not start: $(cat "$T/https.err")"
dt_daemons+=("$T/pid/https.pid")
curl -s --max-time $((10 * SCALE)) -o "$T/got" "http://127.0.0.1:$port/"
check "--seccomp: hsvr-http sends a 1,234,567-byte file by sendfile, byte-exact" cmp -s "$T/body" "$T/got"
rm -f "$T/got"
curl -s -k --max-time $((10 * SCALE)) -o "$T/got" "https://127.0.0.1:$tport/"
check "--seccomp: TLS handshake, then the file, byte-exact" cmp -s "$T/body" "$T/got"
srv=$(serving_pid "$(cat "$T/pid/https.pid")")
check "--seccomp: the TLS serving process is filtered" every_task "$srv" Seccomp 2

# -------------------------------------------------------------- --chroot
# In this test's private /run: "/" and /run are root's, mode 0755.
jail=/run/hsvr-jail
mkdir -m 0755 "$jail"
port=$(free_port)
: >"$T/trace.c"
must "--chroot: started" dsrv_start "$T/pid/ch.pid" -p "$port" -i 127.0.0.1 \
	-n 2 -f "$T/trace.c" -r "$T" --chroot "$jail"
check "--chroot: the serving process's root is $jail ($(readlink "/proc/$SRV/root"))" \
	[ "$(readlink "/proc/$SRV/root")" = "$jail" ]
bad=
for task in /proc/"$SRV"/task/*; do
	[[ $(readlink "$task/root") == "$jail" ]] || bad+=" ${task##*/}"
done
check "--chroot: and every thread's${bad:+ (not:$bad)}" [ -z "$bad" ]
check "--chroot: the supervisor's root stays /" [ "$(readlink "/proc/$SUP/root")" = / ]
check "--chroot: serv_init ran in -r's directory" \
	[ "$(field "$(trace_line "$T/trace.c" init)" cwd)" = "$T" ]
check "--chroot: serv_worker_init runs in the new / ($(field "$(trace_line "$T/trace.c" worker_init)" cwd))" \
	[ "$(field "$(trace_line "$T/trace.c" worker_init)" cwd)" = / ]
a=$(answers "$port" "echo chrooted")
check "--chroot: it serves ($a)" [ "$a" = "chrooted " ]
check "--chroot: 2,000,000 bytes, byte-exact" "$DCLIENT" fetch "$port" 2000000
ck "--chroot: no_new_privs, no capability, empty bounding set" \
	'every_task "$SRV" NoNewPrivs 1 && every_task "$SRV" CapEff 0000000000000000 &&
	every_task "$SRV" CapBnd 0000000000000000'
a=$(answers "$port" "log from the jail")
check "--chroot: syslog, connected before the chroot, still gets its lines" \
	wait_for 10 syslog_has "dsrv\\[$SRV\\]: dsrv: from the jail"
check "--chroot: the jail is still empty" [ -z "$(ls -A "$jail")" ]
stop "$SUP" "--chroot"

# All of it with TLS: key read before the chroot, handshakes inside it.
port=$(free_port)
"$HTTPD" --pidfile "$T/pid/httpsc.pid" -p "$port" -i 127.0.0.1 --seccomp \
	--chroot "$jail" --file "$T/body" -c "$T/cert.pem" -k "$T/key.pem" \
	2>"$T/httpsc.err" || bail "hsvr-http --chroot over TLS did not start: $(cat "$T/httpsc.err")"
dt_daemons+=("$T/pid/httpsc.pid")
rm -f "$T/got"
curl -s -k --max-time $((10 * SCALE)) -o "$T/got" "https://127.0.0.1:$port/"
check "--chroot --seccomp: TLS handshake, then the file, byte-exact" cmp -s "$T/body" "$T/got"
srv=$(serving_pid "$(cat "$T/pid/httpsc.pid")")
check "--chroot --seccomp: that serving process is chrooted" [ "$(readlink "/proc/$srv/root")" = "$jail" ]

port=$(free_port)
must "--chroot --seccomp: started" dsrv_start "$T/pid/chs.pid" -p "$port" \
	-i 127.0.0.1 --chroot "$jail" --seccomp
a=$(answers "$port" "echo both" "try execve")
check "--chroot --seccomp: it serves, execve is refused ($a)" [ "$a" = "both execve=EPERM " ]
ck "--chroot --seccomp: chrooted and filtered" \
	'[ "$(readlink "/proc/$SRV/root")" = "$jail" ] && every_task "$SRV" Seccomp 2'
stop "$SUP" "--chroot --seccomp"

# Refused: the exit status, and exactly one line on stderr.
mkdir -m 0755 /run/hsvr-other /run/hsvr-open "$T/jail"
chown nobody /run/hsvr-other
chmod 0777 /run/hsvr-open
: >/run/hsvr-file
# run_chroot WHAT CODE DIR: t-dsrv --chroot DIR exits CODE after one line.
run_chroot() {
	local what=$1 want=$2 dir=$3 rc=0 port
	port=$(free_port)
	timeout $((10 * SCALE)) "$DSRV" -x -p "$port" -i 127.0.0.1 \
		--pidfile "$T/pid/refused.pid" --chroot "$dir" 2>"$T/refused.err" || rc=$?
	# A usage error (64) is followed by the usage, as always.
	ck "--chroot $what: exit $want ($rc), one line: $(head -n 1 "$T/refused.err")" \
		'[ "$rc" = "$want" ] && { ((want == 64)) || [ "$(wc -l <"$T/refused.err")" = 1 ]; } &&
		head -n 1 "$T/refused.err" | grep -q -- --chroot'
}
run_chroot "a relative path" 64 run/hsvr-jail
run_chroot "a missing directory" 78 /run/hsvr-nothing
run_chroot "a file" 78 /run/hsvr-file
run_chroot "owned by nobody" 78 /run/hsvr-other
run_chroot "writable by others" 78 /run/hsvr-open
run_chroot "under a directory writable by others ($T)" 78 "$T/jail"
rc=0
port=$(free_port)
timeout $((10 * SCALE)) setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
	"$DSRV" -x -p "$port" -i 127.0.0.1 --chroot "$jail" 2>"$T/refused.err" || rc=$?
ck "--chroot not as root: exit 78 ($rc), one line: $(head -n 1 "$T/refused.err")" \
	'[ "$rc" = 78 ] && [ "$(wc -l <"$T/refused.err")" = 1 ]'

dt_finish
