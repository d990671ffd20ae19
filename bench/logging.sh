#!/usr/bin/env bash
# Access logging's cost, fc against nginx, side by side on loopback.
#
#   bash bench/logging.sh          # REPS=5 DURATION=4 by default
#
# Both servers with 2 workers (fc: --threads 1), a cached 4 KiB file, 64
# keep-alive connections, for wrk -t1 and wrk -t2, with access logging off
# and on: fc's buffered combined log (--access-log FILE) against nginx's
# `access_log FILE combined buffer=64k flush=1s`. For each cell, REPS runs of
# DURATION seconds alternating who goes first; prints medians of requests/s
# and of server CPU time per request (utime+stime of the master and its
# workers from /proc, over the run, divided by the requests served), and
# checks that both logs got one line per request. All traffic on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
REPS=${REPS:-5}
DURATION=${DURATION:-4}
FC_MASTER=${FC_MASTER:-$(pwd)/build/fc-master}
for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (bash bench/run.sh installs it)" >&2; exit 1; }
done
bench_workdir fc-logbench
mkdir -p "$tmp/root" && head -c 4096 /dev/urandom > "$tmp/root/4k.bin" && chmod -R a+rX "$tmp"
ticks=$(getconf CLK_TCK)
user=(); [[ $EUID -eq 0 ]] && user=(--user root)

declare -A PORT PID
start_fc() {  # start_fc KEY args...
  local out=$tmp/$1.out
  "$FC_MASTER" --root "$tmp/root" --port 0 --workers 2 --threads 1 "${user[@]}" "${@:2}" >"$out" 2>"$tmp/$1.err" &
  PID[$1]=$!
  pids+=($!)
  for _ in $(seq 100); do grep -q listening "$out" 2>/dev/null && break; sleep 0.05; done
  PORT[$1]=$(sed 's/.*://' "$out")
}
start_nginx() {  # start_nginx KEY access_log-directive
  start_nginx_at "PORT[$1]" "PID[$1]" "$1" 2 "$2"
}
start_fc fc-off --access-log off
start_fc fc-on --access-log "$tmp/fc-access.log" --log-format combined
start_nginx nginx-off "access_log off;"
start_nginx nginx-on "access_log $tmp/nginx-access.log combined buffer=64k flush=1s;"
for k in fc-off fc-on nginx-off nginx-on; do
  for _ in 1 2; do curl -s -o /dev/null "http://127.0.0.1:${PORT[$k]}/4k.bin"; done
  cmp -s <(curl -s "http://127.0.0.1:${PORT[$k]}/4k.bin") "$tmp/root/4k.bin" || { echo "$k serves wrong bytes" >&2; exit 1; }
done

declare -A RPS CPU
total_on_fc=0 total_on_nginx=0
for shape in -t1 -t2; do
  for rep in $(seq "$REPS"); do
    order=(fc-off nginx-off fc-on nginx-on)
    ((rep % 2)) || order=(nginx-on fc-on nginx-off fc-off)
    for k in "${order[@]}"; do
      before=$(tree_ticks "${PID[$k]}")
      out=$(wrk "$shape" -c64 -d"${DURATION}s" "http://127.0.0.1:${PORT[$k]}/4k.bin")
      after=$(tree_ticks "${PID[$k]}")
      reqs=$(echo "$out" | awk '/requests in/ {print $1}')
      [[ $k == fc-on ]] && total_on_fc=$((total_on_fc + reqs))
      [[ $k == nginx-on ]] && total_on_nginx=$((total_on_nginx + reqs))
      RPS[$shape.$k]+="$(echo "$out" | awk '/Requests\/sec/ {print $2}') "
      CPU[$shape.$k]+="$(awk -v t=$((after - before)) -v hz="$ticks" -v n="$reqs" 'BEGIN {printf "%.2f", t / hz / n * 1e6}') "
    done
  done
done
sleep 1.5  # both flush within a second
printf '| client | logging | fc req/s | nginx req/s | fc/nginx | fc CPU/req | nginx CPU/req | fc/nginx CPU |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for shape in -t1 -t2; do
  for mode in off on; do
    fr=$(printf '%s\n' ${RPS[$shape.fc-$mode]} | median); nr=$(printf '%s\n' ${RPS[$shape.nginx-$mode]} | median)
    fc=$(printf '%s\n' ${CPU[$shape.fc-$mode]} | median); nc=$(printf '%s\n' ${CPU[$shape.nginx-$mode]} | median)
    printf '| wrk %s -c64 | %s | %.0f | %.0f | %s | %.2f us | %.2f us | %s |\n' "$shape" "$mode" "$fr" "$nr" \
      "$(ratio "$fr" "$nr")" "$fc" "$nc" "$(ratio "$fc" "$nc")"
  done
done
fc_lines=$(wc -l < "$tmp/fc-access.log"); nginx_lines=$(wc -l < "$tmp/nginx-access.log")
echo
echo "log lines: fc $fc_lines (wrk counted $total_on_fc + 4 warm-up), nginx $nginx_lines (wrk counted $total_on_nginx + 4 warm-up)"
echo "medians of $REPS runs of ${DURATION}s each; fc: $FC_MASTER"
