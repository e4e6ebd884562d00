#!/bin/bash
# tests/systemd/nspawn.sh - the units hsvr-service makes, under a real
# systemd: Debian 12 booted with systemd as PID 1 of a throwaway container
# (systemd-nspawn --boot --volatile=overlay --private-network, in a cgroup
# of its own), examples/hsvr-http copied in with its libraries.
#  - hsvr-service -a systemd + socket (DynamicUser, socket-activated): the
#    socket unit listens and the service is not running; the first
#    connection starts it and is answered; main and serving processes run
#    with NoNewPrivs: 1, no capability, a user that is not root, and /usr
#    read-only; systemctl reload: a new serving process, same main
#    process, still answering; systemctl stop: Result=success, exit 0; the
#    socket still listens and a connection starts the service again;
#    systemd-analyze security scores it at most 2.0 (printed);
#  - hsvr-service systemd (root start, the sandboxed unit), started by its
#    socket: answers; its supervisor is root with only the capabilities
#    the unit grants and NoNewPrivs: 1; the serving process is nobody with
#    none; reload and stop as above;
#  - SIGUSR2 upgrade through "systemctl kill -s USR2" (every process of
#    the unit gets it) of a socket-activated root unit running t-dsrv
#    from /opt/hsvr/bin/upg, replaced by rename with t-dsrv2: the same
#    MainPID, a new serving process, answering "version=2" on systemd's
#    socket, the unit active (not failed, not left reloading); a later
#    upgrade to a binary that exits at once leaves it serving version 2,
#    active, with the one line in its journal.
# The container's root is built once with debootstrap from the mirror apt
# uses and cached in $HSVR_NSPAWN_ROOT (/var/cache/hsvr-tests/nspawn-root).
# Needs root, debootstrap and systemd-container (systemd-nspawn); exits 77
# (skipped) only when not run as root, or in a chroot ("/" no mount point),
# where systemd-nspawn cannot start a container.
# Proof that it can fail: with ProtectSystem=strict removed from
# rc.d/hsvr.service, "root.service: /usr is read-only" fails; with
# hsvr_listen_activated()'s LISTEN_PID comparison inverted (lib/listen.c),
# the first connection to dyn.socket gets no answer.  Before the check mode
# ignored SIGUSR2 (lib/upgrade.c), systemctl kill killed the check too
# ("killed by signal 12") and "an upgrade to a binary that exits at once:
# one line in the journal" failed.

# shellcheck disable=SC2016,SC2034,SC2317 source-path=SCRIPTDIR
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
# shellcheck source=../lib.sh
. "$(dirname "$0")/../lib.sh"

if [[ $(id -u) -ne 0 ]]; then
	echo "# $t_name: needs root (systemd-nspawn): skipped"
	exit 77
fi
top_srcdir=$(cd "$(dirname "$0")/../.." && pwd)
t_builddir=${DT_BUILDDIR:-$PWD}
lib_scale "$t_builddir"
t_timed=1
ROOT=${HSVR_NSPAWN_ROOT:-/var/cache/hsvr-tests/nspawn-root}
PACKAGES=systemd,systemd-sysv,dbus,procps
DCLIENT=$t_builddir/tests/daemon/t-dclient
SERVICE=$t_builddir/rc.d/hsvr-service
T=$(mktemp -d "${TMPDIR:-/tmp}/hsvr-nspawn.XXXXXX")
NSPAWN='' LEADER='' CGROUPS=()

fail_end() {
	not_ok "$*"
	finish
}

# Kill what is left in the test's cgroups and remove them: 0 once gone.
cgroups_gone() {
	local d p left=0
	for d in "${CGROUPS[@]}"; do
		[[ -d $d ]] || continue
		find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null |
			while read -r p; do kill -KILL "$p" 2>/dev/null; done
		find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
		[[ -d $d ]] && left=1
	done
	return "$left"
}

# The end, whatever happened: the container halted (SIGRTMIN+3 to its
# PID 1: systemd's halt), killed if it did not within 30 s, its cgroups
# removed, the scratch directory too.
finish() {
	trap - EXIT
	if ((t_failed)) && [[ -n $LEADER ]]; then
		say "---- the journal of the units (last 60 lines)"
		ct journalctl --no-pager -n 60 -u dyn.service -u dyn.socket \
			-u root.service -u root.socket -u upg.service 2>&1 | sed 's/^/# /'
	fi
	if [[ -n $NSPAWN ]] && alive "$NSPAWN"; then
		[[ -n $LEADER ]] || LEADER=$(leader)
		[[ -n $LEADER ]] && kill -RTMIN+3 "$LEADER" 2>/dev/null
		if ! wait_for 30 gone "$NSPAWN"; then
			not_ok "the container did not halt within 30 s: killed"
			kill -KILL "$NSPAWN" 2>/dev/null
		fi
		wait "$NSPAWN" 2>/dev/null
	fi
	# A container whose nspawn was killed lives on: what is left in the
	# cgroups this test made is its own, killed too.
	((${#CGROUPS[@]} == 0)) || wait_for 10 cgroups_gone ||
		not_ok "the cgroups ${CGROUPS[*]} could not be removed"
	if ((t_failed)); then
		say "---- the container's console (last 40 lines)"
		tail -n 40 "$T/nspawn.out" 2>/dev/null | sed 's/^/# /'
	fi
	rm -rf "$T"
	exit "$t_failed"
}
trap 'not_ok "the script ended early"; finish' EXIT

# In a chroot (a fresh Debian root made for a clean build) "/" is no mount
# point, and systemd-nspawn cannot start a container there ("Failed to
# mount n/a on /: Invalid argument"): skipped, saying so.
if ! mountpoint -q /; then
	echo "# $t_name: / is not a mount point (a chroot): systemd-nspawn cannot run here: skipped"
	trap - EXIT
	rm -rf "$T"
	exit 77
fi
for tool in systemd-nspawn debootstrap nsenter; do
	command -v "$tool" >/dev/null ||
		fail_end "$tool is not installed (apt-get install systemd-container debootstrap)"
done
[[ -x $DCLIENT && -x $SERVICE ]] || fail_end "t-dclient and hsvr-service are built (make check builds them)"

# ------------------------------------------------- the container's root

build_root() {
	local tmp=$ROOT.tmp.$$ m t0=$SECONDS
	m=$(lib_mirror)
	say "building $ROOT: debootstrap --variant=minbase bookworm from $m"
	mkdir -p "${ROOT%/*}"
	rm -rf "$tmp"
	if ! debootstrap --variant=minbase --include="$PACKAGES" bookworm "$tmp" "$m" >"$T/debootstrap.log" 2>&1; then
		tail -n 20 "$T/debootstrap.log" | sed 's/^/# /'
		rm -rf "$tmp"
		return 1
	fi
	echo "$PACKAGES" >"$tmp/.hsvr-packages"
	rm -rf "$ROOT"
	mv "$tmp" "$ROOT"
	say "built in $((SECONDS - t0)) s"
}

# One builder at a time; a root from another package list is rebuilt.
mkdir -p "${ROOT%/*}" || fail_end "cannot make ${ROOT%/*}"
exec 8>"${ROOT%/*}/.lock"
flock 8
if [[ ! -x $ROOT/lib/systemd/systemd || $(cat "$ROOT/.hsvr-packages" 2>/dev/null) != "$PACKAGES" ]]; then
	build_root || fail_end "the container's root could not be built (debootstrap)"
fi
flock -u 8

# The server and every library it needs but the C library, for /opt/hsvr.
stage=$T/stage/opt/hsvr
mkdir -p "$stage/bin" "$stage/lib"
bin=$t_builddir/examples/.libs/hsvr-http
[[ -x $bin ]] || bin=$t_builddir/examples/hsvr-http
cp "$bin" "$stage/bin/hsvr-http"
LD_LIBRARY_PATH=$t_builddir/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} ldd "$bin" |
	awk '$2 == "=>" && $3 ~ /^\// { print $3 }' |
	grep -Ev '/(libc|libm|ld-linux[^/]*)\.so' |
	while read -r lib; do cp -L "$lib" "$stage/lib/"; done
ls "$stage/lib/libhsvr.so"* >/dev/null 2>&1 || fail_end "libhsvr.so is not built (configure --disable-shared is not supported here)"

# The upgrade test's server (t-dsrv) and its second build (t-dsrv2).
for v in t-dsrv t-dsrv2; do
	b=$t_builddir/tests/daemon/.libs/$v
	[[ -x $b ]] || b=$t_builddir/tests/daemon/$v
	cp "$b" "$stage/bin/$v" || fail_end "$v is not built (make check builds it)"
done

# ------------------------------------------------------------ boot
# A cgroup of its own, so that two containers (two test runs) do not
# collide: a systemd scope when systemd runs the machine, else a fresh
# directory in each hierarchy nspawn uses.
cg=hsvr-nspawn-$$
launch=()
if [[ -d /run/systemd/system ]] && command -v systemd-run >/dev/null; then
	launch=(systemd-run --scope --quiet --collect --unit="$cg")
elif [[ -e /sys/fs/cgroup/cgroup.controllers ]]; then
	CGROUPS=("/sys/fs/cgroup/$cg")
else
	for d in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
		[[ -d $d ]] && CGROUPS+=("$d/$cg")
	done
fi
for d in "${CGROUPS[@]}"; do
	mkdir "$d" || fail_end "cannot make the cgroup $d"
done
(
	for d in "${CGROUPS[@]}"; do echo "$BASHPID" >"$d/cgroup.procs"; done
	exec "${launch[@]}" systemd-nspawn --boot --register=no --keep-unit \
		--volatile=overlay --private-network --machine="$cg" -D "$ROOT"
) </dev/null >"$T/nspawn.out" 2>&1 &
NSPAWN=$!
t_boot=$SECONDS

# The container's PID 1: the process of nspawn (or of its scope) that runs
# /sbin/init (systemd).
leader() {
	local p
	for p in $(pgrep -f -- "--machine=$cg" ) $(pgrep -P "$NSPAWN"); do
		for c in $(pgrep -P "$p"); do
			[[ $(readlink "/proc/$c/exe" 2>/dev/null) == */systemd ]] && { echo "$c"; return 0; }
		done
	done
	return 1
}
ct() { nsenter -t "$LEADER" -a "$@"; }
quiet() { "$@" >/dev/null; }
booted() { [[ $(ct systemctl is-system-running 2>/dev/null) =~ ^(running|degraded)$ ]]; }
must() {
	if "${@:2}"; then ok "$1"; else fail_end "$1"; fi
}
check() {
	if "${@:2}"; then ok "$1"; else not_ok "$1"; fi
}
must "the container's systemd started" wait_for 30 quiet leader
LEADER=$(leader)
must "the container booted (systemctl is-system-running)" wait_for 60 booted
say "booted in $((SECONDS - t_boot)) s"

tar -C "$T/stage" -cf - opt | ct tar -C / -xf - || fail_end "cannot copy the server in"
ct sh -c 'echo /opt/hsvr/lib >/etc/ld.so.conf.d/hsvr.conf && ldconfig' ||
	fail_end "cannot run ldconfig in the container"
must "hsvr-http runs in the container" quiet ct /opt/hsvr/bin/hsvr-http --version

# Units made by hsvr-service, installed in /etc/systemd/system.
unit() { # NAME FILE-SUFFIX HSVR-SERVICE-ARGS...
	local name=$1 suffix=$2
	shift 2
	"$SERVICE" -d "$top_srcdir/rc.d" "$@" >"$T/$name.$suffix" &&
		ct sh -c "cat >/etc/systemd/system/$name.$suffix" <"$T/$name.$suffix"
}
unit dyn service -a systemd dyn /opt/hsvr/bin/hsvr-http -p 9999 -n 2 || fail_end "hsvr-service -a systemd"
unit dyn socket socket dyn 8081 || fail_end "hsvr-service socket"
unit root service systemd root /opt/hsvr/bin/hsvr-http -p 9998 -n 2 -u nobody || fail_end "hsvr-service systemd"
unit root socket socket root 8082 || fail_end "hsvr-service socket"
unit upg service systemd upg /opt/hsvr/bin/upg -p 9997 -n 2 -u nobody || fail_end "hsvr-service systemd upg"
unit upg socket socket upg 8083 || fail_end "hsvr-service socket upg"
# An AddressSanitizer build: LeakSanitizer stops the world with ptrace at
# exit, which the units' SystemCallFilter (@system-service) forbids, so it
# fails and the server would exit 1.  Leaks are the other tests' business.
if ls "$stage/lib/"libasan.so* >/dev/null 2>&1; then
	for u in dyn root upg; do
		ct sh -c "mkdir -p /etc/systemd/system/$u.service.d && printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n' >/etc/systemd/system/$u.service.d/asan.conf" ||
			fail_end "the ASan drop-in for $u.service"
	done
fi
ct systemctl daemon-reload || fail_end "systemctl daemon-reload"

prop() { ct systemctl show -P "$2" "$1"; }
http() { nsenter -t "$LEADER" -n "$DCLIENT" http "$1" 2>&1; }
answers() { [[ $(http "$1") == "HTTP/1.1 200"* ]]; }
status_field() { ct sh -c "sed -n 's/^$2:[[:space:]]*//p' /proc/$1/status"; }
# The serving process: the main process's one child.
serving() { local c; c=$(ct pgrep -P "$1" | head -n 1) && [[ -n $c ]] && echo "$c"; }
new_serving() { local c; c=$(serving "$1") && [[ -n $c && $c != "$2" ]]; }
active() { [[ $(prop "$1" ActiveState) == active ]]; }
inactive() { [[ $(prop "$1" ActiveState) == inactive ]]; }
read_only_usr() { # PID: /usr is read-only in its mount namespace, even for root
	local out
	out=$(ct nsenter -t "$1" -m touch /usr/hsvr-probe 2>&1)
	[[ $? -ne 0 && $out == *"Read-only file system"* ]]
}

# ---------------------------------------- socket-activated, DynamicUser
check "dyn.socket starts" ct systemctl start dyn.socket
check "dyn.service is not running before the first connection" inactive dyn.service
check "the first connection starts dyn.service and is answered ($(http 8081 | head -n 1))" answers 8081
check "dyn.service is active" wait_for 10 active dyn.service
main=$(prop dyn.service MainPID)
must "dyn.service has a serving process" wait_for 10 quiet serving "$main"
srv=$(serving "$main")
for p in "$main" "$srv"; do
	what="dyn.service pid $p"
	check "$what: NoNewPrivs: 1" [ "$(status_field "$p" NoNewPrivs)" = 1 ]
	check "$what: no capability (CapEff, CapBnd 0)" \
		bash -c '[[ $1 == 0000000000000000 && $2 == 0000000000000000 ]]' _ \
		"$(status_field "$p" CapEff)" "$(status_field "$p" CapBnd)"
	uid=$(status_field "$p" Uid)
	check "$what: not root (Uid $uid)" bash -c '[[ -n $1 && ${1%%[[:space:]]*} != 0 ]]' _ "$uid"
	check "$what: /usr is read-only" read_only_usr "$p"
done
ct systemctl reload dyn.service
check "systemctl reload dyn.service: a new serving process" wait_for 10 new_serving "$main" "$srv"
check "the same main process" [ "$(prop dyn.service MainPID)" = "$main" ]
check "the new one answers on systemd's socket" answers 8081
check "systemctl stop dyn.service" ct systemctl stop dyn.service
check "stopped: Result=success, exit status 0" \
	bash -c '[[ $1 == success && $2 == 0 ]]' _ "$(prop dyn.service Result)" "$(prop dyn.service ExecMainStatus)"
check "dyn.socket still listens: a connection starts the service again" answers 8081
check "dyn.service is active again" wait_for 10 active dyn.service
score_line=$(ct systemd-analyze security --no-pager dyn.service 2>&1 | grep 'Overall exposure level')
score=$(sed -n 's/.*: \([0-9.]*\).*/\1/p' <<<"$score_line")
say "systemd-analyze security dyn.service: ${score_line:-nothing}"
check "dyn.service exposure ${score:-?} <= 2.0" awk -v s="${score:-99}" 'BEGIN { exit !(s + 0 <= 2.0) }'

# by_socket UNIT WHAT COMMAND...: UNIT.socket starts; the first connection
# (COMMAND, which checks the answer: WHAT) starts UNIT.service; sets main
# and srv, its main and serving processes.
by_socket() {
	check "$1.socket starts" ct systemctl start "$1.socket"
	check "the first connection starts $1.service and is answered ($2)" "${@:3}"
	check "$1.service is active" wait_for 10 active "$1.service"
	main=$(prop "$1.service" MainPID)
	must "$1.service has a serving process" wait_for 10 quiet serving "$main"
	srv=$(serving "$main")
}

# ------------------------------------------------ root start, sandboxed
by_socket root "HTTP 200" answers 8082
check "root.service supervisor: NoNewPrivs: 1" [ "$(status_field "$main" NoNewPrivs)" = 1 ]
check "root.service supervisor: root, bounding set as the unit grants (CapBnd $(status_field "$main" CapBnd))" \
	bash -c '[[ ${1%%[[:space:]]*} == 0 && $2 == 00000000000405e1 ]]' _ "$(status_field "$main" Uid)" "$(status_field "$main" CapBnd)"
check "root.service serving process: nobody, no capability, NoNewPrivs: 1" \
	bash -c '[[ ${1%%[[:space:]]*} == 65534 && $2 == 0000000000000000 && $3 == 1 ]]' _ \
	"$(status_field "$srv" Uid)" "$(status_field "$srv" CapBnd)" "$(status_field "$srv" NoNewPrivs)"
check "root.service: /usr is read-only" read_only_usr "$main"
ct systemctl reload root.service
check "systemctl reload root.service: a new serving process" wait_for 10 new_serving "$main" "$srv"
check "it answers" answers 8082
check "systemctl stop root.service" ct systemctl stop root.service
check "stopped: Result=success, exit status 0" \
	bash -c '[[ $1 == success && $2 == 0 ]]' _ "$(prop root.service Result)" "$(prop root.service ExecMainStatus)"
say "systemd-analyze security root.service: $(ct systemd-analyze security --no-pager root.service 2>&1 | grep 'Overall exposure level')"

# ------------------------------------------- SIGUSR2: upgrade in place
cmd() { nsenter -t "$LEADER" -n "$DCLIENT" cmd "$1" "$2" 2>/dev/null; }
version_is() { [[ $(cmd 8083 version) == "version=$1" ]]; }
# install FILE: /opt/hsvr/bin/upg becomes FILE, by rename.
install() { ct sh -c "cp $1 /opt/hsvr/bin/upg.new && chmod 755 /opt/hsvr/bin/upg.new && mv -f /opt/hsvr/bin/upg.new /opt/hsvr/bin/upg"; }
not_failed() { ! ct systemctl is-failed --quiet upg.service; }
install /opt/hsvr/bin/t-dsrv || fail_end "cannot install t-dsrv as /opt/hsvr/bin/upg"
by_socket upg "version 1" version_is 1
install /opt/hsvr/bin/t-dsrv2 || fail_end "cannot install t-dsrv2 as /opt/hsvr/bin/upg"
ct systemctl kill -s USR2 upg.service
check "systemctl kill -s USR2 upg.service: the new binary answers on systemd's socket" wait_for 20 version_is 2
check "the same MainPID ($(prop upg.service MainPID))" [ "$(prop upg.service MainPID)" = "$main" ]
check "the old serving process is gone" wait_for 20 bash -c '[[ $(nsenter -t "$1" -a pgrep -P "$2" | tr "\n" " ") != *"$3 "* ]]' _ "$LEADER" "$main" "$srv"
check "a new serving process, a child of the main one" wait_for 10 new_serving "$main" "$srv"
check "upg.service is active (not reloading)" wait_for 10 active upg.service
check "upg.service is not failed" not_failed
check "the main process runs the new /opt/hsvr/bin/upg" \
	[ "$(ct readlink "/proc/$main/exe")" = /opt/hsvr/bin/upg ]
ct sh -c 'printf "#!/bin/sh\nexit 1\n" >/opt/hsvr/bin/exit1'
install /opt/hsvr/bin/exit1
ct systemctl kill -s USR2 upg.service
check "an upgrade to a binary that exits at once: one line in the journal" \
	wait_for 20 bash -c 'nsenter -t "$1" -a journalctl --no-pager -u upg.service | grep -q "upgrade failed: .*exited with status 1"' _ "$LEADER"
check "... still version 2, from the same MainPID" \
	bash -c '[[ $2 == "version=2" && $3 == "$4" ]]' _ "" "$(cmd 8083 version)" "$(prop upg.service MainPID)" "$main"
check "... upg.service is active (READY=1 again)" wait_for 10 active upg.service
check "... upg.service is not failed" not_failed
check "systemctl stop upg.service" ct systemctl stop upg.service
check "stopped: Result=success, exit status 0" \
	bash -c '[[ $1 == success && $2 == 0 ]]' _ "$(prop upg.service Result)" "$(prop upg.service ExecMainStatus)"

trap - EXIT
finish
