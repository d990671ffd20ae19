#!/usr/bin/env bash
# Installs fc's build and test dependencies from Debian 12 packages (run as root).
set -euo pipefail
packages=(cmake g++ ninja-build pkg-config libboost-dev libboost-program-options-dev
          libxxhash-dev libgtest-dev libbenchmark-dev clang libclang-rt-14-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
fi
