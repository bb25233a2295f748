#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/, in the ASan+UBSan build dir) and
# runs each for N seconds from its seed corpus. New corpus entries go to a
# temp dir, not the repository (unless --merge). Fails if any target crashes,
# leaks, trips a sanitizer or breaks an invariant; the crashing input is
# kept and its path printed.
#
#   scripts/fuzz.sh [--seconds N] [--build-dir DIR] [--merge] [--keep] [TARGET...]
#
#   --seconds N      run each target N seconds (default 60)
#   --build-dir DIR  the clang build to use (default build-asan; configured
#                    with ASan+UBSan and WATCHFLOOR_FUZZ=ON if it is not)
#   --merge          afterwards, merge the inputs that add coverage into
#                    tests/fuzz/corpus/<target>/ (then review and commit them)
#   --keep           keep the temp dir (new corpus entries, logs)
#   TARGET           e.g. note_fuzz or note; default: every target
#
# Example: scripts/fuzz.sh --seconds 600 federation   (docs/FUZZING.md)
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache keys on paths relative to the checkout, so every clone on this
# machine (CI's included) reuses what any other clone compiled.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1

ALL=(dsse alert_validator filter_parser roster note merkle audit_bundle config federation)
seconds=60 build=build-asan merge=0 keep=0 targets=()
usage() { sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "error: $*" >&2; exit 2; }
while (($#)); do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --seconds) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--seconds takes a positive whole number, got '${2:-}'"
               seconds=$2; shift ;;
    --build-dir) [ -n "${2:-}" ] || die "--build-dir takes a directory"; build=$2; shift ;;
    --merge) merge=1 ;;
    --keep) keep=1 ;;
    -*) die "unknown flag '$1'; see scripts/fuzz.sh --help" ;;
    *) t=${1%_fuzz}
       [[ " ${ALL[*]} " == *" $t "* ]] || die "unknown target '$1'; targets: ${ALL[*]}"
       targets+=("$t") ;;
  esac
  shift
done
((${#targets[@]})) || targets=("${ALL[@]}")

say() { printf '==> %s\n' "$*"; }
. scripts/sanitizers.sh
if ! grep -q 'WATCHFLOOR_FUZZ:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null; then
  say "configuring $build (clang-14, ASan+UBSan, WATCHFLOOR_FUZZ=ON)"
  configure_sanitized "$build" address,undefined ON
fi
say "building ${targets[*]/%/_fuzz} in $build"
cmake --build "$build" -j "${WF_JOBS:-2}" --target "${targets[@]/%/_fuzz}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wf-fuzz.XXXXXX")
sanitizer_env
export TMPDIR=$tmp  # targets that make temp dirs (federation) make them here
failed=()
summary=$(printf '%-16s %8s %12s %10s %8s  %s' target seconds executions corpus new result)
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/${t}_fuzz"
  seeds="tests/fuzz/corpus/${t}_fuzz"
  mkdir -p "$tmp/$t/new" "$tmp/$t/crash"
  say "fuzzing $t for $seconds s"
  start=$SECONDS
  set +e
  nice -n 10 "$bin" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2560 \
    -print_final_stats=1 -artifact_prefix="$tmp/$t/crash/" \
    "$tmp/$t/new" "$seeds" >"$tmp/$t/log" 2>&1
  rc=$?
  set -e
  took=$((SECONDS - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/$t/log" | tail -1)
  new=$(find "$tmp/$t/new" -type f | wc -l)
  corpus=$(sed -n 's/.*\(DONE\|pulse\|NEW\|REDUCE\) *cov:.* corp: \([0-9]*\)\/.*/\2/p' "$tmp/$t/log" | tail -1)
  if ((rc == 0)); then
    result=ok
  else
    result="FAILED (exit $rc)"
    failed+=("$t")
    tail -n 60 "$tmp/$t/log" >&2
    for f in "$tmp/$t/crash"/*; do
      [ -e "$f" ] && echo "crashing input: $f (replay: $bin $f)" >&2
    done
  fi
  summary+=$'\n'$(printf '%-16s %8s %12s %10s %8s  %s' "$t" "$took" "${execs:-?}" "${corpus:-?}" "$new" "$result")
  if ((merge)) && ((rc == 0)) && ((new > 0)); then
    say "merging new coverage of $t into $seeds"
    "$bin" -merge=1 "$seeds" "$tmp/$t/new" >>"$tmp/$t/log" 2>&1
  fi
done
echo "$summary"
if ((${#failed[@]})); then
  echo "error: ${failed[*]} failed; the inputs and logs are in $tmp" >&2
  echo "add each crashing input to tests/fuzz/regressions/<target>_fuzz/ with its fix" >&2
  exit 1
fi
if ((keep)); then echo "kept $tmp"; else rm -rf "$tmp"; fi
