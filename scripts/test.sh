#!/usr/bin/env bash
# The whole test suite: install dependencies, then
#   1. a short run of each libFuzzer target (tools/fuzz --short), and a clang
#      build with the lock annotations checked (-Werror=thread-safety);
#   2. the test suite built with AddressSanitizer + UBSan (-DFC_SANITIZE=address);
#   3. the test suite built with ThreadSanitizer (-DFC_SANITIZE=thread);
#   4. the test suite built Release, once with TMPDIR pointing elsewhere (and
#      nothing left there afterwards), then as usual (last, so its summary
#      closes the output).
# FC_QUICK=1 runs step 4 only.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
if [ "${FC_QUICK:-0}" != 1 ]; then
  echo "== fuzzing (short)"
  bash tools/fuzz --short
  echo "== clang thread-safety analysis (base/mutex.h annotations)"
  cmake -S . -B build-tsa -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
    -DFC_THREAD_SAFETY=ON -DFC_BUILD_TESTS=OFF >/dev/null
  cmake --build build-tsa
  for sanitizer in address thread; do
    echo "== test suite under -DFC_SANITIZE=$sanitizer"
    cmake -S . -B "build-$sanitizer" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DFC_SANITIZE="$sanitizer" >/dev/null
    cmake --build "build-$sanitizer" >/dev/null
    ctest --test-dir "build-$sanitizer" --output-on-failure --timeout 600 -j "$(nproc)"
  done
fi
echo "== test suite (Release) with TMPDIR set (nothing may assume /tmp)"
bash scripts/build.sh
tmpdir=$(mktemp -d /tmp/fc-tmpdir-XXXXXX)
chmod 1777 "$tmpdir"  # like /tmp: the unprivileged-user test writes there too
TMPDIR=$tmpdir ctest --test-dir build --output-on-failure --timeout 600 -j "$(nproc)" -E chaos_short
leftovers=$(find "$tmpdir" -mindepth 1 -maxdepth 1 | head -5)
rm -rf "$tmpdir"
if [ -n "$leftovers" ]; then echo "tests left files in TMPDIR: $leftovers"; exit 1; fi
echo "== test suite (Release)"
ctest --test-dir build --output-on-failure --timeout 600 -j "$(nproc)"
