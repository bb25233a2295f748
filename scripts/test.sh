#!/usr/bin/env bash
# Runs every test: installs what is missing, builds, runs CTest (unit,
# in-process gRPC, multi-process crash and CLI tests) and the Bazel build and
# tests. With WF_ASAN=1 it then runs the whole CTest suite again under
# ASan+UBSan (clang-14, build-asan/) and every libFuzzer target for a short
# fixed time. Exits non-zero if anything fails. Idempotent. CI runs it with
# WF_ASAN=1 (.ci/run).
#
#   scripts/test.sh              everything
#   scripts/test.sh --asan       only the ASan+UBSan build and CTest suite
#   scripts/test.sh --tsan       only the TSan build and CTest suite (build-tsan/)
#   scripts/test.sh --help
#
#   WF_SKIP_BAZEL=1   skip the Bazel build and tests
#   WF_ASAN=1         add the ASan+UBSan suite and the fuzz run after it
#   WF_SKIP_FUZZ=1    with WF_ASAN=1: skip the fuzz run
#   WF_FUZZ_SECONDS=N with WF_ASAN=1: seconds per fuzz target (default 30)
#   WF_JOBS=N         parallel jobs (default 2)
#
# Sanitizer runs and their suppressions: docs/FUZZING.md ("Sanitizer builds").
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache keys on paths relative to the checkout, so every clone on this
# machine (CI's included) reuses what any other clone compiled.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1

say() { printf '==> %s\n' "$*"; }
JOBS="${WF_JOBS:-2}"

usage() { sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

. scripts/sanitizers.sh

# sanitized_suite DIR SANITIZERS FUZZ: configures DIR (configure_sanitized),
# builds everything and runs the whole CTest suite there.
sanitized_suite() {
  local dir=$1 sanitizers=$2 fuzz=$3 start=$SECONDS
  say "configuring $dir (clang-14, -fsanitize=$sanitizers)"
  configure_sanitized "$dir" "$sanitizers" "$fuzz"
  say "building $dir with $JOBS jobs"
  cmake --build "$dir" -j "$JOBS"
  local built=$SECONDS
  say "running CTest under -fsanitize=$sanitizers"
  sanitizer_env "$dir"
  # A test that fails is run once more before the suite fails: under the
  # sanitizers' slowdown a few multi-process tests with timing bounds, and
  # an OpenSSL allocation LSan cannot attribute (docs/FUZZING.md), fail
  # rarely. The first failure stays in the log above the rerun.
  ctest --test-dir "$dir" --output-on-failure -j "$JOBS" --timeout 900 --repeat until-pass:2
  say "$dir: built in $((built - start)) s, CTest in $((SECONDS - built)) s"
}

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  --asan)
    WF_SKIP_BUILD=1 scripts/setup.sh
    sanitized_suite build-asan address,undefined ON
    say "ASan+UBSan suite passed"; exit 0 ;;
  --tsan)
    WF_SKIP_BUILD=1 scripts/setup.sh
    sanitized_suite build-tsan thread OFF
    say "TSan suite passed"; exit 0 ;;
  "") ;;
  *) echo "error: unknown argument '$1'; see scripts/test.sh --help" >&2; exit 2 ;;
esac

scripts/setup.sh

say "running CTest"
ctest --test-dir build --output-on-failure -j "$JOBS" --timeout 600

if [ "${WF_SKIP_BAZEL:-0}" != 1 ]; then
  say "running the Bazel build and tests"
  third_party/bazel/bazel_test.sh
fi

if [ "${WF_ASAN:-0}" = 1 ]; then
  sanitized_suite build-asan address,undefined ON
  if [ "${WF_SKIP_FUZZ:-0}" != 1 ]; then
    say "running every fuzz target for ${WF_FUZZ_SECONDS:-30} s"
    scripts/fuzz.sh --build-dir build-asan --seconds "${WF_FUZZ_SECONDS:-30}"
  fi
fi
say "all tests passed"
