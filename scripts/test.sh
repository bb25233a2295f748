#!/usr/bin/env bash
# Runs every test: installs what is missing, builds, runs CTest (unit,
# in-process gRPC, multi-process crash and CLI tests) and the Bazel build and
# tests. Exits non-zero if anything fails. Idempotent.
#
#   scripts/test.sh              everything
#   WF_SKIP_BAZEL=1 scripts/test.sh   CTest only
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*"; }

scripts/setup.sh

say "running CTest"
ctest --test-dir build --output-on-failure -j "${WF_JOBS:-2}" --timeout 600

if [ "${WF_SKIP_BAZEL:-0}" != 1 ]; then
  say "running the Bazel build and tests"
  third_party/bazel/bazel_test.sh
fi
say "all tests passed"
