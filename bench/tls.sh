#!/usr/bin/env bash
# HTTPS: fc against nginx on this machine, side by side, on loopback.
#
#   bash bench/tls.sh            # REPS=3 DURATION=4 by default
#   SHAPES="4k-t1 4k-t2" FC_ARGS="--revalidate-after 60000" bash bench/tls.sh   # rows, and fc flags
#
# Both serve the same root with 2 workers, the same ECDSA P-256 certificate
# (made here with openssl req), TLS 1.2 and 1.3 with Mozilla's intermediate
# ciphers; the client (wrk and openssl s_time, both OpenSSL 3) negotiates the
# same TLS 1.3 suite with each (printed). nginx has ssl_session_cache
# shared:SSL:10m and session tickets on, sendfile, open_file_cache; fc runs at
# its defaults (a statx per request: --revalidate-after 0) but for --workers 2
# and --quiet, as nginx has access_log off. Rows, in alternating order, REPS
# runs each, medians: requests/s and server CPU per request (utime+stime of
# the master and its workers over the run / requests):
#   4 KiB keep-alive, wrk -t1 and -t2, 64 connections;
#   1 MiB keep-alive, wrk -t2, 8 connections;
#   a new connection per request, wrk -t2 -c16 Connection: close (wrk keeps
#   the last connection's session and resumes it: mostly resumed handshakes);
#   full handshakes, two openssl s_time -new at once (one connection at a time
#   each, fetching the 4 KiB file);
#   resumed handshakes, two openssl s_time -reuse at once (each resuming the
#   ticket of its first connection);
#   a latency probe (bench/tls_probe.py, a kept-alive request every 5 ms)
#   alone and beside a flood of full handshakes.
# Every run is bounded by DURATION; all traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
REPS=${REPS:-3}
DURATION=${DURATION:-4}
bench_install nginx-light wrk openssl curl
[ -x build/fc-master ] || bash scripts/build.sh >/dev/null
bench_workdir fc-tls
mkdir "$tmp/root"
head -c 4096 /dev/urandom > "$tmp/root/4k.bin"
head -c 1048576 /dev/urandom > "$tmp/root/1m.bin"
chmod -R a+rX "$tmp"  # both drop root for their workers
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" \
  -days 2 -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
chmod 600 "$tmp/key.pem"
ciphers="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"  # Mozilla intermediate, fc's default

# fc: its plain port is unused here.
fc_tls_port=$(free_port)
start_build fc_plain build/fc-master "$tmp/root" --workers 2 --tls-listen "127.0.0.1:$fc_tls_port" \
  --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem" ${FC_ARGS:-}
fc_pid=${pids[-1]}
start_nginx_at ng_port ng_pid tls 2 "access_log off;" ssl \
  "ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers $ciphers; ssl_session_cache shared:SSL:10m; ssl_session_tickets on;
  ssl_certificate $tmp/cert.pem; ssl_certificate_key $tmp/key.pem;"
names=(fc nginx)
ports=("$fc_tls_port" "$ng_port")
tpids=("$fc_pid" "$ng_pid")
for i in 0 1; do
  for f in 4k.bin 1m.bin; do
    cmp -s <(curl -sk "https://127.0.0.1:${ports[$i]}/$f") "$tmp/root/$f" ||
      { echo "${names[$i]} does not serve $f over TLS correctly" >&2; exit 1; }
  done
  suite=$(echo | openssl s_client -connect "127.0.0.1:${ports[$i]}" 2>/dev/null | awk '/^New, / {print $2, $5}')
  echo "${names[$i]}: negotiated $suite" >&2
done

# s_time_cpu PID PORT MODE: "connections/s server-CPU-us-per-connection", from
# two openssl s_time clients at once (one per CPU), each one connection at a
# time fetching the 4 KiB file: -new, a full handshake each; -reuse, each
# resuming its first session.
s_time_cpu() {
  local before after n=0 k
  before=$(tree_ticks "$1")
  for k in 1 2; do
    openssl s_time -connect "127.0.0.1:$2" "$3" -time "$DURATION" -www /4k.bin 2>/dev/null |
      grep "connections in .* real" > "$tmp/s_time.$k" &
  done
  wait
  after=$(tree_ticks "$1")
  for k in 1 2; do n=$((n + $(awk '{print $1}' "$tmp/s_time.$k"))); done
  awk -v n="$n" -v d="$DURATION" -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" \
    'BEGIN {if (n == 0) print "NaN NaN"; else printf "%.1f %.2f\n", n / d, t / hz / n * 1e6}'
}

declare -A R
read -r -a shapes <<<"${SHAPES:-4k-t1 4k-t2 1m close full resumed}"  # SHAPES=...: a subset (and "flood")
kept=(); for x in "${shapes[@]}"; do [ "$x" = flood ] || kept+=("$x"); done; shapes=("${kept[@]}")
for shape in "${shapes[@]}"; do
  declare -A rps=() cpu=()
  for rep in $(seq "$REPS"); do
    for k in 0 1; do
      i=$(( (k + rep) % 2 ))  # alternate who goes first
      url="https://127.0.0.1:${ports[$i]}"
      case $shape in
        4k-t1) line=$(wrk_cpu_url "${tpids[$i]}" "$url/4k.bin" -t1 -c64 -d"${DURATION}s") ;;
        4k-t2) line=$(wrk_cpu_url "${tpids[$i]}" "$url/4k.bin" -t2 -c64 -d"${DURATION}s") ;;
        1m) line=$(wrk_cpu_url "${tpids[$i]}" "$url/1m.bin" -t2 -c8 -d"${DURATION}s") ;;
        close) line=$(wrk_cpu_url "${tpids[$i]}" "$url/4k.bin" -t2 -c16 -d"${DURATION}s" -H "Connection: close") ;;
        full) line=$(s_time_cpu "${tpids[$i]}" "${ports[$i]}" -new) ;;
        resumed) line=$(s_time_cpu "${tpids[$i]}" "${ports[$i]}" -reuse) ;;
      esac
      rps[$i]+="$(echo "$line" | awk '{print $1}') "
      cpu[$i]+="$(echo "$line" | awk '{print $2}') "
    done
  done
  for i in 0 1; do
    R[$shape.${names[$i]}.rps]=$(printf '%s\n' ${rps[$i]} | median)
    R[$shape.${names[$i]}.cpu]=$(printf '%s\n' ${cpu[$i]} | median)
    echo "  $shape ${names[$i]}: ${rps[$i]}| ${cpu[$i]}us" >&2
  done
done

label() {
  case $1 in
    4k-t1) echo "4 KiB keep-alive, wrk -t1 -c64" ;;
    4k-t2) echo "4 KiB keep-alive, wrk -t2 -c64" ;;
    1m) echo "1 MiB keep-alive, wrk -t2 -c8" ;;
    close) echo "new connection per request, wrk -t2 -c16 (wrk resumes the last session)" ;;
    full) echo "full handshake per request, 2 x openssl s_time -new" ;;
    resumed) echo "resumed handshake per request, 2 x openssl s_time -reuse" ;;
  esac
}
# flood_p99 PORT: a probe's latency (bench/tls_probe.py: one kept-alive
# connection asking for the 4 KiB file every 5 ms, an open loop) alone, then
# during a handshake flood (three openssl s_time -new, a full handshake each
# time, as fast as they go): "p50/p99/max-alone p50/p99/max-during" in ms.
flood_p99() {
  local alone during k
  alone=$(python3 bench/tls_probe.py "$1" /4k.bin "$DURATION" 5 | awk '{printf "%s/%s/%s", $1, $2, $3}')
  for k in 1 2 3; do
    timeout $((DURATION + 2)) openssl s_time -connect "127.0.0.1:$1" -new -time $((DURATION + 1)) >/dev/null 2>&1 &
  done
  sleep 0.5
  during=$(python3 bench/tls_probe.py "$1" /4k.bin "$DURATION" 5 | awk '{printf "%s/%s/%s", $1, $2, $3}')
  wait
  echo "$alone $during"
}
if [[ " ${SHAPES:-flood} " == *" flood "* || -z "${SHAPES:-}" ]]; then
  for i in 0 1; do
    read -r alone during <<<"$(flood_p99 "${ports[$i]}")"
    R[flood.${names[$i]}]="$alone ms alone, $during ms during the flood"
  done
fi

echo
echo "HTTPS, fc vs nginx, 2 workers each, medians of $REPS runs of ${DURATION}s ($(date -u +%F), $(nproc) CPUs):"
printf '| load | fc req/s | nginx req/s | fc/nginx | fc CPU/req | nginx CPU/req | fc/nginx CPU |\n|---|---|---|---|---|---|---|\n'
for shape in "${shapes[@]}"; do
  printf '| %s | %.0f | %.0f | %s | %.1f us | %.1f us | %s |\n' "$(label "$shape")" \
    "${R[$shape.fc.rps]}" "${R[$shape.nginx.rps]}" "$(ratio "${R[$shape.fc.rps]}" "${R[$shape.nginx.rps]}")" \
    "${R[$shape.fc.cpu]}" "${R[$shape.nginx.cpu]}" "$(ratio "${R[$shape.fc.cpu]}" "${R[$shape.nginx.cpu]}")"
done
[ -n "${R[flood.fc]:-}" ] && echo "a keep-alive probe every 5 ms (p50/p99/max), beside a flood of full handshakes (3 x s_time -new): fc ${R[flood.fc]}; nginx ${R[flood.nginx]}"
echo " fc: defaults but --workers 2 --quiet ${FC_ARGS:-}(statx per request unless --revalidate-after); nginx: access_log off, sendfile, open_file_cache_valid 60s,"
echo " ssl_session_cache shared:SSL:10m, tickets on. The load generator shares the 2 CPUs."
