#!/usr/bin/env bash
# What filling the cache costs a request: the CPU the workers spend loading
# N files into fresh segment pages, with the segment's pages faulted in ahead
# by fc-populate (the default) against the same pass while they are not.
#
#   FILES=1500 SIZE=512K CACHE=2G REPS=3 bash bench/fill.sh [BUILD_BEFORE]
#
# Each run starts fc (at its defaults plus CACHE; as root also --user root,
# unless FC_USER=default, which keeps fc's own default, nobody), waits until fc-populate has finished (or, for BUILD_BEFORE, an
# fc-master without it, 3 s), asks for every file twice (fc admits a file
# over 8 KiB on its second request) on one keep-alive connection, and prints
# the workers' CPU time (schedstat, every thread) over the second pass, per load, and fc-populate's
# own CPU (it runs at SCHED_IDLE, off the request path). Medians of REPS.
# PERF=1 also records the last run's second pass (perf record -a) and prints
# the share of clear_page* samples by process: fc-master is the workers.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
files=${FILES:-1500} size=${SIZE:-512K} cache=${CACHE:-2G} reps=${REPS:-3}
before=${1:-}
[[ -x build/fc-master ]] || bash scripts/build.sh >/dev/null
work=$(mktemp -d "${TMPDIR:-/tmp}/fc-fill.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/root"
chmod 755 "$work"
user=(--user root)
[[ ${FC_USER:-root} == default || $EUID -ne 0 ]] && user=()
for i in $(seq 1 "$files"); do head -c "$size" /dev/urandom > "$work/root/f$i.bin"; done
chmod -R a+rX "$work/root"
fetch_all() {  # port: every file once, one keep-alive connection
  python3 - "$1" "$files" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
for i in range(1, int(sys.argv[2]) + 1):
    c.request("GET", "/f%d.bin" % i); r = c.getresponse(); r.read()
    assert r.status == 200, r.status
PY
}
workers_ns() {  # CPU time (ns, from schedstat) of every thread of the master's children but fc-populate
  local total=0 p t
  for p in $(cat /proc/"$1"/task/"$1"/children 2>/dev/null); do
    [[ $(cat /proc/"$p"/comm 2>/dev/null) == fc-populate ]] && continue
    for t in /proc/"$p"/task/*/schedstat; do
      total=$((total + $(awk '{print $1}' "$t" 2>/dev/null || echo 0)))
    done
  done
  echo "$total"
}
one_run() {  # binary label -> "us_per_load populate_ms"
  local bin=$1 port log pid t0 t1 pop
  port=$(free_port)
  log="$work/fc.log"
  "$bin" --root "$work/root" --port "$port" --cache-size "$cache" "${user[@]}" --access-log off >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do grep -q listening "$log" && break; sleep 0.05; done
  for _ in $(seq 600); do grep -q "fc-populate:" "$log" && break; sleep 0.05; done
  [[ $bin == "$before" ]] && sleep 3
  fetch_all "$port"
  t0=$(workers_ns "$pid")
  local perf_pid=
  if [[ -n ${PERF:-} ]]; then
    perf record -a -q -o "$work/perf.$(basename "$bin").data" >/dev/null 2>&1 &
    perf_pid=$!
    sleep 0.5
  fi
  fetch_all "$port"
  t1=$(workers_ns "$pid")
  if [[ -n $perf_pid ]]; then kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true; fi
  pop=$(sed -n 's/.*faulted in, \([0-9]*\) ms.*/\1/p' "$log" | head -1)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  awk -v d=$((t1 - t0)) -v n="$files" -v pop="${pop:--}" 'BEGIN {printf "%.1f %s\n", d / 1e3 / n, pop}'
}
echo "user: ${user[*]:-the default (nobody)}"
echo "filling $files files of $size into a $cache cache; workers' CPU per load (us), medians of $reps"
for variant in "build/fc-master" ${before:+"$before"}; do
  results=()
  for r in $(seq 1 "$reps"); do results+=("$(one_run "$variant")"); done
  us=$(printf '%s\n' "${results[@]}" | awk '{print $1}' | median)
  pop=$(printf '%s\n' "${results[@]}" | awk '{print $2}' | head -1)
  echo "$variant: $us us per load (fc-populate: ${pop} ms wall, at idle priority)"
  if [[ -n ${PERF:-} ]]; then  # the last run's second pass, all CPUs: where page zeroing ran
    perf report -i "$work/perf.$(basename "$variant").data" --no-children --sort comm,sym --stdio 2>/dev/null |
      grep -E "clear_page" | head -3 | sed 's/^/    perf: /'
  fi
done
