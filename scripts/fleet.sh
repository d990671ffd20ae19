#!/usr/bin/env bash
# A sharded fc fleet on loopback: N fc-masters behind HAProxy (deploy/haproxy.cfg).
#
#   bash scripts/fleet.sh N [--root DIR] [--front PORT] [--base-port PORT]
#
# Starts N fc-masters on 127.0.0.1:BASE .. BASE+N-1 (each with its segment
# fc-PORT, so `fc-shmdump --port PORT` reads it, and --drain-notice 2 so
# HAProxy sees a shard's drain before it closes) serving DIR (default:
# sample/); as root, the shards run as DIR's owner (--user OWNER, said on
# stderr; a root-owned DIR means --user root), renders deploy/haproxy.cfg for them,
# starts HAProxy on the front port (default 8080), prints the front port, and
# stops everything it started on Ctrl-C (or SIGTERM). Installs what it needs
# with scripts/install-deps.sh when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { echo "usage: bash scripts/fleet.sh N [--root DIR] [--front PORT] [--base-port PORT]" >&2; exit 2; }
[[ $# -ge 1 && $1 =~ ^[0-9]+$ && $1 -ge 1 && $1 -le 64 ]] || usage
n=$1; shift
root=$(pwd)/sample front=8080 base=9001
while [[ $# -gt 0 ]]; do
  case $1 in
    --root) root=$(realpath "$2"); shift 2 ;;
    --front) front=$2; shift 2 ;;
    --base-port) base=$2; shift 2 ;;
    *) usage ;;
  esac
done
command -v haproxy >/dev/null || { [[ $EUID -eq 0 ]] && bash scripts/install-deps.sh >/dev/null; }
[[ -x build/fc-master ]] || bash scripts/build.sh >/dev/null
command -v haproxy >/dev/null || { echo "fleet.sh: haproxy is not installed (run scripts/install-deps.sh as root)" >&2; exit 1; }
run=$(mktemp -d "${TMPDIR:-/tmp}/fc-fleet.XXXXXX")
pids=()
stop() {
  trap - INT TERM EXIT
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ -n "${FLEET_KEEP:-}" ]] || rm -rf "$run"
  echo "fleet stopped" >&2
}
trap stop EXIT
trap 'exit 0' INT TERM
user=()
if [[ $EUID -eq 0 ]]; then
  owner=$(stat -c %U "$root")
  user=(--user "$owner")
  if [[ $owner == root ]]; then
    echo "fleet.sh: $root is owned by root, so the shards run as root (--user root); chown it to run them as another user" >&2
  else
    echo "fleet.sh: the shards run as $owner, the owner of $root (--user $owner)" >&2
  fi
fi
servers=""
for i in $(seq 1 "$n"); do
  port=$((base + i - 1))
  build/fc-master --root "$root" --port "$port" --workers 2 \
    --drain-notice 2 --access-log off "${user[@]}" >"$run/fc$i.out" 2>"$run/fc$i.log" &
  pids+=($!)
  servers+="    server fc$i 127.0.0.1:$port id $i\n"
done
for i in $(seq 1 "$n"); do
  for _ in $(seq 100); do grep -q listening "$run/fc$i.out" 2>/dev/null && break; sleep 0.05; done
  grep -q listening "$run/fc$i.out" || { cat "$run/fc$i.log" >&2; exit 1; }
done
# deploy/haproxy.cfg with this fleet's front port and servers.
# Plain HTTP only: the HTTPS layouts' sections are left out.
awk '/^(frontend|backend) / {skip = ($2 == "fc_front_https" || $2 == "fc_front_reencrypt" || $2 == "fc_shards_tls")}
     !skip' deploy/haproxy.cfg |
  sed -e "s/^    bind 127.0.0.1:[0-9]*/    bind 127.0.0.1:$front/" -e '/^    server fc[0-9]* /d' >"$run/haproxy.cfg"
printf "$servers" >>"$run/haproxy.cfg"
haproxy -db -f "$run/haproxy.cfg" >"$run/haproxy.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$front/.fc/health" && break; sleep 0.05; done
echo "fleet of $n fc shards (ports $base-$((base + n - 1))) behind HAProxy; front port:"
echo "$front"
echo "try: curl -s http://127.0.0.1:$front/hello.txt; Ctrl-C stops everything" >&2
wait "${pids[-1]}"
