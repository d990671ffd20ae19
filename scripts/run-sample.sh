#!/usr/bin/env bash
# Install, build, create a sample directory and serve it with 4 workers on
# 127.0.0.1:9000 (PORT=... to change). Stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
sample=sample
mkdir -p "$sample/docs"
[ -f "$sample/hello.txt" ] || echo "Hello from fc." > "$sample/hello.txt"
# What a browser opening http://127.0.0.1:PORT/ gets (--index index.html).
[ -f "$sample/index.html" ] || cat > "$sample/index.html" <<'HTML'
<!doctype html>
<meta charset="utf-8">
<title>fc sample</title>
<h1>fc is serving this directory</h1>
<ul>
  <li><a href="hello.txt">hello.txt</a></li>
  <li><a href="docs/a%20b.txt">docs/a b.txt</a></li>
  <li><a href="5MB.bin">5MB.bin</a> (cached on its second request) and <a href="68MB.bin">68MB.bin</a> (larger than the cache: streamed)</li>
  <li><a href="/.fc/cache">/.fc/cache</a>: what the shared cache holds now</li>
</ul>
HTML
[ -f "$sample/docs/a b.txt" ] || echo "A name with a space, in a subdirectory." > "$sample/docs/a b.txt"
[ -f "$sample/5MB.bin" ] || head -c 5200000 /dev/urandom > "$sample/5MB.bin"
[ -f "$sample/68MB.bin" ] || head -c 68000000 /dev/urandom > "$sample/68MB.bin"
chmod -R a+rX "$sample"  # fc drops from root to nobody once the port is bound
echo "serving $(pwd)/$sample; then try: build/fc-client get 127.0.0.1 PORT hello.txt /tmp"
exec build/fc-master --root "$sample" --port "${PORT:-9000}" --workers 4
