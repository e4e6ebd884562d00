#!/bin/bash
# tests/tls/scan.sh - make stress: testssl.sh scans hsvr-http and nginx
# with the same certificate chain, key and stapled OCSP response (RSA
# 2048, from the test CA), and their findings are written side by side
# into tests/reliab/stress-tls-scan.md of the build directory, which
# tests/reliab/stress.sh puts into tests/RELIABILITY.md.  hsvr runs with
# its defaults (and --tls-ocsp), nginx with Debian's defaults and
# ssl_certificate, ssl_certificate_key and ssl_stapling_file only.  The
# checks: hsvr has no finding above LOW, and none worse than nginx's for
# the same check (but for cipher_order: see below).  Skipped (77) without
# testssl.sh or nginx.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

TESTSSL=$(command -v testssl || command -v testssl.sh) || { echo "# no testssl.sh: skipped"; exit 77; }
NGINX=$(command -v nginx || ls /usr/sbin/nginx 2>/dev/null) || { echo "# no nginx: skipped"; exit 77; }
t_setup
out=${RELIAB_BUILDDIR:-$t_builddir}/tests/reliab/stress-tls-scan.md
mkdir -p "$(dirname "$out")"

# The certificate chain, key and an OCSP response for both servers.
crt=$PKI/server2.crt
serial=$(openssl x509 -in "$crt" -noout -serial | cut -d= -f2)
subj=$(openssl x509 -in "$crt" -noout -subject -nameopt compat | sed 's/^subject=//')
printf 'V\t%s\t\t%s\tunknown\t%s\n' "$(date -u -d '+2 days' +%y%m%d%H%M%SZ)" "$serial" "$subj" >"$T/index.txt"
must "openssl ocsp makes a response for the certificate" '(cd "$PKI" &&
	openssl ocsp -issuer ca.crt -cert "$crt" -no_nonce -reqout "$T/req.der" &&
	openssl ocsp -index "$T/index.txt" -rsigner ca.crt -rkey ca.key -CA ca.crt \
		-reqin "$T/req.der" -respout "$T/ocsp.der" -ndays 1) >"$T/ocsp.log" 2>&1'
cat "$crt" "$PKI/ca.crt" >"$T/chain.crt"
cp "$PKI/server2.key" "$T/key.pem"
chmod 644 "$T/chain.crt" "$T/ocsp.der"
chmod 755 "$T"

HTTP=$t_builddir/examples/hsvr-http
[[ -x $t_builddir/examples/.libs/hsvr-http ]] && HTTP=$t_builddir/examples/.libs/hsvr-http
must "hsvr-http starts with TLS and --tls-ocsp" \
	'srv_start H "$HTTP" -x -i 127.0.0.1 -p @PORT@ -n 2 --hello -c "$T/chain.crt" -k "$T/key.pem" --tls-ocsp "$T/ocsp.der"'

ng=$T/nginx
mkdir -p "$ng/logs" "$ng/tmp" && chmod 755 "$ng" "$ng/logs" "$ng/tmp"
nport=$(free_port)
{
	((EUID != 0)) || echo "user www-data;"
	cat <<EOF
worker_processes 2;
error_log $ng/logs/error.log warn;
pid $ng/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $ng/tmp/body;
    proxy_temp_path $ng/tmp/proxy;
    fastcgi_temp_path $ng/tmp/fastcgi;
    uwsgi_temp_path $ng/tmp/uwsgi;
    scgi_temp_path $ng/tmp/scgi;
    server {
        listen 127.0.0.1:$nport ssl;
        ssl_certificate $T/chain.crt;
        ssl_certificate_key $T/key.pem;
        ssl_stapling on;
        ssl_stapling_file $T/ocsp.der;
        location = / { return 200 "Hello, world\n"; }
    }
}
EOF
} >"$ng/nginx.conf"
"$NGINX" -p "$ng" -c "$ng/nginx.conf" -g 'daemon off; master_process on;' >"$T/N.out" 2>"$T/N.err" &
N_PID=$!
t_servers+=(N)
must "nginx starts ($("$NGINX" -v 2>&1 | sed 's/.*: //'))" 'wait_for 10 listening "$nport"'

# scan NAME PORT: testssl.sh's findings for 127.0.0.1:PORT in $T/NAME.csv,
# complete (its "Done" line; a full scan takes 2 to 20 minutes, by load).
scan() {
	timeout $((2400 * SCALE)) "$TESTSSL" --quiet --color 0 --warnings off --nodns min --ip one \
		--csvfile "$T/$1.csv" "127.0.0.1:$2" >"$T/$1.scan" 2>&1
	[[ -s $T/$1.csv ]] && grep -q '^ *Done ' "$T/$1.scan"
}
must "testssl.sh scans hsvr" 'scan hsvr "$H_PORT"'
must "testssl.sh scans nginx" 'scan nginx "$nport"'
srv_finish H
srv_stop N

# The findings, one "id<TAB>severity<TAB>finding" line per check (not
# the certificate's, HTTP's or DNS's, nor testssl.sh 3.0's cipher_order_
# lines without a protocol).
findings() {
	awk -F'","' 'NR > 1 { gsub(/^"|"$/, ""); id = $1; sub(/^"/, "", id); print id "\t" $4 "\t" $5 }' "$T/$1.csv" |
		grep -v -E '^(scanTime|scanProblem|engine_problem|service|DNS_CAArecord|rDNS|cert_|intermediate_cert|pre_128cipher|HTTP_|cookie|security_headers|banner|overall_grade|cipher_order_[[:space:]])' | sort -t$'\t' -k1,1
}
findings hsvr >"$T/h.tsv"
findings nginx >"$T/n.tsv"
# WARN is testssl.sh's own trouble (a check it could not make: its TLS
# 1.3 ticket resumption check races s_client's exit), not the server's.
rank() { case $1 in CRITICAL) echo 5 ;; HIGH) echo 4 ;; MEDIUM) echo 3 ;; LOW) echo 2 ;; *) echo 0 ;; esac; }
worse=() high=()
table=$(join -t$'\t' -a1 -a2 -e '(none)' -o 0,1.2,1.3,2.2,2.3 "$T/h.tsv" "$T/n.tsv" |
	while IFS=$'\t' read -r id hs hf ns nf; do
		[[ $hs == "$ns" && $hf == "$nf" ]] && { echo "SAME"; continue; }
		printf '| %s | %s: %s | %s: %s |\n' "$id" "$hs" "${hf//|//}" "$ns" "${nf//|//}"
	done)
same=$(grep -c '^SAME$' <<<"$table")
table=$(grep -v '^SAME$' <<<"$table")
while IFS=$'\t' read -r id hs hf; do
	# testssl.sh 3.0 rates a server that follows the client's order HIGH;
	# Mozilla's profile (and testssl.sh 3.1) want it when all are strong.
	[[ $id != cipher_order ]] && (($(rank "$hs") >= 3)) && high+=("$id ($hs: $hf)")
	ns=$(awk -F'\t' -v id="$id" '$1 == id { print $2 }' "$T/n.tsv")
	(($(rank "$hs") > $(rank "${ns:-OK}"))) && worse+=("$id ($hs, nginx ${ns:-none})")
done <"$T/h.tsv"
ck "hsvr: no finding of severity MEDIUM or above (${high[*]:-none})" '((${#high[@]} == 0))'
ck "hsvr: no check worse than nginx's (${worse[*]:-none})" '((${#worse[@]} == 0))'
count() { awk -F'\t' -v s="$2" '$2 == s' "$1" | wc -l; }
{
	echo "## TLS scan: testssl.sh, hsvr-http and nginx side by side"
	echo
	echo "$("$TESTSSL" --version 2>/dev/null | grep -m1 -o 'testssl[^ ]* *[0-9][0-9.]*' | tr -s ' ')" \
		"against 127.0.0.1, the same RSA 2048 certificate chain (test CA), key and"
	echo "stapled OCSP response for both: hsvr-http with its defaults and"
	echo "\`--tls-ocsp\`; $("$NGINX" -v 2>&1 | sed 's/.*: //') with Debian's defaults and \`ssl_certificate\`,"
	echo "\`ssl_certificate_key\`, \`ssl_stapling on\`, \`ssl_stapling_file\`.  Certificate,"
	echo "HTTP header and DNS checks are left out (a test CA on loopback)."
	echo
	echo "| Findings by severity | hsvr | nginx |"
	echo "|---|---|---|"
	for s in CRITICAL HIGH MEDIUM LOW WARN OK INFO; do
		echo "| $s | $(count "$T/h.tsv" "$s") | $(count "$T/n.tsv" "$s") |"
	done
	echo
	echo "The checks whose finding differs ($same others agree):"
	echo
	echo "| Check | hsvr | nginx |"
	echo "|---|---|---|"
	echo "$table"
	echo
	echo "hsvr worse than nginx on: ${worse[*]:-no check}; hsvr findings MEDIUM or above: ${high[*]:-none}"
	echo "(cipher_order aside: testssl.sh 3.0 rates following the client's order"
	echo "HIGH, where Mozilla's intermediate profile and testssl.sh 3.1 want it when"
	echo "every suite offered is an AEAD with forward secrecy, as hsvr's are)."
} >"$out"
say "wrote $out"
t_finish
