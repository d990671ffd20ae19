#!/usr/bin/env bash
# The TLS audit: testssl.sh (Debian's testssl.sh package, nobody's here)
# against fc at its TLS defaults, on loopback, with a certificate from a CA
# made here. Checks protocols (-p), server defaults (-S), cipher preference
# (-P), the standard cipher categories (-s), forward secrecy (-f), headers
# (-h) and every vulnerability check (-U). Prints each line rated NOT ok,
# VULNERABLE or WARN (docs/security.md explains each), then a summary, and
# exits 1 if there is one that docs/security.md does not explain.
#
#   bash bench/testssl.sh            # a few minutes; bounded by TIMEOUT (600 s)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bench_install testssl.sh bsdextrautils openssl
[ -x build/fc-master ] || bash scripts/build.sh >/dev/null
bench_workdir fc-testssl
mkdir "$tmp/root" && echo "<h1>fc</h1>" > "$tmp/root/index.html" && chmod -R a+rX "$tmp"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/ca.key" -out "$tmp/ca.pem" \
  -days 2 -subj "/CN=fc testssl CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/key.pem" -out "$tmp/req.csr" \
  -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$tmp/ext"
openssl x509 -req -in "$tmp/req.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial -out "$tmp/cert.pem" \
  -days 2 -extfile "$tmp/ext" 2>/dev/null
chmod 600 "$tmp/key.pem"
port=$(free_port)
start_build plain build/fc-master "$tmp/root" --workers 2 --tls-listen "127.0.0.1:$port" \
  --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem" --hsts 31536000
curl -sf --cacert "$tmp/ca.pem" "https://localhost:$port/index.html" >/dev/null || { echo "fc does not serve HTTPS" >&2; exit 1; }
out=$tmp/testssl.txt
timeout "${TIMEOUT:-600}" testssl --quiet --color 0 --warnings off --sneaky --add-ca "$tmp/ca.pem" \
  -p -S -P -s -f -h -U "localhost:$port" > "$out" 2>&1 || true
flagged=$(grep -E "NOT ok|VULNERABLE|WARN" "$out" | grep -v "not vulnerable" || true)
# What docs/security.md explains (a line matching one of these is expected).
explained='Certificate Revocation List|OCSP URI|OCSP stapling|Certificate Transparency|Chain of trust|DNS CAA|Trust \(hostname\)'
echo "testssl.sh $(testssl --version 2>/dev/null | grep -m1 -o '3\.[0-9.a-z+-]*' || true) against fc on localhost:$port:"
grep -E "^ (SSLv2|SSLv3|TLS 1 |TLS 1.1|TLS 1.2|TLS 1.3)" "$out" || true
grep -E "Forward Secrecy|Heartbleed|CCS|Ticketbleed|ROBOT|Secure Renegotiation|Secure Client-Initiated|CRIME|BREACH|POODLE|TLS_FALLBACK_SCSV|SWEET32|FREAK|DROWN|LOGJAM|BEAST|LUCKY13|Winshock|RC4" "$out" | sed 's/  */ /g' | head -30 || true
echo "lines rated NOT ok, VULNERABLE or WARN:"
if [ -z "$flagged" ]; then echo " none"; fi
unexplained=0
while IFS= read -r line; do
  [ -z "$line" ] && continue
  if grep -qE "$explained" <<<"$line"; then echo " (explained) $line"; else echo " (UNEXPLAINED) $line"; unexplained=1; fi
done <<<"$flagged"
exit $unexplained
