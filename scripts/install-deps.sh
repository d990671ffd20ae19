#!/usr/bin/env bash
# Installs fc's build and test dependencies from Debian 12 packages (run as root).
#   media-types       /etc/mime.types, fc's Content-Type table
#   haproxy, nginx    real proxies in front of fc in the smuggling tests
#   python3-h11       the reference HTTP/1.1 parser of the differential test
#   prometheus        promtool, which checks fc's /metrics output in service_test
#   help2man          man pages made from each program's --help (cmake --install, the .deb)
#   systemd           systemd-analyze verify for the unit files (packaging_test)
#   zlib1g-dev, libzstd-dev, libbrotli-dev  --compress: gzip, zstd and br copies made once, at load
#   chromium, chromium-driver  the headless browser test, driven over WebDriver (skips without them)
#   curl              the HTTP conformance tests of index pages, listings and variants
#   libssl-dev, openssl  HTTPS (--tls-listen; fc-client https://), and the tests' own CA
#   wget              a second TLS client in tls_test
#   testssl.sh, bsdextrautils  the TLS audit (bench/testssl.sh; testssl.sh needs hexdump)
set -euo pipefail
packages=(cmake g++ ninja-build pkg-config libboost-dev libboost-program-options-dev
          libxxhash-dev libgtest-dev libbenchmark-dev clang libclang-rt-14-dev
          media-types haproxy nginx-light python3 python3-h11 prometheus help2man
          systemd dpkg-dev zlib1g-dev libzstd-dev libbrotli-dev chromium chromium-driver curl
          libssl-dev openssl wget testssl.sh bsdextrautils)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Do not let the packages start a system nginx or haproxy: the tests start their own.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
fi
