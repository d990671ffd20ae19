#!/usr/bin/env bash
# fc against nginx on this machine, side by side, on loopback.
#
#   bash bench/run.sh            # REPS=3 DURATION=5 WORKERS=2 by default
#   FC_MASTER=/path/to/fc-master bash bench/run.sh   # measure another build of the server
#
# Installs nginx, wrk, iperf3 and gnuplot from Debian, builds fc (Release), sets
# up the same files for both servers in a temporary directory, runs every load
# REPS times alternating fc and nginx, and prints medians and fc/nginx and
# fc/limit ratios. Small files are measured for both wrk client shapes (-t1,
# -t2), keep-alive and a connection per request, with access logging off and
# on, with server CPU time per request (utime+stime of each server's process
# tree from /proc, over the run, divided by the requests) next to throughput. Also measures head-of-line blocking and idle-connection
# memory, and draws bench/bench.png. All traffic stays on 127.0.0.1; every run
# is bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
REPS=${REPS:-3}
DURATION=${DURATION:-5}
WORKERS=${WORKERS:-2}

bench_install nginx-light wrk iperf3 gnuplot-nox curl python3 liburing-dev
bash scripts/install-deps.sh
bash scripts/build.sh >/dev/null
B=$(pwd)/build
FC_MASTER=${FC_MASTER:-$B/fc-master}

bench_workdir fc-bench
mkdir -p "$tmp/root"
head -c 4096 /dev/urandom > "$tmp/root/4k.bin"
head -c 1048576 /dev/urandom > "$tmp/root/1m.bin"
head -c 52400000 /dev/urandom > "$tmp/root/52m.bin"
head -c 1073741824 /dev/urandom > "$tmp/root/1g.bin"
for i in 1 2 3 4; do head -c 60000000 /dev/urandom > "$tmp/root/cold$i.bin"; done
chmod -R a+rX "$tmp"  # nginx's workers run as an unprivileged user
sync  # no writeback of the new files competing with the measurements

start_nginx_at NGINX_PORT NGINX_PID off "$WORKERS" "access_log off;"
# The same nginx with buffered access logging, for the logging-on rows.
start_nginx_at NGINX_LOG_PORT NGINX_LOG_PID log "$WORKERS" "access_log $tmp/nginx-access.log combined buffer=64k flush=1s;"

start_fc() { start_fc_at "$1" "$FC_MASTER" "$tmp/root" "${@:2}"; }
# fc as nginx is set up here: a file's stat trusted for 60 s (--revalidate-after
# 60000, nginx's open_file_cache_valid 60s), and fc as installed (a statx per
# request); both with their other defaults (2 threads per worker, SCHED_BATCH).
MATCH=(--workers "$WORKERS" --revalidate-after 60000)
start_fc FC_PORT "${MATCH[@]}" --access-log off
FC_PID=${pids[-1]}
start_fc FC_LOG_PORT "${MATCH[@]}" --access-log "$tmp/fc-access.log" --log-format combined
FC_LOG_PID=${pids[-1]}
start_fc FCD_PORT --workers "$WORKERS" --access-log off
FCD_PID=${pids[-1]}
start_fc FCD_LOG_PORT --workers "$WORKERS" --access-log "$tmp/fcd-access.log" --log-format combined
FCD_LOG_PID=${pids[-1]}
# The floor: a server that only answers (no parsing, files or cache), epoll and io_uring.
fc_floor_build "$tmp/floor_server"
FLOOR_PORT=$(free_port)
FLOOR_URING_PORT=$(free_port)
"$tmp/floor_server" epoll "$FLOOR_PORT" "$WORKERS" > /dev/null &
pids+=($!)
FLOOR_PID=$!
"$tmp/floor_server" io_uring "$FLOOR_URING_PORT" "$WORKERS" > /dev/null &
pids+=($!)
FLOOR_URING_PID=$!
sleep 0.5

wrk_mbps() {
  wrk -t2 -c"$2" -d"${DURATION}s" "$1" | awk '/Transfer\/sec/ {v=$2; u=substr(v, length(v)-1);
    n=substr(v, 1, length(v)-2)+0; if (u=="GB") n*=1000; if (u=="KB") n/=1000; print n}'
}
curl_mbps() {  # one stream at a time, $2 transfers back to back: total bytes / total time
  for _ in $(seq "$2"); do curl -s -o /dev/null -w '%{size_download} %{time_total}\n' "$1"; done |
    awk '{b+=$1; t+=$2} END {print b/t/1e6}'
}
# Warm both caches (twice: fc's default policy caches a file over 16 KiB on
# its second request).
for u in 4k.bin 1m.bin 52m.bin 4k.bin 1m.bin 52m.bin; do
  for port in "$FC_PORT" "$FC_LOG_PORT" "$FCD_PORT" "$FCD_LOG_PORT" "$NGINX_PORT" "$NGINX_LOG_PORT"; do
    curl -s -o /dev/null "http://127.0.0.1:$port/$u"
  done
done
# The first pass over the 1 GiB file is slower whoever serves it: warm it through both.
curl -s -o /dev/null "http://127.0.0.1:$FC_PORT/1g.bin"; curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/1g.bin"
# Both servers must really serve the bytes (a 403 is fast too).
for u in 4k.bin 1m.bin 52m.bin; do check_serves "$u" "$FC_PORT" "$NGINX_PORT"; done

declare -A R
measure() {  # measure KEY command-with-{PORT}
  local key=$1; shift
  local fc_vals=() ng_vals=()
  for rep in $(seq "$REPS"); do  # alternate who goes first
    if ((rep % 2)); then
      fc_vals+=("$(eval "${*//\{PORT\}/$FC_PORT}")")
      ng_vals+=("$(eval "${*//\{PORT\}/$NGINX_PORT}")")
    else
      ng_vals+=("$(eval "${*//\{PORT\}/$NGINX_PORT}")")
      fc_vals+=("$(eval "${*//\{PORT\}/$FC_PORT}")")
    fi
  done
  R[$key.fc]=$(printf '%s\n' "${fc_vals[@]}" | median)
  R[$key.nginx]=$(printf '%s\n' "${ng_vals[@]}" | median)
  echo "  $key: fc ${fc_vals[*]} | nginx ${ng_vals[*]}" >&2
}
ticks=$(getconf CLK_TCK)
# wrk_cpu PORT PID THREADS [HEADER]: "requests/s server-CPU-microseconds-per-request".
wrk_cpu() {
  local r c
  read -r r c _ <<<"$(wrk_cpu_url "$2" "http://127.0.0.1:$1/4k.bin" "$3" -c64 -d"${DURATION}s" ${4:+-H "$4"})"
  echo "$r $c"
}
echo "measuring (REPS=$REPS, DURATION=${DURATION}s, $WORKERS workers each)..." >&2
# Small files for both client shapes, with logging off and on, keep-alive and a
# connection per request: requests/s and server CPU per request of fc (as
# nginx is set up, and as installed) and nginx, side by side, in rotating order.
declare -A S
for load in keepalive close; do
  header=""; [[ $load == close ]] && header="Connection: close"
  for shape in -t1 -t2; do
    for logging in off on; do
      servers=("$FC_PORT $FC_PID" "$FCD_PORT $FCD_PID" "$NGINX_PORT $NGINX_PID")
      [[ $logging == on ]] && servers=("$FC_LOG_PORT $FC_LOG_PID" "$FCD_LOG_PORT $FCD_LOG_PID" "$NGINX_LOG_PORT $NGINX_LOG_PID")
      declare -a rs0=() cs0=() rs1=() cs1=() rs2=() cs2=()
      for rep in $(seq "$REPS"); do
        for j in 0 1 2; do
          i=$(( (j + rep) % 3 ))
          read -r port pid <<<"${servers[$i]}"
          read -r a b <<<"$(wrk_cpu "$port" "$pid" "$shape" "$header")"
          eval "rs$i+=(\"$a\"); cs$i+=(\"$b\")"
        done
      done
      k="$load $shape $logging"
      S[$k]="$(printf '%s\n' "${rs0[@]}" | median) $(printf '%s\n' "${rs2[@]}" | median) $(printf '%s\n' "${cs0[@]}" | median) $(printf '%s\n' "${cs2[@]}" | median) $(printf '%s\n' "${rs1[@]}" | median) $(printf '%s\n' "${cs1[@]}" | median)"
      echo "  4k $k: fc ${rs0[*]} (${cs0[*]} us) | fc as installed ${rs1[*]} (${cs1[*]} us) | nginx ${rs2[*]} (${cs2[*]} us)" >&2
    done
  done
done
# The floor, keep-alive, both client shapes.
declare -A F
for shape in -t1 -t2; do
  fe=() fec=() fu=() fuc=()
  for rep in $(seq "$REPS"); do
    read -r a b <<<"$(wrk_cpu "$FLOOR_PORT" "$FLOOR_PID" "$shape")"; fe+=("$a"); fec+=("$b")
    read -r a b <<<"$(wrk_cpu "$FLOOR_URING_PORT" "$FLOOR_URING_PID" "$shape")"; fu+=("$a"); fuc+=("$b")
  done
  F[$shape]="$(printf '%s\n' "${fe[@]}" | median) $(printf '%s\n' "${fec[@]}" | median) $(printf '%s\n' "${fu[@]}" | median) $(printf '%s\n' "${fuc[@]}" | median)"
  echo "  floor $shape: epoll ${fe[*]} (${fec[*]} us) | io_uring ${fu[*]} (${fuc[*]} us)" >&2
done
measure mb1m 'wrk_mbps http://127.0.0.1:{PORT}/1m.bin 8'
measure s52m 'curl_mbps http://127.0.0.1:{PORT}/52m.bin 20'
# Read the file into the page cache right before each server's turn: this
# machine's page cache does not keep a cold GiB for minutes (fincore showed 27
# of 1,024 MiB left after the runs above, with 22 GiB free), and whoever went
# first after that read it from the disk (the "slow first fetch").
measure s1g 'cat "$tmp/root/1g.bin" > /dev/null; curl_mbps http://127.0.0.1:{PORT}/1g.bin 3'
fcp=()
for _ in $(seq "$REPS"); do
  fcp+=("$("$B/fc-bench" --port "$FC_PORT" --name 4k.bin -c 64 -d "$DURATION" | awk '{print $6}')")
done
R[fcproto]=$(printf '%s\n' "${fcp[@]}" | median)
IPERF_PORT=$(free_port)
ip=()
for _ in $(seq "$REPS"); do
  iperf3 -s -1 -p "$IPERF_PORT" >/dev/null 2>&1 &
  sleep 0.3
  ip+=("$(iperf3 -c 127.0.0.1 -p "$IPERF_PORT" -t "$DURATION" -J |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/8e6)')")
done
R[iperf]=$(printf '%s\n' "${ip[@]}" | median)

# Head-of-line blocking: hot 4 KiB p99, idle and while 60 MB files load cold.
hol_p99() { "$B/fc-bench" --port "$FC_PORT" --name 4k.bin -c 16 -d "$DURATION" | sed 's/.*p99 \([0-9.]*\) ms.*/\1/'; }
idle_p99=$(hol_p99)
( end=$((SECONDS + DURATION + 1)); while [ $SECONDS -lt $end ]; do
    for i in 1 2 3 4; do touch "$tmp/root/cold$i.bin"; curl -s -o /dev/null "http://127.0.0.1:$FC_PORT/cold$i.bin"; done
  done ) &
loader=$!
busy_p99=$(hol_p99)
wait $loader || true

# Memory: 10,000 idle connections across 4 workers.
start_fc MEM_PORT --workers 4 --threads 2 --access-log off
mem_master=${pids[-1]}
python3 bench/hold_connections.py "$MEM_PORT" 10000 8 > "$tmp/hold.out" &
holder=$!
for _ in $(seq 200); do grep -q holding "$tmp/hold.out" 2>/dev/null && break; sleep 0.1; done
sleep 1
rss=()
for w in $(cat /proc/"$mem_master"/task/"$mem_master"/children); do
  rss+=("$(awk '/^Private_(Clean|Dirty)/ {s+=$2} END {printf "%.1f", s/1024}' /proc/"$w"/smaps_rollup)")
done
seg=$(stat -c %s "/dev/shm/fc-$MEM_PORT")
wait $holder || true

{
  echo
  printf '| 4 KiB, 64 connections | client | access log | fc req/s | nginx req/s | fc/nginx | fc CPU/req | nginx CPU/req | fc/nginx CPU | fc as installed: req/s, CPU/req, vs nginx |\n'
  printf '|---|---|---|---|---|---|---|---|---|---|\n'
  for k in "keepalive -t1 off" "keepalive -t1 on" "keepalive -t2 off" "keepalive -t2 on" \
           "close -t1 off" "close -t1 on" "close -t2 off" "close -t2 on"; do
    read -r fr nr fc nc dr dc <<<"${S[$k]}"
    read -r load shape logging <<<"$k"
    printf '| %s | wrk %s | %s | %.0f | %.0f | **%s** | %.2f us | %.2f us | **%s** | %.0f, %.2f us: %s, %s |\n' \
      "$([[ $load == close ]] && echo "a connection per request" || echo keep-alive)" "$shape" "$logging" \
      "$fr" "$nr" "$(ratio "$fr" "$nr")" "$fc" "$nc" "$(ratio "$fc" "$nc")" \
      "$dr" "$dc" "$(ratio "$dr" "$nr")" "$(ratio "$dc" "$nc")"
  done
  for shape in -t1 -t2; do
    read -r er ec ur uc <<<"${F[$shape]}"
    read -r _ nr _ nc _ _ <<<"${S[keepalive $shape off]}"
    printf '| keep-alive, floor server (epoll / io_uring) | wrk %s | off | %.0f / %.0f | %.0f | %s / %s | %.2f / %.2f us | %.2f us | %s / %s | |\n' \
      "$shape" "$er" "$ur" "$nr" "$(ratio "$er" "$nr")" "$(ratio "$ur" "$nr")" "$ec" "$uc" "$nc" "$(ratio "$ec" "$nc")" "$(ratio "$uc" "$nc")"
  done
  echo "(fc: --workers $WORKERS --revalidate-after 60000, its defaults otherwise (--threads 2, --scheduling batch); fc as installed: without --revalidate-after (a statx per request);"
  echo " nginx: $WORKERS workers, sendfile, tcp_nopush, open_file_cache max=16000 + open_file_cache_valid 60s;"
  echo " logging on: fc --access-log FILE --log-format combined (buffered), nginx access_log FILE combined buffer=64k flush=1s;"
  echo " floor: bench/floor_server.cc, recv + one fixed send per request, no parsing or files: the kernel's share;"
  echo " CPU/req: utime+stime of the server's process tree over the run / requests; medians of $REPS runs in rotating order)"
  echo
  printf '| load | fc | nginx | fc/nginx | limit (iperf3) | fc/limit |\n|---|---|---|---|---|---|\n'
  printf '| 1 MiB hot, 8 connections (wrk) | %.0f MB/s | %.0f MB/s | %s | %.0f MB/s | %s |\n' "${R[mb1m.fc]}" "${R[mb1m.nginx]}" "$(ratio "${R[mb1m.fc]}" "${R[mb1m.nginx]}")" "${R[iperf]}" "$(ratio "${R[mb1m.fc]}" "${R[iperf]}")"
  printf '| one stream, 52 MB cached (curl) | %.0f MB/s | %.0f MB/s | %s | %.0f MB/s | %s |\n' "${R[s52m.fc]}" "${R[s52m.nginx]}" "$(ratio "${R[s52m.fc]}" "${R[s52m.nginx]}")" "${R[iperf]}" "$(ratio "${R[s52m.fc]}" "${R[iperf]}")"
  printf '| one stream, 1 GiB uncached (curl) | %.0f MB/s | %.0f MB/s | %s | %.0f MB/s | %s |\n' "${R[s1g.fc]}" "${R[s1g.nginx]}" "$(ratio "${R[s1g.fc]}" "${R[s1g.nginx]}")" "${R[iperf]}" "$(ratio "${R[s1g.fc]}" "${R[iperf]}")"
  printf '| 4 KiB, fc protocol, 64 keep-alive connections (fc-bench) | %.0f req/s | | | | |\n' "${R[fcproto]}"
  echo
  echo "head-of-line: hot 4 KiB p99 ${idle_p99} ms idle, ${busy_p99} ms while 60 MB files load cold ($(ratio "$busy_p99" "$idle_p99")x)"
  echo "memory: 10,000 idle connections over 4 workers: private RSS per worker ${rss[*]} MiB; segment $seg bytes"
} | tee "$tmp/table.md"

plot_row() {  # plot_row LABEL KEY: fc/nginx req/s and nginx/fc CPU per request
  local fr nr fc nc
  read -r fr nr fc nc _ _ <<<"${S[$2]}"
  echo "\"$1\\nreq/s\" $(ratio "$fr" "$nr")"
  echo "\"$1\\nless CPU\" $(ratio "$nc" "$fc")"
}
{
  plot_row "4 KiB keep-alive -t1" "keepalive -t1 on"
  plot_row "4 KiB keep-alive -t2" "keepalive -t2 on"
  plot_row "4 KiB conn/req -t1" "close -t1 on"
  echo "\"1 MiB hot\\nvs nginx\" $(ratio "${R[mb1m.fc]}" "${R[mb1m.nginx]}")"
  echo "\"52 MB cached\\nvs iperf3\" $(ratio "${R[s52m.fc]}" "${R[iperf]}")"
  echo "\"1 GiB uncached\\nvs nginx\" $(ratio "${R[s1g.fc]}" "${R[s1g.nginx]}")"
} > "$tmp/plot.dat"
bash bench/plot.sh "$tmp/plot.dat" "$REPS" bench/bench.png
echo "plot: bench/bench.png" >&2
