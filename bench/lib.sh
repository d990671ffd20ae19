# Shared helpers of the bench scripts (sourced).
# bench_install PACKAGE...: installs the Debian packages not installed yet.
bench_install() {
  local need=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
  done
  ((${#need[@]})) || return 0
  # Do not let a package start a system nginx on port 80.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# utime+stime, in clock ticks, of a process and its children (a master and its workers).
tree_ticks() {
  local total=0
  for p in "$1" $(cat /proc/"$1"/task/"$1"/children 2>/dev/null); do
    total=$((total + $(awk '{print $14 + $15}' /proc/"$p"/stat 2>/dev/null || echo 0)))
  done
  echo "$total"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}'; }
# The nginx both benchmarks run: write_nginx_conf FILE PORT ROOT PIDFILE ERRORLOG WORKERS ACCESSLOG
# [LISTEN-FLAGS [MORE]] (ACCESSLOG: an access_log directive, e.g. "access_log off;";
# LISTEN-FLAGS such as "ssl"; MORE: directives for the http block). sendfile,
# open_file_cache and long keep-alive: nginx at its best for static files.
# (open_file_cache max stays below the open-file limit, 20,000 here: with 20,000
# files nginx answered 500 once its cached descriptors reached it.)
write_nginx_conf() {
  cat > "$1" <<CONF
worker_processes $6;
worker_rlimit_nofile $(ulimit -Hn);
pid $4;
error_log $5;
events { worker_connections 20000; }
http {
  $7
  sendfile on;
  tcp_nopush on;
  open_file_cache max=16000 inactive=60s;
  open_file_cache_valid 60s;
  keepalive_requests 100000000;
  default_type application/octet-stream;
  ${9:-}
  server { listen 127.0.0.1:$2 ${8:-}; root $3; }
}
CONF
}
# bench_workdir NAME: a fresh $tmp directory and an empty $pids list; on exit,
# every pid in $pids and every server whose pid file (*.pid) is in $tmp (the
# nginx instances) is stopped and $tmp removed.
# $locks is a directory on a tmpfs for fc's load lock files (--lock-dir), as
# under systemd, where /run is a tmpfs: this machine's /run is on its disk.
bench_workdir() {
  tmp=$(mktemp -d "/tmp/$1-XXXXXX")
  locks=$(mktemp -d "/dev/shm/$1-locks-XXXXXX")
  chmod 0711 "$locks"  # fc, started as root, runs as nobody: it must reach its own directory
  pids=()
  trap bench_cleanup EXIT
  # A signal (Ctrl-C, a closed pipe, a timeout) exits through the EXIT trap too,
  # so no server is left running.
  trap "exit 1" INT TERM HUP PIPE
}
bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for f in "$tmp"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  sleep 0.5
  rm -rf "$tmp" "$locks"
}
# fc_floor_build OUT: bench/floor_server.cc (the least any server can do per
# request: recv and send of a fixed reply) built with liburing.
fc_floor_build() {
  g++ -O2 -std=c++17 -o "$1" bench/floor_server.cc -luring
}
# wrk_cpu_url PID URL WRK-ARGS...: "requests/s server-CPU-us-per-request
# socket-errors": utime+stime of PID's process tree over the run / requests;
# "NaN NaN" when a reply was not 2xx/3xx.
wrk_cpu_url() {
  local pid=$1 url=$2 before after out
  shift 2
  before=$(tree_ticks "$pid")
  out=$(wrk "$url" "$@")  # the URL first: script arguments follow a "--" in WRK-ARGS
  after=$(tree_ticks "$pid")
  echo "$out" | awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" '/Non-2xx/ {bad=1}
    /requests in/ {n=$1} /Requests\/sec/ {r=$2}
    /Socket errors/ {gsub(",", ""); e=$4 + $6 + $8 + $10}
    END {if (bad || n == 0) print "NaN NaN 0"; else printf "%s %.2f %d\n", r, t / hz / n * 1e6, e}'
}
# start_build OUTVAR FC-MASTER ROOT args...: starts an fc-master on port 0 at
# its defaults but for ARGS (its own default lock directory; its pid appended
# to $pids) and stores the port in OUTVAR. For comparing builds side by side.
start_build() {
  local out=$tmp/build-$RANDOM.out
  "$2" --root "$3" --port 0 --quiet "${@:4}" >"$out" 2>/dev/null &
  pids+=($!)
  for _ in $(seq 100); do grep -q listening "$out" 2>/dev/null && break; sleep 0.05; done
  printf -v "$1" '%s' "$(sed 's/.*://' "$out")"
  rm -f "$out"
}
# start_fc_at OUTVAR FC-MASTER ROOT args...: starts an fc-master on port 0 with
# its lock directory in $locks (its pid appended to $pids) and stores the port
# in OUTVAR.
start_fc_at() {
  local out=$tmp/fc-$RANDOM.out
  "$2" --root "$3" --port 0 --lock-dir "$locks/$RANDOM$RANDOM" "${@:4}" >"$out" 2>>"$tmp/fc.log" &
  pids+=($!)
  for _ in $(seq 100); do grep -q listening "$out" 2>/dev/null && break; sleep 0.05; done
  printf -v "$1" '%s' "$(sed 's/.*://' "$out")"
}
# start_nginx_at PORTVAR PIDVAR NAME WORKERS ACCESSLOG [LISTEN-FLAGS [MORE]]: nginx
# (write_nginx_conf, serving $tmp/root) on a free port, its files $tmp/nginx-NAME.*;
# waits for its pid file and stores the port and the master's pid.
start_nginx_at() {
  local port
  port=$(free_port)
  write_nginx_conf "$tmp/nginx-$3.conf" "$port" "$tmp/root" "$tmp/nginx-$3.pid" "$tmp/nginx-$3-error.log" "$4" "$5" "${@:6}"
  nginx -c "$tmp/nginx-$3.conf" -p "$tmp"
  for _ in $(seq 100); do [ -s "$tmp/nginx-$3.pid" ] && break; sleep 0.05; done
  printf -v "$1" '%s' "$port"
  printf -v "$2" '%s' "$(cat "$tmp/nginx-$3.pid")"
}
# check_serves NAME PORT...: every server answers $tmp/root/NAME byte for byte
# (a fast 403 must not pass for a fast server).
check_serves() {
  local name=$1 port
  shift
  for port in "$@"; do
    cmp -s <(curl -s "http://127.0.0.1:$port/$name") "$tmp/root/$name" ||
      { echo "port $port does not serve $name correctly" >&2; exit 1; }
  done
}
# make_population DIR FILES SIGMA: FILES files f0..f(FILES-1) with lognormal
# sizes (median 16 KiB, sigma SIGMA, 64 bytes to 8 MiB), the same every time
# (seed 7); prints the total.
make_population() {
  /usr/bin/python3 - "$1" "$2" "$3" <<'PY'
import math, os, random, sys
root, files, sigma = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rng = random.Random(7)
total = 0
block = os.urandom(1 << 20)
for i in range(files):
    size = max(64, min(int(16384 * math.exp(rng.gauss(0, sigma))), 8 << 20))
    with open(os.path.join(root, "f%d" % i), "wb") as f:
        left = size
        while left:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n
    total += size
print("population: %d files, %.1f MiB in all (lognormal, median 16 KiB, sigma %.1f)" % (files, total / 2**20, sigma))
PY
}
