#!/usr/bin/env bash
# Compressed once against compressed per request: a 100 KiB JavaScript file
# (the first 100 KiB of Debian's jquery.js) served gzip-encoded by
#   fc     --compress gzip (the copy made once at zlib level 9, then served
#          from the shared cache), otherwise at its defaults (as root it drops
#          to nobody), access log off;
#   nginx  gzip on (per request, gzip_comp_level 1, its default), sendfile,
#          open_file_cache, access log off;
#   nginx  gzip_static on, serving a .gz made beforehand with gzip -9 (what an
#          nginx user must prepare by hand to avoid per-request compression);
# 2 workers each, side by side in rotating order on loopback. Client shapes:
# wrk -t1 -c16 and wrk -t2 -c64 (keep-alive, -H 'Accept-Encoding: gzip'), and
# one curl --compressed fetching the URL COUNT times over one connection.
# Prints medians of requests/s and of server CPU per request (utime+stime of
# the server's process tree over the run / requests), and the ratios.
#
#   bash bench/compress.sh            # REPS=3 DURATION=5 COUNT=5000
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
REPS=${REPS:-3}
DURATION=${DURATION:-5}
COUNT=${COUNT:-5000}
bench_install nginx-light wrk curl libjs-jquery
[ -x build/fc-master ] || bash scripts/build.sh >/dev/null
bench_workdir fc-compress
mkdir "$tmp/root"
head -c 102400 /usr/share/javascript/jquery/jquery.js >"$tmp/root/app.js"
mkdir "$tmp/root/static"
cp "$tmp/root/app.js" "$tmp/root/static/app.js"
gzip -9 -k -n "$tmp/root/static/app.js"
chmod -R a+rX "$tmp"

declare -A PORT PID PATHS
"${FC_MASTER:-build/fc-master}" --root "$tmp/root" --port 0 --workers 2 --access-log off \
  --compress gzip >"$tmp/fc.out" 2>>"$tmp/fc.log" &
pids+=($!)
PID[fc]=$!
for _ in $(seq 100); do grep -q listening "$tmp/fc.out" 2>/dev/null && break; sleep 0.05; done
PORT[fc]=$(sed 's/.*://' "$tmp/fc.out")
PATHS[fc]=/app.js
gzip_conf="access_log off; include /etc/nginx/mime.types; gzip on; gzip_types application/javascript text/javascript;"
start_nginx_at "PORT[nginx]" "PID[nginx]" gzip 2 "$gzip_conf"
PATHS[nginx]=/app.js
static_conf="access_log off; include /etc/nginx/mime.types; gzip_static on;"
start_nginx_at "PORT[static]" "PID[static]" static 2 "$static_conf"
PATHS[static]=/static/app.js
servers=(fc nginx static)

# Every server sends gzip that decodes to the file, and fc's is its copy.
for s in "${servers[@]}"; do
  url="http://127.0.0.1:${PORT[$s]}${PATHS[$s]}"
  enc=$(curl -s -o /dev/null -w '%header{content-encoding}' -H 'Accept-Encoding: gzip' "$url" 2>/dev/null ||
        curl -s -D - -o /dev/null -H 'Accept-Encoding: gzip' "$url" | tr -d '\r' | awk -F': ' 'tolower($1)=="content-encoding" {print $2}')
  [ "$enc" = gzip ] || { echo "$s does not send gzip ($enc)" >&2; exit 1; }
  cmp -s <(curl -s --compressed "$url") "$tmp/root/app.js" || { echo "$s: the decoded bytes differ" >&2; exit 1; }
done
for s in "${servers[@]}"; do
  printf '%s gzip body: %s bytes\n' "$s" "$(curl -s -H 'Accept-Encoding: gzip' "http://127.0.0.1:${PORT[$s]}${PATHS[$s]}" | wc -c)"
done

# curl_cpu PID URL: "requests/s CPU-us-per-request" for COUNT fetches by one
# curl --compressed over one connection.
curl_cpu() {
  local pid=$1 url=$2 before after t0 t1 args=()
  for _ in $(seq "$COUNT"); do args+=("$url"); done
  before=$(tree_ticks "$pid")
  t0=$(date +%s.%N)
  curl -s --compressed "${args[@]}" >/dev/null
  t1=$(date +%s.%N)
  after=$(tree_ticks "$pid")
  awk -v n="$COUNT" -v t0="$t0" -v t1="$t1" -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" \
    'BEGIN {printf "%.0f %.2f\n", n / (t1 - t0), t / hz / n * 1e6}'
}

shapes=("wrk -t1 -c16" "wrk -t2 -c64" "curl --compressed")
declare -A RPS CPU
for rep in $(seq "$REPS"); do
  # Rotate the order so that no server always runs first.
  order=("${servers[@]:$(((rep - 1) % 3))}" "${servers[@]:0:$(((rep - 1) % 3))}")
  for shape in "${shapes[@]}"; do
    for s in "${order[@]}"; do
      url="http://127.0.0.1:${PORT[$s]}${PATHS[$s]}"
      case $shape in
        "wrk -t1 -c16") out=$(wrk_cpu_url "${PID[$s]}" "$url" -t1 -c16 -d"${DURATION}s" -H 'Accept-Encoding: gzip') ;;
        "wrk -t2 -c64") out=$(wrk_cpu_url "${PID[$s]}" "$url" -t2 -c64 -d"${DURATION}s" -H 'Accept-Encoding: gzip') ;;
        *) out=$(curl_cpu "${PID[$s]}" "$url") ;;
      esac
      read -r r c _ <<<"$out"
      RPS[$s,$shape]+="$r "
      CPU[$s,$shape]+="$c "
    done
  done
done

med() { tr ' ' '\n' <<<"$1" | grep . | median; }
printf '\n100 KiB JavaScript, gzip, medians of %s runs of %s s (curl: %s fetches)\n' "$REPS" "$DURATION" "$COUNT"
printf '| client | fc --compress req/s | nginx gzip on req/s | fc/nginx | fc CPU/req | nginx CPU/req | fc/nginx CPU | nginx gzip_static req/s, CPU/req | fc/static req/s, CPU |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
for shape in "${shapes[@]}"; do
  fr=$(med "${RPS[fc,$shape]}") nr=$(med "${RPS[nginx,$shape]}") sr=$(med "${RPS[static,$shape]}")
  fcpu=$(med "${CPU[fc,$shape]}") ncpu=$(med "${CPU[nginx,$shape]}") scpu=$(med "${CPU[static,$shape]}")
  printf '| %s | %.0f | %.0f | %s | %.1f us | %.1f us | %s | %.0f, %.1f us | %s, %s |\n' "$shape" "$fr" "$nr" \
    "$(ratio "$fr" "$nr")" "$fcpu" "$ncpu" "$(ratio "$fcpu" "$ncpu")" "$sr" "$scpu" "$(ratio "$fr" "$sr")" \
    "$(ratio "$fcpu" "$scpu")"
done
