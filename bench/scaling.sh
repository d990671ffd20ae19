#!/usr/bin/env bash
# Cost as the work grows: server CPU per request (utime+stime of the server's
# process tree over a run / requests) and requests/s of fc and nginx, side by
# side in rotating order, 4 KiB files over HTTP keep-alive, logging off:
#   connections  64, 1,000 and 10,000 keep-alive connections (wrk -t2);
#   entries      100 and 15,000 distinct files requested uniformly at random
#                (bench/zipf.lua with alpha 0), all cached: the lookup and the
#                eviction policy must stay O(1) per request;
#   workers      1, 2, 4 and 8 workers each on this machine's cores (lock
#                contention shows as CPU per request rising with workers).
# fc runs with --revalidate-after 60000 (nginx: open_file_cache_valid 60s).
#
#   bash bench/scaling.sh            # REPS=3 DURATION=5
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
REPS=${REPS:-3}
DURATION=${DURATION:-5}
FC_MASTER=${FC_MASTER:-build/fc-master}
for tool in wrk nginx; do command -v "$tool" >/dev/null || { echo "$tool is needed (bash bench/run.sh installs it)" >&2; exit 1; }; done
[ -x "$FC_MASTER" ] || { echo "no $FC_MASTER: bash scripts/build.sh first" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"  # wrk's 10,000 connections; the servers inherit it (20,000 here)
bench_workdir fc-scaling
mkdir "$tmp/root"
head -c 4096 /dev/urandom > "$tmp/root/4k.bin"
for i in $(seq 0 14999); do head -c 4096 /dev/urandom > "$tmp/root/f$i"; done
chmod -R a+rX "$tmp"
user=(); [[ $EUID -eq 0 ]] && user=(--user root)

start_pair() {  # start_pair WORKERS: fc and nginx with WORKERS workers each
  start_fc_at FC_PORT "$FC_MASTER" "$tmp/root" --workers "$1" --access-log off --revalidate-after 60000 \
    --cache-size 256M --max-connections 20000 "${user[@]}"
  FC_PID=${pids[-1]}
  start_nginx_at NGINX_PORT NGINX_PID scaling "$1" "access_log off;"
  check_serves 4k.bin "$FC_PORT" "$NGINX_PORT"
}
stop_pair() {
  kill "$FC_PID" "$NGINX_PID"
  wait "$FC_PID" 2>/dev/null || true
  for _ in $(seq 100); do [ -e "$tmp/nginx-scaling.pid" ] || break; sleep 0.05; done
  pids=("${pids[@]/$FC_PID}")
}
# compare LABEL URL-PATH WRK-ARGS...: prints a table row of medians.
compare() {
  local label=$1 path=$2 fr=() fc=() nr=() nc=() errors=0 r c e
  shift 2
  for rep in $(seq "$REPS"); do
    for who in $( ((rep % 2)) && echo "fc nginx" || echo "nginx fc"); do
      if [[ $who == fc ]]; then
        read -r r c e <<<"$(wrk_cpu_url "$FC_PID" "http://127.0.0.1:$FC_PORT$path" -d"${DURATION}s" "$@")"
        fr+=("$r"); fc+=("$c")
      else
        read -r r c e <<<"$(wrk_cpu_url "$NGINX_PID" "http://127.0.0.1:$NGINX_PORT$path" -d"${DURATION}s" "$@")"
        nr+=("$r"); nc+=("$c")
      fi
      errors=$((errors + e))
    done
  done
  echo "  $label: fc ${fr[*]} (${fc[*]} us) | nginx ${nr[*]} (${nc[*]} us) | socket errors $errors" >&2
  local mfr mnr mfc mnc
  mfr=$(printf '%s\n' "${fr[@]}" | median); mnr=$(printf '%s\n' "${nr[@]}" | median)
  mfc=$(printf '%s\n' "${fc[@]}" | median); mnc=$(printf '%s\n' "${nc[@]}" | median)
  printf '| %s | %.0f | %.0f | %s | %.2f us | %.2f us | %s |\n' "$label" "$mfr" "$mnr" "$(ratio "$mfr" "$mnr")" \
    "$mfc" "$mnc" "$(ratio "$mfc" "$mnc")" >> "$tmp/table.md"
}
header() { printf '\n| %s | fc req/s | nginx req/s | fc/nginx | fc CPU/req | nginx CPU/req | fc/nginx CPU |\n|---|---|---|---|---|---|---|\n' "$1" >> "$tmp/table.md"; }

echo "measuring (REPS=$REPS, DURATION=${DURATION}s)..." >&2
start_pair 2
header "keep-alive connections (2 workers each, wrk -t2)"
for conns in 64 1000 10000; do
  compare "$conns connections" /4k.bin -t2 -c"$conns" --timeout 10s
done
header "cached entries, uniform (2 workers each, wrk -t2, 64 connections)"
for entries in 100 15000; do
  # Warm: every name once through each server, then a short untimed run.
  for port in "$FC_PORT" "$NGINX_PORT"; do
    wrk "http://127.0.0.1:$port/" -t2 -c64 -d2s -s bench/zipf.lua -- "$entries" 0 1 > /dev/null
  done
  compare "$entries entries" / -t2 -c64 -s bench/zipf.lua -- "$entries" 0 1
done
cached=$(build/fc-shmdump --port "$FC_PORT" --json | /usr/bin/python3 -c 'import json, sys; print(len(json.load(sys.stdin)["entries"]))')
stop_pair
header "workers each (wrk -t2, 64 connections)"
for workers in 1 2 4 8; do
  start_pair "$workers"
  compare "$workers workers" /4k.bin -t2 -c64
  stop_pair
done
echo >> "$tmp/table.md"
echo "(fc: --revalidate-after 60000 --cache-size 256M, defaults otherwise; nginx: sendfile, open_file_cache max=16000 valid 60s; $(nproc) CPUs; medians of $REPS runs, alternating; fc entries listed by fc-shmdump after the entries runs: $cached)" >> "$tmp/table.md"
cat "$tmp/table.md"
