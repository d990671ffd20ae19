#!/usr/bin/env bash
# The whole test suite: install dependencies, build, run every test under CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
ctest --test-dir build --output-on-failure --timeout 600 -j "$(nproc)"
