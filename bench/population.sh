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
#   FC_ARGS="" bash bench/population.sh   # fc without --revalidate-after 60000
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
metrics=$(free_port)
# fc as nginx is set up (open_file_cache_valid 60s): --revalidate-after 60000.
read -r -a fc_args <<<"${FC_ARGS---revalidate-after 60000}"
start_fc_at fc_port build/fc-master "$tmp/root" --workers 2 --access-log off --cache-size "$CACHE_SIZE" \
  --metrics-listen "127.0.0.1:$metrics" "${user[@]}" "${fc_args[@]}"
fc_pid=${pids[-1]}
start_nginx_at ng_port ng_pid population 2 "access_log off;"
check_serves f1 "$fc_port" "$ng_port"
ticks=$(getconf CLK_TCK)
metric() { curl -s "http://127.0.0.1:$metrics/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
# Warm both (page cache for nginx, the shared cache for fc) with one run each.
for port in "$fc_port" "$ng_port"; do
  wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s bench/zipf.lua "http://127.0.0.1:$port" -- "$FILES" "$ALPHA" 1 >/dev/null
done
declare -A RPS CPU
h0=$(metric fc_cache_hits_total); m0=$(metric fc_cache_misses_total); s0=$(metric fc_streams_total)
for rep in $(seq "$REPS"); do
  order=(fc nginx); ((rep % 2)) || order=(nginx fc)
  for k in "${order[@]}"; do
    port=$fc_port pid=$fc_pid; [[ $k == nginx ]] && port=$ng_port pid=$ng_pid
    before=$(tree_ticks "$pid")
    out=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s bench/zipf.lua "http://127.0.0.1:$port" -- "$FILES" "$ALPHA" "$rep")
    after=$(tree_ticks "$pid")
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    echo "$out" | grep -q "Non-2xx" && { echo "$k answered non-2xx:" >&2; echo "$out" >&2; exit 1; }
    RPS[$k]+="$(echo "$out" | awk '/Requests\/sec/ {print $2}') "
    CPU[$k]+="$(awk -v t=$((after - before)) -v hz="$ticks" -v n="$reqs" 'BEGIN {printf "%.2f", t / hz / n * 1e6}') "
  done
done
h1=$(metric fc_cache_hits_total); m1=$(metric fc_cache_misses_total); s1=$(metric fc_streams_total)
fr=$(printf '%s\n' ${RPS[fc]} | median); nr=$(printf '%s\n' ${RPS[nginx]} | median)
fcpu=$(printf '%s\n' ${CPU[fc]} | median); ncpu=$(printf '%s\n' ${CPU[nginx]} | median)
printf '| server | req/s | CPU per request |\n|---|---|---|\n'
printf '| fc (%s cache, %s) | %.0f | %.2f us |\n| nginx | %.0f | %.2f us |\n' "$CACHE_SIZE" "${fc_args[*]:-defaults}" "$fr" "$fcpu" "$nr" "$ncpu"
echo "fc/nginx: throughput $(ratio "$fr" "$nr"), CPU per request $(ratio "$fcpu" "$ncpu")"
awk -v h=$((h1 - h0)) -v m=$((m1 - m0)) -v s=$((s1 - s0)) 'BEGIN {
  printf "fc hit ratio over the measured runs: %.3f (%d hits, %d misses; %d responses streamed from disk)\n", h / (h + m), h, m, s }'
[ -n "${HOLD:-}" ] && { echo "holding: fc port $fc_port pid $fc_pid" >&2; sleep "$HOLD"; }
echo "wrk -t2 -c$CONNECTIONS, Zipf $ALPHA over $FILES files, medians of $REPS alternating runs of ${DURATION}s"
