#!/usr/bin/env bash
# The whole test suite: install dependencies, then
#   1. a short run of each libFuzzer target (tools/fuzz --short);
#   2. the test suite built with AddressSanitizer + UBSan (-DFC_SANITIZE=address);
#   3. the test suite built with ThreadSanitizer (-DFC_SANITIZE=thread);
#   4. the test suite built Release (last, so its summary closes the output).
# FC_QUICK=1 runs step 4 only.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
if [ "${FC_QUICK:-0}" != 1 ]; then
  echo "== fuzzing (short)"
  bash tools/fuzz --short
  for sanitizer in address thread; do
    echo "== test suite under -DFC_SANITIZE=$sanitizer"
    cmake -S . -B "build-$sanitizer" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DFC_SANITIZE="$sanitizer" >/dev/null
    cmake --build "build-$sanitizer" >/dev/null
    ctest --test-dir "build-$sanitizer" --output-on-failure --timeout 600 -j "$(nproc)"
  done
fi
echo "== test suite (Release)"
bash scripts/build.sh
ctest --test-dir build --output-on-failure --timeout 600 -j "$(nproc)"
