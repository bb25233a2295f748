#!/usr/bin/env bash
# Builds and tests everything with Bazel (the mirror of the CMake build), offline,
# from the repository root: `bazel build //... && bazel test //...`.
# Flags live in /.bazelrc; extra arguments are passed to both commands, e.g.
#   third_party/bazel/bazel_test.sh --test_output=all
#   BAZEL=bazel-4 third_party/bazel/bazel_test.sh
# Exits non-zero if the build or any test fails.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

bazel=${BAZEL:-bazel}
if ! command -v "$bazel" >/dev/null; then
  echo "error: '$bazel' not found; install Debian's bazel-bootstrap" \
       "(apt-get install bazel-bootstrap) or set BAZEL=/path/to/bazel" >&2
  exit 2
fi

flags=()
test_flags=()
if [[ -n "${CI:-}" ]]; then
  # Plain, less chatty logs; and no Bazel server left running after CI.
  flags+=(--color=no --curses=no --show_progress_rate_limit=30)
  trap '"$bazel" shutdown >/dev/null 2>&1 || true' EXIT
  # The disk cache is shared by every checkout on the machine, and it caches
  # test results too: in CI, run every test even if its inputs were tested
  # before (timing-dependent tests must keep proving themselves).
  test_flags+=(--nocache_test_results)
fi

start=$SECONDS
"$bazel" build "${flags[@]}" "$@" //...
"$bazel" test "${flags[@]}" "${test_flags[@]}" "$@" //...
echo "bazel_test.sh: build and tests passed in $((SECONDS - start)) s"
