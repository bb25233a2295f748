#!/usr/bin/env bash
# Test wrapper: runs its arguments as a command, e.g. a benchmark's --smoke run
# (CMake: add_test(NAME <bench>_smoke COMMAND <bench> --smoke)).
set -euo pipefail
exec "$@"
