#!/usr/bin/env bash
# Large-file throughput of two or more fc-master builds, side by side: what a
# change to the send path (writev from the segment, sendfile, multipart)
# would move, where bench/cpu_per_request.sh measures 4 KiB requests.
#
#   bash bench/builds_large.sh OLD/fc-master NEW/fc-master
#
# Each build runs at its defaults (--workers 2). Loads, REPS times each, the
# builds in rotating order: a 1 MiB cached file over 8 keep-alive connections
# (wrk -t2, DURATION seconds: MB/s and server CPU per request), one curl
# stream of a 52 MB cached file 10 times (MB/s), and a 20-part
# multipart/byteranges request of the 1 MiB file 2,000 times on one
# connection (requests/s). Prints medians. All traffic on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
REPS=${REPS:-5}
DURATION=${DURATION:-4}
bins=("$@")
((${#bins[@]} >= 2)) || { echo "usage: bash bench/builds_large.sh BUILD BUILD..." >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk is needed (bench/run.sh installs it)" >&2; exit 1; }
bench_workdir fc-builds-large
mkdir "$tmp/root"
head -c 1048576 /dev/urandom > "$tmp/root/1m.bin"
head -c 52400000 /dev/urandom > "$tmp/root/52m.bin"
chmod -R a+rX "$tmp"
ports=()
for b in "${bins[@]}"; do
  start_build port "$b" "$tmp/root" --workers 2
  ports+=("$port")
done
for p in "${ports[@]}"; do
  for u in 1m.bin 52m.bin 1m.bin 52m.bin; do curl -s -o /dev/null "http://127.0.0.1:$p/$u"; done
done
ranges="bytes=$(for i in $(seq 0 19); do printf '%d-%d,' $((i * 50000)) $((i * 50000 + 999)); done | sed 's/,$//')"
stream_mbps() {  # 10 transfers back to back: total bytes / total time
  for _ in $(seq 10); do curl -s -o /dev/null -w '%{size_download} %{time_total}\n' "$1"; done |
    awk '{b += $1; t += $2} END {printf "%.0f", b / t / 1e6}'
}
multipart_rps() {  # 2,000 requests on one connection
  local urls=() start end
  for _ in $(seq 2000); do urls+=("$1"); done
  start=$(date +%s.%N)
  curl -s -H "Range: $ranges" "${urls[@]}" > /dev/null
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" 'BEGIN {printf "%.0f", 2000 / (e - s)}'
}
declare -A mb=() cpu=() st=() mp=()
for rep in $(seq "$REPS"); do
  for i in "${!bins[@]}"; do
    j=$(( (i + rep) % ${#bins[@]} ))  # rotate who goes first
    url="http://127.0.0.1:${ports[$j]}"
    read -r rps us _ < <(wrk_cpu_url "${pids[$j]}" "$url/1m.bin" -t2 -c8 -d"${DURATION}s")
    mb[$j]+="$(awk -v r="$rps" 'BEGIN {printf "%.0f", r * 1048576 / 1e6}') "
    cpu[$j]+="$us "
    st[$j]+="$(stream_mbps "$url/52m.bin") "
    mp[$j]+="$(multipart_rps "$url/1m.bin") "
  done
done
printf '| build | 1 MiB hot, 8 conns: MB/s | CPU per request | 52 MB stream: MB/s | 20-part multipart: req/s |\n'
printf '|---|---|---|---|---|\n'
for i in "${!bins[@]}"; do
  m() { tr ' ' '\n' <<<"$1" | grep . | median; }
  printf '| %s | %s | %s us | %s | %s |\n' "${bins[$i]}" "$(m "${mb[$i]}")" "$(m "${cpu[$i]}")" \
    "$(m "${st[$i]}")" "$(m "${mp[$i]}")"
done
echo "(medians of $REPS runs in rotating order; runs: ${mb[*]} | ${st[*]} | ${mp[*]})"
