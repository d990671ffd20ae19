#!/usr/bin/env bash
# The workload fc's shared cache is for: FILES files with lognormal sizes
# (median 16 KiB, sigma SIGMA) under Zipf(ALPHA) popularity, a working set
# larger than fc's cache, requested over HTTP by one wrk Lua script
# (bench/zipf.lua) that both servers get. fc (default policy, 64 MiB cache)
# against nginx (sendfile, open_file_cache), 2 workers each, logging off, in
# alternating runs on loopback. Prints medians of requests/s and of server CPU
# per request, fc's hit ratio over the measured runs (from its metrics), and
# the bytes involved.
#
#   bash bench/population.sh        # FILES=20000 ALPHA=0.9 REPS=3 DURATION=10 CACHE_SIZE=64M
#   ALPHAS="0.9 0.7 1.1" bash bench/population.sh   # one table per Zipf exponent, same servers
#   FC_ARGS="--revalidate-after 60000" bash bench/population.sh   # fc as nginx is set up
#   ALPHAS=0 CACHE_SIZE=4M bash bench/population.sh   # miss-only: what a miss costs fc
#   FLOOR=1 bash bench/population.sh   # adds the floor: bench/population_floor.cc, two ways
#
# FC_VARIANTS compares several fc builds or settings with nginx in the same
# run (each its own master, 2 workers, one row each), ";"-separated
# LABEL=BINARY [OPTIONS...] (default "fc=build/fc-master"; FC_ARGS is added
# to each). fc runs at its defaults but for the cache size, 2 workers, access
# log off and, as root, --user root. A variant labelled "fit" (say
# "fit=build/fc-master --cache-size 2G") holds every file: its CPU per request
# is the hit cost, from which the script derives every other variant's CPU per
# miss.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
FILES=${FILES:-20000}
ALPHA=${ALPHA:-0.9}
SIGMA=${SIGMA:-1.5}
REPS=${REPS:-3}
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-64}
CACHE_SIZE=${CACHE_SIZE:-64M}
bench_install nginx-light wrk curl python3
[ -x build/fc-master ] || bash scripts/build.sh >/dev/null
bench_workdir fc-population
mkdir "$tmp/root"
make_population "$tmp/root" "$FILES" "$SIGMA"
chmod -R a+rX "$tmp"
user=(); [[ $EUID -eq 0 ]] && user=(--user root)
read -r -a fc_args <<<"${FC_ARGS:-}"
IFS=';' read -r -a variants <<<"${FC_VARIANTS:-fc=build/fc-master}"
declare -A PORT PID METRICS DESC
labels=()
for v in "${variants[@]}"; do
  read -r -a words <<<"$v"
  label=${words[0]%%=*} bin=${words[0]#*=}
  labels+=("$label")
  METRICS[$label]=$(free_port)
  # Its own lock directory at fc's default place (a tmpfs now; /run/fc on this
  # machine's disk for builds before the default moved).
  size=(--cache-size "$CACHE_SIZE")
  [[ " ${words[*]:1} " == *" --cache-size "* ]] && size=()  # the variant gives its own
  DESC[$label]=$(echo "${size[@]}" "${words[@]:1}" "${fc_args[@]}")
  "$bin" --root "$tmp/root" --port 0 --workers 2 --access-log off "${size[@]}" \
    --shm-name "fc-pop-$label-$$" --metrics-listen "127.0.0.1:${METRICS[$label]}" "${user[@]}" \
    "${words[@]:1}" "${fc_args[@]}" >"$tmp/$label.out" 2>>"$tmp/fc.log" &
  pids+=($!)
  PID[$label]=$!
  for _ in $(seq 100); do grep -q listening "$tmp/$label.out" 2>/dev/null && break; sleep 0.05; done
  PORT[$label]=$(sed 's/.*://' "$tmp/$label.out")
done
start_nginx_at ng_port ng_pid population 2 "access_log off;"
PORT[nginx]=$ng_port PID[nginx]=$ng_pid
# FLOOR=1: the least any server can do for these files (no stat, open or
# cache): every file in memory, one writev per request ("floor-memory", fc's
# hit without its bookkeeping), or every file kept open and sent with sendfile
# ("floor-sendfile", nginx's path without its own); 2 workers, like the others.
floors=()
if [ -n "${FLOOR:-}" ]; then
  g++ -O2 -std=c++17 -o "$tmp/population_floor" bench/population_floor.cc
  for mode in memory sendfile; do
    "$tmp/population_floor" "$mode" "$tmp/root" "$FILES" 2 >"$tmp/floor-$mode.out" &
    pids+=($!)
    PID[floor-$mode]=$!
    for _ in $(seq 600); do grep -q listening "$tmp/floor-$mode.out" 2>/dev/null && break; sleep 0.05; done
    PORT[floor-$mode]=$(sed 's/.*://' "$tmp/floor-$mode.out")
    floors+=("floor-$mode")
  done
fi
for k in "${labels[@]}" nginx "${floors[@]}"; do check_serves f1 "${PORT[$k]}"; done
ticks=$(getconf CLK_TCK)
metric() { curl -s "http://127.0.0.1:${METRICS[$1]}/metrics" | awk -v m="$2" '$1 == m {print $2}'; }
med() { printf '%s\n' $1 | median; }
servers=("${labels[@]}" nginx "${floors[@]}")
for ALPHA in ${ALPHAS:-$ALPHA}; do
  unset RPS CPU H0 M0; declare -A RPS CPU H0 M0
  # Warm each (page cache for nginx, the shared cache for fc) with one run.
  for k in "${servers[@]}"; do
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s bench/zipf.lua "http://127.0.0.1:${PORT[$k]}" -- "$FILES" "$ALPHA" 1 >/dev/null
  done
  for k in "${labels[@]}"; do H0[$k]=$(metric "$k" fc_cache_hits_total) M0[$k]=$(metric "$k" fc_cache_misses_total); done
  for rep in $(seq "$REPS"); do
    # Rotate the order every round, so no server always follows the same one.
    order=("${servers[@]:$((rep % ${#servers[@]}))}" "${servers[@]:0:$((rep % ${#servers[@]}))}")
    for k in "${order[@]}"; do
      before=$(tree_ticks "${PID[$k]}")
      out=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s bench/zipf.lua "http://127.0.0.1:${PORT[$k]}" -- "$FILES" "$ALPHA" "$rep")
      after=$(tree_ticks "${PID[$k]}")
      reqs=$(echo "$out" | awk '/requests in/ {print $1}')
      echo "$out" | grep -q "Non-2xx" && { echo "$k answered non-2xx:" >&2; echo "$out" >&2; exit 1; }
      RPS[$k]+="$(echo "$out" | awk '/Requests\/sec/ {print $2}') "
      CPU[$k]+="$(awk -v t=$((after - before)) -v hz="$ticks" -v n="$reqs" 'BEGIN {printf "%.2f", t / hz / n * 1e6}') "
    done
  done
  nr=$(med "${RPS[nginx]}") ncpu=$(med "${CPU[nginx]}")
  echo
  echo "Zipf $ALPHA:"
  printf '| server | req/s | CPU per request | fc/nginx req/s | fc/nginx CPU | hit ratio |\n|---|---|---|---|---|---|\n'
  declare -A HIT
  for k in "${labels[@]}"; do
    h=$(( $(metric "$k" fc_cache_hits_total) - H0[$k] )) m=$(( $(metric "$k" fc_cache_misses_total) - M0[$k] ))
    HIT[$k]=$(awk -v h="$h" -v m="$m" 'BEGIN {printf "%.3f", h / (h + m)}')
    r=$(med "${RPS[$k]}") c=$(med "${CPU[$k]}")
    printf '| %s (%s) | %.0f | %.2f us | %s | %s | %s |\n' "$k" "${DESC[$k]}" "$r" "$c" "$(ratio "$r" "$nr")" \
      "$(ratio "$c" "$ncpu")" "${HIT[$k]}"
  done
  printf '| nginx | %.0f | %.2f us | | | |\n' "$nr" "$ncpu"
  for k in "${floors[@]}"; do
    r=$(med "${RPS[$k]}") c=$(med "${CPU[$k]}")
    printf '| %s | %.0f | %.2f us | %s | %s | |\n' "$k" "$r" "$c" "$(ratio "$r" "$nr")" "$(ratio "$c" "$ncpu")"
  done
  # A miss-only run (ALPHAS=0 CACHE_SIZE=4M: uniform popularity, a cache that
  # holds 0.4 % of the bytes): every fc request is a miss of the same sizes
  # nginx serves, so fc's CPU per request is its CPU per miss.
  for k in "${labels[@]}"; do
    awk -v c="$(med "${CPU[$k]}")" -v h="${HIT[$k]}" -v n="$ncpu" -v k="$k" 'BEGIN {
      if (h < 0.05) printf "%s: miss-only (hit ratio %.3f): CPU per miss %.2f us, %.2fx nginx'"'"'s request (%.2f us)\n", k, h, c, c / n, n }'
  done
  # What a miss costs: a variant labelled "fit" holds every file (its CPU per
  # request is the hit cost); for each other variant, CPU = h * hit + (1 - h) * miss.
  if [ -n "${PID[fit]:-}" ]; then
    hit_cost=$(med "${CPU[fit]}")
    for k in "${labels[@]}"; do
      [ "$k" = fit ] && continue
      awk -v c="$(med "${CPU[$k]}")" -v h="${HIT[$k]}" -v f="$hit_cost" -v n="$ncpu" -v k="$k" 'BEGIN {
        if (h < 0.999) { m = (c - h * f) / (1 - h); printf "%s: CPU per miss %.2f us (hit %.2f us, from the fit row), %.2fx nginx'"'"'s request (%.2f us)\n", k, m, f, m / n, n } }'
    done
  fi
done
echo "wrk -t2 -c$CONNECTIONS over $FILES files, medians of $REPS runs of ${DURATION}s in rotating order, after one warm-up run each"
