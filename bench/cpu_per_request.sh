#!/usr/bin/env bash
# Server CPU per request, side by side, for one or more fc-master builds.
#
#   bash bench/cpu_per_request.sh [BINARY ...]      # default: build/fc-master
#
# For each client shape (wrk -t1 and -t2, 64 keep-alive connections, and a new
# connection per request) and each build, in alternating order, REPS runs of
# DURATION seconds against a cached 4 KiB file: requests/s, and the server's
# CPU time (utime+stime of the master and all its workers, from /proc, before
# and after the run) divided by the requests served. Prints medians. All
# traffic on 127.0.0.1; every run is bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
REPS=${REPS:-3}
DURATION=${DURATION:-4}
bins=("$@")
((${#bins[@]})) || bins=(build/fc-master)
command -v wrk >/dev/null || { echo "wrk is needed (bench/run.sh installs it)" >&2; exit 1; }
bench_workdir fc-cpu
mkdir "$tmp/root" && head -c 4096 /dev/urandom > "$tmp/root/4k.bin" && chmod -R a+rX "$tmp"
ticks=$(getconf CLK_TCK)
ports=()
for b in "${bins[@]}"; do
  extra=(); "$b" --help | grep -q -- --user && extra=(--user root)
  start_build port "$b" "$tmp/root" --workers 2 --threads 1 "${extra[@]}"
  ports+=("$port")
done
for p in "${ports[@]}"; do curl -s -o /dev/null "http://127.0.0.1:$p/4k.bin"; curl -s -o /dev/null "http://127.0.0.1:$p/4k.bin"; done
printf '| client | build | req/s | server CPU per request |\n|---|---|---|---|\n'
for shape in "-t1" "-t2" "-t1 close" "-t2 close"; do
  declare -A rps=() cpu=()
  for rep in $(seq "$REPS"); do
    for i in "${!bins[@]}"; do
      j=$(( (i + rep) % ${#bins[@]} ))  # alternate who goes first
      threads=${shape%% *}; header=(); [[ $shape == *close ]] && header=(-H "Connection: close")
      before=$(tree_ticks "${pids[$j]}")
      out=$(wrk "$threads" -c64 -d"${DURATION}s" "${header[@]}" "http://127.0.0.1:${ports[$j]}/4k.bin")
      after=$(tree_ticks "${pids[$j]}")
      reqs=$(echo "$out" | awk '/requests in/ {print $1}')
      rps[$j]+="$(echo "$out" | awk '/Requests\/sec/ {print $2}') "
      cpu[$j]+="$(awk -v t=$((after - before)) -v hz="$ticks" -v n="$reqs" 'BEGIN {printf "%.2f", t / hz / n * 1e6}') "
    done
  done
  for i in "${!bins[@]}"; do
    printf '| wrk %s -c64 | %s | %.0f | %s us |\n' "$shape" "${bins[$i]}" \
      "$(printf '%s\n' ${rps[$i]} | median)" "$(printf '%s\n' ${cpu[$i]} | median)"
  done
done
