# tests/tls/lib.sh - what every TLS test shares; sourced by bash.
#
# A TLS test makes a throw-away PKI with the openssl command in a fresh
# temporary directory ($T, mode 0700; the keys in $PKI are mode 0600, so
# when the tests run as root only root can read them: the serving
# processes, which run as nobody then, never could), starts test servers
# on fresh ports of 127.0.0.1 (srv_start), talks to them with t-tlsc and
# openssl s_client, and stops every server at exit.  $T is removed at the
# end unless a check failed or TLS_KEEP=1.
#
# Output is TAP-like: "ok - ..." and "not ok - ..." lines; the test fails if
# any check failed.  Waits are polls with deadlines; every time limit is
# multiplied by $SCALE ($HSVR_TEST_SCALE, else 4 in a sanitizer build).

# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# make check runs the tests in the top build directory.
t_builddir=${TLS_BUILDDIR:-$PWD}
TSRV=$t_builddir/tests/tls/t-tsrv
TSRV_LOW=$t_builddir/tests/tls/t-tsrv-low
TLSC=$t_builddir/tests/tls/t-tlsc
# t-tsrv on the tests' library (HSVR_TEST_HOOKS): linked statically.
TSRV_HOOKS=$t_builddir/tests/tls/t-tsrv-hooks
lib_direct TSRV TSRV_LOW

lib_scale "$t_builddir"
# Longest wait for one reply or one step of a transfer.
WAIT=$((10 * SCALE))

t_servers=()   # names of the servers started

# has TEXT STRING / hasnt TEXT STRING: a fixed string is (not) in TEXT.
has() { [[ $1 == *"$2"* ]]; }
hasnt() { [[ $1 != *"$2"* ]]; }
# has_line TEXT LINE: LINE is one of TEXT's lines, exactly.
has_line() { [[ $'\n'$1$'\n' == *$'\n'"$2"$'\n'* ]]; }
# lines_follow TEXT LINE1 LINE2: TEXT has LINE1, and LINE2 right after it.
lines_follow() { [[ $'\n'$1$'\n' == *$'\n'"$2"$'\n'"$3"$'\n'* ]]; }
# sc_echoed TEXT LINE: openssl s_client output TEXT shows LINE echoed,
# then BYE (s_client may print LINE right after its own output, on the
# same line).
sc_echoed() { [[ $'\n'$1$'\n' == *"$2"$'\n'BYE$'\n'* ]]; }

# The pids of PID's descendants.
descendants() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$1" '
		{
			pid = $1
			sub(/.*\) /, "")       # "PID (COMM) STATE PPID ..."
			parent[pid] = $2
		}
		END {
			want[root] = 1
			do {
				more = 0
				for (p in parent)
					if ((parent[p] in want) && !(p in want)) {
						want[p] = 1
						more = 1
						print p
					}
			} while (more)
		}'
}

# listens PID PORT: PID, or one of its descendants, has a socket listening
# on TCP port PORT (not some other program that took the port meanwhile).
listens() {
	local hex inodes ino p fds
	hex=$(printf ':%04X' "$2")
	inodes=$(awk -v h="$hex" '$4 == "0A" && substr($2, length($2) - 4) == h { print $10 }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null)
	[[ -n $inodes ]] || return 1
	fds=$(for p in "$1" $(descendants "$1"); do echo "/proc/$p/fd"; done |
		xargs ls -l 2>/dev/null)
	for ino in $inodes; do
		[[ $fds == *"socket:[$ino]"* ]] && return 0
	done
	return 1
}

# A TCP port nothing uses on 127.0.0.1, 0.0.0.0 and ::.
free_port() { "$TLSC" freeport; }

# srv_start NAME PROG ARG...: start PROG in the background, its stdout in
# $T/NAME.out and stderr in $T/NAME.err, stdin from /dev/null; an ARG
# @PORT@ becomes a free port.  Waits until the port listens (a fresh port
# is tried again if it was taken meanwhile).  Sets NAME_PORT and NAME_PID;
# 1 if the server did not come up.  (The listening socket must be the
# server's own.)
srv_start() {
	local name=$1 prog=$2 a port pid args
	shift 2
	for _ in 1 2 3; do
		port=$(free_port) || return 1
		args=()
		for a in "$@"; do args+=("${a//@PORT@/$port}"); done
		# HSVR_TEST_SECCOMP=1: every main()-based server sandboxed.
		[[ -n ${HSVR_TEST_SECCOMP:-} && $prog != "$TSRV_LOW" ]] && args+=(--seccomp)
		"$prog" "${args[@]}" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
		pid=$!
		printf -v "${name}_PID" %s "$pid"
		printf -v "${name}_PORT" %s "$port"
		t_servers+=("$name")
		if wait_for 10 listens "$pid" "$port"; then
			return 0
		fi
		if alive "$pid"; then
			say "$name: port $port does not listen after $((10 * SCALE)) s"
			return 1
		fi
		wait "$pid" 2>/dev/null
		grep -q 'in use' "$T/$name.err" || {
			say "$name exited at start-up: $(cat "$T/$name.err")"
			return 1
		}
	done
	return 1
}

# srv_stop NAME [SIGNAL]: stop server NAME (SIGTERM) and wait, at most
# 15 * SCALE s, for it and its children: sets NAME_RC to its exit status
# (124 if it had to be killed) and returns it.
srv_stop() {
	local name=$1 pid_var=${1}_PID rc=0 kids
	[[ -n ${!pid_var:-} ]] || return 0
	kids=$(descendants "${!pid_var}")
	# shellcheck disable=SC2086 # a list of pids
	lib_stop "$name" "${2:-TERM}" 15 $kids || rc=$?
	# Its serving processes go with it; any left is a failure.
	if ((!lib_killed)) && [[ -n $kids ]] && ! wait_for 5 all_gone $kids; then
		say "$name left processes behind: $kids"
		kill -KILL $kids 2>/dev/null
		rc=125
		printf -v "${name}_RC" %s "$rc"
	fi
	return "$rc"
}

all_gone() {
	local p
	for p; do alive "$p" && return 1; done
	return 0
}

# srv_finish NAME: stop NAME and check that it exited 0 with nothing
# wrong in its output.
srv_finish() {
	local name=$1 rc_var=${1}_RC bad
	srv_stop "$name"
	ck "$name stops with status 0 on SIGTERM (got ${!rc_var})" '[[ ${!rc_var} == 0 ]]'
	bad=$(trouble "$name")
	ck "$name: no sanitizer report, no VIOLATION line" '[[ -z $bad ]]'
	[[ -z $bad ]] || printf '#   %s\n' "${bad//$'\n'/$'\n#   '}"
	ck "$name: every session had ended by itself (no drain timeout)" '! err_has "$name" "drain timeout"'
}

# srv_out NAME / srv_err NAME: what the server printed so far.
srv_out() { cat "$T/$1.out" 2>/dev/null; }
srv_err() { cat "$T/$1.err" 2>/dev/null; }

# count_in FILE STRING: lines of FILE containing STRING.
count_in() {
	local n
	n=$(grep -cF -- "$2" "$1" 2>/dev/null)
	echo "${n:-0}"
}

# out_has NAME STRING: server NAME printed a line containing STRING.
out_has() { grep -qF -- "$2" "$T/$1.out" 2>/dev/null; }
err_has() { grep -qF -- "$2" "$T/$1.err" 2>/dev/null; }

# session_id NAME LPORT: the id of server NAME's session from local port
# LPORT (its ACCEPT line).
session_id() {
	local l
	l=$(grep -m1 "^ACCEPT id=[0-9]* port=$2 " "$T/$1.out") || return 1
	field "$l" id
}

# backpressured NAME LPORT: server NAME's GEN for the session from LPORT
# met S_send -4 and went on after TYP_SENDABLE (its GEN-DONE line).
backpressured() {
	local id l
	id=$(session_id "$1" "$2") || return 1
	l=$(grep -m1 "^GEN-DONE id=$id " "$T/$1.out") || return 1
	(($(field "$l" refused) >= 1 && $(field "$l" sendables) >= 1))
}

# tls PORT [OPTIONS...]: a t-tlsc session to PORT, stdin its script;
# prints its output (stderr into $T/clients.err).
tls() {
	local port=$1
	shift
	"$TLSC" session --timeout "$WAIT" --retry "$WAIT" "$@" "$port" 2>>"$T/clients.err"
}

# line_of TEXT PREFIX: the first line of TEXT starting with PREFIX.
line_of() {
	local l
	while IFS= read -r l; do
		if [[ $l == "$2"* ]]; then
			echo "$l"
			return 0
		fi
	done <<<"$1"
	return 1
}

# fingerprint CERT: its SHA-256 fingerprint as t-tlsc prints it.
fingerprint() {
	openssl x509 -noout -fingerprint -sha256 -in "$1" | sed 's/^[^=]*=//'
}

# make_pki DIR: a CA, server certificates (EC P-256 and RSA 2048, for
# localhost and 127.0.0.1), client certificates from the CA and from
# another CA, and encrypted and mismatched keys.  Keys are mode 0600.
make_pki() {
	local d=$1 ext
	mkdir -p "$d" && chmod 700 "$d" || return 1
	ext=$d/ext.cnf
	cat >"$ext" <<-'EOF'
		[ server ]
		basicConstraints = critical, CA:FALSE
		keyUsage = critical, digitalSignature, keyEncipherment
		extendedKeyUsage = serverAuth
		subjectAltName = DNS:localhost, IP:127.0.0.1
		[ client ]
		basicConstraints = critical, CA:FALSE
		keyUsage = critical, digitalSignature
		extendedKeyUsage = clientAuth
	EOF
	(
		set -e
		umask 077
		cd "$d"
		ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256"
		for ca in ca other-ca; do
			openssl req -x509 -new $ec -nodes -keyout $ca.key -out $ca.crt \
				-subj "/O=hsvr tests/CN=hsvr test $ca" -days 2 \
				-addext 'basicConstraints=critical,CA:TRUE' \
				-addext 'keyUsage=critical,keyCertSign,cRLSign'
		done
		# name CA KEYSPEC SUBJECT EXTENSIONS
		issue() {
			openssl req -new $3 -nodes -keyout "$1.key" -out "$1.csr" -subj "$4"
			openssl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" \
				-set_serial "0x$(openssl rand -hex 8)" -days 2 \
				-extfile ext.cnf -extensions "$5" -out "$1.crt"
			rm -f "$1.csr"
		}
		issue server ca "$ec" "/O=hsvr tests/OU=first/CN=localhost" server
		issue server2 ca "-newkey rsa:2048" "/O=hsvr tests/OU=second/CN=localhost" server
		issue client ca "$ec" "/O=hsvr tests/CN=hsvr-test-client" client
		issue intruder other-ca "$ec" "/O=hsvr tests/CN=hsvr-intruder" client
		openssl pkey -in server.key -aes256 -passout pass:x -out enc-pkcs8.key
		openssl pkey -in server.key -traditional -aes256 -passout pass:x -out enc-trad.key
		chmod 600 ./*.key
	) >"$d/make.log" 2>&1 || {
		say "cannot make the test PKI:"
		sed 's/^/#   /' "$d/make.log"
		return 1
	}
}

# t_setup: the temporary directory and the PKI in $PKI.
t_setup() {
	lib_scratch tlssuite 700
	PKI=$T/pki
	: >"$T/clients.err"
	make_pki "$PKI" || {
		not_ok "make the test PKI"
		exit 1
	}
	say "$t_name in $T (scale $SCALE, as uid $(id -u))"
}

t_cleanup() {
	local name bad
	trap - EXIT
	for name in "${t_servers[@]}"; do
		srv_stop "$name" >/dev/null 2>&1
	done
	bad=$(grep -E 'Sanitizer|runtime error:' "$T/clients.err" 2>/dev/null | head -n 5)
	if [[ -n $bad ]]; then
		not_ok "t-tlsc: sanitizer reports: $bad"
	fi
	lib_keep_or_remove "${TLS_KEEP:-0}"
}

t_finish() { exit $((t_failed ? 1 : 0)); }

# ioc NAME ARG...: start t-tsrv (the serv_* hooks and the library's main)
# in the foreground on a fresh port of 127.0.0.1, two workers, a drain of
# at most 5 * SCALE s on SIGTERM, with ARGs.
ioc() {
	local name=$1
	shift
	ioc_prog "$name" "$TSRV" "$@"
}

# ioc_prog NAME PROG ARG...: the same with another t-tsrv (t-tsrv-hooks).
ioc_prog() {
	local name=$1 prog=$2
	shift 2
	srv_start "$name" "$prog" -x -i 127.0.0.1 -p @PORT@ -n 2 \
		--drain-timeout "$((5 * SCALE))" "$@"
}

# The uid of nobody, whom the serving processes run as when started as
# root.
nobody_uid() { id -u nobody 2>/dev/null; }

# hold_open PORT [OPTIONS...]: a long-lived t-tlsc session in the
# background (a bash coprocess: one at a time); HOLD_CONNECTED is its
# CONNECTED line, empty if the handshake failed.
hold_open() {
	local port=$1
	shift
	coproc HOLD { exec "$TLSC" session --timeout "$WAIT" --retry "$WAIT" "$@" "$port" 2>>"$T/clients.err"; }
	HOLD_CONNECTED=
	IFS= read -r -t "$WAIT" HOLD_CONNECTED <&"${HOLD[0]}" || HOLD_CONNECTED=
	[[ $HOLD_CONNECTED == CONNECTED* ]]
}

# hold LINE: send LINE through the held session, print its reply line
# ("(no reply)" if none came within WAIT s).
hold() {
	local reply
	[[ -n ${HOLD[1]:-} ]] || { echo "(no session)"; return 1; }
	printf '%s\n' "$1" 2>/dev/null 1>&"${HOLD[1]}" || { echo "(no session)"; return 1; }
	IFS= read -r -t "$WAIT" reply <&"${HOLD[0]}" || { echo "(no reply)"; return 1; }
	echo "$reply"
}

# hold_close: end the held session (close_notify) and wait for it.
hold_close() {
	local pid=${HOLD_PID:-} fd=${HOLD[1]:-}
	[[ -n $fd ]] && exec {fd}>&-
	[[ -n $pid ]] && wait_for 10 gone "$pid"
	wait "$pid" 2>/dev/null
	return 0
}

# cs SECONDS: "1.23" as centiseconds.
cs() { local s=${1/./}; echo $((10#$s)); }
