# Sourced by scripts/test.sh and scripts/fuzz.sh (not run directly): how a
# sanitizer build dir is configured, and the sanitizer runtime options.

# configure_sanitized DIR SANITIZERS FUZZ: configures DIR with clang-14,
# -DWATCHFLOOR_SANITIZE=SANITIZERS and -DWATCHFLOOR_FUZZ=FUZZ (ON/OFF); -O1
# and line tables only, no benchmarks: quick to build, readable stacks.
# Idempotent.
configure_sanitized() {
  cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
    "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
    -DWATCHFLOOR_SANITIZE="$2" -DWATCHFLOOR_FUZZ="$3" -DWATCHFLOOR_BENCH=OFF >/dev/null
}

# Runtime options for every test and every `watchfloor` process a test
# spawns (children inherit the environment). Suppressions name only
# third-party frames; tests/*.supp say why each is there. sanitizer_env DIR,
# for a TSan build DIR, also preloads DIR's libabsl_sync_annotations.so,
# which shows TSan the synchronisation of Debian's uninstrumented Abseil
# (tests/tsan/README.md).
sanitizer_env() {
  local preload="${1:-}/tests/tsan/libabsl_sync_annotations.so"
  if [ -n "${1:-}" ] && [ -f "$preload" ]; then
    case "$preload" in /*) ;; *) preload="$PWD/$preload" ;; esac
    export LD_PRELOAD="$preload"
  fi
  export ASAN_OPTIONS="detect_leaks=1:check_initialization_order=1:strict_init_order=1:halt_on_error=1"
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
  export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp:halt_on_error=1:second_deadlock_stack=1:print_suppressions=0"
  if [ -x /usr/bin/llvm-symbolizer-14 ]; then
    export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14
  fi
}
