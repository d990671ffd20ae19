#!/usr/bin/env bash
# Builds the .deb (cpack -G DEB), checks its contents and dependencies,
# unpacks it into a temporary root, runs the unpacked programs, verifies the
# unit files with systemd-analyze, and serves a file with the packaged
# example config. Usage: package_test.sh BUILD_DIR
set -euo pipefail
build=$1
for tool in cpack dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed"; exit 77; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/fc-package.XXXXXX")
server=
cleanup() {
  [[ -n "$server" ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1) ||
  { cat "$work/cpack.log"; fail "cpack -G DEB failed"; }
deb=$(ls "$work"/out/fc_*.deb)
echo "built $(basename "$deb")"

contents=$(dpkg-deb -c "$deb")
for path in ./usr/bin/fc-master ./usr/bin/fc-client ./usr/bin/fc-shmdump \
            ./usr/share/man/man1/fc-master.1 ./usr/share/man/man1/fc-client.1 ./usr/share/man/man1/fc-shmdump.1 \
            ./usr/lib/systemd/system/fc.service ./usr/lib/systemd/system/fc.socket \
            ./etc/fc/fc.conf ./etc/logrotate.d/fc ./etc/letsencrypt/renewal-hooks/deploy/fc ./usr/share/doc/fc/fc.conf.example; do
  grep -q " $path\$" <<<"$contents" || fail "$path is not in the package"
done
depends=$(dpkg-deb -f "$deb" Depends)
for dep in libboost-program-options libxxhash0 libssl3 media-types libc6; do
  grep -q "$dep" <<<"$depends" || fail "Depends lacks $dep: $depends"
done
dpkg-deb --ctrl-tarfile "$deb" | tar -t | grep -q conffiles || fail "no conffiles"
echo "contents and Depends ok: $depends"

root="$work/root"
dpkg-deb -x "$deb" "$root"
"$root/usr/bin/fc-master" --help >"$work/help.txt" || fail "unpacked fc-master --help failed"
grep -q -- "--config FILE" "$work/help.txt" || fail "--help lacks --config"
"$root/usr/bin/fc-client" --help >/dev/null || fail "unpacked fc-client --help failed"
"$root/usr/bin/fc-shmdump" --help >/dev/null || fail "unpacked fc-shmdump --help failed"
grep -q "^\.SH SIGNALS" "$root/usr/share/man/man1/fc-master.1" || fail "fc-master(1) lacks SIGNALS"
echo "unpacked programs run"

if command -v systemd-analyze >/dev/null; then
  # verify checks that ExecStart's binary exists: point it at the unpacked one.
  units="$work/units"
  mkdir -p "$units"
  sed "s#/usr/bin/fc-master#$root/usr/bin/fc-master#" "$root/usr/lib/systemd/system/fc.service" >"$units/fc.service"
  cp "$root/usr/lib/systemd/system/fc.socket" "$units/fc.socket"
  if ! systemd-analyze verify --man=no "$units/fc.service" "$units/fc.socket" >"$work/verify.log" 2>&1; then
    cat "$work/verify.log"
    fail "systemd-analyze verify"
  fi
  echo "systemd-analyze verify: ok"
else
  echo "systemd-analyze not installed: unit files not verified"
fi

# The packaged example config, pointed at a sample directory and a free port.
mkdir -p "$work/srv"
echo "packaged fc serves" >"$work/srv/hello.txt"
conf="$work/fc.conf"
sed -e "s#^root = .*#root = $work/srv#" -e "s#^port = .*#port = 0#" \
    -e "s#^access-log = .*#access-log = -#" -e "s#^user = .*#user = $( [[ $EUID -eq 0 ]] && echo root || id -un )#" \
    "$root/etc/fc/fc.conf" >"$conf"
"$root/usr/bin/fc-master" --config "$conf" --workers 1 --shm-name "fc-package-$$" >"$work/out.txt" 2>"$work/err.txt" &
server=$!
port=
for _ in $(seq 100); do
  port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$work/out.txt")
  [[ -n "$port" ]] && break
  sleep 0.1
done
[[ -n "$port" ]] || { cat "$work/err.txt"; fail "the packaged fc-master did not start with the packaged config"; }
"$root/usr/bin/fc-client" get 127.0.0.1 "$port" hello.txt "$work" >/dev/null || fail "fc-client get"
cmp "$work/hello.txt" "$work/srv/hello.txt" || fail "wrong bytes"
kill "$server"
wait "$server" || fail "fc-master did not stop cleanly"
server=
echo "PASS: package builds, unpacks, verifies and serves"
