#!/usr/bin/env bash
# Configures and builds fc into build/ (Release by default: BUILD_TYPE=Debug to change).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" >/dev/null
cmake --build build
