#!/usr/bin/env bash
# Same memory, slow storage: fc and nginx each in a memory cgroup of the same
# limit (LIMIT, page cache included: the kernel charges a cgroup for the pages
# its tasks read, and for the shared segment its workers fill), reading the
# served disk through a throttle like a cloud volume's (blkio/io: READ_BPS
# bytes/s and READ_IOPS reads/s on the disk under the served root), serving
# the population of bench/population.sh (FILES files, lognormal sizes,
# Zipf(ALPHA) popularity; about 954 MiB, larger than the limit).
#
# Each server runs alone, one after the other (so neither reads a page the
# other brought in), with the page cache dropped before it starts: WARM seconds
# of the load to fill its memory and let what it keeps settle, then a measured
# run of DURATION seconds; REPS rounds in alternating order; medians. WARM is
# 120 s (about 1.8 million requests) because fc's policy learns popularity
# over about two million requests: replayed by fc-cachesim, its byte miss
# ratio at 384 MiB is 0.193 over the requests a 20-s warm-up leaves to
# measure, and 0.179 once settled; the page cache's LRU settles within one
# turn of its memory. WARM=20 measures the warm-up instead. Reported per
# server: requests/s, disk bytes read per request (the cgroup's own blkio/io
# counters), server CPU per request (utime+stime of the process tree), the
# cgroup's peak memory, and fc's hit and byte-hit ratios (its metrics). fc
# runs at its defaults, with --cache-size auto (the limit minus its headroom)
# and 2 workers as nginx; FC_ARGS adds options.
#
#   sudo bash bench/budget.sh   # LIMIT=512M READ_BPS=104857600 READ_IOPS=2000 REPS=3 WARM=120 DURATION=20
#
# Needs root and the memory and blkio controllers (cgroup v1), or cgroup v2
# with memory and io. Loopback only; every run is bounded by its duration.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
FILES=${FILES:-20000}
ALPHA=${ALPHA:-0.9}
SIGMA=${SIGMA:-1.5}
REPS=${REPS:-3}
WARM=${WARM:-120}
DURATION=${DURATION:-20}
CONNECTIONS=${CONNECTIONS:-64}
LIMIT=${LIMIT:-512M}
READ_BPS=${READ_BPS:-104857600}
READ_IOPS=${READ_IOPS:-2000}
[[ $EUID -eq 0 ]] || { echo "bench/budget.sh needs root (cgroups, drop_caches)" >&2; exit 1; }
bench_install nginx-light wrk curl python3 util-linux
[ -x build/fc-master ] || bash scripts/build.sh >/dev/null
limit_bytes=$(numfmt --from=iec "$LIMIT")

bench_workdir fc-budget
mkdir "$tmp/root"
make_population "$tmp/root" "$FILES" "$SIGMA"
chmod -R a+rX "$tmp"
# The whole disk under the root: throttles apply to disks, not partitions.
source_dev=$(findmnt -no SOURCE --target "$tmp/root")
disk=$(lsblk -no PKNAME "$source_dev" 2>/dev/null | head -1)
[ -n "$disk" ] || disk=$(basename "$source_dev")
devno=$(lsblk -dno MAJ:MIN "/dev/$disk" | tr -d ' ')
echo "served root on $source_dev (disk /dev/$disk, $devno); limit $LIMIT, reads throttled to $READ_BPS B/s and $READ_IOPS IOPS"

# cgroup_make NAME: a memory and an I/O cgroup for one server; sets $procs
# (the files to write a pid into) and $stat_kind.
groups=()
if [ -d /sys/fs/cgroup/memory ] && [ -d /sys/fs/cgroup/blkio ]; then
  cg_version=1
elif grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null && grep -qw io /sys/fs/cgroup/cgroup.controllers; then
  cg_version=2
  echo "+memory +io" > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
else
  echo "no memory + blkio (v1) or memory + io (v2) cgroup controllers here" >&2
  exit 1
fi
cgroup_make() {
  local name=fc-budget-$$-$1
  if [ "$cg_version" = 1 ]; then
    mkdir "/sys/fs/cgroup/memory/$name" "/sys/fs/cgroup/blkio/$name"
    groups+=("/sys/fs/cgroup/memory/$name" "/sys/fs/cgroup/blkio/$name")
    echo "$limit_bytes" > "/sys/fs/cgroup/memory/$name/memory.limit_in_bytes"
    [ -f "/sys/fs/cgroup/memory/$name/memory.memsw.limit_in_bytes" ] &&
      echo "$limit_bytes" > "/sys/fs/cgroup/memory/$name/memory.memsw.limit_in_bytes"
    echo "$devno $READ_BPS" > "/sys/fs/cgroup/blkio/$name/blkio.throttle.read_bps_device"
    echo "$devno $READ_IOPS" > "/sys/fs/cgroup/blkio/$name/blkio.throttle.read_iops_device"
    procs="/sys/fs/cgroup/memory/$name/cgroup.procs /sys/fs/cgroup/blkio/$name/cgroup.procs"
    mem_dir=/sys/fs/cgroup/memory/$name io_dir=/sys/fs/cgroup/blkio/$name
  else
    mkdir "/sys/fs/cgroup/$name"
    groups+=("/sys/fs/cgroup/$name")
    echo "$limit_bytes" > "/sys/fs/cgroup/$name/memory.max"
    echo 0 > "/sys/fs/cgroup/$name/memory.swap.max" 2>/dev/null || true
    echo "$devno rbps=$READ_BPS riops=$READ_IOPS" > "/sys/fs/cgroup/$name/io.max"
    procs="/sys/fs/cgroup/$name/cgroup.procs"
    mem_dir=/sys/fs/cgroup/$name io_dir=/sys/fs/cgroup/$name
  fi
}
# Bytes read from the disk by the cgroup's tasks so far.
disk_read_bytes() {
  if [ "$cg_version" = 1 ]; then
    awk -v d="$devno" '$1 == d && $2 == "Read" {print $3; found=1} END {if (!found) print 0}' \
      "$1/blkio.throttle.io_service_bytes_recursive"
  else
    awk -v d="$devno" '$1 == d {for (i = 2; i <= NF; i++) if ($i ~ /^rbytes=/) {sub("rbytes=", "", $i); print $i; f=1}} END {if (!f) print 0}' "$1/io.stat"
  fi
}
peak_memory() {
  if [ "$cg_version" = 1 ]; then cat "$1/memory.max_usage_in_bytes"; else cat "$1/memory.peak" 2>/dev/null || cat "$1/memory.current"; fi
}
reset_peak() { [ "$cg_version" = 1 ] && echo 0 > "$1/memory.max_usage_in_bytes" || true; }
cleanup_groups() {
  bench_cleanup
  sleep 0.5
  for g in "${groups[@]}"; do rmdir "$g" 2>/dev/null || true; done
}
trap cleanup_groups EXIT

metrics_port=$(free_port)
read -r -a fc_args <<<"${FC_ARGS:-}"
start_server() {  # start_server fc|nginx: in its cgroups, after dropping the page cache
  sync
  echo 3 > /proc/sys/vm/drop_caches
  local out=$tmp/$1-$RANDOM.out
  if [ "$1" = fc ]; then
    (for f in $procs; do echo "$BASHPID" > "$f"; done
     exec build/fc-master --root "$tmp/root" --port 0 --workers 2 --access-log off --cache-size "${FC_CACHE:-auto}" \
       --metrics-listen "127.0.0.1:$metrics_port" "${fc_args[@]}") >"$out" 2>>"$tmp/fc.log" &
    server_pid=$!
    for _ in $(seq 200); do grep -q listening "$out" 2>/dev/null && break; sleep 0.05; done
    port=$(sed 's/.*://' "$out")
  else
    port=$(free_port)
    write_nginx_conf "$tmp/nginx.conf" "$port" "$tmp/root" "$tmp/nginx.pid" "$tmp/nginx-error.log" 2 "access_log off;"
    (for f in $procs; do echo "$BASHPID" > "$f"; done; exec nginx -c "$tmp/nginx.conf" -p "$tmp")
    for _ in $(seq 100); do [ -s "$tmp/nginx.pid" ] && break; sleep 0.05; done
    server_pid=$(cat "$tmp/nginx.pid")
  fi
  pids+=("$server_pid")
}
stop_server() {
  kill "$server_pid" 2>/dev/null || true
  for _ in $(seq 200); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.05; done
  rm -f "$tmp/nginx.pid"
}
metric() { curl -s "http://127.0.0.1:$metrics_port/metrics" | awk -v m="$1" '$1 == m {print $2}'; }

declare -A RPS CPU DISK PEAK HIT BHIT SERVED READS
ticks=$(getconf CLK_TCK)
for k in fc nginx; do cgroup_make "$k"; eval "procs_$k=\"\$procs\" mem_$k=\$mem_dir io_$k=\$io_dir"; done
for rep in $(seq "$REPS"); do
  order=(fc nginx); ((rep % 2)) || order=(nginx fc)
  [ -n "${ONLY:-}" ] && order=("$ONLY")  # ONLY=fc: explore fc's settings alone (no ratio is printed)
  for k in "${order[@]}"; do
    eval "procs=\$procs_$k mem_dir=\$mem_$k io_dir=\$io_$k"
    start_server "$k"
    check_serves f1 "$port"
    [ "$k" = fc ] && { grep -h "cache-size auto" "$tmp/fc.log" | tail -1 || true; }
    wrk -t2 -c"$CONNECTIONS" -d"${WARM}s" -s bench/zipf.lua "http://127.0.0.1:$port" -- "$FILES" "$ALPHA" 100 >/dev/null
    reset_peak "$mem_dir"
    if [ "$k" = fc ]; then
      h0=$(metric fc_cache_hits_total) m0=$(metric fc_cache_misses_total)
      b0=$(metric fc_sent_bytes_total) s0=$(metric fc_streamed_bytes_total) l0=$(metric fc_cache_loaded_bytes_total)
    fi
    d0=$(disk_read_bytes "$io_dir")
    c0=$(tree_ticks "$server_pid")
    out=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s bench/zipf.lua "http://127.0.0.1:$port" -- "$FILES" "$ALPHA" "$rep")
    c1=$(tree_ticks "$server_pid")
    d1=$(disk_read_bytes "$io_dir")
    echo "$out" | grep -q "Non-2xx" && { echo "$k answered non-2xx:" >&2; echo "$out" >&2; exit 1; }
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    RPS[$k]+="$(echo "$out" | awk '/Requests\/sec/ {print $2}') "
    SERVED[$k]+="$(echo "$out" | awk -v n="$reqs" '/requests in/ {v=$5; u=$5; sub(/[A-Za-z]+$/, "", v); sub(/^[0-9.]+/, "", u);
      m = u == "GB" ? 2^30 : u == "MB" ? 2^20 : u == "KB" ? 2^10 : 1; printf "%.1f", v * m / n / 1024}') "
    CPU[$k]+="$(awk -v t=$((c1 - c0)) -v hz="$ticks" -v n="$reqs" 'BEGIN {printf "%.2f", t / hz / n * 1e6}') "
    DISK[$k]+="$(awk -v b=$((d1 - d0)) -v n="$reqs" 'BEGIN {printf "%.2f", b / n / 1024}') "
    PEAK[$k]+="$(( $(peak_memory "$mem_dir") >> 20 )) "
    if [ "$k" = fc ]; then
      h1=$(metric fc_cache_hits_total) m1=$(metric fc_cache_misses_total)
      b1=$(metric fc_sent_bytes_total) s1=$(metric fc_streamed_bytes_total) l1=$(metric fc_cache_loaded_bytes_total)
      # What fc itself read: bytes loaded into the cache plus bytes streamed.
      READS[$k]+="$(awk -v l=$((l1 - l0)) -v s=$((s1 - s0)) -v n="$reqs" 'BEGIN {printf "%.2f", (l + s) / n / 1024}') "
      HIT[$k]+="$(awk -v h=$((h1 - h0)) -v m=$((m1 - m0)) 'BEGIN {printf "%.3f", h / (h + m)}') "
      BHIT[$k]+="$(awk -v b=$((b1 - b0)) -v s=$((s1 - s0)) 'BEGIN {printf "%.3f", 1 - s / b}') "
    fi
    echo "run $rep $k: $(echo "$out" | awk '/Requests\/sec/ {print $2}') req/s" >&2
    if [ "$cg_version" = 1 ]; then
      awk '$1 ~ /^total_(rss|shmem|cache|mapped_file)$/ {printf "%s %d MiB  ", $1, $2 / 2^20} END {print ""}' "$mem_dir/memory.stat" >&2
    fi
    stop_server
  done
done
med() { printf '%s\n' $1 | median; }
if [ -n "${ONLY:-}" ]; then
  echo "$ONLY alone: req/s ${RPS[$ONLY]}; disk KiB/request ${DISK[$ONLY]}; served KiB/request ${SERVED[$ONLY]}; fc's own reads KiB/request ${READS[$ONLY]:-}; CPU us/request ${CPU[$ONLY]}; hit ${HIT[$ONLY]:-} byte-hit ${BHIT[$ONLY]:-}"
  exit 0
fi
printf '| server (%s cgroup, reads %s MB/s, %s IOPS) | req/s | disk KiB read per request | CPU per request | peak memory | hit ratio | byte-hit ratio |\n' \
  "$LIMIT" "$((READ_BPS / 1000000))" "$READ_IOPS"
printf '|---|---|---|---|---|---|---|\n'
printf '| fc (defaults, --cache-size auto%s) | %.0f | %.1f | %.2f us | %s MiB | %s | %s |\n' "${FC_ARGS:+, $FC_ARGS}" \
  "$(med "${RPS[fc]}")" "$(med "${DISK[fc]}")" "$(med "${CPU[fc]}")" "$(med "${PEAK[fc]}")" "$(med "${HIT[fc]}")" "$(med "${BHIT[fc]}")"
printf '| nginx (sendfile, open_file_cache) | %.0f | %.1f | %.2f us | %s MiB | - | - |\n' \
  "$(med "${RPS[nginx]}")" "$(med "${DISK[nginx]}")" "$(med "${CPU[nginx]}")" "$(med "${PEAK[nginx]}")"
echo "fc/nginx: requests/s $(ratio "$(med "${RPS[fc]}")" "$(med "${RPS[nginx]}")"), disk bytes per request $(ratio "$(med "${DISK[fc]}")" "$(med "${DISK[nginx]}")"), CPU per request $(ratio "$(med "${CPU[fc]}")" "$(med "${CPU[nginx]}")")"
echo "wrk -t2 -c$CONNECTIONS, Zipf $ALPHA over $FILES files; each server alone, page cache dropped, ${WARM}s warm-up, then ${DURATION}s measured; medians of $REPS alternating rounds"
