#!/usr/bin/env bash
# The cost of the HAProxy hop: fc direct against fc behind HAProxy running
# deploy/haproxy.cfg (one shard, so only the hop differs), side by side on
# loopback: a cached 4 KiB file, wrk -t2 -c64 keep-alive, REPS alternating runs
# of DURATION seconds; medians of requests/s and of wrk's p99 latency.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
REPS=${REPS:-3}
DURATION=${DURATION:-5}
for tool in wrk haproxy; do command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }; done
bench_workdir fc-hop
mkdir "$tmp/root" && head -c 4096 /dev/urandom > "$tmp/root/4k.bin" && chmod -R a+rX "$tmp"
user=(); [[ $EUID -eq 0 ]] && user=(--user root)
fc_port=$(free_port) front=$(free_port)
build/fc-master --root "$tmp/root" --port "$fc_port" --workers 2 --threads 1 --access-log off "${user[@]}" \
  >"$tmp/fc.out" 2>"$tmp/fc.log" &
pids+=($!)
sed -e "s/^    bind 127.0.0.1:[0-9]*/    bind 127.0.0.1:$front/" -e '/^    server fc[0-9]* /d' deploy/haproxy.cfg >"$tmp/h.cfg"
echo "    server fc1 127.0.0.1:$fc_port id 1" >>"$tmp/h.cfg"
haproxy -db -f "$tmp/h.cfg" >"$tmp/h.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$front/4k.bin" && break; sleep 0.1; done
declare -A RPS P99
for rep in $(seq "$REPS"); do
  order=(direct haproxy); ((rep % 2)) || order=(haproxy direct)
  for k in "${order[@]}"; do
    port=$fc_port; [[ $k == haproxy ]] && port=$front
    out=$(wrk -t2 -c64 -d"${DURATION}s" --latency "http://127.0.0.1:$port/4k.bin")
    RPS[$k]+="$(echo "$out" | awk '/Requests\/sec/ {print $2}') "
    P99[$k]+="$(echo "$out" | awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) sub(/ms/,"",v); else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}') "
  done
done
d=$(printf '%s\n' ${RPS[direct]} | median); h=$(printf '%s\n' ${RPS[haproxy]} | median)
dp=$(printf '%s\n' ${P99[direct]} | median); hp=$(printf '%s\n' ${P99[haproxy]} | median)
printf '| path | req/s | p99 |\n|---|---|---|\n'
printf '| fc direct | %.0f | %.2f ms |\n| through HAProxy | %.0f | %.2f ms |\n' "$d" "$dp" "$h" "$hp"
echo "through HAProxy / direct: throughput $(ratio "$h" "$d"), p99 $(ratio "$hp" "$dp") (medians of $REPS runs of ${DURATION}s)"
