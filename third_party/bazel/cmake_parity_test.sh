#!/usr/bin/env bash
# Checks that a package's BUILD.bazel and CMakeLists.txt define the same
# targets (STYLE.md habit 10: one target per component, same names in both).
# Generated per package by wf_cmake_parity_test() in defs.bzl.
#
# usage: cmake_parity_test.sh --cmakelists=<path> --bazel=<a,b> \
#          [--bazel_only=<a,b>] [--cmake_only=<a,b>]
set -euo pipefail

cmakelists= bazel_names= bazel_only= cmake_only=
for arg in "$@"; do
  case $arg in
    --cmakelists=*) cmakelists=${arg#*=} ;;
    --bazel=*) bazel_names=${arg#*=} ;;
    --bazel_only=*) bazel_only=${arg#*=} ;;
    --cmake_only=*) cmake_only=${arg#*=} ;;
    *) echo "usage: $0 --cmakelists=PATH --bazel=A,B [--bazel_only=A,B] [--cmake_only=A,B]" >&2; exit 2 ;;
  esac
done
pkg=$(dirname "$cmakelists")

# Target names CMake defines: add_library/add_executable(<name>,
# add_test(NAME <name>, and the project's wf_*(<name> helpers (wf_test, ...).
cmake_names=$(sed 's/#.*//' "$cmakelists" | tr '\n' ' ' |
  grep -oE '(^|[^A-Za-z0-9_])(add_library|add_executable|wf_[A-Za-z0-9_]+)\(\s*[A-Za-z0-9_.-]+|add_test\(\s*NAME\s+[A-Za-z0-9_.-]+' |
  grep -vE '^function\(' |
  sed -E 's/.*\(\s*(NAME\s+)?//' | sort -u || true)

to_lines() { tr ',' '\n' <<<"$1" | sed '/^$/d' | sort -u; }
bazel_set=$( (to_lines "$bazel_names"; to_lines "$cmake_only") | sort -u)
cmake_set=$( (printf '%s\n' "$cmake_names"; to_lines "$bazel_only") | sed '/^$/d' | sort -u)

status=0
missing=$(comm -23 <(echo "$cmake_set") <(echo "$bazel_set") | sed '/^$/d')
extra=$(comm -13 <(echo "$cmake_set") <(echo "$bazel_set") | sed '/^$/d')
if [[ -n "$missing" ]]; then
  echo "error: $cmakelists defines targets that $pkg/BUILD.bazel lacks:" >&2
  sed 's/^/  /' <<<"$missing" >&2
  status=1
fi
if [[ -n "$extra" ]]; then
  echo "error: $pkg/BUILD.bazel defines targets that $cmakelists lacks:" >&2
  sed 's/^/  /' <<<"$extra" >&2
  status=1
fi
if (( status )); then
  echo "Add the target to the other build with the same name (see" \
       "third_party/bazel/README.md), or list a deliberate exception in" \
       "wf_cmake_parity_test(bazel_only/cmake_only) in $pkg/BUILD.bazel." >&2
else
  echo "$pkg: CMake and Bazel agree on $(wc -l <<<"$bazel_set") target(s)"
fi
exit $status
